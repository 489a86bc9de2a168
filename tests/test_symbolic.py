"""initlib.theory.symbolic: every derived result, checked against an independent route, and the proof that
initlib's numeric initializers use exactly the derived formulas (the same draws from the same seed)."""

import itertools
import math

import pytest
import sympy as sp
import torch
from scipy import stats

import initlib
from initlib.theory import symbolic as S

n_in, n_out = sp.symbols("n_in n_out", positive=True)
V = S.VAR_W


def is_zero(expr) -> bool:
    return sp.simplify(expr) == 0


# --- one layer -----------------------------------------------------------------------------------


def _expectation(poly, moments):
    """E[poly] for a polynomial in independent variables, from their raw moments {var: [m1, m2, ...]}."""
    total = sp.Integer(0)
    for monomial, coeff in sp.Poly(sp.expand(poly), *moments).terms():
        term = coeff
        for var, power in zip(moments, monomial):
            term *= moments[var][power - 1] if power else 1
        total += term
    return total


def test_one_layer_variance_zero_means():
    n, v, q = sp.symbols("n v q", positive=True)
    assert is_zero(S.one_layer_variance(n, v, q) - n * v * q)


def test_one_layer_variance_matches_brute_force_expectation():
    # an independent route: expand (sum W_i x_i)^2 for n = 3 and take expectations term by term
    v, q = sp.symbols("v q", positive=True)
    mw, mx = sp.symbols("mu_w mu_x", real=True)
    w, x = sp.symbols("w1:4"), sp.symbols("x1:4")
    moments = {**{wi: [mw, v + mw**2] for wi in w}, **{xi: [mx, q + mx**2] for xi in x}}
    s = sum(wi * xi for wi, xi in zip(w, x))
    brute = _expectation(s**2, moments) - _expectation(s, moments) ** 2
    assert is_zero(S.one_layer_variance(3, v, q, mw, mx) - brute)
    assert is_zero(S.one_layer_variance(3, v, q, mw, mx) - 3 * (v * q + v * mx**2 + mw**2 * q))


def test_one_layer_steps_count_pairs():
    n = sp.Symbol("n", positive=True, integer=True)
    steps = S.one_layer_steps(n, 1, 1)
    assert is_zero(steps["pairs"] - n * (n - 1))
    assert steps["mean"] == 0


def test_one_layer_variance_monte_carlo():
    g = torch.Generator().manual_seed(0)
    n, batch = 200, 20000
    w = torch.randn(batch, n, generator=g, dtype=torch.float64) * 0.1
    x = torch.rand(batch, n, generator=g, dtype=torch.float64)  # U[0, 1]: mean 1/2, variance 1/12
    s = (w * x).sum(1)
    expected = float(S.one_layer_variance(n, sp.Rational(1, 100), sp.Rational(1, 12), 0, sp.Rational(1, 2)))
    # s is close to normal: the sample variance has relative standard error sqrt(2 / batch); 6 of them
    assert abs(float(s.var()) / expected - 1) < 6 * math.sqrt(2 / batch)


# --- Glorot & Bengio ------------------------------------------------------------------------------


def test_glorot_conditions_and_both_routes():
    steps = S.glorot_steps(n_in, n_out)
    assert steps["forward"] == sp.Eq(n_in * V, 1)
    assert steps["backward"] == sp.Eq(n_out * V, 1)
    assert steps["estimate_forward"] == 1 / n_in and steps["estimate_backward"] == 1 / n_out
    assert is_zero(steps["by_sum"] - 2 / (n_in + n_out))
    assert is_zero(steps["by_harmonic_mean"] - 2 / (n_in + n_out))
    assert steps["both"] == [{V: 1 / n_in, n_out: n_in}]
    assert is_zero(S.glorot_variance(n_in, n_out) - 2 / (n_in + n_out))
    assert S.glorot_variance(300, 200) == sp.Rational(1, 250)


