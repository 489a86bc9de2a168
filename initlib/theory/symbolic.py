"""The course's derivations, done by SymPy: every formula initlib uses is derived here, not typed in.

Each function builds its result from a first principle — an expectation written as a sum over
independent variables, an integral of a density, an equation solved or two equations added — and
returns a SymPy expression (or a dict of the intermediate steps, for the chapters to display).
Arguments may be positive numbers (kept exact: ints, fractions) or SymPy symbols.

Equation numbers are the papers' own: "Glorot (10)" is eq. (10) of Glorot & Bengio (2010),
"He (14)" is eq. (14) of He, Zhang, Ren & Sun (2015).

>>> n_in, n_out = sp.symbols("n_in n_out", positive=True)
>>> glorot_variance(n_in, n_out)
2/(n_in + n_out)
>>> uniform_bound(glorot_variance(n_in, n_out))
sqrt(6)/sqrt(n_in + n_out)
>>> relu_second_moment(sp.Symbol("sigma", positive=True))
sigma**2/2
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Iterable
from fractions import Fraction
from typing import TypeAlias

import sympy as sp

from .._checks import check_choice
from ..laws import activations as _activations

__all__ = [
    "VAR_W",
    "ACTIVATIONS",
    "COMPROMISES",
    "FACTOR_MEANS",
    "one_layer_steps",
    "one_layer_variance",
    "forward_condition",
    "backward_condition",
    "glorot_steps",
    "glorot_variance",
    "compromise_variance",
    "variance_from_factor_mean",
    "layer_factors",
    "forward_variances",
    "backward_variances",
    "linear_regime",
    "uniform_variance",
    "uniform_bound",
    "normal_fourth_moment_ratio",
    "kurtosis",
    "truncated_normal_variance",
    "truncated_normal_std",
    "trunc_normal_realised_std",
    "relu_mean",
    "relu_second_moment",
    "relu_slope_second_moment",
    "leaky_relu_second_moment",
    "leaky_relu_slope_second_moment",
    "leaky_relu_gain",
    "he_forward_condition",
    "he_backward_condition",
    "backward_variance_factors",
    "backward_variance_product",
    "backward_variance_ratio",
    "telescoping_induction",
    "torch_default_steps",
]

#: A real quantity: a number (ints and fractions stay exact, floats become SymPy Floats) or a SymPy expression.
Quantity: TypeAlias = "float | Fraction | sp.Expr"
#: A layer width: a positive integer, or a SymPy symbol or expression not declared non-positive.
Width: TypeAlias = "int | sp.Expr"

#: The unknown every condition is solved for: the variance of one weight.
VAR_W = sp.Symbol(r"\operatorname{Var}[W]", positive=True)

_y = sp.Symbol("y", real=True)
_i, _j = sp.symbols("i j", integer=True, positive=True)
_q = sp.Symbol("q", positive=True)  # the variance of a layer's input (or of a gradient): it must cancel


# --- argument checks ---------------------------------------------------------------------------


def _expr(value, name: str, *, positive: bool = True) -> sp.Expr:
    """A number or a SymPy expression; numbers must be finite and real (and positive if asked).

    Python floats are kept as SymPy Floats, ints and fractions stay exact.
    """
    if isinstance(value, (bool, str)) or not isinstance(value, (numbers.Real, sp.Expr)):
        raise TypeError(
            f"{name} must be a real number or a SymPy expression, got {value!r} of type {type(value).__name__}"
        )
    expr = sp.sympify(value)
    if expr.is_number:
        if expr.is_real is not True or expr.is_finite is not True:
            raise ValueError(f"{name} must be a finite real number, got {value!r}")
        if positive and not expr.is_positive:
            raise ValueError(f"{name} must be positive, got {value!r}")
    elif positive and expr.is_positive is False:
        raise ValueError(f"{name} must be positive, but {value!r} is declared non-positive")
    elif expr.is_real is False:
        raise ValueError(f"{name} must be real, but {value!r} is declared non-real")
    return expr


def _width(value, name: str) -> sp.Expr:
    """A layer width: a positive integer or a SymPy expression not declared non-positive."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer or a SymPy symbol, got {value!r}")
    expr = _expr(value, name)
    if expr.is_number and not expr.is_integer:
        raise TypeError(f"{name} must be a positive integer or a SymPy symbol, got {value!r}")
    return expr


