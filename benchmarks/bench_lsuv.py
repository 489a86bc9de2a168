"""LSUV, initlib.lsuv_ against the PyPI package lsuv 0.3.0, on the same models and the same batch.

    python benchmarks/bench_lsuv.py [--repeats 5] [--threads 1]

For each model both start from the same weights (a deep copy) and run with the paper's settings
(tolerance 0.1, at most 10 rescalings per layer, orthonormal pre-init): initlib's tolerance is on
the output variance, the package's on its standard deviation (|std - 1| < 0.1, a variance in
(0.81, 1.21)). Printed side by side: layers, rescalings in total and at most per layer, the final
output variances (measured afterwards by initlib.probe, the same measurement for both), and the
median wall time. The runs are interleaved (initlib, package, initlib, ...) so drifts in machine
load hit both. Not a test: timings depend on the machine.

Two differences show in the numbers. The package fits a model in eval mode (a BatchNorm then
uses its running statistics), initlib in the mode the model is in, here training mode, where the
variances are measured afterwards: on the CNN the package's fit does not hold in training mode.
And initlib fits every layer in one forward pass (a layer is re-run on its input until its output
variance is within the tolerance, and the pass goes on from there), the package runs the whole
model once per rescaling.
"""

from __future__ import annotations

import argparse
import copy
import io
import statistics
import time
from contextlib import redirect_stdout

import lsuv
import torch
from torch import nn

import initlib
from initlib.course import demos
from initlib.laws.modules import WEIGHT_LAYERS


def tanh_mlp(depth=20, width=256):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(width, 10)), (512, width)


def relu_mlp(depth=50, width=128):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 10)), (512, width)


def cnn():
    return demos.cnn(), (64, 3, 16, 16)


MODELS = {"tanh MLP 20x256": tanh_mlp, "ReLU MLP 50x128": relu_mlp, "demos.cnn (BN)": cnn}


def out_vars(model, x):
    names = [n for n, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]
    return initlib.probe(model, x, at=names).column("out_var")


def run_ours(model, x):
    report = initlib.lsuv_(model, x)
    return sum(report.column("iterations")), max(report.column("iterations"))


def run_peer(model, x):
    # the package prints even with verbose=False when a layer does not converge: keep it quiet
    with redirect_stdout(io.StringIO()):
        lsuv.lsuv_with_singlebatch(model, x, verbose=False)
    return None, None


def count_peer_rescalings(model, x):
    """The package reports nothing: count its rescalings with its own verbose output."""
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        lsuv.lsuv_with_singlebatch(model, x, verbose=True)
    per_layer, total = [], 0
    for line in buffer.getvalue().splitlines():
        if line.startswith("finish at layer"):
            per_layer.append(total)
            total = 0
        elif line.startswith("Applying correction coefficient"):
            total += 1
    return sum(per_layer), max(per_layer)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"{'model':18s} {'':8s} {'layers':>6s} {'rescalings':>10s} {'max/layer':>9s} "
        f"{'Var min':>8s} {'Var max':>8s} {'within':>14s} {'time (ms)':>10s}"
    )
    for label, factory in MODELS.items():
        torch.manual_seed(0)
        start, shape = factory()
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        results = {}
        for who, count, band in (("initlib", run_ours, (0.9, 1.1)), ("lsuv", count_peer_rescalings, (0.81, 1.21))):
            model = copy.deepcopy(start)
            total, most = count(model, x)
            v = out_vars(model, x)
            inside = sum(band[0] < a < band[1] for a in v)
            results[who] = [total, most, len(v), min(v), max(v), f"{inside}/{len(v)} in {band}"]
        times = {"initlib": [], "lsuv": []}
        for _ in range(args.repeats):
            for who, fn in (("initlib", run_ours), ("lsuv", run_peer)):
                model = copy.deepcopy(start)
                t0 = time.perf_counter()
                fn(model, x)
                times[who].append(time.perf_counter() - t0)
        for who, (total, most, n, lo, hi, within) in results.items():
            ms = 1000 * statistics.median(times[who])
            print(f"{label:18s} {who:8s} {n:6d} {total:10d} {most:9d} {lo:8.3f} {hi:8.3f} {within:>14s} {ms:10.1f}")
        ratio = statistics.median(times["initlib"]) / statistics.median(times["lsuv"])
        print(f"{label:18s} time initlib / lsuv = {ratio:.2f}")


if __name__ == "__main__":
    main()
