"""The μP coordinate check: initlib.width.coord_check against the mup package's get_coord_data.

    python benchmarks/bench_width.py [--widths 64 128 256 512 1024] [--steps 4] [--batch 128] [--repeats 5]

Both check the same model (a bias-free two-hidden-layer ReLU MLP on the 8x8 digits, base width 64),
from the same draws, with Adam at lr 0.01 on one batch: initlib with its own μP (a smaller read-out
and per-layer learning rates, Yang et al. 2022 Table 3), mup 1.0.0 with MuReadout, set_base_shapes
and MuAdam (``cuda=False``). The runs are interleaved (ours, mup's, ours...) so load drifts hit
both; medians are reported, with the largest relative difference between their measurements (the
two parametrizations are the same network, so it should be float rounding). Not a test: timings
depend on the machine. The ratio is printed last.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn

import initlib
from initlib import width as W

BASE = 64
LAYERS = ("0", "2", "4")


def mlp(n, readout=nn.Linear):
    return nn.Sequential(
        nn.Linear(64, n, bias=False), nn.ReLU(), nn.Linear(n, n, bias=False), nn.ReLU(), readout(n, 10, bias=False)
    )


def ours(widths, x, y, steps):
    return W.coord_check(mlp, widths, (x, y), base_width=BASE, parametrization="mup", lr=0.01, steps=steps).rms


def theirs(widths, x, y, steps):
    from mup import MuReadout, set_base_shapes
    from mup.coord_check import get_coord_data

    base_sp, base_mup = mlp(BASE), mlp(BASE, MuReadout)

    def lazy(n):
        def make():
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = mlp(n, MuReadout)
                W.parametrize_(model, base_sp, "sp")
            return set_base_shapes(model, base_mup)

        return make

    df = get_coord_data(
        {n: lazy(n) for n in widths},
        [(x, y)],
        optimizer="adam",
        lr=0.01,
        nsteps=steps,
        cuda=False,
        show_progress=False,
        output_fdict={"l2": "l2"},
        filter_module_by_name=lambda name: name in LAYERS,
    )
    rms = np.zeros((len(widths), steps, len(LAYERS)))
    for i, n in enumerate(widths):
        for k, name in enumerate(LAYERS):
            rms[i, :, k] = df[(df.width == n) & (df.module == name)].sort_values("t").l2.values
    return rms


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    x_train, y_train, _, _ = initlib.course.data.digits_split()
    x, y = x_train[: args.batch], y_train[: args.batch]
    ours(args.widths, x, y, args.steps), theirs(args.widths, x, y, args.steps)  # warm-up, imports
    times = {"initlib": [], "mup": []}
    for _ in range(args.repeats):
        for name, run in (("initlib", ours), ("mup", theirs)):
            start = time.perf_counter()
            rms = run(args.widths, x, y, args.steps)
            times[name].append(time.perf_counter() - start)
            if name == "initlib":
                a = rms
    gap = float(np.abs(rms / a - 1).max())
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"coordinate check, widths {args.widths}, {args.steps} Adam steps, batch {args.batch}, "
        f"{args.repeats} repeats, {args.threads} thread(s)"
    )
    print(f"{'':24s} {'initlib.width':>14s} {'mup 1.0.0':>10s}")
    print(f"{'median wall time (s)':24s} {med['initlib']:14.3f} {med['mup']:10.3f}")
    print(f"{'fastest (s)':24s} {min(times['initlib']):14.3f} {min(times['mup']):10.3f}")
    print(f"largest relative difference between their measurements: {gap:.1e}")
    print(f"ratio mup / initlib (median wall time): {med['mup'] / med['initlib']:.2f}")


if __name__ == "__main__":
    main()