def _widths(widths, name: str = "widths", minimum: int = 1) -> list[sp.Expr]:
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise TypeError(f"{name} must be a list of layer widths, got {widths!r}")
    out = [_width(n, f"{name}[{k}]") for k, n in enumerate(widths)]
    if len(out) < minimum:
        raise ValueError(f"{name} must hold at least {minimum} widths, got {len(out)}")
    return out


def _normal_density(x: sp.Expr, sigma: sp.Expr = sp.Integer(1)) -> sp.Expr:
    return sp.exp(-(x**2) / (2 * sigma**2)) / (sigma * sp.sqrt(2 * sp.pi))


# --- one layer: Var[s] = n Var[W] Var[x] ------------------------------------------------------


def one_layer_steps(
    n: Width, var_w: Quantity, var_x: Quantity, mean_w: Quantity = 0, mean_x: Quantity = 0
) -> dict[str, sp.Expr]:
    """The variance of s = sum_{i=1}^n W_i x_i, step by step, from expectations.

    All W_i and x_i are independent; W_i has mean ``mean_w`` and variance ``var_w``, x_i has
    mean ``mean_x`` and variance ``var_x``. Independence turns E[W_i W_j x_i x_j] into
    E[W_i W_j] E[x_i x_j]; on the diagonal (i = j) that is E[W^2] E[x^2], off it (i != j)
    E[W]^2 E[x]^2. Summing the n diagonal and n(n - 1) off-diagonal terms gives E[s^2]; then
    Var[s] = E[s^2] - E[s]^2. Returns the dict with keys ``mean``, ``diagonal``,
    ``off_diagonal``, ``pairs`` (the number of off-diagonal terms), ``second_moment``,
    ``variance``.

    >>> n, v, q = sp.symbols("n v q", positive=True)
    >>> one_layer_steps(n, v, q)["variance"]
    n*q*v
    >>> one_layer_steps(n, v, q, mean_x=sp.Rational(1, 2))["variance"]    # a sigmoid's mean 1/2
    n*v*(4*q + 1)/4
    """
    n = _width(n, "n")
    var_w, var_x = _expr(var_w, "var_w"), _expr(var_x, "var_x")
    mean_w, mean_x = _expr(mean_w, "mean_w", positive=False), _expr(mean_x, "mean_x", positive=False)
    diagonal = (var_w + mean_w**2) * (var_x + mean_x**2)  # E[W_i^2] E[x_i^2]
    off_diagonal = mean_w**2 * mean_x**2  # E[W_i] E[W_j] E[x_i] E[x_j], i != j
    mean = sp.Sum(mean_w * mean_x, (_i, 1, n)).doit()
    pairs = sp.Sum(sp.Sum(1, (_j, 1, n)), (_i, 1, n)).doit() - sp.Sum(1, (_i, 1, n)).doit()
    second = sp.Sum(diagonal, (_i, 1, n)).doit() + pairs * off_diagonal
    return {
        "mean": mean,
        "diagonal": diagonal,
        "off_diagonal": off_diagonal,
        "pairs": sp.factor(pairs),
        "second_moment": second,
        "variance": sp.factor(sp.expand(second - mean**2)),
    }


def one_layer_variance(
    n: Width, var_w: Quantity, var_x: Quantity, mean_w: Quantity = 0, mean_x: Quantity = 0
) -> sp.Expr:
    """Var[sum_{i=1}^n W_i x_i] for independent W_i, x_i (see :func:`one_layer_steps`).

    With zero-mean weights it is n Var[W] E[x^2] (He (7)); with zero-mean inputs too,
    n Var[W] Var[x], the step behind Glorot (5).

    >>> one_layer_variance(300, sp.Rational(1, 300), 1)
    1
    """
    return one_layer_steps(n, var_w, var_x, mean_w, mean_x)["variance"]


# --- Glorot & Bengio: conditions (10), (11) and the compromise (12) ---------------------------


def forward_condition(n_in: Width, var_w: Quantity = VAR_W) -> sp.Eq:
    """Glorot (10): the variance of the activations is kept from layer to layer.

    A unit of the next layer sums ``n_in`` products W_i x_i (the linear regime f'(0) = 1 of
    Glorot (4) makes the activation equal the sum), so Var[out] = n_in Var[W] Var[in]; asking
    Var[out] = Var[in] leaves n_in Var[W] = 1.

    >>> forward_condition(sp.Symbol("n_in", positive=True))
    Eq(\\operatorname{Var}[W]*n_in, 1)
    """
    return sp.Eq(_glorot_factor(n_in, var_w), 1, evaluate=False)


