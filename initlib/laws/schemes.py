"""The named initialization schemes, and the variance law each one declares.

Every scheme is a pair: the in-place initializer of :mod:`initlib.laws.initializers` and its law, the
variance ``Var[W]`` it gives a ``(fan_out, fan_in)`` weight. Most laws are the JAX
``variance_scaling(scale, mode, distribution)`` triple, ``Var[W] = scale / n`` with ``n`` the
fan named by ``mode`` (torch's ``gain`` multiplies the standard deviation, so it scales ``scale``
by ``gain^2``); the rest (He's gain from the nonlinearity, the plain laws with their own
parameters) declare a function ``variance(fan_in, fan_out, **kw)``. :mod:`initlib.theory` reads
the laws from here; the initializers keep torch's exact arithmetic for drawing.

>>> variance("xavier_uniform", 300, 200)        # Glorot & Bengio eq. (16): 2 / (n_in + n_out)
0.004
>>> LAWS["lecun_normal"]
Law(scale=1.0, mode='fan_in', distribution='truncated_normal')
>>> round(variance("kaiming_normal", 512, 256) * 512, 12)   # He et al. eq. (10): 2 / n_in
2.0
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import torch

from . import initializers as I
from .fans import fan
from .gains import calculate_gain


@dataclasses.dataclass(frozen=True)
class Law:
    """``Var[W] = gain^2 * scale / n``, ``n`` the fan named by ``mode`` (JAX's ``variance_scaling``)."""

    scale: float
    mode: str
    distribution: str

    def variance(self, fan_in: int, fan_out: int, gain: float = 1.0) -> float:
        return gain**2 * self.scale / fan(fan_in, fan_out, self.mode)


def _kaiming(fan_in, fan_out, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    fan = fan_in if mode.lower() == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) ** 2 / fan


def _variance_scaling(fan_in, fan_out, scale=1.0, mode="fan_in", distribution="truncated_normal"):
    return Law(scale, mode, distribution).variance(fan_in, fan_out)


def _orthogonal(fan_in, fan_out, gain=1.0):
    # the rows (or columns) are orthonormal: the min(n_in, n_out) singular values are 1
    return gain**2 / max(fan_in, fan_out)


def _normal(fan_in, fan_out, mean=0.0, std=1.0):
    return std**2 if mean == 0 else math.nan  # the analysis assumes zero-mean weights


def _uniform(fan_in, fan_out, a=0.0, b=1.0):
    return (b - a) ** 2 / 12 if a + b == 0 else math.nan


def _trunc_normal(fan_in, fan_out, mean=0.0, std=1.0, a=-2.0, b=2.0):
    if mean != 0 or a + b != 0:
        return math.nan
    # torch's bounds are absolute: std times N(0, 1) cut at +-b / std
    return std**2 * I.truncated_normal_variance(b / std)


def _constant(fan_in, fan_out, val=0.0):
    return 0.0 if val == 0 else math.nan


def _sparse(fan_in, fan_out, sparsity, std=0.01):
    # each column keeps fan_out - ceil(sparsity * fan_out) of its N(0, std^2) entries
    return std**2 * (1 - math.ceil(sparsity * fan_out) / fan_out)


def _not_random(fan_in, fan_out, **kw):
    return math.nan  # eye_ and dirac_ are fixed matrices, not zero-mean laws


# name: (initializer, law)
_TABLE: dict[str, tuple[Callable[..., torch.Tensor], Law | Callable[..., float]]] = {
    "uniform": (I.uniform_, _uniform),
    "normal": (I.normal_, _normal),
    "trunc_normal": (I.trunc_normal_, _trunc_normal),
    "constant": (I.constant_, _constant),
    "zeros": (I.zeros_, _constant),
    "ones": (I.ones_, lambda fan_in, fan_out: math.nan),
    "variance_scaling": (I.variance_scaling_, _variance_scaling),
    "xavier_uniform": (I.xavier_uniform_, Law(1.0, "fan_avg", "uniform")),
    "xavier_normal": (I.xavier_normal_, Law(1.0, "fan_avg", "normal")),
    "glorot_uniform": (I.glorot_uniform_, Law(1.0, "fan_avg", "uniform")),
    "glorot_normal": (I.glorot_normal_, Law(1.0, "fan_avg", "normal")),
    "kaiming_uniform": (I.kaiming_uniform_, _kaiming),
    "kaiming_normal": (I.kaiming_normal_, _kaiming),
    "he_uniform": (I.he_uniform_, _kaiming),
    "he_normal": (I.he_normal_, _kaiming),
    "lecun_uniform": (I.lecun_uniform_, Law(1.0, "fan_in", "uniform")),
    "lecun_normal": (I.lecun_normal_, Law(1.0, "fan_in", "truncated_normal")),
    "standard_uniform": (I.standard_uniform_, Law(1 / 3, "fan_in", "uniform")),
    "pytorch_default": (I.pytorch_default_, Law(1 / 3, "fan_in", "uniform")),
    "orthogonal": (I.orthogonal_, _orthogonal),
    "sparse": (I.sparse_, _sparse),
    "eye": (I.eye_, _not_random),
    "dirac": (I.dirac_, _not_random),
    # the centre tap is orthogonal (in <= out), every other tap 0: E[W^2] = gain^2 / fan_out
    "delta_orthogonal": (I.delta_orthogonal_, _orthogonal),
}

#: name -> in-place initializer ``f(tensor, ..., generator=None)``.
SCHEMES: dict[str, Callable[..., torch.Tensor]] = {name: fn for name, (fn, _) in _TABLE.items()}
#: name -> its variance law: a :class:`Law` or a function ``variance(fan_in, fan_out, **kw)``.
LAWS: dict[str, Law | Callable[..., float]] = {name: law for name, (_, law) in _TABLE.items()}


def get_scheme(scheme: str | Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Return the initializer for a name in :data:`SCHEMES` (a trailing ``_`` is allowed) or a callable.

    >>> get_scheme("he_normal_") is get_scheme("kaiming_normal")
    True
    """
    if callable(scheme):
        return scheme
    if isinstance(scheme, str) and scheme.rstrip("_") in SCHEMES:
        return SCHEMES[scheme.rstrip("_")]
    raise ValueError(f"scheme must be a callable or one of {', '.join(sorted(SCHEMES))}; got {scheme!r}")


def variance(init: str, fan_in: int, fan_out: int, **init_kwargs: Any) -> float:
    """The variance that the scheme named ``init`` gives a ``(fan_out, fan_in)`` weight, read from its law.

    Returns NaN for laws whose mean is not zero (the analysis assumes zero-mean weights) and
    raises ``KeyError`` for a name without a law here (a custom callable: measure instead).

    >>> round(variance("standard_uniform", 300, 200) * 300, 6)
    0.333333
    >>> variance("normal", 10, 10, mean=1.0)
    nan
    """
    name = init.rstrip("_")
    if name not in LAWS:
        raise KeyError(init)
    law = LAWS[name]
    return law.variance(fan_in, fan_out, **init_kwargs) if isinstance(law, Law) else law(fan_in, fan_out, **init_kwargs)
