"""Glorot & Bengio (2010), Table 1, Shapeset-3x2 column: test error after training 5 hidden layers.

Softmax + NLL, plain SGD on minibatches of 10, biases at zero; for each activation and start
the learning rate is the grid value with the lowest validation error after ``select_updates``
updates (the paper chose it on validation error too), then the net is trained for ``updates``.
"standard" is their eq. (1), U[-1/sqrt(n), 1/sqrt(n)] (Var = 1/(3 fan_in)); "normalized" is
eq. (16) (Var = 2/(fan_in + fan_out)). Both are ``variance_scaling`` laws of one shape, so the
starts trained at one learning rate run as one ensemble (one batched computation).
"""

from __future__ import annotations

import torch

import initlib
from initlib import data as datasets

from . import _run

NAME = "glorot_table1"
# Each start as variance_scaling(scale, mode, "uniform"): eq. (1) and eq. (16).
INITS = {"standard": {"scale": 1 / 3, "mode": "fan_in"}, "normalized": {"scale": 1.0, "mode": "fan_avg"}}
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


def _fit(widths, activation, starts, split, steps, lr, device, progress, records=20) -> dict:
    """``{start: TrainResult}``: the ``starts`` trained as one ensemble (seed 0 each)."""
    results = initlib.train(widths, activation, "variance_scaling", data=split, steps=steps, lr=lr, batch=10,
                            seed=[0] * len(starts), device=device, record_every=max(1, steps // records),
                            progress=progress, distribution="uniform",
                            scale=[INITS[start]["scale"] for start in starts],
                            mode=[INITS[start]["mode"] for start in starts])
    return dict(zip(starts, results))


def _rows(activation, starts, s, validation, test, widths, device, progress) -> list[dict]:
    """One row per start: the learning rate chosen on validation error, then the long run."""
    valid = [_fit(widths, activation, starts, validation, s["select_updates"], lr, device, progress, 1)
             for lr in s["lrs"]]
    errors = {start: [v[start].final_test_error for v in valid] for start in starts}
    chosen = {start: s["lrs"][e.index(min(e))] for start, e in errors.items()}
    final = {}
    for lr in dict.fromkeys(chosen.values()):  # starts that chose the same rate train together
        final |= _fit(widths, activation, [st for st in starts if chosen[st] == lr], test, s["updates"], lr,
                      device, progress)
    rows = []
    for start in starts:
        lr, run_ = chosen[start], final[start]
        rows.append({"activation": activation, "init": start, "lr": lr, "lr_grid": list(s["lrs"]),
                     "valid_errors": errors[start], "test_error": run_.final_test_error,
                     "paper_test_error": PAPER[(activation, start)], "diverged": run_.diverged,
                     "curve": {"steps": run_.steps, "test_error": run_.test_error}})
    return rows


def run(s: dict, device, progress: bool) -> dict:
    validation, test = _splits(s)
    widths = [test[0].shape[1]] + [s["width"]] * 5 + [datasets.NUM_CLASSES]
    rows = []
    for activation in dict.fromkeys(a for a, _ in PAPER):  # sigmoid has only the standard start
        starts = [start for a, start in PAPER if a == activation]
        rows += _rows(activation, starts, s, validation, test, widths, device, progress)
    return {"dataset": "Shapeset-3x2", "widths": widths, "batch": 10, "optimizer": "sgd",
            "updates": s["updates"], "select_updates": s["select_updates"], "n_train": s["n_train"],
            "n_val": s["n_val"], "n_test": s["n_test"], "rows": rows}


def main(argv=None) -> dict:
    return _run.main(NAME, __doc__.splitlines()[0], PRESETS, run, argv)


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
