"""Signal propagation as a map: the mean-field theory of deep random networks.

A wide fully connected net with weights of variance ``sigma_w2 / n`` and biases of variance
``sigma_b2`` carries two numbers from layer to layer (Poole et al. 2016, eqs. 3 and 5):

* the variance of a pre-activation, by the **q-map**::

      q^l = sigma_w2 E_z[f(sqrt(q^(l-1)) z)^2] + sigma_b2,          z ~ N(0, 1)

* the correlation of the pre-activations of two inputs, by the **c-map**::

      c^l = (sigma_w2 E[f(u_1) f(u_2)] + sigma_b2) / q^l,
      u_1 = sqrt(q) z_1,  u_2 = sqrt(q) (c^(l-1) z_1 + sqrt(1 - c^(l-1)^2) z_2).

The q-map settles at a fixed point ``q*`` (:func:`fixed_point`); ``c = 1`` is then a fixed point
of the c-map with slope ``chi_1 = sigma_w2 E[f'(sqrt(q*) z)^2]`` (:func:`chi_1`). ``chi_1 < 1``
is the ordered phase (inputs become alike, gradients vanish), ``chi_1 > 1`` the chaotic phase
(inputs decorrelate to ``c* < 1``, gradients explode), ``chi_1 = 1`` the edge of chaos
(:func:`critical_sigma_w2`). Near a fixed point both maps approach it like ``exp(-l / xi)``, with
the depth scales ``xi_q`` and ``xi_c`` of Schoenholz et al. (2017) (:func:`depth_scales`).

Every expectation is a Gauss quadrature with a measured accuracy, and the radial rule
(:func:`_radial_rule`) is its one engine. ``E[g(z)]`` integrates ``g(z) + g(-z)`` over
``z > 0``, which stays smooth where ``g`` has its kink at 0 (ReLU, SELU, softsign), with
composite Gauss-Legendre on panels graded geometrically from 0 down to the scale
``1 / sqrt(q)`` on which ``f(sqrt(q) z)`` varies; a fixed rule (the full-line Gauss-Hermite
rule converges only like 1/n at a kink, 1e-2 at 96 nodes; the 48-node half-range rule used
before lost 1e-2 of ``E[f'^2]`` at q = 1000) cannot follow that scale. ``E[f(u_1) f(u_2)]``
uses polar coordinates, where both kinks are fixed angles: 4 x 32 Gauss-Legendre nodes in the
angle (4 x 64 above q = 4) and the radial rule for ``r exp(-r^2 / 2)`` along each ray. Measured
(tests/test_meanfield.py): one-dimensional moments within a relative 2e-15 of 30-digit
``mpmath`` quadrature for q from 1e-6 to 1e8; pair moments within 1e-13 of nested adaptive
quadrature (``scipy.integrate``) for q up to 30 and c up to 0.9999 (16 arc nodes left 1.7e-5 at
q = 30, c -> 1); ReLU's c-map equal to the arc-cosine kernel (Cho & Saul 2009) within 1e-12.
Fixed points and critical points are then solved to 1e-10. :mod:`initlib.theory` takes its
Gaussian moments from here (:func:`gaussian_mean`).

>>> round(fixed_point("tanh", 1.5, 0.05), 3), round(chi_1("tanh", 1.5, 0.05), 4)
(0.418, 0.9386)
>>> round(critical_sigma_w2("tanh", 0.05), 3), critical_sigma_w2("relu", 0.0)
(1.761, 2.0)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch
from scipy import optimize

from .._checks import check_int, check_real
from ..laws import activations

PANEL_NODES = 12  # Gauss-Legendre nodes on each panel of the radial rule
# Gauss-Legendre nodes on each of the four arcs of the pair rule: f(sqrt(q) r cos(theta)) turns
# within an angle of about 1 / (sqrt(q) r), so a larger q needs more (16 left 1.7e-5 at q = 30).
ARC_NODES = {4.0: 32, math.inf: 64}  # up to this q: nodes
# The rays are graded to sqrt(q) only up to 16: beyond q = 256 the arcs limit the pair rule anyway.
_RAY_SD_CAP = 16.0
# Panel edges where the Gaussian sets the scale: beyond 13, r^4 exp(-r^2 / 2) < 1e-30.
_GAUSS_EDGES = (1.0, 2.0, 4.0, 7.0, 13.0)
TINY, HUGE = 1e-200, 1e200  # q is clamped here: the limits q -> 0+ and q -> inf, without 0/0
_ZERO_TOL = 1e-10  # |q-map(q) - q| below this (relative) counts as "every q is a fixed point"


def _read_only(nodes: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A quadrature rule's arrays, marked read-only: for rules computed once and shared by every call."""
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


