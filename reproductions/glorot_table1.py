"""Glorot & Bengio (2010), Table 1, Shapeset-3x2 column: test error after training 5 hidden layers.

Softmax + NLL, plain SGD on minibatches of 10, biases at zero; for each activation and start
the learning rate is the grid value with the lowest validation error after ``select_updates``
updates (the paper chose it on validation error too), then the net is trained for ``updates``.
"standard" is their eq. (1), U[-1/sqrt(n), 1/sqrt(n)]; "normalized" is eq. (16).
"""

from __future__ import annotations

import torch

import initlib
from initlib import data as datasets

from . import _run

NAME = "glorot_table1"
INITS = {"standard": "standard_uniform", "normalized": "xavier_uniform"}
# Table 1, Shapeset-3x2 column, as fractions.
PAPER = {("softsign", "standard"): 0.1627, ("softsign", "normalized"): 0.1606, ("tanh", "standard"): 0.2715,
         ("tanh", "normalized"): 0.1560, ("sigmoid", "standard"): 0.8261}
PRESETS = {
    "quick": dict(width=16, n_train=300, n_val=100, n_test=100, lrs=(0.1, 0.3), select_updates=40, updates=100),
    "cpu": dict(width=128, n_train=20_000, n_val=2_000, n_test=5_000, lrs=(0.03, 0.1, 0.3),
                select_updates=10_000, updates=100_000),
    "paper": dict(width=1000, n_train=200_000, n_val=10_000, n_test=10_000, lrs=(0.01, 0.03, 0.1, 0.3),
                  select_updates=100_000, updates=1_000_000),
}


def _splits(s: dict):
    """Train, validation and test sets from one Shapeset-3x2 sample (seed 0)."""
    x, y, x_test, y_test = datasets.shapeset_split(s["n_train"] + s["n_val"], s["n_test"], seed=0)
    n = s["n_train"]
    return (x[:n], y[:n], x[n:], y[n:]), (x[:n], y[:n], x_test, y_test)


def _fit(widths, activation, start, split, steps, lr, device, progress, records=20):
    return initlib.train(widths, activation, INITS[start], data=split, steps=steps, lr=lr, batch=10,
                         seed=0, device=device, record_every=max(1, steps // records), progress=progress)


def run(s: dict, device, progress: bool) -> dict:
    validation, test = _splits(s)
    widths = [test[0].shape[1]] + [s["width"]] * 5 + [datasets.NUM_CLASSES]
    rows = []
    for (activation, start), paper_error in PAPER.items():
        valid = [_fit(widths, activation, start, validation, s["select_updates"], lr, device, progress, 1)
                 .final_test_error for lr in s["lrs"]]
        lr = s["lrs"][valid.index(min(valid))]
        final = _fit(widths, activation, start, test, s["updates"], lr, device, progress)
        rows.append({"activation": activation, "init": start, "lr": lr, "lr_grid": list(s["lrs"]), "valid_errors": valid,
                     "test_error": final.final_test_error, "paper_test_error": paper_error,
                     "diverged": final.diverged, "curve": {"steps": final.steps, "test_error": final.test_error}})
    return {"dataset": "Shapeset-3x2", "widths": widths, "batch": 10, "optimizer": "sgd",
            "updates": s["updates"], "select_updates": s["select_updates"], "n_train": s["n_train"],
            "n_val": s["n_val"], "n_test": s["n_test"], "rows": rows}


def main(argv=None) -> dict:
    return _run.main(NAME, __doc__.splitlines()[0], PRESETS, run, argv)


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
