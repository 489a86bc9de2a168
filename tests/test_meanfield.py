"""initlib.theory.meanfield: the q-map, the c-map, chi_1, the edge of chaos and the depth scales, checked
against adaptive quadrature (scipy.integrate, an independent route), closed forms, Monte Carlo,
wide random networks, and the numbers in shared/references.md ("Later work")."""

import math
import warnings

import mpmath
import numpy as np
import pytest
import torch
from scipy import integrate, optimize, special

from initlib import activations, theory
from initlib.theory import meanfield as mf


def _selu(x):
    return activations.SELU_SCALE * (x if x > 0 else activations.SELU_ALPHA * math.expm1(x))


def _selu_prime(x):
    return activations.SELU_SCALE * (1.0 if x > 0 else activations.SELU_ALPHA * math.exp(x))


# Scalar f and f', written out here independently of initlib.
SCALAR = {
    "linear": (lambda x: x, lambda x: 1.0),
    "relu": (lambda x: max(x, 0.0), lambda x: float(x > 0)),
    "leaky_relu": (lambda x: x if x > 0 else 0.01 * x, lambda x: 1.0 if x > 0 else 0.01),
    "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2),
    "sigmoid": (special.expit, lambda x: special.expit(x) * (1 - special.expit(x))),
    "softsign": (lambda x: x / (1 + abs(x)), lambda x: 1 / (1 + abs(x)) ** 2),
    "selu": (_selu, _selu_prime),
}
# The same functions on torch tensors, for Monte Carlo.
TORCH = {
    "linear": lambda x: x,
    "relu": torch.relu,
    "leaky_relu": lambda x: torch.nn.functional.leaky_relu(x, 0.01),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softsign": torch.nn.functional.softsign,
    "selu": torch.selu,
}