def test_glorot_variance_lies_between_the_estimates():
    v = S.glorot_variance(n_in, n_out)
    # (1/n_in - v)(v - 1/n_out) = (n_in - n_out)^2 / (n_in n_out (n_in + n_out)^2) >= 0
    gap = sp.factor((1 / n_in - v) * (v - 1 / n_out))
    assert is_zero(gap - (n_in - n_out) ** 2 / (n_in * n_out * (n_in + n_out) ** 2))
    for a, b in itertools.product([1, 3, 100, 1000], repeat=2):
        val = S.glorot_variance(a, b)
        assert min(sp.Rational(1, a), sp.Rational(1, b)) <= val <= max(sp.Rational(1, a), sp.Rational(1, b))


def test_compromises_and_factor_means():
    assert S.compromise_variance(n_in, n_out, "harmonic") == S.glorot_variance(n_in, n_out)
    assert is_zero(S.compromise_variance(n_in, n_out, "geometric") - 1 / sp.sqrt(n_in * n_out))
    assert is_zero(S.compromise_variance(n_in, n_out, "arithmetic") - (1 / n_in + 1 / n_out) / 2)
    # arithmetic mean of the factors -> harmonic mean of variances, and the mirror image
    assert is_zero(S.variance_from_factor_mean(n_in, n_out, "arithmetic") - S.glorot_variance(n_in, n_out))
    assert is_zero(
        S.variance_from_factor_mean(n_in, n_out, "geometric") - S.compromise_variance(n_in, n_out, "geometric")
    )
    assert is_zero(
        S.variance_from_factor_mean(n_in, n_out, "harmonic") - S.compromise_variance(n_in, n_out, "arithmetic")
    )
    f, b = S.layer_factors(n_in, n_out, S.compromise_variance(n_in, n_out, "geometric"))
    assert is_zero(f * b - 1)


def test_forward_and_backward_products_are_glorot_5_and_6():
    n = sp.symbols("n0:4", positive=True)
    v = sp.symbols("v0:3", positive=True)
    q = sp.Symbol("q", positive=True)
    fwd = S.forward_variances(n, v, q)
    bwd = S.backward_variances(n, v, q)
    for i in range(4):
        assert is_zero(fwd[i] - q * sp.Mul(*[n[k] * v[k] for k in range(i)]))
        assert is_zero(bwd[i] - q * sp.Mul(*[n[k + 1] * v[k] for k in range(i, 3)]))
    # whatever the variances, backward/forward at the ends telescopes to n_L / n_0
    assert is_zero(bwd[0] / fwd[-1] - n[3] / n[0])


def test_linear_regime():
    assert S.linear_regime("tanh") == (0, 1)
    assert S.linear_regime("softsign") == (0, 1)
    assert S.linear_regime("sigmoid") == (sp.Rational(1, 2), sp.Rational(1, 4))


# --- the laws --------------------------------------------------------------------------------------


def test_uniform_variance_and_bound():
    a, v = sp.Symbol("a", positive=True), sp.Symbol("v", positive=True)
    assert S.uniform_variance(a) == a**2 / 3
    assert is_zero(S.uniform_bound(v) - sp.sqrt(3 * v))
    assert is_zero(S.uniform_variance(S.uniform_bound(v)) - v)
    bound = S.uniform_bound(S.glorot_variance(n_in, n_out))
    assert is_zero(bound**2 - 6 / (n_in + n_out))


def test_truncated_normal_std():
    assert float(S.truncated_normal_std(2)) == pytest.approx(0.8796256610342398, abs=1e-15)
    f = sp.lambdify(
        sp.Symbol("k"),
        S.truncated_normal_std(sp.Symbol("k", positive=True)).subs(sp.Symbol("k", positive=True), sp.Symbol("k")),
        "math",
    )
    for k in (0.5, 1.0, 2.0, 3.0):
        assert initlib.truncated_normal_std(k) == pytest.approx(f(k), rel=1e-13)
        assert f(k) == pytest.approx(stats.truncnorm(-k, k).std(), rel=1e-12)


def test_the_one_truncated_normal_variance_is_the_derived_one():
    """initializers.truncated_normal_variance is the closed form; schemes' trunc_normal law reads it."""
    from initlib import schemes
    from initlib.laws import initializers

    for k in (0.1, 0.5, 1.0, 2.0, 3.0, 8.0):
        derived = float(S.truncated_normal_variance(k))
        assert initializers.truncated_normal_variance(k) == pytest.approx(derived, rel=1e-13)
    for std, bound in ((1.0, 2.0), (0.02, 2.0), (0.5, 0.3)):
        law = schemes.variance("trunc_normal", 30, 20, std=std, a=-bound, b=bound)
        assert law == pytest.approx(float(S.trunc_normal_realised_std(std, bound)) ** 2, rel=1e-13)