def _glorot_factor(n, var_w) -> sp.Expr:
    """Var[out] / Var[in] for one layer summing ``n`` weighted inputs: n Var[W]."""
    return sp.simplify(one_layer_variance(n, var_w, _q) / _q)


def backward_condition(n_out: Width, var_w: Quantity = VAR_W) -> sp.Eq:
    """Glorot (11): the variance of the back-propagated gradient is kept from layer to layer.

    The gradient reaching an input unit sums ``n_out`` products W_ji g_j over the units it
    feeds (the transposed matrix), so the same one-layer rule gives n_out Var[W] = 1.
    """
    return sp.Eq(_glorot_factor(n_out, var_w), 1, evaluate=False)


def _solve_for_variance(equation: sp.Eq) -> sp.Expr:
    (solution,) = sp.solve(equation, VAR_W)
    return sp.simplify(solution)


def glorot_steps(n_in: Width, n_out: Width) -> dict[str, sp.Expr]:
    """Glorot (10), (11) and the compromise (12), both ways, with every intermediate step.

    Keys: ``forward`` and ``backward`` (the conditions as equations), ``estimate_forward`` = 1/n_in
    and ``estimate_backward`` = 1/n_out (each condition solved alone), ``both`` (the solutions of
    the two together, when ``n_out`` is a symbol: they exist only for n_out = n_in), ``sum``
    (the two equations added), ``by_sum`` (that sum solved), ``by_harmonic_mean`` (the
    harmonic mean of the two estimates).

    >>> steps = glorot_steps(*sp.symbols("n_in n_out", positive=True))
    >>> steps["sum"]
    Eq(\\operatorname{Var}[W]*n_in + \\operatorname{Var}[W]*n_out, 2)
    >>> steps["both"]
    [{\\operatorname{Var}[W]: 1/n_in, n_out: n_in}]
    """
    n_in, n_out = _width(n_in, "n_in"), _width(n_out, "n_out")
    forward, backward = forward_condition(n_in), backward_condition(n_out)
    estimate_forward, estimate_backward = _solve_for_variance(forward), _solve_for_variance(backward)
    both = sp.solve([forward, backward], [VAR_W, n_out], dict=True) if n_out.is_Symbol else None
    total = sp.Eq(forward.lhs + backward.lhs, forward.rhs + backward.rhs)
    by_sum = _solve_for_variance(total)
    by_harmonic_mean = sp.simplify(2 / (1 / estimate_forward + 1 / estimate_backward))
    if sp.simplify(by_sum - by_harmonic_mean) != 0:  # cannot happen; kept as the check the chapter makes
        raise ArithmeticError(f"the two routes to Glorot (12) disagree: {by_sum} vs {by_harmonic_mean}")
    return {
        "forward": forward,
        "backward": backward,
        "estimate_forward": estimate_forward,
        "estimate_backward": estimate_backward,
        "both": both,
        "sum": total,
        "by_sum": by_sum,
        "by_harmonic_mean": by_harmonic_mean,
    }


def glorot_variance(n_in: Width, n_out: Width) -> sp.Expr:
    """Glorot (12): Var[W] = 2 / (n_in + n_out), from adding (10) and (11).

    It is also the harmonic mean of the two estimates 1/n_in and 1/n_out (checked inside
    :func:`glorot_steps`).

    >>> glorot_variance(300, 200)
    1/250
    """
    return glorot_steps(n_in, n_out)["by_sum"]


#: Ways to combine the estimates 1/n_in and 1/n_out into one variance.
COMPROMISES = ("fan_in", "fan_out", "harmonic", "geometric", "arithmetic")

_MEANS = {
    "harmonic": lambda a, b: 2 / (1 / a + 1 / b),
    "geometric": lambda a, b: sp.sqrt(a * b),
    "arithmetic": lambda a, b: (a + b) / 2,
}
FACTOR_MEANS = tuple(_MEANS)


def compromise_variance(n_in: Width, n_out: Width, rule: str) -> sp.Expr:
    """A variance chosen from the two estimates of Glorot (10) and (11).

    ``fan_in``: 1/n_in (LeCun; He (10) without the ReLU factor); ``fan_out``: 1/n_out;
    ``harmonic``: their harmonic mean, Glorot (12) = Keras/JAX ``fan_avg``; ``geometric``:
    1/sqrt(n_in n_out), JAX ``fan_geo_avg``; ``arithmetic``: (1/n_in + 1/n_out)/2.

    >>> compromise_variance(100, 400, "geometric")
    1/200
    """
    check_choice(rule, "rule", COMPROMISES)
    steps = glorot_steps(n_in, n_out)
    a, b = steps["estimate_forward"], steps["estimate_backward"]
    if rule == "fan_in":
        return a
    if rule == "fan_out":
        return b
    return sp.simplify(_MEANS[rule](a, b))