def _gauss(g, q):
    """E[g(s)], s ~ N(0, q), by adaptive quadrature split at the kink."""
    sd = math.sqrt(q)
    return integrate.quad(
        lambda z: g(sd * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
        -14,
        14,
        points=[0.0],
        limit=400,
        epsabs=1e-14,
        epsrel=1e-12,
    )[0]


def _pair(g, q, c):
    """E[g(u_1) g(u_2)], Var u = q, Corr = c, by nested adaptive quadrature split at both kinks."""
    sd, s = math.sqrt(q), math.sqrt(1 - c * c)

    def inner(z1):
        return integrate.quad(
            lambda z2: g(sd * (c * z1 + s * z2)) * math.exp(-z2 * z2 / 2),
            -12,
            12,
            points=[-c * z1 / s],
            limit=200,
            epsabs=1e-12,
        )[0] / math.sqrt(2 * math.pi)

    return integrate.quad(
        lambda z1: g(sd * z1) * inner(z1) * math.exp(-z1 * z1 / 2) / math.sqrt(2 * math.pi),
        -12,
        12,
        points=[0.0],
        limit=200,
        epsabs=1e-12,
    )[0]


def _fixed_point_by_quad(activation, sigma_w2, sigma_b2):
    f = SCALAR[activation][0]
    return optimize.brentq(lambda q: sigma_w2 * _gauss(lambda x: f(x) ** 2, q) + sigma_b2 - q, 1e-6, 50, xtol=1e-13)


@pytest.mark.parametrize("activation", activations.NAMES)
@pytest.mark.parametrize("q", [0.01, 0.3, 1.0, 4.0, 30.0])
def test_one_dimensional_moments_match_adaptive_quadrature(activation, q):
    f, fp = SCALAR[activation]
    rel = 1e-9 if q <= 10 else 1e-7
    assert mf.q_map(activation, q, 1.0, 0.0) == pytest.approx(_gauss(lambda x: f(x) ** 2, q), rel=rel, abs=1e-12)
    # chi_1 with sigma_b2 chosen so that q* is this q: sigma_b2 = q - E[f^2] needs E[f^2] <= q.
    second = _gauss(lambda x: f(x) ** 2, q)
    if second < q:
        assert mf.fixed_point(activation, 1.0, q - second) == pytest.approx(q, rel=rel)
        assert mf.chi_1(activation, 1.0, q - second) == pytest.approx(_gauss(lambda x: fp(x) ** 2, q), rel=rel)


@pytest.mark.parametrize(
    "activation, sigma_w2, sigma_b2",
    [("tanh", 1.5, 0.05), ("tanh", 3.0, 0.3), ("softsign", 2.0, 0.1), ("selu", 1.0, 0.0), ("sigmoid", 4.0, 0.2)],
)
@pytest.mark.parametrize("c", [-0.6, 0.0, 0.7, 0.97])
def test_c_map_matches_nested_adaptive_quadrature(activation, sigma_w2, sigma_b2, c):
    f = SCALAR[activation][0]
    q = _fixed_point_by_quad(activation, sigma_w2, sigma_b2)
    assert mf.fixed_point(activation, sigma_w2, sigma_b2) == pytest.approx(q, rel=1e-9)
    expected = (sigma_w2 * _pair(f, q, c) + sigma_b2) / q
    assert mf.correlation_map(activation, sigma_w2, sigma_b2, c) == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize("c", [-1.0, -0.9, -0.3, 0.0, 0.5, 0.9, 0.999, 1.0])
def test_relu_c_map_is_the_arc_cosine_kernel(c):
    # Cho & Saul (2009): E[relu(u_1) relu(u_2)] = q (sqrt(1 - c^2) + (pi - arccos c) c) / (2 pi).
    kernel = (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / math.pi
    for sigma_w2 in (1.0, 2.0, 3.0):  # at sigma_b2 = 0 the map does not depend on sigma_w2
        assert mf.correlation_map("relu", sigma_w2, 0.0, c) == pytest.approx(kernel, abs=1e-12)
    q = mf.fixed_point("relu", 1.5, 0.5)
    expected = (1.5 * q * kernel / 2 + 0.5) / q
    assert mf.correlation_map("relu", 1.5, 0.5, c) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("sigma_w2, sigma_b2", [(0.5, 0.1), (1.0, 0.5), (1.9, 0.01)])
def test_relu_closed_forms(sigma_w2, sigma_b2):
    q = sigma_b2 / (1 - sigma_w2 / 2)
    assert mf.fixed_point("relu", sigma_w2, sigma_b2) == pytest.approx(q, rel=1e-10)
    assert mf.chi_1("relu", sigma_w2, sigma_b2) == pytest.approx(sigma_w2 / 2, rel=1e-12)
    xi_q, xi_c = mf.depth_scales("relu", sigma_w2, sigma_b2)
    assert xi_q == pytest.approx(-1 / math.log(sigma_w2 / 2), rel=1e-8)  # the q-map is linear, slope chi_1
    assert xi_c == pytest.approx(-1 / math.log(sigma_w2 / 2), rel=1e-6)  # ordered: c* = 1, slope chi_1
    assert mf.correlation_fixed_point("relu", sigma_w2, sigma_b2) == 1.0


@pytest.mark.parametrize("activation, sigma_b2", [("selu", 0.0), ("selu", 0.3), ("softsign", 0.05), ("sigmoid", 0.05)])
def test_other_critical_points_have_chi_1_one(activation, sigma_b2):
    """The first crossing of chi_1 = 1, below the sigma_w2 where SELU's q* diverges (2 / lambda^2)."""
    w = mf.critical_sigma_w2(activation, sigma_b2)
    assert math.isfinite(mf.fixed_point(activation, w, sigma_b2))
    assert mf.chi_1(activation, w, sigma_b2) == pytest.approx(1.0, abs=1e-9)
    if activation == "selu":
        assert w < 2 / activations.SELU_SCALE**2
    if (activation, sigma_b2) == ("selu", 0.0):  # where q* leaves 0: chi_1 = sigma_w2 E[f'(0+-)^2]
        assert w == pytest.approx(2 / (activations.SELU_SCALE**2 * (1 + activations.SELU_ALPHA**2)), abs=1e-6)


def test_the_critical_points_of_the_piecewise_linear_activations():
    assert mf.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0, abs=1e-12)  # He et al.'s point
    assert mf.critical_sigma_w2("linear", 0.0) == pytest.approx(1.0, abs=1e-12)
    assert mf.critical_sigma_w2("leaky_relu", 0.0, negative_slope=0.2) == pytest.approx(2 / 1.04, abs=1e-12)
    assert mf.fixed_point("relu", 2.0, 0.0, q0=3.0) == 3.0  # marginal: every q is kept
    assert mf.fixed_point("relu", 2.5, 0.0) == math.inf and mf.fixed_point("relu", 1.5, 0.0) == 0.0
    assert mf.depth_scales("relu", 2.0, 0.0) == (math.inf, math.inf)


def test_references_later_work_numbers():
    """shared/references.md, "Later work", tagged [measured, quadrature]: tanh, sigma_b2 = 0.05:
    critical sigma_w2 = 1.761 (q* = 0.570); sigma_b2 = 0.3: 2.505; sigma_b2 -> 0: 1. At
    sigma_w2 = 1.5, sigma_b2 = 0.05: chi_1 = 0.9386, xi_c = 15.8, 6 xi_c = 95. ReLU: (2, 0)."""
    critical = mf.critical_sigma_w2("tanh", 0.05)
    assert round(critical, 3) == 1.761
    assert round(mf.fixed_point("tanh", critical, 0.05), 3) == 0.570
    assert round(mf.critical_sigma_w2("tanh", 0.3), 3) == 2.505
    assert mf.critical_sigma_w2("tanh", 0.0) == pytest.approx(1.0, abs=1e-9)
    assert mf.critical_sigma_w2("tanh", 1e-8) == pytest.approx(1.0, abs=1e-2)
    assert round(mf.chi_1("tanh", 1.5, 0.05), 4) == 0.9386
    _, xi_c = mf.depth_scales("tanh", 1.5, 0.05)
    assert round(xi_c, 1) == 15.8 and round(6 * xi_c) == 95
    assert mf.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0)


