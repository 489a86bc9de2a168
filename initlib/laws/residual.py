"""Initializing residual networks, where a block computes x + F(x) and the stream adds up.

With unit-variance branches the stream's variance doubles at every block, (1 + 1)^N after N
blocks. The starts below keep it bounded by making each branch small at initialization:

* ``"fixup"`` (Zhang, Dauphin & Ma 2019): the last weight layer of every branch is zero, the
  others are drawn with ``scheme`` and scaled by N^(-1/(2m-2)), m weight layers per branch;
* ``"scaled"`` (GPT-2, Radford et al. 2019): every weight layer drawn with ``scheme``, the last of
  each branch times 1/sqrt(N), so a branch adds Var/N and the stream grows only to (1 + c/N)^N;
* ``"zero_last"`` (as zero-init of the last BatchNorm gamma, or SkipInit/ReZero's alpha = 0): the
  last weight layer of every branch is zero, the others drawn with ``scheme``.

The branch's layers are its Linear, Conv and transformers' Conv1D layers in registration order,
drawn with the fans of their computation (:func:`initlib.module_fans`: a depthwise conv's are
(k^2, k^2), not torch's). A block passed whole (torchvision's and timm's ``BasicBlock`` and
``Bottleneck`` have no branch module, and register ``downsample`` after the branch's last conv)
has its projection shortcut (a child named ``downsample``, ``shortcut`` or ``skip``) set aside:
it is not part of the branch, and is left as it was. When a norm layer follows the branch's
last weight layer (a ResNet's ``bn2``/``bn3``), it would undo any scale on that layer in train
mode, so the last factor goes on the norm's scale gamma instead (zero-init of the last BN gamma,
Goyal et al. 2017, for ``"zero_last"`` and ``"fixup"``), and the layer is drawn by ``scheme``.

>>> from torch import nn
>>> branches = [nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8)) for _ in range(16)]
>>> report = residual_init_(branches, "fixup")
>>> report["inner_scale"], float(branches[0][2].weight.detach().abs().sum())
(0.25, 0.0)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Callable, cast

import torch
from torch import nn

from .._checks import check_choice
from .modules import NORMS, _draw_weight, is_weight_layer, module_fans
from .schemes import get_scheme

RULES = ("fixup", "scaled", "zero_last")
SHORTCUT_NAMES = ("downsample", "shortcut", "skip")  # torchvision/timm, transformers' ResNet, others


def _is_shortcut(name: str) -> bool:
    return any(part in SHORTCUT_NAMES for part in name.split("."))


def _branch(i: int, branch) -> tuple[list, nn.Module | None, list, int]:
    """(weight layers in registration order, the norm after the last one or None, shortcut names,
    how many norms sit between weight layers)."""
    if not isinstance(branch, nn.Module):
        raise TypeError(f"branches[{i}] must be a torch.nn.Module, got {type(branch).__name__}")
    layers, norm, shortcuts, inner_norms = [], None, [], 0
    for name, m in branch.named_modules():
        if _is_shortcut(name):
            if is_weight_layer(m):
                shortcuts.append(name)
            continue
        if is_weight_layer(m):
            layers.append(m)
            inner_norms += norm is not None
            norm = None
        elif isinstance(m, NORMS) and layers and getattr(m, "weight", None) is not None:
            norm = m
    if not layers:
        raise ValueError(
            f"branches[{i}] ({type(branch).__name__}) has no Linear or Conv weight layer (nor "
            "transformers' Conv1D) outside its shortcut"
        )
    return layers, norm, shortcuts, inner_norms


def _weight_layers(branches) -> list[tuple]:
    """Each branch's weight layers, trailing norm and shortcut layers (see :func:`_branch`)."""
    if isinstance(branches, nn.Module) or not hasattr(branches, "__len__") or len(branches) == 0:
        raise ValueError("branches must be a non-empty list of residual-branch modules, e.g. [block.branch, ...]")
    return [_branch(i, branch) for i, branch in enumerate(branches)]