def test_trunc_normal_realised_std_matches_torch_convention():
    assert float(S.trunc_normal_realised_std(1)) == pytest.approx(0.8796256610342398, abs=1e-15)
    assert float(S.trunc_normal_realised_std(0.02)) == pytest.approx(0.02, rel=1e-12)
    w = initlib.trunc_normal_(torch.empty(400, 1000, dtype=torch.float64), generator=torch.Generator().manual_seed(1))
    expected = float(S.trunc_normal_realised_std(1)) ** 2
    kappa = float(S.kurtosis("truncated_normal"))
    assert abs(float(w.var()) / expected - 1) < 6 * math.sqrt((kappa - 1) / w.numel())


def test_kurtosis():
    assert S.kurtosis("uniform") == sp.Rational(9, 5)
    assert S.kurtosis("normal") == 3
    assert float(S.kurtosis("truncated_normal", 2)) == pytest.approx(stats.truncnorm(-2, 2).stats("k") + 3, rel=1e-12)


# --- He et al. ------------------------------------------------------------------------------------


def test_relu_moments():
    s = sp.Symbol("sigma", positive=True)
    assert S.relu_second_moment(s) == s**2 / 2
    assert is_zero(S.relu_mean(s) - s / sp.sqrt(2 * sp.pi))
    assert S.relu_slope_second_moment() == sp.Rational(1, 2)
    a = sp.Symbol("a", real=True)
    assert is_zero(S.leaky_relu_second_moment(s, a) - (1 + a**2) * s**2 / 2)
    assert is_zero(S.leaky_relu_slope_second_moment(a) - (1 + a**2) / 2)


def test_he_conditions():
    n = sp.Symbol("n", positive=True)
    assert S.he_forward_condition(n) == sp.Eq(n * V / 2, 1)
    assert S.he_backward_condition(n) == sp.Eq(n * V / 2, 1)
    a = sp.Symbol("a", real=True)
    assert is_zero(S.he_forward_condition(n, a=a).lhs - (1 + a**2) * n * V / 2)


def test_leaky_relu_gain_matches_calculate_gain():
    a = sp.Symbol("a", real=True)
    gain = sp.lambdify(a, S.leaky_relu_gain(a), "math")
    assert is_zero(S.leaky_relu_gain(a) - sp.sqrt(2 / (1 + a**2)))
    assert float(S.leaky_relu_gain(0)) == initlib.calculate_gain("relu")
    assert gain(0.01) == pytest.approx(initlib.calculate_gain("leaky_relu"), rel=1e-15)
    for slope in (0.0, 0.01, 0.2, 0.25, 1.0, math.sqrt(5), -0.3):
        assert gain(slope) == pytest.approx(initlib.calculate_gain("leaky_relu", slope), rel=1e-15)
        assert gain(slope) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", slope), rel=1e-15)


def test_torch_default_steps_is_glorot_eq1_and_torch_draws_it():
    n = sp.Symbol("n", positive=True)
    steps = S.torch_default_steps(n)
    assert steps["slope"] == sp.sqrt(5) and steps["gain"] == 1 / sp.sqrt(3)
    assert is_zero(steps["bound"] - 1 / sp.sqrt(n))
    assert steps["variance"] == 1 / (3 * n) and steps["factor"] == sp.Rational(1, 3)
    # the slope it derives is the one torch's Linear passes; torch's draw has the derived bound and variance
    assert float(steps["slope"]) == math.sqrt(5)
    torch.manual_seed(0)
    layer = torch.nn.Linear(300, 200)
    w = layer.weight.detach().double()
    bound = float(S.torch_default_steps(300)["bound"])
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.99 * bound
    se = float(w.pow(2).std()) / math.sqrt(w.numel())
    assert abs(float(w.pow(2).mean()) - float(S.torch_default_steps(300)["variance"])) < 6 * se
    with pytest.raises(TypeError, match="n must be"):
        S.torch_default_steps(2.5)


