"""Argument checks shared by every public function.

Each check raises before anything is written, so a call with bad input leaves
the tensor exactly as it was. Messages name the parameter and say what would
have been accepted.
"""

from __future__ import annotations

import math
import numbers

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
ZERO_ELEMENT_WARNING = "Initializing zero-element tensors is a no-op"


class InitTypeError(ValueError, TypeError):
    """A value of the wrong type: both a ``TypeError`` and a ``ValueError``.

    torch.nn.init raises ``ValueError`` for most bad arguments, so code written for it catches
    ``ValueError``; the type is also a ``TypeError``, which is what it is. numpy's ``AxisError``
    (a ``ValueError`` and an ``IndexError``) sets the precedent.

    >>> isinstance(InitTypeError("x"), ValueError), isinstance(InitTypeError("x"), TypeError)
    (True, True)
    """


def check_tensor(tensor, name: str = "tensor") -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise InitTypeError(
            f"{name} must be a torch.Tensor, got {type(tensor).__name__}; "
            f"convert it first, e.g. torch.as_tensor(x, dtype=torch.float32)"
        )
    if tensor.dtype not in FLOAT_DTYPES:
        names = ", ".join(str(d).replace("torch.", "") for d in FLOAT_DTYPES)
        raise InitTypeError(
            f"{name} must have a floating-point dtype ({names}), got {str(tensor.dtype).replace('torch.', '')}"
        )
    return tensor


def check_ndim(tensor: torch.Tensor, minimum: int, why: str, name: str = "tensor") -> None:
    if tensor.dim() < minimum:
        raise ValueError(
            f"{name} must have at least {minimum} dimensions for {why}, got shape {tuple(tensor.shape)}; "
            f"weights use torch's layout (out_features, in_features, *kernel_size)"
        )


def check_real(value, name: str) -> float:
    """A finite real number (bool is refused: True is not a slope). A 0-d real tensor counts, as in torch."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and value.dtype != torch.bool and not value.is_complex():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InitTypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond float64, e.g. 10**400
        raise ValueError(
            f"{name} must be finite, got an integer of {len(str(abs(value)))} digits, too large for a float"
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_int(value, name: str, minimum: int) -> int:
    """An integer (not a bool) no smaller than ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive(value, name: str) -> float:
    value = check_real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return value


def check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InitTypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def sampling_dtype(tensor: torch.Tensor) -> torch.dtype:
    """The dtype a law is drawn in: float32 for the half types (see ``initializers._fill``)."""
    return tensor.dtype if tensor.dtype in (torch.float32, torch.float64) else torch.float32


def check_fits(tensor: torch.Tensor, low: float, high: float, what: str) -> None:
    """Refuse a law whose values may lie outside [low, high] when that overflows the tensor's dtype.

    Every written value must be finite in ``tensor.dtype``, and the width ``high - low`` finite in
    the dtype the law is drawn in (torch's ``uniform_`` computes ``a + (b - a) u``).
    """
    largest = torch.finfo(tensor.dtype).max
    widest = torch.finfo(sampling_dtype(tensor)).max
    if max(abs(low), abs(high)) > largest or high - low > widest:
        dtype = str(tensor.dtype).replace("torch.", "")
        raise ValueError(
            f"{what} puts values in [{low:.4g}, {high:.4g}], which overflows {dtype} (largest finite value "
            f"{largest:.4g}); use smaller numbers or a wider dtype. Nothing was written."
        )


def check_widths(widths) -> list[int]:
    """``widths = [n_0, ..., n_L]``: at least two positive integers."""
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__"):
        raise TypeError(f"widths must be a list of layer sizes [n_0, n_1, ..., n_L], got {type(widths).__name__}")
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"widths must list at least the input and one layer, [n_0, n_1, ...]; got {widths}")
    for i, n in enumerate(widths):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"widths[{i}] must be a positive integer, got {n!r}")
    return [int(n) for n in widths]
