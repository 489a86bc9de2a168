"""How much do propagate's statistics cost? It against a bare forward+backward of the same network.

    python benchmarks/bench_propagation.py [--depth 100] [--width 512] [--batch 512] [--repeats 7] [--device cpu]

The bare pass is what anyone would write with autograd: draw x, the weights (torch.nn.init's
kaiming_normal_, the same law) and a standard normal g; ReLU layers; the cost sum(h^L * g) / batch;
``backward()`` -- the same random draws and the same three matmuls per layer as propagate (forward,
gradient to the layer below, weight gradient), without the statistics. The two are interleaved
(bare, propagate, bare, propagate...) so drifts in machine load hit both; medians are reported.
Not a test: timings depend on the machine (``--threads 1`` steadies them on a shared one).
The ratio is printed last.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import initlib


def bare_pass(depth, width, batch, device, seed=0):
    gen = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(batch, width, generator=gen, device=device)
    weights = [
        torch.nn.init.kaiming_normal_(torch.empty(width, width, device=device), generator=gen).requires_grad_()
        for _ in range(depth)
    ]
    top = torch.randn(batch, width, generator=gen, device=device)
    h = x
    for w in weights:
        h = torch.relu(torch.mm(h, w.t()))
    (h * top).sum().div(batch).backward()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = initlib.measure.devices.resolve_device(args.device)
    widths = [args.width] * (args.depth + 1)
    call = dict(widths=widths, activation="relu", init="kaiming_normal", batch=args.batch, device=device)
    bare = dict(depth=args.depth, width=args.width, batch=args.batch, device=device)

    # one warm-up of each (allocator, kernels, thread pools)
    bare_pass(**bare)
    initlib.propagate(**call)
    bare_times, prop_times = [], []
    for _ in range(args.repeats):
        sync(device)
        start = time.perf_counter()
        bare_pass(**bare)
        sync(device)
        bare_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        initlib.propagate(**call)
        sync(device)
        prop_times.append(time.perf_counter() - start)

    # 3 matmuls of 2 * batch * n_in * n_out flops per layer, minus the input gradient of layer 1
    flops = 2 * args.batch * args.width * args.width * (3 * args.depth - 1)
    bare, prop = statistics.median(bare_times), statistics.median(prop_times)
    print(
        f"network: {args.depth} ReLU layers of width {args.width}, batch {args.batch}, device {device.type}, "
        f"torch threads {torch.get_num_threads()}, {args.repeats} interleaved repeats (medians)"
    )
    print(f"bare forward+backward (autograd): {bare * 1e3:9.1f} ms  {flops / bare / 1e9:7.1f} GFLOP/s")
    print(f"initlib.propagate (default statistics): {prop * 1e3:7.1f} ms  {flops / prop / 1e9:7.1f} GFLOP/s")
    print(f"ratio propagate / bare: {prop / bare:.3f}")


if __name__ == "__main__":
    main()