def test_backward_variance_ratio_telescopes():
    for depth in (1, 2, 5, 12):
        n = sp.symbols(f"n1:{depth + 2}", positive=True)
        assert S.backward_variance_ratio(n) == n[-1] / n[0]
        assert is_zero(S.backward_variance_ratio(n, a=sp.Symbol("a", real=True)) - n[-1] / n[0])
    product = S.backward_variance_product(sp.symbols("n1:5", positive=True))
    assert len(product.args) == 3  # left unsimplified: three factors n_{l+1}/n_l
    assert S.backward_variance_ratio([64, 128, 256, 128, 512]) == 8
    assert S.backward_variance_ratio([100]) == 1


def test_telescoping_induction():
    proof = S.telescoping_induction()
    assert proof["base_product"] == proof["base_claim"] == 1
    assert is_zero(proof["step_product"] - proof["step_claim"])
    n = sp.IndexedBase("n", positive=True)
    L = sp.Symbol("L", integer=True, positive=True)
    assert proof["factor"] == n[L + 1] / n[L]


def test_telescoping_induction_named_widths():
    proof = S.telescoping_induction("d")
    d = sp.IndexedBase("d", positive=True)
    L = sp.Symbol("L", integer=True, positive=True)
    assert proof["factor"] == d[L + 1] / d[L] and proof["step_claim"] == d[L + 1] / d[1]
    assert is_zero(proof["step_product"] - proof["step_claim"])
    with pytest.raises(ValueError, match="name"):
        S.telescoping_induction("not a name")


# --- the numeric initializers use the derived formulas ------------------------------------------


def _same_draws(filled, reference):
    assert torch.allclose(filled, reference, rtol=1e-12, atol=0)


def _pair(shape, seed=0):
    return (
        torch.empty(shape, dtype=torch.float64),
        torch.empty(shape, dtype=torch.float64),
        torch.Generator().manual_seed(seed),
        torch.Generator().manual_seed(seed),
    )


@pytest.mark.parametrize("shape", [(300, 200), (33, 16, 3, 3)])
def test_xavier_uses_derived_bound_and_std(shape):
    fi, fo = initlib.fan_in_and_fan_out(torch.empty(shape))
    bound = sp.lambdify((n_in, n_out), S.uniform_bound(S.glorot_variance(n_in, n_out)), "math")(fi, fo)
    std = sp.lambdify((n_in, n_out), sp.sqrt(S.glorot_variance(n_in, n_out)), "math")(fi, fo)
    a, b, ga, gb = _pair(shape)
    _same_draws(initlib.xavier_uniform_(a, generator=ga), b.uniform_(-bound, bound, generator=gb))
    a, b, ga, gb = _pair(shape)
    _same_draws(initlib.xavier_normal_(a, generator=ga), b.normal_(0, std, generator=gb))


@pytest.mark.parametrize("slope", [0, 0.01, 0.25])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_uses_derived_gain(slope, mode):
    shape = (128, 64, 3)
    fi, fo = initlib.fan_in_and_fan_out(torch.empty(shape))
    fan = fi if mode == "fan_in" else fo
    condition = (S.he_forward_condition if mode == "fan_in" else S.he_backward_condition)(fan, V, sp.nsimplify(slope))
    (variance,) = sp.solve(condition, V)
    std = math.sqrt(float(variance))
    a, b, ga, gb = _pair(shape)
    _same_draws(initlib.kaiming_normal_(a, a=slope, mode=mode, generator=ga), b.normal_(0, std, generator=gb))
    bound = float(S.uniform_bound(variance))
    a, b, ga, gb = _pair(shape)
    _same_draws(initlib.kaiming_uniform_(a, a=slope, mode=mode, generator=ga), b.uniform_(-bound, bound, generator=gb))


MODE_RULES = {"fan_in": "fan_in", "fan_out": "fan_out", "fan_avg": "harmonic", "fan_geo_avg": "geometric"}