_GL_X, _GL_W = _read_only(*np.polynomial.legendre.leggauss(PANEL_NODES))
_ARC_RULES = {top: _read_only(*np.polynomial.legendre.leggauss(n)) for top, n in ARC_NODES.items()}


def _radial_rule(sd: float, power: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for the integral over [0, inf) of h(r) r^power exp(-r^2 / 2), where h is
    analytic on [0, inf) but varies on the scale 1 / sd (h(r) = g(sd r): a tanh at q = sd^2).

    Composite Gauss-Legendre: panels graded geometrically towards 0 (edges 2^-j down to the first
    below 1 / sd) resolve h's scale, however small, and fixed panels out to 13 resolve the
    Gaussian's. Each panel then holds an integrand whose nearest singularity (tanh's pole at
    i pi / (2 sd), softsign's at -1 / sd) lies at least a panel's length away, where 12 nodes
    converge to machine precision. Grading stops at 2^-64: below, a bounded h moves E[h] by less
    than a float64's rounding."""
    return _graded_rule(min(max(math.ceil(math.log2(sd)), 0), 64) if sd > 1 else 0, power)


@functools.lru_cache(maxsize=None)
def _graded_rule(levels: int, power: int) -> tuple[np.ndarray, np.ndarray]:
    edges = np.array([0.0, *(2.0**-j for j in range(levels, 0, -1)), *_GAUSS_EDGES])
    low, half = edges[:-1, None], np.diff(edges)[:, None] / 2
    r = (low + half * (_GL_X[None, :] + 1)).ravel()
    # every caller shares these arrays (lru_cache): read-only, so an in-place edit raises
    # instead of corrupting every later quadrature
    return _read_only(r, (half * _GL_W[None, :]).ravel() * r**power * np.exp(-r * r / 2))


#: A vectorised NumPy function of an array of pre-activations (f, f' and the integrands built from them).
ArrayFunction = Callable[[np.ndarray], np.ndarray]


def numpy_functions(activation: str, negative_slope: float | None = None) -> tuple[ArrayFunction, ArrayFunction]:
    """(f, f') of an activation as vectorised NumPy functions, from the registry's tensor forms
    (:mod:`initlib.activations`, in float64); f' is recovered from h = f(s) as the engine does."""
    act = activations.get(activation)
    a = activations.slope(activation, negative_slope)

    # np.array copies: torch.from_numpy shares memory, and warns on a read-only array (the cached
    # quadrature nodes are read-only)
    def f(x):
        return act.function(torch.from_numpy(np.array(x, dtype=np.float64)), a).numpy()

    def fprime(x):
        h = act.function(torch.from_numpy(np.array(x, dtype=np.float64)), a)
        d = act.derivative(h, a)
        return np.ones(h.shape) if d is None else d.numpy()

    return f, fprime


def _check_variances(sigma_w2, sigma_b2) -> tuple[float, float]:
    sigma_w2 = check_real(sigma_w2, "sigma_w2 (n Var[W])")
    sigma_b2 = check_real(sigma_b2, "sigma_b2 (Var[b])")
    for name, value in (("sigma_w2 (n Var[W])", sigma_w2), ("sigma_b2 (Var[b])", sigma_b2)):
        if value < 0:
            raise ValueError(f"{name} is a variance and must be >= 0, got {value}")
    if sigma_w2 == 0 and sigma_b2 == 0:
        raise ValueError(
            "sigma_w2 and sigma_b2 are both 0: every pre-activation would be 0; "
            "give at least one of them a positive value"
        )
    return sigma_w2, sigma_b2


def _setup(activation, sigma_w2, sigma_b2, negative_slope):
    """Checks every argument before any work: returns (f, f', sigma_w2, sigma_b2)."""
    f, fp = numpy_functions(activation, negative_slope)
    return (f, fp, *_check_variances(sigma_w2, sigma_b2))


def _sd(q: float) -> float:
    return math.sqrt(min(max(q, TINY), HUGE))


def gaussian_mean(g: ArrayFunction, q: float) -> float:
    """``E[g(s)]`` for ``s ~ N(0, q)``, ``g`` a vectorised NumPy function analytic on each side
    of 0 (the kink of ReLU, SELU and softsign is allowed): the radial rule, graded to ``q``.

    >>> f, fprime = numpy_functions("tanh")
    >>> round(gaussian_mean(lambda s: f(s) ** 2, 1.0), 12), round(gaussian_mean(lambda s: s**2, 4.0), 14)
    (0.394294490398, 4.0)
    """
    q = check_real(q, "q (the variance of s)")
    if q < 0:
        raise ValueError(f"q (the variance of s) must be >= 0, got {q}")
    sd = _sd(q)
    return _mean(lambda z: g(sd * z), sd)


def _mean(g, sd: float = 1.0) -> float:
    """E[g(z)], z ~ N(0, 1), for g varying on the scale 1 / sd: the radial rule on g(z) + g(-z),
    which is smooth on [0, inf) even where g is kinked at 0."""
    r, w = _radial_rule(sd, 0)
    return float(w @ (g(r) + g(-r))) / math.sqrt(2 * math.pi)


def _q_map(f, sigma_w2: float, sigma_b2: float, q: float) -> float:
    sd = _sd(q)
    return sigma_w2 * _mean(lambda z: f(sd * z) ** 2, sd) + sigma_b2


def _pair_mean(g1, g2, q: float, c: float) -> float:
    """E[g1(u_1) g2(u_2)] for (u_1, u_2) of variance q and correlation c.

    In polar coordinates of (z_1, z_2) the kinks of g1 and g2 at 0 are two lines through the
    origin, that is four fixed angles: Gauss-Legendre on each arc between them, and along each
    ray, where the integrand is smooth, the radial rule for the weight r exp(-r^2 / 2)."""
    sd = _sd(q)
    if abs(c) >= 1:  # u_2 = +-u_1: a one-dimensional moment
        return _mean(lambda z: g1(sd * z) * g2(math.copysign(sd, c) * z), sd)
    s = math.sqrt(1 - c * c)
    kink = math.atan2(-c, s)  # direction of c z_1 + s z_2 = 0
    cuts = np.sort(np.mod([math.pi / 2, 3 * math.pi / 2, kink, kink + math.pi], 2 * math.pi))
    edges = np.append(cuts, cuts[0] + 2 * math.pi)
    half = np.diff(edges)[:, None] / 2
    arc_x, arc_w = next(rule for top, rule in _ARC_RULES.items() if q <= top)
    theta = (edges[:-1, None] + half * (arc_x[None, :] + 1)).ravel()
    theta_w = (half * arc_w[None, :]).ravel() / (2 * math.pi)
    r, w = _radial_rule(min(sd, _RAY_SD_CAP), 1)
    z1, z2 = r[:, None] * np.cos(theta)[None, :], r[:, None] * np.sin(theta)[None, :]
    return float(w @ (g1(sd * z1) * g2(sd * (c * z1 + s * z2))) @ theta_w)


def q_map(activation: str, q: float, sigma_w2: float, sigma_b2: float, negative_slope: float | None = None) -> float:
    """One step of the variance map, ``sigma_w2 E_z[f(sqrt(q) z)^2] + sigma_b2`` (Poole et al. eq. 3).

    >>> round(q_map("relu", 1.0, 2.0, 0.0), 12)   # He et al.: ReLU with sigma_w2 = 2 keeps q
    1.0
    """
    f, _, sigma_w2, sigma_b2 = _setup(activation, sigma_w2, sigma_b2, negative_slope)
    q = check_real(q, "q (the pre-activation variance)")
    if q < 0:
        raise ValueError(f"q (the pre-activation variance) must be >= 0, got {q}")
    return _q_map(f, sigma_w2, sigma_b2, q)


def _fixed_point(f, sigma_w2: float, sigma_b2: float, q0: float) -> float:
    """The limit of q -> q_map(q) from q0. The map increases with q, so the iteration moves
    monotonically to the nearest root of q_map(q) - q on the side where it starts."""

    def gap(q):
        return _q_map(f, sigma_w2, sigma_b2, q) - q

    g0 = gap(q0)
    if abs(g0) <= _ZERO_TOL * q0:
        return q0  # a marginal map (ReLU at (2, 0), linear at (1, 0)): every q stays where it is
    # Walk away from q0 until the gap has clearly changed sign; a map that only creeps (within
    # _ZERO_TOL of the identity, as ReLU's at sigma_w2 = 2 with a bias) never returns.
    step, sign = (2.0, 1.0) if g0 > 0 else (0.5, -1.0)
    near, far = q0, q0 * step
    while sign * gap(far) >= -_ZERO_TOL * far:
        near, far = far, far * step
        if far > HUGE:
            return math.inf
        if far < TINY:
            return 0.0
    if sign * gap(near) <= 0:
        return near  # the gap at near is within _ZERO_TOL of 0: near is the fixed point
    return optimize.brentq(gap, min(near, far), max(near, far), xtol=1e-300, rtol=1e-13)


def fixed_point(
    activation: str, sigma_w2: float, sigma_b2: float, q0: float = 1.0, negative_slope: float | None = None
) -> float:
    """``q*``, the variance a deep net's pre-activations settle at: the limit of the q-map from ``q0``.

    ``q* = sigma_w2 E_z[f(sqrt(q*) z)^2] + sigma_b2`` (Poole et al. 2016, eq. 3), found by
    bracketing and Brent's method to a relative 1e-13. ``q* = 0`` when the q-map only shrinks q
    (tanh at ``sigma_b2 = 0``, ``sigma_w2 <= 1``), ``inf`` when it grows without bound (ReLU with
    ``sigma_w2 > 2``), and ``q0`` on a marginal line where every q is fixed (ReLU at (2, 0)).

    >>> fixed_point("relu", 1.0, 0.5)     # sigma_b2 / (1 - sigma_w2 / 2)
    1.0
    >>> fixed_point("relu", 3.0, 0.0), fixed_point("tanh", 0.9, 0.0)
    (inf, 0.0)
    """
    f, _, sigma_w2, sigma_b2 = _setup(activation, sigma_w2, sigma_b2, negative_slope)
    q0 = check_real(q0, "q0 (the starting variance)")
    if q0 <= 0:
        raise ValueError(f"q0 (the starting variance) must be > 0, got {q0}")
    return _fixed_point(f, sigma_w2, sigma_b2, q0)


def _chi_1(fp, sigma_w2: float, q: float) -> float:
    sd = _sd(q)
    return sigma_w2 * _mean(lambda z: fp(sd * z) ** 2, sd)


def chi_1(activation: str, sigma_w2: float, sigma_b2: float, negative_slope: float | None = None) -> float:
    """``chi_1 = sigma_w2 E_z[f'(sqrt(q*) z)^2]``: the slope of the c-map at ``c = 1``, and the factor
    by which one layer multiplies the squared length of a back-propagated gradient
    (Poole et al. 2016, eq. 7; Schoenholz et al. 2017, eq. 5). ``< 1`` ordered, ``> 1`` chaotic.
    At ``q* = 0`` or ``inf`` it is the limit (ReLU: ``sigma_w2 / 2`` everywhere).

    >>> chi_1("relu", 2.0, 0.0), round(chi_1("tanh", 1.0, 0.0), 12)
    (1.0, 1.0)
    """
    f, fp, sigma_w2, sigma_b2 = _setup(activation, sigma_w2, sigma_b2, negative_slope)
    return _chi_1(fp, sigma_w2, _fixed_point(f, sigma_w2, sigma_b2, 1.0))


def critical_sigma_w2(activation: str, sigma_b2: float, negative_slope: float | None = None) -> float:
    """The weight variance on the edge of chaos at this bias variance: ``chi_1(sigma_w2) = 1``.

    Found by doubling ``sigma_w2`` until ``chi_1 >= 1`` (bisecting back where q* diverges first),
    then Brent's method (absolute 1e-12). ``chi_1`` grows with ``sigma_w2`` while q* is finite
    for tanh, softsign and sigmoid. Values: tanh at ``sigma_b2 = 0.05``: 1.761 (q* = 0.570);
    0.3: 2.505; ``sigma_b2 -> 0``: 1 (Schoenholz et al. 2017, fig. 1); softsign 0.05: 3.141;
    sigmoid 0.05: 103.1; SELU 0: 0.4768 (where q* leaves 0), 0.05: 0.902. As the bias grows,
    SELU's critical point closes in on ``sigma_w2 = 2 / lambda^2 = 1.8116`` where its q* diverges
    (2.3e-9 below it at ``sigma_b2 = 1e9``): at a large q*, ``chi_1 = (sigma_w2 lambda^2 / 2)
    (1 + alpha^2 / sqrt(2 pi q*))``, which reaches 1 just before q* diverges. Positively
    homogeneous activations (linear, ReLU, leaky ReLU) are critical only at ``sigma_b2 = 0``
    (``1 / E[f'(z)^2]``: 1, 2, ``2 / (1 + a^2)``): with a bias, q* is finite only while
    ``chi_1 < 1`` and diverges where ``chi_1`` would reach 1, so they raise.

    >>> round(critical_sigma_w2("tanh", 0.3), 3)
    2.505
    """
    f, fp = numpy_functions(activation, negative_slope)
    _, sigma_b2 = _check_variances(1.0, sigma_b2)
    r = _radial_rule(1.0, 0)[0]
    z = np.concatenate([r, -r])
    if np.allclose(f(2 * z), 2 * f(z), rtol=1e-14, atol=0):  # f(kx) = k f(x): a linear q-map
        if sigma_b2 > 0:
            raise ValueError(
                f"activation {activation!r} has no critical point at sigma_b2={sigma_b2}: its q-map is "
                f"linear, so q* is finite only while chi_1 < 1; it is critical only at sigma_b2 = 0, "
                f"sigma_w2 = {1 / _mean(lambda z: fp(z) ** 2):g}"
            )
        return 1 / _mean(lambda z: fp(z) ** 2)

    def excess(sigma_w2):  # chi_1 - 1, or None where q* diverges
        q = _fixed_point(f, sigma_w2, sigma_b2, 1.0)
        return None if math.isinf(q) else _chi_1(fp, sigma_w2, q) - 1

    low, high = 0.0, 1.0
    while (gap := excess(high)) is not None and gap < 0:
        low, high = high, 2 * high
    for _ in range(60):  # q* diverges at high: look for chi_1 >= 1 below the divergence
        if gap is not None:
            break
        mid = (low + high) / 2
        gap = excess(mid)
        if gap is None:
            high = mid
        elif gap < 0:
            low, gap = mid, None
        else:
            high = mid
    if gap is None:
        raise ValueError(
            f"activation {activation!r} has no critical point at sigma_b2={sigma_b2}: "
            f"q* diverges at sigma_w2 = {high:.4g} before chi_1 reaches 1"
        )
    return optimize.brentq(excess, low, high, xtol=1e-12, rtol=1e-13)


def _c_map(f, sigma_w2: float, sigma_b2: float, q: float, c):
    """(sigma_w2 E[f(u_1) f(u_2)] + sigma_b2) / q_map(q): the correlation one layer later."""
    return (sigma_w2 * _pair_mean(f, f, q, c) + sigma_b2) / _q_map(f, sigma_w2, sigma_b2, q)


def _c_slope(fp, f, sigma_w2: float, sigma_b2: float, q: float, c: float) -> float:
    """d c-map / dc = sigma_w2 q E[f'(u_1) f'(u_2)] / q_map(q) (Price's theorem); at q = q* > 0
    this is Poole et al.'s sigma_w2 E[f'(u_1) f'(u_2)], and chi_1 at c = 1."""
    return sigma_w2 * _sd(q) ** 2 * _pair_mean(fp, fp, q, c) / _q_map(f, sigma_w2, sigma_b2, q)


def _c_star(f, fp, sigma_w2: float, sigma_b2: float, q: float) -> float:
    """The stable fixed point of the c-map in [0, 1]. The map is increasing and convex on [0, 1]
    (its Mehler series has non-negative coefficients) with M(1) = 1 and M(0) >= 0, so c* = 1 when
    the slope at 1 is <= 1, and otherwise the one root below 1."""
    if _c_slope(fp, f, sigma_w2, sigma_b2, q, 1.0) <= 1 + 1e-12:
        return 1.0

    def gap(c):
        return _c_map(f, sigma_w2, sigma_b2, q, c) - c

    if gap(0.0) <= 0:
        return 0.0  # an odd activation without bias: uncorrelated inputs stay uncorrelated
    below = 1e-3
    while gap(1 - below) >= 0 and below > 1e-12:
        below /= 10
    return optimize.brentq(gap, 0.0, 1 - below, xtol=1e-12, rtol=1e-12)


def correlation_map(
    activation: str, sigma_w2: float, sigma_b2: float, c: npt.ArrayLike, negative_slope: float | None = None
) -> float | np.ndarray:
    """The c-map at the fixed point q*: the correlation of two inputs' pre-activations one layer
    deeper, ``(sigma_w2 E[f(u_1) f(u_2)] + sigma_b2) / q*`` with ``u_1, u_2`` of variance ``q*``
    and correlation ``c`` (Poole et al. 2016, eq. 5). ``c`` may be a number or an array in [-1, 1].
    At ``q* = 0`` or ``inf`` it is the limit (ReLU at ``sigma_b2 = 0``: the normalised arc-cosine
    kernel ``(sqrt(1 - c^2) + (pi - arccos c) c) / pi``, Cho & Saul 2009).

    >>> round(float(correlation_map("relu", 2.0, 0.0, 0.0)), 6)   # 1 / pi
    0.31831
    """
    f, fp, sigma_w2, sigma_b2 = _setup(activation, sigma_w2, sigma_b2, negative_slope)
    values = np.asarray(c, dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(np.abs(values) > 1):
        raise ValueError(f"c (a correlation) must be finite numbers in [-1, 1], got {c!r}")
    q = _fixed_point(f, sigma_w2, sigma_b2, 1.0)
    out = np.array([_c_map(f, sigma_w2, sigma_b2, q, v) for v in values.ravel()]).reshape(values.shape)
    return float(out) if out.ndim == 0 else out


def correlation_fixed_point(
    activation: str, sigma_w2: float, sigma_b2: float, negative_slope: float | None = None
) -> float:
    """``c*``, the correlation every pair of inputs ends with: 1 in the ordered phase and on the edge
    of chaos, below 1 in the chaotic phase (Poole et al. 2016; Schoenholz et al. 2017, sec. 3).

    >>> correlation_fixed_point("tanh", 1.2, 0.05), round(correlation_fixed_point("tanh", 4.0, 0.0), 12)
    (1.0, 0.0)
    """
    f, fp, sigma_w2, sigma_b2 = _setup(activation, sigma_w2, sigma_b2, negative_slope)
    return _c_star(f, fp, sigma_w2, sigma_b2, _fixed_point(f, sigma_w2, sigma_b2, 1.0))


def _scale(slope: float) -> float:
    """-1 / log(slope): the depth over which a deviation shrinks by e; inf where it does not shrink
    (a slope within 1e-9 of 1, a depth scale beyond 10^9 layers, counts as critical)."""
    if slope >= 1 - 1e-9:
        return math.inf
    return 0.0 if slope <= 0 else -1 / math.log(slope)


def depth_scales(
    activation: str, sigma_w2: float, sigma_b2: float, negative_slope: float | None = None
) -> tuple[float, float]:
    """``(xi_q, xi_c)``: the depths over which q and c approach their fixed points,
    ``|q^l - q*| ~ exp(-l / xi_q)`` and ``|c^l - c*| ~ exp(-l / xi_c)`` (Schoenholz et al. 2017):

        xi_q^-1 = -log(sigma_w2 E[f'(u)^2 + f(u) f''(u)])         (their eq. 6, u = sqrt(q*) z)
        xi_c^-1 = -log(sigma_w2 E[f'(u_1) f'(u_2)])  at (q*, c*)   (their eq. 9)

    The first slope is the q-map's derivative at q*, computed without f'' as
    ``sigma_w2 E[z f(u) f'(u)] / sqrt(q*)`` (Stein's lemma); the second is ``chi_1`` in the
    ordered phase (c* = 1). ``xi_c = inf`` on the critical line (a slope within 1e-9 of 1),
    where the approach is a power law, and wherever the slope is not below 1 (ReLU at
    ``sigma_b2 = 0``; q* = inf).

    >>> xi_q, xi_c = depth_scales("tanh", 1.5, 0.05)
    >>> round(xi_c, 1), depth_scales("tanh", critical_sigma_w2("tanh", 0.05), 0.05)[1]
    (15.8, inf)
    """
    f, fp, sigma_w2, sigma_b2 = _setup(activation, sigma_w2, sigma_b2, negative_slope)
    q = _fixed_point(f, sigma_w2, sigma_b2, 1.0)
    if math.isinf(q):
        return math.inf, math.inf
    sd = _sd(q)
    q_slope = sigma_w2 * _mean(lambda z: z * f(sd * z) * fp(sd * z), sd) / sd
    c_slope = _c_slope(fp, f, sigma_w2, sigma_b2, q, _c_star(f, fp, sigma_w2, sigma_b2, q))
    return _scale(q_slope), _scale(c_slope)


def layer_curves(
    activation: str,
    sigma_w2: float,
    sigma_b2: float,
    depth: int,
    input_var: float = 1.0,
    input_corr: float = 0.5,
    negative_slope: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted ``q^l`` and ``c^l`` for layers l = 1..depth, for two inputs of second moment
    ``input_var`` per coordinate and correlation ``input_corr``: ``q^1 = sigma_w2 input_var + sigma_b2``,
    then the q-map, and the c-map at the current q (not yet q*). ``q^l`` is what
    :func:`initlib.propagate` measures as ``pre_var`` (and :func:`initlib.theory.predict` with
    ``method="mean_field"`` predicts) for weights of variance ``sigma_w2 / n``.

    >>> q, c = layer_curves("relu", 2.0, 0.0, 3)   # c: the arc-cosine kernel, applied twice
    >>> q.round(12).tolist(), c.round(4).tolist()
    ([2.0, 2.0, 2.0], [0.5, 0.609, 0.6839])
    """
    f, _, sigma_w2, sigma_b2 = _setup(activation, sigma_w2, sigma_b2, negative_slope)
    depth = check_int(depth, "depth", 1)
    input_var = check_real(input_var, "input_var")
    if input_var <= 0:
        raise ValueError(f"input_var must be > 0, got {input_var}")
    input_corr = check_real(input_corr, "input_corr")
    if not -1 <= input_corr <= 1:
        raise ValueError(f"input_corr (a correlation) must be in [-1, 1], got {input_corr}")
    q = np.empty(depth)
    c = np.empty(depth)
    q[0] = sigma_w2 * input_var + sigma_b2
    c[0] = (sigma_w2 * input_var * input_corr + sigma_b2) / q[0] if q[0] > 0 else 1.0
    for l in range(1, depth):
        if not q[l - 1] < HUGE:
            q[l:], c[l:] = math.inf, math.nan
            break
        q[l] = _q_map(f, sigma_w2, sigma_b2, q[l - 1])
        c[l] = _c_map(f, sigma_w2, sigma_b2, q[l - 1], c[l - 1])
        if abs(q[l] - q[l - 1]) <= 1e-14 * q[l] and abs(c[l] - c[l - 1]) <= 1e-14:
            q[l:], c[l:] = q[l], c[l]  # both maps have arrived: every later layer repeats this one
            break
    return q, c
