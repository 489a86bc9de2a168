"""Initializing residual networks, where a block computes x + F(x) and the stream adds up.

With unit-variance branches the stream's variance doubles at every block, (1 + 1)^N after N
blocks. The starts below keep it bounded by making each branch small at initialization:

* ``"fixup"`` (Zhang, Dauphin & Ma 2019): the last weight layer of every branch is zero, the
  others are drawn with ``scheme`` and scaled by N^(-1/(2m-2)), m weight layers per branch;
* ``"scaled"`` (GPT-2, Radford et al. 2019): every weight layer drawn with ``scheme``, the last of
  each branch times 1/sqrt(N), so a branch adds Var/N and the stream grows only to (1 + c/N)^N;
* ``"zero_last"`` (as zero-init of the last BatchNorm gamma, or SkipInit/ReZero's alpha = 0): the
  last weight layer of every branch is zero, the others drawn with ``scheme``.

>>> from torch import nn
>>> branches = [nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8)) for _ in range(16)]
>>> report = residual_init_(branches, "fixup")
>>> report["inner_scale"], float(branches[0][2].weight.detach().abs().sum())
(0.25, 0.0)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_choice
from .modules import WEIGHT_LAYERS
from .schemes import get_scheme

RULES = ("fixup", "scaled", "zero_last")


def _weight_layers(branches) -> list[list[nn.Module]]:
    """Each branch's Linear and Conv layers, in registration order (forward order for a Sequential)."""
    if isinstance(branches, nn.Module) or not hasattr(branches, "__len__") or len(branches) == 0:
        raise ValueError("branches must be a non-empty list of residual-branch modules, e.g. [block.branch, ...]")
    layers = []
    for i, branch in enumerate(branches):
        if not isinstance(branch, nn.Module):
            raise TypeError(f"branches[{i}] must be a torch.nn.Module, got {type(branch).__name__}")
        found = [m for m in branch.modules() if isinstance(m, WEIGHT_LAYERS)]
        if not found:
            raise ValueError(f"branches[{i}] ({type(branch).__name__}) has no Linear or Conv weight layer")
        layers.append(found)
    return layers


def _scales(rule: str, n_branches: int, m: int) -> tuple[float, float]:
    """(factor on the inner layers, factor on the last layer) of a branch with m weight layers."""
    if rule == "fixup":
        return (n_branches ** (-1.0 / (2 * m - 2)) if m > 1 else 1.0), 0.0
    if rule == "scaled":
        return 1.0, 1.0 / math.sqrt(n_branches)
    return 1.0, 0.0


def residual_init_(branches, rule: str, scheme="kaiming_normal", **scheme_kwargs) -> dict:
    """Initialize the weight layers of N residual branches by ``rule``; zero their biases.

    ``branches`` are the modules F of the blocks x + F(x); their Linear/Conv layers are taken in
    registration order, the last one being the branch's output layer. ``scheme`` (a name in
    :data:`initlib.SCHEMES` or a callable) and ``scheme_kwargs`` draw the layers that are not zero.
    Every new weight is drawn into a copy first, so an error leaves every branch unchanged.

    Returns ``{"rule", "branches", "layers_per_branch", "inner_scale", "last_scale"}``; with
    branches of different depths ``layers_per_branch`` and ``inner_scale`` are lists.
    """
    check_choice(rule, "rule", RULES)
    layers = _weight_layers(branches)
    init = get_scheme(scheme)
    n = len(layers)
    plan = []
    for found in layers:
        inner, last = _scales(rule, n, len(found))
        for k, layer in enumerate(found):
            factor = last if k == len(found) - 1 else inner
            weight = torch.zeros_like(layer.weight) if factor == 0 else init(layer.weight.detach().clone(), **scheme_kwargs)
            plan.append((layer, weight.mul_(factor)))
    with torch.no_grad():
        for layer, weight in plan:
            layer.weight.copy_(weight)
            if layer.bias is not None:
                layer.bias.zero_()
    depths = sorted({len(found) for found in layers})
    inner = [_scales(rule, n, m)[0] for m in depths]
    return {
        "rule": rule, "branches": n,
        "layers_per_branch": depths[0] if len(depths) == 1 else depths,
        "inner_scale": inner[0] if len(inner) == 1 else inner,
        "last_scale": _scales(rule, n, depths[0])[1],
    }
