"""Experiment sizes: ``quick`` (seconds on a CPU; what the notebooks run in CI) and ``paper``
(the papers' sizes: Glorot & Bengio's 5 hidden layers of 1000 units, He et al.'s 30-layer net).

``preset()`` with no name picks ``paper`` when CUDA is present and ``quick`` otherwise; the
environment variable ``INITLIB_PRESET`` overrides that choice.
"""

from __future__ import annotations

import dataclasses
import os

import torch

from ._checks import check_choice

ENV_VAR = "INITLIB_PRESET"


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    # propagation at initialization
    batch: int              # examples pushed through the network for statistics
    deep_depth: int         # "deep" ReLU/tanh nets
    deep_width: int
    glorot_width: int       # Glorot & Bengio Fig. 6-7: 5 tanh hidden layers of this width
    glorot_depth: int
    # training
    glorot_train_width: int  # Glorot & Bengio on Shapeset-3x2: units per tanh hidden layer
    glorot_train_size: int  # Shapeset-3x2 training examples
    glorot_test_size: int
    glorot_steps: int
    he_depth: int           # He et al. Fig. 3: a deep ReLU MLP
    he_width: int
    he_steps: int


PRESETS = {
    "quick": Preset(
        name="quick", batch=512, deep_depth=50, deep_width=256, glorot_width=1000, glorot_depth=5,
        glorot_train_width=256, glorot_train_size=6000, glorot_test_size=1000, glorot_steps=2000,
        he_depth=30, he_width=64, he_steps=800,
    ),
    "paper": Preset(
        name="paper", batch=1000, deep_depth=100, deep_width=1000, glorot_width=1000, glorot_depth=5,
        glorot_train_width=1000, glorot_train_size=100_000, glorot_test_size=10_000, glorot_steps=200_000,
        he_depth=30, he_width=512, he_steps=5000,
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
