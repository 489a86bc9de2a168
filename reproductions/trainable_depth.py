"""Schoenholz et al. (2017): which (sigma_w^2, depth) tanh networks train, against 6 xi_c.

Tanh MLPs with weights N(0, sigma_w^2 / n_in) and biases N(0, sigma_b^2), sigma_b^2 = 0.05, are
trained with SGD (momentum 0.9) for a fixed number of steps on scikit-learn's 8x8 digits; for each depth
the sigma_w^2 grid runs as one ensemble. Beside the accuracies stand the correlation depth scale
xi_c of mean-field theory (``initlib.meanfield.depth_scales``) and the paper's rule of thumb that
a net trains when its depth is below about 6 xi_c (xi_c is infinite on the critical line).
"""

from __future__ import annotations

import math

import numpy as np

import initlib
from initlib import data as datasets
from initlib import meanfield

from . import _run

NAME = "trainable_depth"
SIGMA_B2 = 0.05
PRESETS = {
    "quick": dict(sigma_w2=[1.0, 1.75, 4.0], depths=[4, 16], width=16, steps=40, batch=16, lr=0.01),
    "cpu": dict(sigma_w2=[1.0, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0], depths=[5, 10, 20, 30, 45, 60, 80, 100],
                width=64, steps=2000, batch=32, lr=0.01),
    "paper": dict(sigma_w2=[float(v) for v in np.linspace(1, 4, 25)],
                  depths=[10, 20, 40, 60, 80, 100, 130, 160, 200, 250, 300], width=256, steps=10_000, batch=64,
                  lr=0.01),
}


def _finite(value: float):
    return value if math.isfinite(value) else None  # JSON has no infinity: the critical line stores null


def run(s: dict, device, progress: bool) -> dict:
    split = datasets.digits_split()
    train_acc, test_acc = [], []
    for depth in s["depths"]:
        widths = [split.x_train.shape[1]] + [s["width"]] * depth + [10]
        nets = initlib.train(widths, "tanh", "variance_scaling", data=split, steps=s["steps"], lr=s["lr"],
                             batch=s["batch"], optimizer="momentum", seed=0, device=device, record_every=s["steps"],
                             progress=progress, bias_std=math.sqrt(SIGMA_B2), scale=s["sigma_w2"],
                             mode="fan_in", distribution="normal")
        train_acc.append([1 - r.train_error[-1] for r in nets])
        test_acc.append([1 - r.final_test_error for r in nets])
    xi_c = [meanfield.depth_scales("tanh", w, SIGMA_B2)[1] for w in s["sigma_w2"]]
    return {"activation": "tanh", "dataset": "digits (scikit-learn, 8x8)", "sigma_b2": SIGMA_B2,
            "sigma_w2": s["sigma_w2"], "depths": s["depths"], "width": s["width"], "steps": s["steps"],
            "batch": s["batch"], "lr": s["lr"], "optimizer": "momentum", "chance_accuracy": 0.1,
            "train_accuracy": train_acc, "test_accuracy": test_acc,
            "xi_c": [_finite(x) for x in xi_c], "six_xi_c": [_finite(6 * x) for x in xi_c],
            "critical_sigma_w2": meanfield.critical_sigma_w2("tanh", SIGMA_B2)}


def main(argv=None) -> dict:
    return _run.main(NAME, __doc__.splitlines()[0], PRESETS, run, argv)


if __name__ == "__main__":
    main()