@pytest.mark.parametrize("sigma_b2", [0.01, 0.05, 0.3, 1.0])
def test_tanh_critical_point_matches_adaptive_quadrature(sigma_b2):
    def chi_minus_one(sigma_w2):
        q = _fixed_point_by_quad("tanh", sigma_w2, sigma_b2)
        return sigma_w2 * _gauss(lambda x: (1 - math.tanh(x) ** 2) ** 2, q) - 1

    expected = optimize.brentq(chi_minus_one, 1.0, 8.0, xtol=1e-10)
    assert mf.critical_sigma_w2("tanh", sigma_b2) == pytest.approx(expected, abs=1e-6)
    assert mf.chi_1("tanh", expected, sigma_b2) == pytest.approx(1.0, abs=1e-6)
    assert mf.depth_scales("tanh", mf.critical_sigma_w2("tanh", sigma_b2), sigma_b2)[1] == math.inf


@pytest.mark.parametrize("activation, top", [("tanh", 6.0), ("softsign", 6.0), ("sigmoid", 200.0), ("selu", 1.5)])
def test_chi_1_grows_with_sigma_w2(activation, top):
    values = [mf.chi_1(activation, w, 0.05) for w in np.linspace(0.1, top, 25)]
    assert all(b > a for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("sigma_w2, sigma_b2", [(1.2, 0.05), (1.5, 0.05), (2.5, 0.05), (3.0, 0.3), (4.0, 0.0)])
def test_tanh_depth_scales_match_eqs_6_and_9(sigma_w2, sigma_b2):
    """xi_q with f'' written out (Schoenholz et al. eq. 6); xi_c from the c-map's slope at c*,
    measured by finite differences of correlation_map (eq. 9)."""
    q = _fixed_point_by_quad("tanh", sigma_w2, sigma_b2)
    t = math.tanh
    slope_q = sigma_w2 * _gauss(lambda x: (1 - t(x) ** 2) ** 2 - 2 * t(x) ** 2 * (1 - t(x) ** 2), q)
    xi_q, xi_c = mf.depth_scales("tanh", sigma_w2, sigma_b2)
    assert xi_q == pytest.approx(-1 / math.log(slope_q), rel=1e-6)
    c_star = mf.correlation_fixed_point("tanh", sigma_w2, sigma_b2)
    h = 1e-5
    low, high = max(c_star - h, -1.0), min(c_star + h, 1.0)
    slope_c = (
        mf.correlation_map("tanh", sigma_w2, sigma_b2, high) - mf.correlation_map("tanh", sigma_w2, sigma_b2, low)
    ) / (high - low)
    assert xi_c == pytest.approx(-1 / math.log(slope_c), rel=1e-3)
    chi = mf.chi_1("tanh", sigma_w2, sigma_b2)
    assert (c_star == 1.0) == (chi < 1)  # ordered: c* = 1; chaotic: c* < 1
    if chi < 1:
        assert xi_c == pytest.approx(-1 / math.log(chi), rel=1e-7)
    else:
        assert mf.correlation_map("tanh", sigma_w2, sigma_b2, c_star) == pytest.approx(c_star, abs=1e-10)


@pytest.mark.parametrize("activation", activations.NAMES)
def test_moments_against_monte_carlo(activation):
    """E[f(u)^2], E[f'(u)^2] and E[f(u_1) f(u_2)] against 2 million seeded Gaussian samples, within
    5 standard errors."""
    gen = torch.Generator().manual_seed(12)
    q, c = 1.7, 0.4
    z1, z2 = torch.randn(2, 2_000_000, generator=gen, dtype=torch.float64)
    u1, u2 = math.sqrt(q) * z1, math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
    f = TORCH[activation]
    u = u1.clone().requires_grad_(True)
    (fprime,) = torch.autograd.grad(f(u).sum(), u)

    def close(sample, value):
        assert abs(sample.mean().item() - value) < 5 * sample.std().item() / math.sqrt(sample.numel()) + 1e-12

    close(f(u1) ** 2, mf.q_map(activation, q, 1.0, 0.0))
    close(
        fprime**2,
        mf.chi_1(activation, 1.0, q - mf.q_map(activation, q, 1.0, 0.0))
        if mf.q_map(activation, q, 1.0, 0.0) < q
        else fprime.pow(2).mean().item(),
    )
    sigma_b2 = max(q - mf.q_map(activation, q, 1.0, 0.0), 0.0)
    if sigma_b2 > 0:  # then q* = q at sigma_w2 = 1, and the c-map's numerator is E[f(u_1) f(u_2)]
        close(f(u1) * f(u2), mf.correlation_map(activation, 1.0, sigma_b2, c) * q - sigma_b2)


@pytest.mark.parametrize(
    "activation, sigma_w2, sigma_b2", [("tanh", 1.0, 0.0), ("tanh", 2.5, 0.3), ("relu", 2.0, 0.1), ("selu", 1.0, 0.05)]
)
def test_layer_curves_match_a_wide_random_network(activation, sigma_w2, sigma_b2):
    """Two inputs with correlation 0.5 through 12 layers of width 2000, 4 seeded networks:
    the empirical q^l and c^l against layer_curves, and q^l against theory.predict(mean_field)."""
    depth, width = 12, 2000
    q_pred, c_pred = mf.layer_curves(activation, sigma_w2, sigma_b2, depth, input_var=1.0, input_corr=0.5)
    if activation != "selu":
        pre, _ = theory.predict(
            [width] * (depth + 1),
            [sigma_w2 / width] * depth,
            activation,
            bias_vars=[sigma_b2] * depth,
            method="mean_field",
        )
        assert np.allclose(q_pred, pre, rtol=1e-8)
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(width, generator=gen, dtype=torch.float64)
    b = 0.5 * a + math.sqrt(0.75) * torch.randn(width, generator=gen, dtype=torch.float64)
    q_meas, c_meas = np.zeros(depth), np.zeros(depth)
    for _ in range(4):
        h = torch.stack([a, b], 1)
        for l in range(depth):
            w = torch.randn(width, width, generator=gen, dtype=torch.float64) * math.sqrt(sigma_w2 / width)
            s = w @ h + torch.randn(width, 1, generator=gen, dtype=torch.float64) * math.sqrt(sigma_b2)
            second = (s**2).mean(0)
            q_meas[l] += second.mean().item() / 4
            c_meas[l] += ((s[:, 0] * s[:, 1]).mean() / second.prod().sqrt()).item() / 4
            h = TORCH[activation](s)
    assert np.allclose(q_meas, q_pred, rtol=0.08), (q_meas, q_pred)
    assert np.allclose(c_meas, c_pred, atol=0.04), (c_meas, c_pred)


BAD_CALLS = [
    (lambda: mf.fixed_point("tanh", -1.0, 0.05), "sigma_w2 (n Var[W]) is a variance and must be >= 0"),
    (lambda: mf.chi_1("tanh", 1.0, -0.1), "sigma_b2 (Var[b]) is a variance and must be >= 0"),
    (lambda: mf.depth_scales("Tanh", 1.0, 0.1), "activation must be one of 'linear', 'relu'"),
    (lambda: mf.critical_sigma_w2("gelu", 0.1), "activation must be one of"),
    (lambda: mf.critical_sigma_w2("relu", 0.05), "activation 'relu' has no critical point at sigma_b2=0.05"),
    (lambda: mf.critical_sigma_w2("linear", 0.3), "it is critical only at sigma_b2 = 0, sigma_w2 = 1"),
    (lambda: mf.critical_sigma_w2("tanh", -0.05), "sigma_b2 (Var[b]) is a variance"),
    (lambda: mf.q_map("tanh", -1.0, 1.0, 0.0), "q (the pre-activation variance) must be >= 0"),
    (lambda: mf.fixed_point("tanh", 1.0, 0.0, q0=0.0), "q0 (the starting variance) must be > 0"),
    (lambda: mf.correlation_map("tanh", 1.0, 0.1, [0.5, 1.5]), "c (a correlation) must be finite numbers in [-1, 1]"),
    (lambda: mf.layer_curves("tanh", 1.0, 0.1, 0), "depth must be an integer >= 1"),
    (lambda: mf.layer_curves("tanh", 1.0, 0.1, 5, input_corr=2.0), "input_corr (a correlation) must be in [-1, 1]"),
    (lambda: mf.layer_curves("tanh", 1.0, 0.1, 5, input_var=0.0), "input_var must be > 0"),
    (lambda: mf.chi_1("tanh", 1.0, 0.1, negative_slope=0.1), "negative_slope only applies to activation='leaky_relu'"),
    (lambda: mf.chi_1("leaky_relu", 1.0, 0.1, negative_slope=2.0), "negative_slope must be in [0, 1]"),
    (lambda: mf.chi_1("tanh", float("nan"), 0.1), "sigma_w2 (n Var[W]) must be finite"),
    (lambda: mf.depth_scales("tanh", 0.0, 0.0), "sigma_w2 and sigma_b2 are both 0"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS)
def test_bad_input_is_refused_and_changes_nothing(call, message):
    rules = [arr.copy() for arr in (mf._GL_X, mf._GL_W, *(a for rule in mf._ARC_RULES.values() for a in rule))]
    before = mf.depth_scales("tanh", 1.5, 0.05)
    with pytest.raises(ValueError) as error:
        call()
    assert message in str(error.value)
    after = [mf._GL_X, mf._GL_W, *(a for rule in mf._ARC_RULES.values() for a in rule)]
    assert all(np.array_equal(a, b) for a, b in zip(rules, after))
    assert mf.depth_scales("tanh", 1.5, 0.05) == before


def test_a_bool_is_not_a_variance():
    with pytest.raises(TypeError, match="sigma_w2 .* must be a real number"):
        mf.chi_1("tanh", True, 0.1)


def _tanh_pair_nested(q, c):
    """E[tanh(u_1) tanh(u_2)] by nested adaptive quadrature, each level split at its kink-like step
    (tanh(sd x) is a near-step at q = 30), to a relative 1e-14."""
    sd, s = math.sqrt(q), math.sqrt(1 - c * c)

    def inner(z1):
        return integrate.quad(
            lambda z2: math.tanh(sd * (c * z1 + s * z2)) * math.exp(-z2 * z2 / 2),
            -13,
            13,
            points=[-c * z1 / s],
            limit=400,
            epsabs=1e-15,
            epsrel=1e-14,
        )[0] / math.sqrt(2 * math.pi)

    return integrate.quad(
        lambda z1: math.tanh(sd * z1) * inner(z1) * math.exp(-z1 * z1 / 2),
        -13,
        13,
        points=[0.0],
        limit=400,
        epsabs=1e-15,
        epsrel=1e-14,
    )[0] / math.sqrt(2 * math.pi)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("q", [10.0, 30.0])
@pytest.mark.parametrize("c", [0.9, 0.99, 0.999, 0.9999])
def test_pair_moments_at_large_q_and_c_near_one(q, c):
    """The sizes that exposed 16 arc nodes (1.7e-6 at q = 10, 1.7e-5 at q = 30 as c -> 1)."""
    got = mf._pair_mean(np.tanh, np.tanh, q, c)
    assert got == pytest.approx(_tanh_pair_nested(q, c), abs=1e-13)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_the_layer_curve_that_exposed_the_pair_rule():
    # layer_curves("tanh", 4.0, 0.3, 2, input_var=7.5, input_corr=0.999): q^1 = 30.3, c^1 = 0.99901
    q, c = mf.layer_curves("tanh", 4.0, 0.3, 2, input_var=7.5, input_corr=0.999)
    assert q[0] == pytest.approx(30.3, rel=1e-15)
    expected = (4.0 * _tanh_pair_nested(q[0], c[0]) + 0.3) / q[1]
    assert c[1] == pytest.approx(expected, abs=1e-13)
    assert q[1] == pytest.approx(4.0 * _gauss(lambda x: math.tanh(x) ** 2, q[0]) + 0.3, rel=1e-13)


MP = {  # the activations whose Gaussian moments need quadrature, in 30-digit mpmath
    "tanh": (mpmath.tanh, lambda x: 1 - mpmath.tanh(x) ** 2),
    "sigmoid": (lambda x: 1 / (1 + mpmath.exp(-x)), lambda x: mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2),
    "softsign": (lambda x: x / (1 + abs(x)), lambda x: 1 / (1 + abs(x)) ** 2),
    "selu": (
        lambda x: activations.SELU_SCALE * (x if x > 0 else activations.SELU_ALPHA * mpmath.expm1(x)),
        lambda x: activations.SELU_SCALE * (1 if x > 0 else activations.SELU_ALPHA * mpmath.exp(x)),
    ),
}


def _mp_gauss(g, q):
    """E[g(s)], s ~ N(0, q), in 30 digits: the folded integrand, split where g(sqrt(q) z) changes."""
    with mpmath.workdps(30):
        sd = mpmath.sqrt(q)
        cuts = sorted({mpmath.mpf(0), mpmath.inf, *(k / sd for k in (0.25, 0.5, 1, 2, 4, 8, 16))})
        value = mpmath.quad(lambda z: (g(sd * z) + g(-sd * z)) * mpmath.exp(-z * z / 2), cuts)
        return value / mpmath.sqrt(2 * mpmath.pi)


def _scipy_quad(g, q):
    """What theory used before it took meanfield's rule: adaptive quad on the folded line."""
    sigma = math.sqrt(q)
    value, _ = integrate.quad(
        lambda z: (g(sigma * z) + g(-sigma * z)) * math.exp(-z * z / 2), 0.0, 12.0, limit=200, epsabs=0.0, epsrel=1e-10
    )
    return value / math.sqrt(2 * math.pi)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("activation", list(MP))
def test_the_one_engine_is_the_more_accurate(activation):
    """theory and meanfield share meanfield's Gauss rule: against 30-digit quadrature it is within a
    relative 2e-15 for q from 1e-6 to 1e8, and never worse than scipy's adaptive quad (theory's old
    engine) by more than rounding (1e-15); quad loses tanh's E[f'^2] entirely at q = 1e6."""
    f, fprime = mf.numpy_functions(activation)
    f_mp, fprime_mp = MP[activation]
    for q in (1e-6, 1e-2, 1.0, 30.0, 1e3, 1e6, 1e8):
        for g, g_mp, g_scalar in (
            (lambda s: f(s) ** 2, lambda x: f_mp(x) ** 2, lambda x: float(f_mp(x)) ** 2),
            (lambda s: fprime(s) ** 2, lambda x: fprime_mp(x) ** 2, lambda x: float(fprime_mp(x)) ** 2),
        ):
            exact = float(_mp_gauss(g_mp, q))
            ours = abs(mf.gaussian_mean(g, q) / exact - 1)
            assert ours < 2e-15, (q, ours)
            if q in (1.0, 1e6):  # adaptive quad is slow in pure Python: two sizes suffice to compare
                assert ours <= abs(_scipy_quad(g_scalar, q) / exact - 1) + 1e-15, q
    if activation == "tanh":  # the old engine's failure: sech^4(1000 z) is missed between its nodes
        exact = float(_mp_gauss(lambda x: fprime_mp(x) ** 2, 1e6))
        assert abs(_scipy_quad(lambda x: float(fprime_mp(x)) ** 2, 1e6) / exact - 1) > 0.5
        assert theory.derivative_moment("tanh", 1e6, method="mean_field") == pytest.approx(exact, rel=2e-15)
    assert theory.second_moment(activation, 30.0, method="mean_field") == pytest.approx(
        float(_mp_gauss(lambda x: f_mp(x) ** 2, 30.0)), rel=2e-15
    )
    assert theory.unit_kurtosis(activation) == pytest.approx(
        float(_mp_gauss(lambda x: f_mp(x) ** 4, 1.0) / _mp_gauss(lambda x: f_mp(x) ** 2, 1.0) ** 2 - 1), rel=1e-14
    )


def test_selu_is_critical_just_below_where_its_q_diverges():
    """At sigma_b2 = 1e9 SELU's chi_1 = (sigma_w2 lambda^2 / 2)(1 + alpha^2 / sqrt(2 pi q*)) reaches 1
    about 2.3e-9 below 2 / lambda^2: solved here in 50 digits with SELU's closed-form moments."""
    lam, alpha = mpmath.mpf(activations.SELU_SCALE), mpmath.mpf(activations.SELU_ALPHA)
    with mpmath.workdps(50):

        def moments(q):  # E[e^(ts) 1{s<0}] = e^(t^2 q / 2) erfc(t sqrt(q / 2)) / 2
            e1 = mpmath.exp(q / 2) * mpmath.erfc(mpmath.sqrt(q / 2)) / 2
            e2 = mpmath.exp(2 * q) * mpmath.erfc(mpmath.sqrt(2 * q)) / 2
            return lam**2 * (q / 2 + alpha**2 * (e2 - 2 * e1 + 0.5)), lam**2 * (0.5 + alpha**2 * e2)

        bias, edge = mpmath.mpf(10) ** 9, 2 / lam**2

        def excess(gap):  # chi_1 - 1 at sigma_w2 = edge (1 - gap)
            w = edge * (1 - gap)
            q = mpmath.findroot(lambda q: w * moments(q)[0] + bias - q, bias / (1 - w * lam**2 / 2))
            return w * moments(q)[1] - 1

        critical = float(edge * (1 - mpmath.findroot(excess, mpmath.mpf("1.2e-9"))))
    assert mf.critical_sigma_w2("selu", 1e9) == pytest.approx(critical, abs=1e-11)
    assert 2e-9 < float(edge) - critical < 3e-9


def _selu_pair_nested(q, c):
    """E[selu(u_1) selu(u_2)] by nested adaptive quadrature, split at the kink and where the
    exponential branch turns (1 / sqrt(q) from it)."""
    sd, s = math.sqrt(q), math.sqrt(1 - c * c)
    f = SCALAR["selu"][0]

    def inner(z1):
        k = -c * z1 / s
        return integrate.quad(
            lambda z2: f(sd * (c * z1 + s * z2)) * math.exp(-z2 * z2 / 2),
            -14,
            14,
            points=[k, k + 1 / (sd * s), k - 1 / (sd * s)],
            limit=800,
            epsabs=0,
            epsrel=1e-13,
        )[0] / math.sqrt(2 * math.pi)

    return integrate.quad(
        lambda z1: f(sd * z1) * inner(z1) * math.exp(-z1 * z1 / 2),
        -14,
        14,
        points=[0.0, 1 / sd, -1 / sd, -4 / sd],
        limit=800,
        epsabs=0,
        epsrel=1e-13,
    )[0] / math.sqrt(2 * math.pi)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("q, c", [(100.0, 0.99), (1e4, 0.5), (1e4, 0.9)])
def test_selu_pair_moments_at_a_diverging_q(q, c):
    """SELU's q grows without bound above sigma_w2 = 1.81: the pair rule stays within a relative
    2e-14 at q = 1e4 (16 arc nodes and the fixed 48-node rays were off by 2.6e-6 there)."""
    f, _ = mf.numpy_functions("selu")
    assert mf._pair_mean(f, f, q, c) == pytest.approx(_selu_pair_nested(q, c), rel=2e-14)


def test_the_cached_quadrature_rules_cannot_be_mutated():
    # _graded_rule is an lru_cache: an array edited in place by one caller would corrupt every
    # later quadrature, so the shared arrays are read-only.
    before = mf.fixed_point("tanh", 1.5, 0.05)
    for r, w in (mf._radial_rule(1.0, 0), mf._radial_rule(300.0, 1), mf._graded_rule(5, 0)):
        for array in (r, w):
            with pytest.raises(ValueError, match="read-only"):
                array[0] = 1e6
            with pytest.raises(ValueError, match="read-only"):
                array *= 2
    for array in (mf._GL_X, mf._GL_W, *mf._ARC_RULES[4.0]):
        with pytest.raises(ValueError, match="read-only"):
            array[:] = 0
    assert mf.fixed_point("tanh", 1.5, 0.05) == before
    r, w = mf._radial_rule(1.0, 0)
    assert r is mf._radial_rule(1.0, 0)[0]  # still the one cached array, unchanged
    assert np.all(np.diff(r) > 0) and np.all(w > 0)


def test_numpy_functions_take_read_only_arrays_without_a_warning():
    f, fprime = mf.numpy_functions("tanh")
    x = np.linspace(-2, 2, 5)
    x.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.allclose(f(x), np.tanh(x)) and np.allclose(fprime(x), 1 - np.tanh(x) ** 2)
