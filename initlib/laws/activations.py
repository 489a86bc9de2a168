"""The activation functions, each defined once: everything initlib needs to know about ``f``.

An :class:`Activation` bundles, for one nonlinearity ``f``:

* ``function(s, a)``: ``f`` on a tensor (out of place; ``a`` is leaky ReLU's slope, ignored by
  the others) and ``module(a)``: the same ``f`` as an ``nn.Module``;
* ``derivative(h, a)``: ``f'(s)`` recovered from ``h = f(s)`` (every ``f`` here is monotone, so
  ``h`` determines ``f'``), None for the identity, and ``sup_derivative(a) = sup |f'|``;
* ``scalar(x, a)``/``scalar_derivative(x, a)``: ``f`` and ``f'`` on a float, for quadrature;
* ``moments(q, a)``: the closed-form Gaussian moments ``(E[f(s)^2], E[f'(s)^2])`` for
  ``s ~ N(0, q)`` where one exists (None otherwise: integrate ``scalar``), and ``linear_regime``:
  ``(f(0), f'(0))``, Glorot & Bengio's eq. (4) approximation ``f(s) ~ f(0) + f'(0) s`` for the
  smooth squashing functions;
* ``symbolic(y, a)``: ``f`` as a SymPy expression (used by :mod:`initlib.theory.symbolic`);
* ``output_range``: the interval ``f`` maps onto where it is bounded ((-1, 1) for tanh and
  softsign, (0, 1) for sigmoid), None otherwise: the fixed range of a histogram of ``h = f(s)``.

>>> relu = ACTIVATIONS["relu"]
>>> relu.moments(2.0, 0.0)                  # He et al. eq. (8): E[f^2] = q/2, E[f'^2] = 1/2
(1.0, 0.5)
>>> import torch
>>> h = relu.function(torch.tensor([-1.0, 2.0]), 0.0)
>>> relu.derivative(h, 0.0).tolist()
[0.0, 1.0]
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_real

DEFAULT_NEGATIVE_SLOPE = 0.01  # torch.nn.LeakyReLU's default, the one place initlib defines it

# Klambauer et al. (2017): the constants that make N(0, 1) a fixed point of SELU with Var[W] = 1/n.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@dataclasses.dataclass(frozen=True)
class Activation:
    """One nonlinearity and everything derived from it (see the module docstring)."""

    name: str
    function: Callable[[torch.Tensor, float], torch.Tensor]
    module: Callable[[float], nn.Module]
    derivative: Callable[[torch.Tensor, float], torch.Tensor | None]
    sup_derivative: Callable[[float], float]
    scalar: Callable[[float, float], float]
    scalar_derivative: Callable[[float, float], float]
    moments: Callable[[float, float], tuple[float, float] | None]
    symbolic: Callable
    linear_regime: tuple[float, float] | None = None
    output_range: tuple[float, float] | None = None


def _rectifier_moments(q: float, a: float) -> tuple[float, float]:
    # He et al. eq. (8) and (15): half the mass on each side, the negative side scaled by a
    return (1 + a * a) * q / 2, (1 + a * a) / 2


def _selu_moments(q: float, a: float = 0.0) -> tuple[float, float]:
    """SELU with scale lambda, alpha: E[f^2] = lambda^2 [q/2 + alpha^2 (E[e^(2s)1{s<0}] - 2 E[e^s 1{s<0}]
    + 1/2)], E[f'^2] = lambda^2 (1/2 + alpha^2 E[e^(2s)1{s<0}]), with E[e^(ts)1{s<0}] = e^(t^2 q/2)
    Phi(-t sqrt q) = erfcx(t sqrt(q/2)) / 2 (erfcx keeps a large q from overflowing)."""
    from scipy import special

    if q == 0:
        return 0.0, SELU_SCALE**2 * SELU_ALPHA**2
    sigma = math.sqrt(q)
    e1 = special.erfcx(sigma / math.sqrt(2)) / 2
    e2 = special.erfcx(sigma * math.sqrt(2)) / 2
    lam2, a2 = SELU_SCALE**2, SELU_ALPHA**2
    return float(lam2 * (q / 2 + a2 * (e2 - 2 * e1 + 0.5))), float(lam2 * (0.5 + a2 * e2))


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def _sympy():
    import sympy

    return sympy


# f' from h = f(s), with float ops: masks built from comparisons are several times slower on a CPU.
# tanh' = 1 - h^2, sigmoid' = h (1 - h), softsign' = (1 - |h|)^2, ReLU' = sign(h), leaky' = 1 or a,
# SELU' = lambda for h > 0 and h + lambda alpha below (lambda alpha e^s).
ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation(
            name="linear",
            function=lambda s, a: s,
            module=lambda a: nn.Identity(),
            derivative=lambda h, a: None,
            sup_derivative=lambda a: 1.0,
            scalar=lambda x, a: x,
            scalar_derivative=lambda x, a: 1.0,
            moments=lambda q, a: (q, 1.0),
            symbolic=lambda y, a: y,
        ),
        Activation(
            name="relu",
            function=lambda s, a: torch.relu(s),
            module=lambda a: nn.ReLU(),
            derivative=lambda h, a: h.sign(),
            sup_derivative=lambda a: 1.0,
            scalar=lambda x, a: max(x, 0.0),
            scalar_derivative=lambda x, a: float(x > 0),
            moments=_rectifier_moments,
            symbolic=lambda y, a: _sympy().Max(0, y),
        ),
        Activation(
            name="leaky_relu",
            function=lambda s, a: F.leaky_relu(s, a),
            module=lambda a: nn.LeakyReLU(a),
            derivative=lambda h, a: h.sign().clamp_(min=0).mul_(1 - a).add_(a),
            sup_derivative=lambda a: 1.0,
            scalar=lambda x, a: x if x > 0 else a * x,
            scalar_derivative=lambda x, a: 1.0 if x > 0 else a,
            moments=_rectifier_moments,
            symbolic=lambda y, a: _sympy().Piecewise((y, y > 0), (a * y, True)),
        ),
        Activation(
            name="tanh",
            function=lambda s, a: torch.tanh(s),
            module=lambda a: nn.Tanh(),
            derivative=lambda h, a: h.square().neg_().add_(1),
            sup_derivative=lambda a: 1.0,
            scalar=lambda x, a: math.tanh(x),
            scalar_derivative=lambda x, a: 1 - math.tanh(x) ** 2,
            moments=lambda q, a: None,
            symbolic=lambda y, a: _sympy().tanh(y),
            linear_regime=(0.0, 1.0),
            output_range=(-1.0, 1.0),
        ),
        Activation(
            name="sigmoid",
            function=lambda s, a: torch.sigmoid(s),
            module=lambda a: nn.Sigmoid(),
            derivative=lambda h, a: h.square().neg_().add_(h),
            sup_derivative=lambda a: 0.25,
            scalar=lambda x, a: _expit(x),
            scalar_derivative=lambda x, a: _expit(x) * (1 - _expit(x)),
            moments=lambda q, a: None,
            symbolic=lambda y, a: 1 / (1 + _sympy().exp(-y)),
            linear_regime=(0.5, 0.25),
            output_range=(0.0, 1.0),
        ),
        Activation(
            name="softsign",
            function=lambda s, a: F.softsign(s),
            module=lambda a: nn.Softsign(),
            derivative=lambda h, a: (1 - h.abs()).square_(),
            sup_derivative=lambda a: 1.0,
            scalar=lambda x, a: x / (1 + abs(x)),
            scalar_derivative=lambda x, a: 1 / (1 + abs(x)) ** 2,
            moments=lambda q, a: None,
            symbolic=lambda y, a: y / (1 + _sympy().Abs(y)),
            linear_regime=(0.0, 1.0),
            output_range=(-1.0, 1.0),
        ),
        Activation(
            name="selu",
            function=lambda s, a: F.selu(s),
            module=lambda a: nn.SELU(),
            derivative=lambda h, a: torch.where(h > 0, SELU_SCALE, h + SELU_SCALE * SELU_ALPHA),
            sup_derivative=lambda a: SELU_SCALE * SELU_ALPHA,
            scalar=lambda x, a: SELU_SCALE * (x if x > 0 else SELU_ALPHA * math.expm1(x)),
            scalar_derivative=lambda x, a: SELU_SCALE * (1.0 if x > 0 else SELU_ALPHA * math.exp(x)),
            moments=_selu_moments,
            symbolic=lambda y, a: (
                SELU_SCALE * _sympy().Piecewise((y, y > 0), (SELU_ALPHA * (_sympy().exp(y) - 1), True))
            ),
        ),
    )
}
NAMES = tuple(ACTIVATIONS)


def get(name: str) -> Activation:
    """The :class:`Activation` called ``name``, with a clear error otherwise.

    >>> get("tanh").linear_regime
    (0.0, 1.0)
    """
    return ACTIVATIONS[check_choice(name, "activation", NAMES)]


def slope(activation: str, negative_slope: float | None = None) -> float:
    """Leaky ReLU's slope ``a`` (default :data:`DEFAULT_NEGATIVE_SLOPE`); 0 for every other activation,
    which refuses a slope. ``a`` must lie in [0, 1]: a negative slope makes ``f`` non-monotone, and
    :attr:`Activation.derivative` recovers ``f'`` from ``f(s)``, which needs it monotone.

    >>> slope("leaky_relu"), slope("relu")
    (0.01, 0.0)
    """
    if activation != "leaky_relu":
        if negative_slope is not None:
            raise ValueError(f"negative_slope only applies to activation='leaky_relu', not {activation!r}")
        return 0.0
    if negative_slope is None:
        return DEFAULT_NEGATIVE_SLOPE
    a = check_real(negative_slope, "negative_slope")
    if not 0 <= a <= 1:
        raise ValueError(f"negative_slope must be in [0, 1], got {a}")
    return a
