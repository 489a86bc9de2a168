"""Many networks in one computation: E nets stacked on a leading axis, and the settings of each member.

A sweep (over seeds, over the init scale ``sigma_w^2``, over a scheme's keywords) is an ensemble:
member ``e`` has its own seed and its own init keywords, its weights are drawn exactly as a
single run with those arguments would draw them, and the E nets then run as one batched
computation, ``torch.bmm`` over the member axis, which on a CPU is several times faster than E
small runs one after another.

>>> members(seed=[0, 1], std=0.1)
[(0, {'std': 0.1}), (1, {'std': 0.1})]
>>> members(seed=0, std=[0.1, 0.2])
[(0, {'std': 0.1}), (0, {'std': 0.2})]
>>> members(seed=3, std=0.1) is None        # a single run
True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._checks import check_int


def is_list(value: object) -> bool:
    return isinstance(value, (list, tuple))


def members(seed: int | list[int] | tuple[int, ...], **kwargs: Any) -> list[tuple[int, dict]] | None:
    """``[(seed_e, kwargs_e), ...]`` for an ensemble, None for a single run.

    ``seed`` may be an int or a list of E ints; any keyword may be a list of E values (one per
    member, e.g. ``std=[...]`` sweeps the init scale); scalars are shared by every member. All
    lists must have the same length E >= 1.
    """
    lists = {k: v for k, v in kwargs.items() if is_list(v)} | ({"seed": seed} if is_list(seed) else {})
    if not lists:
        return None
    sizes = {k: len(v) for k, v in lists.items()}
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise ValueError(f"per-member lists must all have the same length E >= 1, got lengths {sizes}")
    size = next(iter(sizes.values()))
    if isinstance(seed, (list, tuple)):  # is_list, spelled out so that the type checker narrows
        seeds = [check_int(s, f"seed[{e}]", 0) for e, s in enumerate(seed)]
    else:
        seeds = [seed] * size
    return [(seeds[e], {k: (v[e] if is_list(v) else v) for k, v in kwargs.items()}) for e in range(size)]


class EnsembleLinear(nn.Module):
    """E linear maps at once: ``y[e] = h[e] W[e]^T + b[e]`` for ``h`` of shape ``(E, batch, n_in)``.

    >>> layer = EnsembleLinear(torch.ones(3, 2, 4))
    >>> tuple(layer(torch.ones(3, 5, 4)).shape)
    (3, 5, 2)
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.bias is None:
            return torch.bmm(h, self.weight.transpose(1, 2))
        return torch.baddbmm(self.bias[:, None, :], h, self.weight.transpose(1, 2))


def linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    """An ``nn.Linear`` holding ``weight`` (``(n_out, n_in)``) and ``bias``, or an
    :class:`EnsembleLinear` for stacked ``(E, n_out, n_in)`` weights."""
    if weight.dim() == 3:
        return EnsembleLinear(weight, bias)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
    layer.weight = nn.Parameter(weight)
    if bias is not None:
        layer.bias = nn.Parameter(bias)
    return layer
