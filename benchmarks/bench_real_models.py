"""Costs on the models people use, as ratios (issue: initlib on real models).

    python benchmarks/bench_real_models.py [--repeats 5] [--threads 1] [--quick]

1. ``probe`` on a MobileNetV2 (transformers' ``MobileNetV2Model``, depth multiplier 1.0, 96 px, about
   150 modules with parameters) at batch 8, against ``model(x)`` and ``backward`` of the same model
   (target <= 1.25).
2. ``lsuv_`` on tanh MLPs of width 256 at depths 10, 20 and 40: seconds per layer, which a cost
   linear in depth keeps flat (each layer is fitted on its own input within one forward pass).
3. ``doctor`` on a 12-layer GPT-2 config (768 wide, 12 heads, 64 tokens x 2) against one forward
   and backward of the same model (target <= 10).

Each pair is interleaved (a, b, a, b, ...) so drifts in machine load hit both; medians are reported.
Not a test: timings depend on the machine. Models are built from configs (no download).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

import initlib
from initlib.course.demos import import_transformers


def compare(*fns, repeats: int) -> list[float]:
    """Median seconds of each function, interleaved, after one warm-up of each."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times):
            start = time.perf_counter()
            fn()
            t.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def bare(model, x, first=lambda out: out):
    def run():
        out = first(model(x))
        out.backward(torch.randn_like(out))
        model.zero_grad(set_to_none=True)

    return run


def probe_mobilenet(repeats: int, quick: bool) -> None:
    T = import_transformers()
    torch.manual_seed(0)
    model = T.MobileNetV2Model(T.MobileNetV2Config(image_size=96, depth_multiplier=0.35 if quick else 1.0))
    x = torch.randn(8, 3, 96, 96)
    sites = sum(1 for m in model.modules() if any(True for _ in m.parameters(recurse=False)))
    t_bare, t_probe = compare(
        bare(model, x, lambda o: o.last_hidden_state), lambda: initlib.probe(model, x), repeats=repeats
    )
    print(
        f"1. probe, MobileNetV2 ({sites} measured modules), batch 8: bare fwd+bwd {1000 * t_bare:.0f} ms, "
        f"probe {1000 * t_probe:.0f} ms, ratio {t_probe / t_bare:.2f} (target <= 1.25)"
    )


def tanh_mlp(depth: int, width: int = 256) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(width, width), nn.Tanh())])


def lsuv_depths(repeats: int, quick: bool) -> None:
    x = torch.randn(256, 256, generator=torch.Generator().manual_seed(0))
    depths = (5, 10, 20) if quick else (10, 20, 40)
    models = {d: tanh_mlp(d) for d in depths}
    times = compare(*[lambda d=d: initlib.lsuv_(copy.deepcopy(models[d]), x) for d in depths], repeats=repeats)
    per_layer = [t / d for t, d in zip(times, depths)]
    print(
        "2. lsuv_, tanh MLP width 256, batch 256: "
        + ", ".join(
            f"depth {d}: {1000 * t:.0f} ms ({1000 * p:.1f} ms/layer)" for d, t, p in zip(depths, times, per_layer)
        )
        + f"; per-layer cost at depth {depths[-1]} / depth {depths[0]}: {per_layer[-1] / per_layer[0]:.2f} "
        "(1 = linear in depth)"
    )


def doctor_gpt2(repeats: int, quick: bool) -> None:
    T = import_transformers()
    T.logging.set_verbosity_error()
    torch.manual_seed(0)
    cfg = T.GPT2Config(
        n_layer=12,
        n_embd=256 if quick else 768,
        n_head=4 if quick else 12,
        vocab_size=1000,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = T.GPT2LMHeadModel(cfg).eval()
    x = torch.randint(0, 1000, (2, 64), generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_bare, t_doctor = compare(
            bare(model, x, lambda o: o.logits), lambda: initlib.doctor(model, x), repeats=repeats
        )
    print(
        f"3. doctor, GPT-2 12 x {cfg.n_embd}, 2 x 64 tokens: bare fwd+bwd {1000 * t_bare:.0f} ms, doctor "
        f"{1000 * t_doctor:.0f} ms, ratio {t_doctor / t_bare:.1f} (target <= 10)"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="smaller models, for a smoke run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    probe_mobilenet(args.repeats, args.quick)
    lsuv_depths(args.repeats, args.quick)
    doctor_gpt2(max(1, args.repeats // 2), args.quick)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
