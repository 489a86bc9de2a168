"""One figure style for the whole course: readable labels, a colour-blind-safe palette, page-sized figures.

Chapters call :func:`use_style` once; every plotting helper here draws with :data:`PALETTE`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

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

STYLE: dict[RcKeyType, Any] = {
    "figure.figsize": (PAGE_WIDTH, 3.6),
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.constrained_layout.use": True,
    "axes.prop_cycle": mpl.cycler(color=CYCLE),  # type: ignore[attr-defined]  # re-exported; the stubs omit it
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


# --- propagation at initialization (initlib.propagate) ------------------------------------------


def plot_propagation(results, labels=None, theory: bool = True, axes=None):
    """Per-layer Var[s^l] (forward) and Var[dC/ds^l] (backward), log scale, measurement as
    markers and :mod:`initlib.theory`'s prediction as dashed lines of the same colour.

    ``results``: one :class:`initlib.measure.propagation.Propagation` or a list of them (``labels``
    defaults to their init names). Returns the figure.
    """
    if not isinstance(results, (list, tuple)):
        results = [results]
    labels = labels or [r.init for r in results]
    if axes is None:
        fig, axes = subplots(1, 2, height=3.4)
    else:
        fig = axes[0].figure
    for i, (r, label) in enumerate(zip(results, labels)):
        layers = r.column("layer")
        for ax, name in zip(axes, ("pre_var", "grad_var")):
            ax.semilogy(layers, r.column(name), "o-", ms=3, lw=1, color=color_for(i), label=label)
            if theory:
                ax.semilogy(
                    layers,
                    r.column(f"theory_{name}"),
                    "--",
                    lw=1.5,
                    color=color_for(i),
                    alpha=0.8,
                    label=f"{label}: theory",
                )
    axes[0].set(xlabel="layer $l$", ylabel=r"Var$[s^l]$ (log scale)", title="forward: pre-activations")
    axes[1].set(xlabel="layer $l$", ylabel=r"Var$[\partial C/\partial s^l]$ (log scale)", title="backward: gradients")
    axes[0].legend()
    return fig


def plot_histograms(result, kind: str = "act", ax=None, layers=None, density: bool = True):
    """Glorot & Bengio Fig. 6 (``kind="act"``: h^l) and Fig. 7 (``kind="grad"``: dC/ds^l) style:
    one line per layer through the fixed-bin histogram counts that :func:`initlib.propagate`
    recorded, as a fraction of the layer's values per bin when ``density``: the counts cover the
    first ``result.hist_examples`` examples, so each layer's total is ``hist_examples * fan_out``
    (values outside the range included). Returns the axes.
    """
    if kind not in ("act", "grad"):
        raise ValueError(f"kind must be one of 'act', 'grad'; got {kind!r}")
    edges = result.act_edges if kind == "act" else result.grad_edges
    if edges is None:
        raise ValueError("this result has no histograms: run propagate with hist_bins > 0")
    if ax is None:
        _, ax = subplots(1, 1, height=3.0)
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    chosen = layers or range(1, len(result.layers) + 1)
    for i, l in enumerate(chosen):
        counts = result.layers[l - 1].act_hist if kind == "act" else result.layers[l - 1].grad_hist
        total = result.hist_examples * result.layers[l - 1].fan_out
        values = [c / total for c in counts] if density else counts
        ax.plot(centres, values, color=color_for(i), lw=1.5, label=f"layer {l}")
    what = "activation value $h^l$" if kind == "act" else r"back-propagated gradient $\partial C/\partial s^l$"
    ax.set(xlabel=what, ylabel="fraction of values per bin" if density else "count")
    ax.legend(ncol=2)
    return ax


def plot_probe(result, title: str | None = None, axes=None):
    """What :func:`initlib.probe` measured, module by module in forward order: the variance of each
    output (forward) and of the gradient there (backward), log scale. Returns the figure."""
    if axes is None:
        fig, axes = subplots(1, 2, height=3.6)
    else:
        fig = axes[0].figure
    index = list(range(len(result.rows)))
    names = [f"{row['name']} ({row['type']})" for row in result.rows]
    for ax, key, what in ((axes[0], "out_var", "Var[output]"), (axes[1], "grad_out_var", "Var[dC/d output]")):
        values = [row.get(key) for row in result.rows]
        ax.semilogy(
            [i for i, v in zip(index, values) if v], [v for v in values if v], "o-", ms=3, lw=1, color=color_for(0)
        )
        ax.set(xlabel="module (forward order)", ylabel=f"{what} (log scale)")
        ax.set_xticks(index, names if len(index) <= 24 else [""] * len(index), rotation=90, fontsize=6)
    axes[0].set_title("forward" if title is None else f"{title}: forward")
    axes[1].set_title("backward")
    return fig


TRAINING_LABELS = {
    "train_loss": "training loss (NLL, nats)",
    "train_error": "training error (%)",
    "test_error": "test error (%)",
}
LAYER_LABELS = {
    "grad_var": r"Var$[\partial C/\partial s^l]$ (log scale)",
    "weight_grad_var": r"Var$[\partial C/\partial W^l]$ (log scale)",
    "pre_var": r"Var$[s^l]$ (log scale)",
}


def plot_training(results, metrics=("train_loss", "test_error"), labels=None, axes=None, chance=None):
    """Training curves of one :class:`initlib.TrainResult` or a list of them: one panel per metric
    (``"train_loss"``, ``"train_error"``, ``"test_error"``) against the update step, one line per
    run. Errors are drawn in percent; ``chance`` (a fraction) adds a dotted line on error panels.
    Returns the figure."""
    results = results if isinstance(results, (list, tuple)) else [results]
    if isinstance(metrics, str):
        metrics = (metrics,)
    for m in metrics:
        if m not in TRAINING_LABELS:
            raise ValueError(f"metrics must be among {', '.join(repr(k) for k in TRAINING_LABELS)}; got {m!r}")
    if labels is None:
        labels = [r.init for r in results]
    if len(labels) != len(results):
        raise ValueError(f"labels must have one entry per result ({len(results)}), got {len(labels)}")
    if axes is None:
        fig, axes = subplots(1, len(metrics), height=3.2, squeeze=False)
        axes = axes[0]
    else:
        axes = list(axes) if hasattr(axes, "__len__") else [axes]
        fig = axes[0].figure
    for ax, metric in zip(axes, metrics):
        scale = 100.0 if metric.endswith("error") else 1.0
        for i, (r, label) in enumerate(zip(results, labels)):
            values = [scale * v if v is not None else float("nan") for v in getattr(r, metric)]
            ax.plot(r.steps, values, color=color_for(i), label=label)
        if chance is not None and metric.endswith("error"):
            ax.axhline(100 * chance, color=PALETTE["black"], ls=":", lw=1.2, label="chance")
        ax.set(xlabel="update step", ylabel=TRAINING_LABELS[metric])
    axes[0].legend()
    return fig


def plot_layer_stats(result, name: str = "grad_var", against: str = "step", ax=None, steps=None, layers=None):
    """A per-layer statistic recorded by :func:`initlib.train` (``"grad_var"``,
    ``"weight_grad_var"``, ``"pre_var"``), log scale. ``against="step"``: one line per layer
    through training; ``against="layer"``: one line per recorded step (``steps``: which ones,
    default the first, a middle one and the last) across the layers. Returns the axes."""
    if name not in LAYER_LABELS:
        raise ValueError(f"name must be one of {', '.join(repr(k) for k in LAYER_LABELS)}; got {name!r}")
    if against not in ("step", "layer"):
        raise ValueError(f"against must be one of 'step', 'layer'; got {against!r}")
    if ax is None:
        _, ax = subplots(1, 1, height=3.2)
    records = getattr(result, name)
    depth = len(records[0])
    if against == "step":
        chosen = list(layers) if layers is not None else list(range(1, depth + 1))
        for i, l in enumerate(chosen):
            ax.plot(result.steps, [rec[l - 1] for rec in records], color=color_for(i), label=f"layer {l}")
        ax.set(xlabel="update step", yscale="log", ylabel=LAYER_LABELS[name])
        ax.legend(ncol=2 if len(chosen) > 4 else 1)
    else:
        if steps is None:
            steps = sorted({result.steps[0], result.steps[len(result.steps) // 2], result.steps[-1]})
        for i, step in enumerate(steps):
            if step not in result.steps:
                raise ValueError(
                    f"steps must be recorded steps ({result.steps[0]}, ..., {result.steps[-1]}); got {step}"
                )
            rec = records[result.steps.index(step)]
            ax.plot(range(1, depth + 1), rec, marker="o", ms=3, color=color_for(i), label=f"step {step}")
        ax.set(xlabel="layer $l$", yscale="log", ylabel=LAYER_LABELS[name])
        ax.legend()
    return ax
