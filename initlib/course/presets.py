"""Experiment sizes: ``quick`` (seconds on a CPU; what the notebooks run in CI) and ``paper``
(the papers' sizes: Glorot & Bengio's 5 hidden layers of 1000 units, He et al.'s 30-layer net).

``preset()`` with no name picks ``paper`` when CUDA is present and ``quick`` otherwise; the
environment variable ``INITLIB_PRESET`` overrides that choice. This is the notebook and command-line
layer: library calls (:func:`initlib.propagate`, :func:`initlib.train`) take their sizes and data as
arguments, and the chapters and the CLI read them from here (:func:`default_data`, :func:`glorot_widths`).
"""

from __future__ import annotations

import dataclasses
import functools
import os

import torch

from .._checks import check_choice

ENV_VAR = "INITLIB_PRESET"
DATA_SEED = 0  # the default Shapeset-3x2 sample is one fixed data set, whatever the training seed


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    # propagation at initialization
    batch: int  # examples pushed through the network for statistics
    deep_depth: int  # "deep" ReLU/tanh nets
    deep_width: int
    glorot_width: int  # Glorot & Bengio Fig. 6-7: 5 tanh hidden layers of this width
    glorot_depth: int
    # training
    glorot_train_width: int  # Glorot & Bengio on Shapeset-3x2: units per tanh hidden layer
    glorot_train_size: int  # Shapeset-3x2 training examples
    glorot_test_size: int
    glorot_steps: int
    he_depth: int  # He et al. Fig. 3: a deep ReLU MLP
    he_width: int
    he_steps: int
    # one slice of Schoenholz et al.'s trainable-depth map (tanh, sigma_b^2 = 0.05) on MNIST;
    # the whole map is reproductions/trainable_depth.py
    depth_map_width: int = 64
    depth_map_steps: int = 1500


PRESETS = {
    "quick": Preset(
        name="quick",
        batch=512,
        deep_depth=50,
        deep_width=256,
        glorot_width=1000,
        glorot_depth=5,
        glorot_train_width=256,
        glorot_train_size=6000,
        glorot_test_size=1000,
        glorot_steps=2000,
        he_depth=30,
        he_width=64,
        he_steps=800,
    ),
    "paper": Preset(
        name="paper",
        batch=1000,
        deep_depth=100,
        deep_width=1000,
        glorot_width=1000,
        glorot_depth=5,
        glorot_train_width=1000,
        glorot_train_size=100_000,
        glorot_test_size=10_000,
        glorot_steps=200_000,
        he_depth=30,
        he_width=512,
        he_steps=5000,
        depth_map_width=256,
        depth_map_steps=5000,
    ),
}


def preset(name: str | None = None) -> Preset:
    """Return a :class:`Preset` by name, or the default for this machine.

    >>> preset("quick").glorot_depth
    5
    """
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip() or ("paper" if torch.cuda.is_available() else "quick")
    return PRESETS[check_choice(name, "preset", tuple(PRESETS))]


@functools.lru_cache(maxsize=4)
def _shapeset(n_train: int, n_test: int):
    from .data import shapeset_split

    return shapeset_split(n_train, n_test, seed=DATA_SEED)


def default_data(preset_name: str | None = None):
    """The Shapeset-3x2 sample of the preset: ``glorot_train_size`` + ``glorot_test_size`` images
    from seed 0 (cached), as ``(x_train, y_train, x_test, y_test)`` for :func:`initlib.train`."""
    p = preset(preset_name)
    return _shapeset(p.glorot_train_size, p.glorot_test_size)


# Glorot & Bengio trained 5 hidden layers of 1000 units; on a CPU the quick preset trains 256
# (a 1000-wide net costs about 5 times more per step).
def glorot_widths(preset_name: str | None = None) -> list[int]:
    """``[1024, w, ..., w, 9]`` for Shapeset-3x2 with the preset's ``glorot_depth`` hidden layers:
    ``w = glorot_train_width`` (1000 in the paper preset, the paper's; 256 in the quick one).

    >>> glorot_widths("paper")
    [1024, 1000, 1000, 1000, 1000, 1000, 9]
    """
    from .data import NUM_CLASSES, SIDE

    p = preset(preset_name)
    return [SIDE * SIDE] + [p.glorot_train_width] * p.glorot_depth + [NUM_CLASSES]


# Sizes of the chapter's width experiments: ``quick`` runs on a laptop CPU in seconds, ``paper``
# is a GPU-sized sweep (wider, longer, more learning rates). Chosen by the preset's name.
WIDTH_SIZES = {
    "quick": dict(
        widths=(64, 128, 256, 512, 1024),
        steps=4,
        sweep_widths=(64, 128, 256, 512),
        sweep_steps=20,
        batch=64,
        lrs=tuple(2.0**k for k in range(-11, -3)),
    ),
    "paper": dict(
        widths=(64, 128, 256, 512, 1024, 2048, 4096, 8192),
        steps=10,
        sweep_widths=(64, 128, 256, 512, 1024, 2048, 4096, 8192),
        sweep_steps=2000,
        batch=256,
        lrs=tuple(2.0 ** (k / 2) for k in range(-26, -3)),
    ),
}


def width_sizes(preset_name: str | None = None) -> dict:
    """The width experiments' sizes (:mod:`initlib.width`) for :func:`preset` (``quick`` on a CPU).

    >>> width_sizes("quick")["widths"]
    (64, 128, 256, 512, 1024)
    """
    return WIDTH_SIZES[preset(preset_name).name]