def layer_factors(n_in: Width, n_out: Width, var_w: Quantity) -> tuple[sp.Expr, sp.Expr]:
    """The factors one layer multiplies the forward and the backward variance by: the left-hand
    sides of Glorot (10) and (11), n_in Var[W] and n_out Var[W]."""
    n_in, n_out, var_w = _width(n_in, "n_in"), _width(n_out, "n_out"), _expr(var_w, "var_w")
    return _glorot_factor(n_in, var_w), _glorot_factor(n_out, var_w)


def variance_from_factor_mean(n_in: Width, n_out: Width, mean: str) -> sp.Expr:
    """The variance for which the ``mean`` of the two layer factors (n_in Var[W], n_out Var[W]) is 1.

    The arithmetic mean of the factors gives Glorot (12), the geometric mean gives
    ``fan_geo_avg``, the harmonic mean gives the arithmetic mean of the variances.

    >>> variance_from_factor_mean(*sp.symbols("n_in n_out", positive=True), "arithmetic")
    2/(n_in + n_out)
    """
    check_choice(mean, "mean", FACTOR_MEANS)
    forward, backward = layer_factors(n_in, n_out, VAR_W)
    return _solve_for_variance(sp.Eq(_MEANS[mean](forward, backward), 1))


def _layer_variances(widths, variances, name="variances") -> tuple[list[sp.Expr], list[sp.Expr]]:
    widths = _widths(widths, minimum=2)
    if isinstance(variances, (str, bytes)) or not hasattr(variances, "__iter__"):
        raise TypeError(f"{name} must be a list with one weight variance per layer, got {variances!r}")
    variances = [_expr(v, f"{name}[{k}]") for k, v in enumerate(variances)]
    if len(variances) != len(widths) - 1:
        raise ValueError(
            f"{name} must hold one weight variance per layer: {len(widths) - 1} for {len(widths)} widths, "
            f"got {len(variances)}"
        )
    return widths, variances


def forward_variances(
    widths: Iterable[Width], variances: Iterable[Quantity], input_variance: Quantity = 1, gain2: Quantity = 1
) -> list[sp.Expr]:
    """Var[z^i] for i = 0..L in a network of widths [n_0, ..., n_L]: Glorot (5).

    Layer i (weights of variance ``variances[i]``, fan-in n_i) maps z^i to
    z^{i+1} = f(W^i z^i); in the linear regime (``gain2`` = f'(0)^2 = 1, Glorot (4)) the
    one-layer rule applied L times gives Var[z^i] = Var[x] prod_{i' < i} n_{i'} Var[W^{i'}].

    >>> n = sp.symbols("n0:3", positive=True); v = sp.symbols("v0:2", positive=True)
    >>> forward_variances(n, v)[-1]
    n0*n1*v0*v1
    """
    widths, variances = _layer_variances(widths, variances)
    out = [_expr(input_variance, "input_variance")]
    gain2 = _expr(gain2, "gain2")
    for n_in, v in zip(widths[:-1], variances):
        out.append(sp.simplify(gain2 * one_layer_variance(n_in, v, out[-1])))
    return out


def backward_variances(
    widths: Iterable[Width], variances: Iterable[Quantity], top_variance: Quantity = 1, gain2: Quantity = 1
) -> list[sp.Expr]:
    """Var[dC/ds^i] for i = 0..L, from the top variance down: Glorot (6).

    The gradient is carried by the transposed matrices, so each layer contributes its fan-out:
    Var[dC/ds^i] = Var[dC/ds^L] prod_{i' >= i} n_{i'+1} Var[W^{i'}] (``gain2`` = f'(0)^2).

    >>> n = sp.symbols("n0:3", positive=True); v = sp.symbols("v0:2", positive=True)
    >>> backward_variances(n, v)[0]
    n1*n2*v0*v1
    """
    widths, variances = _layer_variances(widths, variances)
    out = [_expr(top_variance, "top_variance")]
    gain2 = _expr(gain2, "gain2")
    for n_out, v in zip(reversed(widths[1:]), reversed(variances)):
        out.append(sp.simplify(gain2 * one_layer_variance(n_out, v, out[-1])))
    return out[::-1]


