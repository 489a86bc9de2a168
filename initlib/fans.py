"""Fan-in and fan-out: how many inputs feed a unit, and how many units a input feeds.

Every variance rule in this library is a statement about these two numbers, so
they are computed in exactly one place.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_ndim, check_tensor

FAN_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")


def fan_in_and_fan_out(tensor: torch.Tensor) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` for a weight in torch's layout ``(out, in, *kernel)``.

    ``fan_in = in * prod(kernel)`` is ``n_i`` in Glorot & Bengio (2010) and ``n_l = k^2 c_l``
    in He et al. (2015); ``fan_out = out * prod(kernel)`` is ``n_{i+1}`` and ``n̂_l = k^2 d_l``.

    >>> fan_in_and_fan_out(torch.empty(33, 16, 3, 3))
    (144, 297)

    ConvTranspose weights are stored as ``(in, out/groups, *kernel)``: for them the roles are
    swapped, exactly as in ``torch.nn.init``.
    """
    check_tensor(tensor)
    check_ndim(tensor, 2, "fan-in and fan-out")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _fan(tensor: torch.Tensor, mode: str) -> float:
    """The ``n`` in ``variance = scale / n`` (Keras/JAX ``VarianceScaling``)."""
    check_choice(mode, "mode", FAN_MODES)
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return {
        "fan_in": fan_in,
        "fan_out": fan_out,
        "fan_avg": (fan_in + fan_out) / 2,
        "fan_geo_avg": math.sqrt(fan_in * fan_out),
    }[mode]