def _scales(rule: str, n_branches: int, m: int) -> tuple[float, float]:
    """(factor on the inner layers, factor on the last layer) of a branch with m weight layers."""
    if rule == "fixup":
        return (n_branches ** (-1.0 / (2 * m - 2)) if m > 1 else 1.0), 0.0
    if rule == "scaled":
        return 1.0, 1.0 / math.sqrt(n_branches)
    return 1.0, 0.0


def _draw(layer: nn.Module, init, factor: float, scheme_kwargs: dict) -> torch.Tensor:
    # nn.Module.__getattr__ is typed Tensor | Module; a weight layer's weight is a Parameter
    weight = cast(torch.Tensor, layer.weight)
    if factor == 0:
        return torch.zeros_like(weight)
    fill = _draw_weight(init, module_fans(layer)["weight"], scheme_kwargs)
    return fill(weight.detach().clone()).mul_(factor)


def residual_init_(
    branches: Sequence[nn.Module],
    rule: str,
    scheme: str | Callable[..., torch.Tensor] = "kaiming_normal",
    **scheme_kwargs: Any,
) -> dict:
    """Initialize the weight layers of N residual branches by ``rule``; zero their biases.

    ``branches`` are the modules F of the blocks x + F(x) (or the blocks themselves, whose
    shortcut is set aside); their weight layers are taken in registration order, the last one
    being the branch's output layer, and drawn by ``scheme`` (a name in :data:`initlib.SCHEMES`
    or a callable) and ``scheme_kwargs`` with :func:`initlib.module_fans`. A norm after the last
    layer takes the last factor on its scale (see the module docstring). Every new value is
    drawn into a copy first, so an error leaves every branch unchanged.

    Returns ``{"rule", "branches", "layers_per_branch", "inner_scale", "last_scale",
    "shortcuts", "norm_scaled"}``; with branches of different depths ``layers_per_branch`` and
    ``inner_scale`` are lists; ``shortcuts`` counts the shortcut layers left alone and
    ``norm_scaled`` the norms that took the last factor.
    """
    check_choice(rule, "rule", RULES)
    found = _weight_layers(branches)
    init = get_scheme(scheme)
    n = len(found)
    plan, undone = [], 0
    for layers, norm, _, inner_norms in found:
        inner, last = _scales(rule, n, len(layers))
        for k, layer in enumerate(layers):
            factor = last if k == len(layers) - 1 else inner
            if k == len(layers) - 1 and norm is not None:
                plan.append((norm.weight, torch.full_like(norm.weight, factor)))
                if norm.bias is not None:
                    plan.append((norm.bias, torch.zeros_like(norm.bias)))
                factor = 1.0
            plan.append((layer.weight, _draw(layer, init, factor, scheme_kwargs)))
            if getattr(layer, "bias", None) is not None:
                plan.append((layer.bias, torch.zeros_like(layer.bias)))
        undone += inner_norms if inner != 1.0 else 0
    if undone:
        warnings.warn(
            f"residual_init_: {rule!r} scales the inner layers of the branches, but {undone} norm "
            "layer(s) between them renormalize that scale away in train mode; only the last factor "
            "remains",
            stacklevel=2,
        )
    with torch.no_grad():
        for param, value in plan:
            param.copy_(value)
    depths = sorted({len(layers) for layers, _, _, _ in found})
    inners = [_scales(rule, n, m)[0] for m in depths]
    return {
        "rule": rule,
        "branches": n,
        "layers_per_branch": depths[0] if len(depths) == 1 else depths,
        "inner_scale": inners[0] if len(inners) == 1 else inners,
        "last_scale": _scales(rule, n, depths[0])[1],
        "shortcuts": sum(len(s) for _, _, s, _ in found),
        "norm_scaled": sum(norm is not None for _, norm, _, _ in found),
    }