#: The smooth activations of Glorot & Bengio (those with a linear regime), as SymPy functions of one
#: symbol, read from :mod:`initlib.activations`.
ACTIVATIONS = {
    name: functools.partial(act.symbolic, a=0)
    for name, act in _activations.ACTIVATIONS.items()
    if act.linear_regime is not None
}


def linear_regime(activation: str) -> tuple[sp.Expr, sp.Expr]:
    """(f(0), f'(0)) for a smooth activation: Glorot (4) needs f(0) = 0 and f'(0) = 1.

    >>> linear_regime("sigmoid")
    (1/2, 1/4)
    """
    f = ACTIVATIONS[check_choice(activation, "activation", tuple(ACTIVATIONS))](_y)
    return sp.simplify(f.subs(_y, 0)), sp.simplify(sp.diff(f, _y).subs(_y, 0))


# --- the laws: uniform, normal, truncated normal -------------------------------------------------


@functools.lru_cache(maxsize=None)
def _uniform_variance_generic() -> tuple[sp.Symbol, sp.Expr]:
    a = sp.Symbol("a", positive=True)
    density = 1 / (2 * a)
    mean = sp.integrate(_y * density, (_y, -a, a))
    return a, sp.simplify(sp.integrate(_y**2 * density, (_y, -a, a)) - mean**2)


def uniform_variance(a: Quantity) -> sp.Expr:
    """Var U[-a, a] = a^2 / 3, by integrating y^2 against the density 1/(2a).

    >>> uniform_variance(sp.Symbol("a", positive=True))
    a**2/3
    """
    symbol, variance = _uniform_variance_generic()
    return variance.subs(symbol, _expr(a, "a"))


def uniform_bound(variance: Quantity) -> sp.Expr:
    """The a > 0 for which U[-a, a] has the given variance: solves a^2 / 3 = variance, a = sqrt(3 variance).

    With Glorot (12) it is Glorot (16), sqrt(6 / (n_in + n_out)): the 6 is 3 times 2.

    >>> uniform_bound(sp.Rational(2, 500))
    sqrt(30)/50
    """
    variance = _expr(variance, "variance")
    a = sp.Symbol("a", positive=True)
    (bound,) = sp.solve(sp.Eq(uniform_variance(a), variance), a)
    return bound


@functools.lru_cache(maxsize=None)
def _truncated_normal_variance_generic() -> tuple[sp.Symbol, sp.Expr]:
    k = sp.Symbol("k", positive=True)
    density = _normal_density(_y)
    mass = sp.integrate(density, (_y, -k, k))  # erf(k / sqrt 2)
    # the mean is 0 by symmetry; the variance is the second moment of the renormalised density
    return k, sp.simplify(sp.integrate(_y**2 * density, (_y, -k, k)) / mass)


def truncated_normal_variance(k: Quantity) -> sp.Expr:
    """Var of N(0, 1) truncated to [-k, k]: 1 - 2 k phi(k) / erf(k / sqrt 2), by integration.

    >>> sp.N(truncated_normal_variance(2), 6)
    0.773741
    """
    symbol, variance = _truncated_normal_variance_generic()
    return variance.subs(symbol, _expr(k, "k"))


def truncated_normal_std(k: Quantity) -> sp.Expr:
    """The standard deviation of N(0, 1) truncated to [-k, k] (erf form).

    Keras and JAX divide their truncated normal's std by this number at k = 2, so that the
    realised variance is the target one.

    >>> float(truncated_normal_std(2))
    0.8796256610342398
    """
    return sp.sqrt(truncated_normal_variance(k))


def trunc_normal_realised_std(std: Quantity, bound: Quantity = 2) -> sp.Expr:
    """What torch's ``trunc_normal_(std=std, a=-bound, b=bound)`` realises.

    Its bounds are absolute, so the law is std * (N(0, 1) truncated to [-bound/std, bound/std]),
    whose standard deviation is std * truncated_normal_std(bound / std): 0.88 for std = 1, and
    practically std itself when bound/std is large (std = 0.02: bound at 100 std).

    >>> round(float(trunc_normal_realised_std(1)), 4)
    0.8796
    """
    std, bound = _expr(std, "std"), _expr(bound, "bound")
    return std * truncated_normal_std(bound / std)


