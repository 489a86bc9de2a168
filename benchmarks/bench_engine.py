"""What does measuring cost? The engine against the bare computation it measures, three ratios side by side.

    python benchmarks/bench_engine.py [--repeats 7] [--device cpu] [--threads N] [--quick]

1. ``propagate`` against a bare autograd forward+backward of the same net (depth 100, width 512,
   batch 512, ReLU, kaiming_normal): the same random draws and the same three matmuls per layer,
   without the statistics (target <= 1.10); then ``propagate`` with the opt-in 50-bin histograms of
   every layer's activations and gradients (stated).
2. ``probe`` on a 20-layer residual CNN (BatchNorm, 9 residual blocks) and on a 6-layer
   ``nn.TransformerEncoder``, against ``model(x)`` and ``backward`` of the same model (target <= 1.25).
3. An ensemble of 16 nets (width 64, depth 50, batch 128; then width 128, batch 256): 16 separate
   ``propagate`` calls against one call with ``seed=list(range(16))``, every statistic but the
   histograms, as a sweep uses it (target >= 3x at the first size).

Each pair is interleaved (a, b, a, b, ...) so drifts in machine load hit both; medians are reported.
Not a test: timings depend on the machine (``--threads 1`` steadies them on a shared one: on a loaded
2-core machine two torch threads spin against each other and small operations slow down tenfold).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import initlib

from bench_propagation import bare_pass


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare(*fns, repeats: int, device) -> list[float]:
    """Median seconds of each function, interleaved (a, b, ..., a, b, ...), after one warm-up of each."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times):
            t.append(timed(fn, device))
    return [statistics.median(t) for t in times]


class Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
        )

    def forward(self, x):
        return torch.relu(x + self.body(x))


def residual_cnn(channels: int = 32, blocks: int = 9, classes: int = 10) -> nn.Sequential:
    """A stem convolution, ``blocks`` residual blocks of two convolutions, a linear head: 20 layers."""
    return nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        *[Block(channels) for _ in range(blocks)],
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, classes),
    )


def transformer(d_model: int = 256, heads: int = 8, layers: int = 6, vocab: int = 1000) -> nn.Sequential:
    layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, batch_first=True)
    return nn.Sequential(
        nn.Embedding(vocab, d_model),
        nn.TransformerEncoder(layer, layers, enable_nested_tensor=False),
        nn.Linear(d_model, vocab),
    )


def bare(model, x, g):
    def run():
        model(x).backward(g)
        model.zero_grad(set_to_none=True)

    return run


def probe_ratio(model, x, repeats, device):
    model.to(device)
    g = torch.randn(model(x).shape, device=device)
    t_bare, t_probe = compare(
        bare(model, x, g), lambda: initlib.probe(model, x, grad_output=g), repeats=repeats, device=device
    )
    return t_bare, t_probe


def ensemble_ratio(width, depth, batch, members, repeats, device):
    widths = [width] * (depth + 1)
    # a sweep measures variances, not the shape of laws: propagate's default, no histograms
    kw = dict(activation="relu", init="kaiming_normal", batch=batch, device=device)
    looped = lambda: [initlib.propagate(widths, seed=s, **kw) for s in range(members)]  # noqa: E731
    batched = lambda: initlib.propagate(widths, seed=list(range(members)), **kw)  # noqa: E731
    return compare(looped, batched, repeats=repeats, device=device)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--only", choices=("propagate", "probe", "ensemble"), help="run one of the three")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = initlib.measure.devices.resolve_device(args.device)
    torch.manual_seed(0)
    print(
        f"device {device.type}, torch threads {torch.get_num_threads()}, {args.repeats} interleaved repeats (medians)"
    )

    print(f"{'comparison':66s} {'first (ms)':>10s} {'second (ms)':>11s} {'ratio':>7s}  target", flush=True)

    def show(name, a, b, target):
        print(
            f"{name:66s} {a * 1e3:10.1f} {b * 1e3:11.1f} {b / a if target.startswith('<') else a / b:7.3f}  {target}",
            flush=True,
        )

    if args.only in (None, "propagate"):
        widths = [512] * 101
        call = dict(widths=widths, activation="relu", init="kaiming_normal", batch=512, device=device)
        t_bare, t_prop, t_hist = compare(
            lambda: bare_pass(100, 512, 512, device),
            lambda: initlib.propagate(**call),
            lambda: initlib.propagate(**call, histograms=50),
            repeats=args.repeats,
            device=device,
        )
        show("propagate / bare autograd, depth 100 width 512 batch 512", t_bare, t_prop, "<= 1.10")
        show("  the same with 50-bin histograms (first 256 examples)", t_bare, t_hist, "<= (stated)")
    if args.only in (None, "probe"):
        probes(args.repeats, device, show)
    if args.only in (None, "ensemble"):
        for width, batch in ((64, 128), (128, 256)):
            t_loop, t_batch = ensemble_ratio(width, 50, batch, 16, args.repeats, device)
            show(
                f"16 nets looped / batched, width {width} depth 50 batch {batch}",
                t_loop,
                t_batch,
                ">= 3" if width == 64 else ">= (stated)",
            )


def probes(repeats, device, show):
    cnn = residual_cnn().train()
    t_bare, t_probe = probe_ratio(cnn, torch.randn(32, 3, 32, 32, device=device), repeats, device)
    show("probe / bare fwd+bwd, 20-layer residual CNN (batch 32, 32x32)", t_bare, t_probe, "<= 1.25")
    tf = transformer().train()
    tokens = torch.randint(0, 1000, (32, 64), device=device)
    t_bare, t_probe = probe_ratio(tf, tokens, repeats, device)
    show("probe / bare fwd+bwd, 6-layer transformer (batch 32, 64 tokens)", t_bare, t_probe, "<= 1.25")


if __name__ == "__main__":
    main()
