"""initlib against the peer packages a chapter used to compare on the page: ``mup`` 1.0.0 (chapter 14).

The lsuv 0.3.0 comparisons live in tests/test_lsuv.py, the coordinate-check comparison in
tests/test_width.py; the timings in benchmarks/bench_lsuv.py and benchmarks/bench_width.py.

Chapter 14 says that initlib's μP (a smaller read-out and per-layer Adam rates, Yang et al. 2022
Table 3) and mup's (MuReadout's 1/m multiplier, MuAdam) are the same network at every step, and that
the 1e-6 gap between the two coordinate checks is Adam's ε, not float rounding. In exact arithmetic
the two differ only in ε: Adam's step is m / (sqrt(v) + ε), and the read-out's gradient is m times
larger in one parametrization than in the other, so the same ε weighs m times more in one of them.
The measurement below trains both from the same draw, in float32 and float64, with torch's default
ε = 1e-8 and with ε -> 0 (1e-30), and compares every layer's output at every step. Measured
(2026-12-02, torch 2.13, mup 1.0.0): with ε = 1e-8 the largest relative difference is of order 1e-5
to 1e-4 in float32 and in float64 alike; with ε -> 0 it is about 2e-7 in float32 and 3e-16 in
float64, and exactly 0 at widths whose ratio m is a power of two (the 1/m scalings are then exact).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initlib
from initlib import width as W

mup = pytest.importorskip("mup")

# m = 1, 5 and 16: a width ratio of 5 makes the 1/m scalings inexact, so rounding can show
BASE, WIDTHS, STEPS, LR = 64, (64, 320, 1024), 4, 0.01
TINY_EPS = 1e-30  # Adam's ε -> 0 (0 itself would divide 0 by 0 for a dead unit's weights)


def mlp(n, readout=nn.Linear):
    # chapter 14's model: the 8x8 digits, two hidden ReLU layers of width n, no biases
    return nn.Sequential(
        nn.Linear(64, n, bias=False), nn.ReLU(), nn.Linear(n, n, bias=False), nn.ReLU(), readout(n, 10, bias=False)
    )


def _ours(n, eps):
    torch.manual_seed(0)
    model = mlp(n)
    plan = W.parametrize_(model, mlp(BASE), "mup", "adam")
    return model, plan.optimizer(LR, eps=eps)


def _theirs(n, eps):
    torch.manual_seed(0)
    model = mlp(n, mup.MuReadout)
    W.parametrize_(model, mlp(BASE), "sp")  # the same SP draw; mup rescales the read-out
    mup.set_base_shapes(model, mlp(BASE, mup.MuReadout))
    return model, mup.MuAdam(model.parameters(), lr=LR, eps=eps)


def _trace(model, opt, x, y):
    """Every layer's output (the hidden layers and the logits) in each of STEPS training forwards."""
    outs = []
    for _ in range(STEPS):
        h = x
        layers = []
        for module in model:
            h = module(h)
            if not isinstance(module, nn.ReLU):
                layers.append(h.detach().clone())
        outs.append(layers)
        opt.zero_grad()
        nn.functional.cross_entropy(h, y).backward()
        opt.step()
    return outs


def largest_gap(dtype, eps):
    """Largest relative difference between initlib's μP and mup's, over widths, steps and layers."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        digits = initlib.course.data.digits_split()
        x, y = digits.x_train[:128].to(dtype), digits.y_train[:128]
        gap = 0.0
        for n in WIDTHS:
            ours, theirs = _trace(*_ours(n, eps), x, y), _trace(*_theirs(n, eps), x, y)
            for step_ours, step_theirs in zip(ours, theirs):
                for a, b in zip(step_ours, step_theirs):
                    rel = float((a - b).norm() / a.norm())
                    assert math.isfinite(rel), "a NaN or inf in the comparison"
                    gap = max(gap, rel)
        return gap
    finally:
        torch.set_default_dtype(old)


@pytest.fixture(scope="module")
def gaps():
    return {
        (dtype, eps): largest_gap(dtype, eps) for dtype in (torch.float32, torch.float64) for eps in (1e-8, TINY_EPS)
    }


def test_without_eps_mup_is_the_same_network_up_to_rounding(gaps):
    assert gaps[torch.float64, TINY_EPS] < 1e-13  # float64 rounding
    assert gaps[torch.float32, TINY_EPS] < 1e-6  # float32 rounding


def test_the_gap_at_the_default_eps_is_adams_eps_not_rounding(gaps):
    default64, default32 = gaps[torch.float64, 1e-8], gaps[torch.float32, 1e-8]
    # the same order in both precisions: rounding would shrink by 1e9 from float32 to float64
    assert 0.1 < default32 / default64 < 10
    # and far above what rounding alone leaves in either precision
    assert default64 > 1e6 * gaps[torch.float64, TINY_EPS]
    assert default32 > 10 * gaps[torch.float32, TINY_EPS]


if __name__ == "__main__":
    for dtype in (torch.float32, torch.float64):
        for eps in (1e-8, TINY_EPS):
            print(f"{dtype!s:14s} eps {eps:7.0e}: largest relative gap {largest_gap(dtype, eps):.1e}")