@functools.lru_cache(maxsize=None)
def _fourth_moment_ratios() -> dict:
    a = sp.Symbol("a", positive=True)
    k = sp.Symbol("k", positive=True)
    uniform = sp.integrate(_y**4 / (2 * a), (_y, -a, a)) / uniform_variance(a) ** 2
    normal = sp.integrate(_y**4 * _normal_density(_y), (_y, -sp.oo, sp.oo))
    mass = sp.integrate(_normal_density(_y), (_y, -k, k))
    truncated = sp.integrate(_y**4 * _normal_density(_y), (_y, -k, k)) / mass / truncated_normal_variance(k) ** 2
    return {"uniform": sp.simplify(uniform), "normal": sp.simplify(normal), "truncated_normal": (k, truncated)}


def normal_fourth_moment_ratio() -> sp.Expr:
    """E[y^4] / Var[y]^2 = 3 for a normal law, by integration."""
    return _fourth_moment_ratios()["normal"]


def kurtosis(law: str, k: Quantity = 2) -> sp.Expr:
    """E[w^4] / E[w^2]^2 of a zero-mean law, by integration: 9/5 uniform, 3 normal,
    about 2.63 for the normal truncated at +-k standard deviations (k = 2).

    >>> kurtosis("uniform")
    9/5
    """
    check_choice(law, "law", ("uniform", "normal", "truncated_normal"))
    value = _fourth_moment_ratios()[law]
    if law == "truncated_normal":
        symbol, expr = value
        return expr.subs(symbol, _expr(k, "k"))
    return value


# --- He et al.: ReLU, its half variance, and the telescoping product ---------------------------


@functools.lru_cache(maxsize=None)
def _leaky_moments() -> tuple[sp.Symbol, sp.Symbol, sp.Expr, sp.Expr, sp.Expr]:
    sigma, a = sp.Symbol("sigma", positive=True), sp.Symbol("a", real=True)
    density = _normal_density(_y, sigma)
    positive, negative = (_y, 0, sp.oo), (_y, -sp.oo, 0)
    mean = sp.integrate(_y * density, positive) + sp.integrate(a * _y * density, negative)
    second = sp.integrate(_y**2 * density, positive) + sp.integrate(a**2 * _y**2 * density, negative)
    # f'(y) is 1 for y > 0 and a for y < 0: E[f'(y)^2] = P(y > 0) + a^2 P(y < 0)
    slope2 = sp.integrate(density, positive) + sp.integrate(a**2 * density, negative)
    return sigma, a, sp.simplify(mean), sp.factor(sp.simplify(second)), sp.factor(sp.simplify(slope2))


def _leaky(sigma, a, which: int) -> sp.Expr:
    s, slope, *moments = _leaky_moments()
    return moments[which].subs({s: _expr(sigma, "sigma"), slope: _expr(a, "a", positive=False)})


def relu_mean(sigma: Quantity) -> sp.Expr:
    """E[max(0, y)] for y ~ N(0, sigma^2): sigma / sqrt(2 pi), by integration. Not zero: a ReLU
    layer's output is not centred, which is why He (7) has E[x^2] where Glorot has Var[x]."""
    return _leaky(sigma, 0, 0)


def relu_second_moment(sigma: Quantity) -> sp.Expr:
    """E[max(0, y)^2] for y ~ N(0, sigma^2): sigma^2 / 2, by integration (He (8)'s factor 1/2).

    >>> relu_second_moment(3)
    9/2
    """
    return _leaky(sigma, 0, 1)


def relu_slope_second_moment() -> sp.Expr:
    """E[f'(y)^2] for the ReLU and y symmetric about 0: P(y > 0) = 1/2 (He (12)'s factor 1/2)."""
    return _leaky(1, 0, 2)


def leaky_relu_second_moment(sigma: Quantity, a: Quantity) -> sp.Expr:
    """E[f(y)^2] for f(y) = max(y, a y) (leaky ReLU / PReLU), y ~ N(0, sigma^2): (1 + a^2) sigma^2 / 2."""
    return _leaky(sigma, a, 1)


def leaky_relu_slope_second_moment(a: Quantity) -> sp.Expr:
    """E[f'(y)^2] for the leaky ReLU of slope ``a``: (1 + a^2) / 2."""
    return _leaky(1, a, 2)


