"""Fan-in and fan-out: how many inputs feed a unit, and how many units a input feeds.

Every variance rule in this library is a statement about these two numbers, so
they are computed in exactly one place.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
from collections.abc import Iterator, Sequence

import torch

from .._checks import InitTypeError, check_choice, check_ndim, check_tensor

FAN_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
# (tensor, (fan_in, fan_out)) while :func:`use_fans` is active, else None
_OVERRIDE: contextvars.ContextVar = contextvars.ContextVar("initlib_fans_override", default=None)


def fans_of_shape(shape: Sequence[int]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight of this shape, in torch's layout ``(out, in, *kernel)``.

    The rule behind every fan in this library (:func:`fan_in_and_fan_out` reads a tensor's shape
    and calls this): with the receptive field ``prod(kernel)`` (1 for a Linear),
    ``fan_in = shape[1] * prod(kernel)`` and ``fan_out = shape[0] * prod(kernel)``, exactly as
    ``torch.nn.init._calculate_fan_in_and_fan_out``. No tensor is needed, so a scheme can be
    sized before its weight exists.

    >>> fans_of_shape((33, 16, 3, 3))  # Conv2d(16, 33, 3): 16 * 9 inputs, 33 * 9 outputs
    (144, 297)
    >>> fans_of_shape((200, 300))  # Linear(300, 200)
    (300, 200)
    >>> fans_of_shape((10,))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: shape must have at least 2 dimensions for fan-in and fan-out, got (10,); ...
    """
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise InitTypeError(
            f"shape must be a sequence of ints such as (out, in, *kernel), got {shape!r} of type {type(shape).__name__}"
        )
    for size in shape:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise InitTypeError(
                f"shape must hold integers (the sizes of a weight's dimensions), "
                f"got {size!r} of type {type(size).__name__} in {tuple(shape)!r}"
            )
        if size < 0:
            raise ValueError(f"shape must hold sizes >= 0, got {size} in {tuple(shape)!r}")
    if len(shape) < 2:
        raise ValueError(
            f"shape must have at least 2 dimensions for fan-in and fan-out, got {tuple(shape)!r}; "
            f"weights use torch's layout (out_features, in_features, *kernel_size)"
        )
    receptive_field = math.prod(int(k) for k in shape[2:])
    return int(shape[1]) * receptive_field, int(shape[0]) * receptive_field


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
    override = _OVERRIDE.get()
    if override is not None and override[0] is tensor:
        return override[1]
    check_ndim(tensor, 2, "fan-in and fan-out")
    return fans_of_shape(tuple(tensor.shape))


def fan(fan_in: float, fan_out: float, mode: str) -> float:
    """The ``n`` in ``Var[W] = scale / n`` (Keras/JAX ``VarianceScaling``), from the two fans.

    ``fan_in`` and ``fan_out`` themselves, their arithmetic mean (Glorot & Bengio's eq. (12):
    ``2 / (n_in + n_out) = 1 / fan_avg``) or their geometric mean.

    >>> [fan(300, 200, mode) for mode in FAN_MODES]
    [300, 200, 250.0, 244.94897427831782]
    """
    check_choice(mode, "mode", FAN_MODES)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    return (fan_in + fan_out) / 2 if mode == "fan_avg" else math.sqrt(fan_in * fan_out)


def _fan(tensor: torch.Tensor, mode: str) -> float:
    """:func:`fan` of a weight's fans (``use_fans`` overrides included)."""
    check_choice(mode, "mode", FAN_MODES)
    return fan(*fan_in_and_fan_out(tensor), mode)


@contextlib.contextmanager
def use_fans(tensor: torch.Tensor, fans: tuple[float, float]) -> Iterator[torch.Tensor]:
    """Within the block, :func:`fan_in_and_fan_out` returns ``fans`` for this very tensor object.

    This is how :func:`initlib.init_module` gives every initlib scheme the fans of the module's
    own computation (:func:`initlib.module_fans`) instead of those read off the weight's shape.
    A scheme that calls ``torch.nn.init`` instead still sees torch's fans.

    >>> w = torch.empty(64, 1, 3, 3)  # a depthwise Conv2d(64, 64, 3, groups=64)
    >>> with use_fans(w, (9, 9)):
    ...     fan_in_and_fan_out(w)
    (9, 9)
    >>> fan_in_and_fan_out(w)
    (9, 576)
    """
    token = _OVERRIDE.set((tensor, tuple(fans)))
    try:
        yield tensor
    finally:
        _OVERRIDE.reset(token)
