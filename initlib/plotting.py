"""One figure style for the whole course: readable labels, a colour-blind-safe palette, page-sized figures.

Chapters call :func:`use_style` once; every plotting helper here draws with :data:`PALETTE`.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies.
PALETTE = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
CYCLE = [PALETTE[c] for c in ("blue", "vermillion", "green", "orange", "purple", "sky", "black", "yellow")]

# Wide enough for the book's text column at 100 dpi, small enough to keep notebooks light.
PAGE_WIDTH = 7.5
DPI = 100

STYLE = {
    "figure.figsize": (PAGE_WIDTH, 3.6),
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.constrained_layout.use": True,
    "axes.prop_cycle": mpl.cycler(color=CYCLE),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "font.family": "DejaVu Sans",
}


def use_style() -> None:
    """Apply the course style to every figure drawn after this call."""
    mpl.rcParams.update(STYLE)


def color_for(index: int) -> str:
    """The ``index``-th colour of the palette (wrapping around)."""
    return CYCLE[index % len(CYCLE)]


def subplots(nrows: int = 1, ncols: int = 1, height: float = 3.6, **kwargs):
    """``plt.subplots`` at the page width, in the course style."""
    use_style()
    return plt.subplots(nrows, ncols, figsize=(PAGE_WIDTH, height), **kwargs)