def leaky_relu_gain(a: Quantity) -> sp.Expr:
    """The gain g (factor on the std of N(0, 1/n)) that keeps the variance through a leaky ReLU
    of negative slope ``a``: solves g^2 E[f(y)^2] / Var[y] = 1, so g = sqrt(2 / (1 + a^2)) (He (15)).
    ``a = 0`` is the ReLU's sqrt(2).

    >>> leaky_relu_gain(0)
    sqrt(2)
    >>> leaky_relu_gain(sp.Symbol("a", real=True))
    sqrt(2)/sqrt(a**2 + 1)
    """
    a = _expr(a, "a", positive=False)
    g = sp.Symbol("g", positive=True)
    sigma = sp.Symbol("sigma", positive=True)
    (gain,) = sp.solve(sp.Eq(g**2 * leaky_relu_second_moment(sigma, a) / sigma**2, 1), g)
    return gain


def he_forward_condition(n: Width, var_w: Quantity = VAR_W, a: Quantity = 0) -> sp.Eq:
    """He (10) (ReLU) or (15) (slope ``a``): Var[y_l] = Var[y_{l-1}] in the forward pass.

    The input of layer l is x_l = f(y_{l-1}) with y_{l-1} ~ N(0, q); its mean and variance come
    from integration, and the one-layer rule gives Var[y_l] = n Var[w] E[x_l^2] (He (7)). Asking
    for q back leaves 1/2 (1 + a^2) n Var[w] = 1.

    >>> he_forward_condition(sp.Symbol("n_l", positive=True))
    Eq(\\operatorname{Var}[W]*n_l/2, 1)
    """
    return sp.Eq(_he_forward_factor(n, var_w, a), 1, evaluate=False)


def _he_forward_factor(n, var_w, a) -> sp.Expr:
    a = _expr(a, "a", positive=False)
    sigma = sp.sqrt(_q)
    second = leaky_relu_second_moment(sigma, a)
    mean = _leaky(sigma, a, 0)
    out = one_layer_variance(n, _expr(var_w, "var_w"), sp.simplify(second - mean**2), mean_x=mean)
    return sp.factor(sp.simplify(out / _q))


def he_backward_condition(n_hat: Width, var_w: Quantity = VAR_W, a: Quantity = 0) -> sp.Eq:
    """He (14): Var[dx_l] = Var[dx_{l+1}] in the backward pass, n_hat = fan-out.

    dy_l = f'(y_l) dx_{l+1}, with f'(y_l) independent of the zero-mean dx_{l+1}, has variance
    E[f'^2] Var[dx_{l+1}] = (1 + a^2)/2 Var[dx_{l+1}]; the transposed matrix sums n_hat of them
    (He (11)-(12)). Asking for the same variance back leaves 1/2 (1 + a^2) n_hat Var[w] = 1.
    """
    return sp.Eq(_he_backward_factor(n_hat, var_w, a), 1, evaluate=False)


def _he_backward_factor(n_hat, var_w, a) -> sp.Expr:
    a = _expr(a, "a", positive=False)
    out = one_layer_variance(n_hat, _expr(var_w, "var_w"), leaky_relu_slope_second_moment(a) * _q)
    return sp.factor(sp.simplify(out / _q))


def backward_variance_factors(widths: Iterable[Width], a: Quantity = 0) -> list[sp.Expr]:
    """For hidden widths [n_1, ..., n_L], every layer initialised by He's forward condition (10):
    the factor Var[dC/ds^l] / Var[dC/ds^{l+1}] for l = 1..L-1.

    Layer l+1 has fan-in n_l, so Var[w] = 2 / (n_l (1 + a^2)); its transposed matrix sums n_{l+1}
    gradients of variance (1 + a^2)/2 times the one above (He (12)): the factor is n_{l+1} / n_l.
    """
    widths = _widths(widths)
    a = _expr(a, "a", positive=False)
    n_in, n_out, slope, factor = _generic_backward_factor()
    return [sp.simplify(factor.subs({n_in: lo, n_out: hi, slope: a})) for lo, hi in zip(widths[:-1], widths[1:])]


@functools.lru_cache(maxsize=None)
def _generic_backward_factor() -> tuple[sp.Symbol, sp.Symbol, sp.Symbol, sp.Expr]:
    """The factor of :func:`backward_variance_factors`, derived once for symbolic widths and slope."""
    n_in, n_out = sp.symbols("n_in n_out", positive=True)
    a = sp.Symbol("a", real=True)
    var_w = _solve_for_variance(he_forward_condition(n_in, VAR_W, a))
    return n_in, n_out, a, sp.simplify(_he_backward_factor(n_out, var_w, a))