@pytest.mark.parametrize("mode", sorted(MODE_RULES))
@pytest.mark.parametrize("distribution", ["uniform", "normal", "truncated_normal"])
def test_variance_scaling_uses_derived_formulas(mode, distribution):
    shape, scale = (96, 160), 2.0
    fi, fo = initlib.fan_in_and_fan_out(torch.empty(shape))
    variance = scale * S.compromise_variance(n_in, n_out, MODE_RULES[mode])
    var = sp.lambdify((n_in, n_out), variance, "math")(fi, fo)
    a, b, ga, gb = _pair(shape)
    initlib.variance_scaling_(a, scale, mode, distribution, generator=ga)
    if distribution == "uniform":
        bound = sp.lambdify((n_in, n_out), S.uniform_bound(variance), "math")(fi, fo)
        reference = b.uniform_(-bound, bound, generator=gb)
    elif distribution == "normal":
        reference = b.normal_(0, math.sqrt(var), generator=gb)
    else:
        s = math.sqrt(var) / float(S.truncated_normal_std(2))
        reference = initlib.trunc_normal_(b, 0.0, s, -2 * s, 2 * s, generator=gb)
    _same_draws(a, reference)


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,match",
    [
        pytest.param(lambda: S.glorot_variance("300", 200), r"^n_in must be a real number .* got '300'", id="n_in-str"),
        pytest.param(lambda: S.glorot_variance(True, 200), r"^n_in must be a real number .* got True", id="n_in-bool"),
        pytest.param(lambda: S.glorot_variance(300.5, 200), r"^n_in must be a positive integer", id="n_in-float"),
        pytest.param(lambda: S.uniform_bound([1]), r"^variance must be a real number", id="variance-list"),
        pytest.param(lambda: S.backward_variance_ratio("abc"), r"^widths must be a list", id="widths-str"),
        pytest.param(lambda: S.backward_variance_ratio(64), r"^widths must be a list", id="widths-int"),
        pytest.param(lambda: S.forward_variances([3, 4], "v"), r"^variances must be a list", id="variances-str"),
    ],
)
def test_bad_types_raise_type_error(call, match):
    with pytest.raises(TypeError, match=match):
        call()


@pytest.mark.parametrize(
    "call,match",
    [
        pytest.param(lambda: S.glorot_variance(0, 200), r"^n_in must be positive, got 0", id="n_in-0"),
        pytest.param(lambda: S.glorot_variance(-3, 200), r"^n_in must be positive, got -3", id="n_in-negative"),
        pytest.param(lambda: S.uniform_bound(-1), r"^variance must be positive", id="variance-negative"),
        pytest.param(lambda: S.uniform_bound(float("nan")), r"^variance must be a finite real", id="variance-nan"),
        pytest.param(lambda: S.uniform_bound(sp.oo), r"^variance must be a finite real", id="variance-oo"),
        pytest.param(lambda: S.uniform_bound(sp.I), r"^variance must be a finite real", id="variance-I"),
        pytest.param(lambda: S.truncated_normal_std(0), r"^k must be positive", id="k-0"),
        pytest.param(
            lambda: S.relu_second_moment(sp.Symbol("s", negative=True)),
            r"^sigma must be positive",
            id="sigma-negative-symbol",
        ),
        pytest.param(lambda: S.compromise_variance(3, 4, "median"), r"^rule must be one of 'fan_in'", id="rule"),
        pytest.param(
            lambda: S.variance_from_factor_mean(3, 4, "quadratic"), r"^mean must be one of 'harmonic'", id="mean"
        ),
        pytest.param(lambda: S.kurtosis("cauchy"), r"^law must be one of 'uniform'", id="law"),
        pytest.param(lambda: S.linear_regime("relu"), r"^activation must be one of 'tanh'", id="activation"),
        pytest.param(lambda: S.backward_variance_ratio([]), r"^widths must hold at least 1", id="widths-empty"),
        pytest.param(
            lambda: S.forward_variances([3, 4, 5], [1]),
            r"^variances must hold one weight variance per layer",
            id="variances-count",
        ),
        pytest.param(lambda: S.leaky_relu_gain(float("inf")), r"^a must be a finite real", id="a-inf"),
    ],
)
def test_bad_values_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_error_names_the_parameter():
    with pytest.raises(ValueError, match="n_out"):
        S.glorot_variance(3, -1)
    with pytest.raises(ValueError, match="rule must be one of 'fan_in'"):
        S.compromise_variance(3, 4, "median")