def backward_variance_product(widths: Iterable[Width], a: Quantity = 0) -> sp.Expr:
    """The product of :func:`backward_variance_factors`, left unsimplified so the telescoping shows
    (He (13) with (10) in place)."""
    factors = backward_variance_factors(widths, a)
    return sp.Mul(*factors, evaluate=False) if factors else sp.Integer(1)


def backward_variance_ratio(widths: Iterable[Width], a: Quantity = 0) -> sp.Expr:
    """Var[dC/ds^1] / Var[dC/ds^L] for hidden widths [n_1, ..., n_L] under He's forward condition:
    the telescoping product prod n_{l+1}/n_l = n_L / n_1, whatever the depth (He: c_2 / d_L).

    >>> backward_variance_ratio(sp.symbols("n1:6", positive=True))
    n5/n1
    >>> backward_variance_ratio([64, 128, 256, 128, 512])
    8
    """
    return sp.simplify(sp.Mul(*backward_variance_factors(widths, a)))


def telescoping_induction(name: str = "n") -> dict[str, sp.Expr]:
    """The induction proof that the product of :func:`backward_variance_factors` over layers 1..L-1
    is n_L / n_1 for every L >= 1, with indexed widths n[l] and a symbolic L.

    ``name`` is the symbol of the indexed widths: ``"n"`` in Glorot's notation, ``"d"`` in He's
    (where n is a layer's fan-in and d its number of outputs).

    Keys: ``base_product`` (L = 1, the empty product, 1) and ``base_claim`` (n_1/n_1);
    ``hypothesis`` (the claim for L), ``factor`` (the derived factor of the layer that L + 1
    adds), ``step_product`` (hypothesis times factor) and ``step_claim`` (the claim for L + 1).
    The proof is ``base_product == base_claim`` and ``simplify(step_product - step_claim) == 0``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier such as 'n' or 'd', got {name!r}")
    n = sp.IndexedBase(name, positive=True)
    L = sp.Symbol("L", integer=True, positive=True)
    (factor,) = backward_variance_factors([n[L], n[L + 1]])
    hypothesis = n[L] / n[1]
    return {
        "base_product": sp.Mul(*backward_variance_factors([n[1]])),
        "base_claim": n[1] / n[1],
        "hypothesis": hypothesis,
        "factor": factor,
        "step_product": sp.Mul(hypothesis, factor, evaluate=False),
        "step_claim": n[L + 1] / n[1],
    }


# --- PyTorch's default: kaiming_uniform_(w, a=sqrt(5)) -----------------------------------------


def torch_default_steps(n: Width) -> dict[str, sp.Expr]:
    """Why ``nn.Linear`` and ``nn.ConvNd`` call ``kaiming_uniform_(w, a=sqrt(5))``, and what it draws.

    ``kaiming_uniform_`` draws U[-b, b] with b the bound of a uniform law of variance g(a)^2 / n
    (:func:`uniform_bound`), g(a) = sqrt(2 / (1 + a^2)) the leaky-ReLU gain of He (15). The older
    law of Lua Torch's and early PyTorch's Linear was U[-1/sqrt(n), 1/sqrt(n)]. Setting b = 1/sqrt(n)
    and solving for the slope a > 0 gives a = sqrt(5), g^2 = 1/3; integrating gives
    Var[W] = 1/(3n), the "standard" initialization of Glorot (1), and a layer of fan-in n then
    multiplies the forward variance by n Var[W] = 1/3 (Glorot (15)).

    Keys: ``slope`` (a), ``gain`` (g(a)), ``bound`` (b), ``variance`` (Var[W]), ``factor`` (n Var[W]).

    >>> steps = torch_default_steps(sp.Symbol("n", positive=True))
    >>> steps["slope"], steps["gain"], steps["bound"], steps["variance"], steps["factor"]
    (sqrt(5), sqrt(3)/3, 1/sqrt(n), 1/(3*n), 1/3)
    """
    n = _width(n, "n")
    a = sp.Dummy("a", positive=True)  # not uniform_bound's own symbol a
    gain = leaky_relu_gain(a)
    kaiming_bound = uniform_bound(gain**2 / n)
    (slope,) = sp.solve(sp.Eq(kaiming_bound, 1 / sp.sqrt(n)), a)
    bound = sp.simplify(kaiming_bound.subs(a, slope))
    variance = sp.simplify(uniform_variance(bound))
    return {
        "slope": slope,
        "gain": sp.simplify(gain.subs(a, slope)),
        "bound": bound,
        "variance": variance,
        "factor": _glorot_factor(n, variance),
    }
