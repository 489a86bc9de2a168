"""initlib.theory: the Gaussian moments, the layer-by-layer products, the schemes' variances."""

import math

import pytest
import torch
from scipy import integrate, special

import initlib
from initlib import activations, theory


def _gauss(g, q):
    """E[g(s)], s ~ N(0, q), by adaptive quadrature (an independent route from Gauss-Hermite)."""
    sd = math.sqrt(q)
    value, _ = integrate.quad(
        lambda z: g(sd * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), -12, 12, points=[0.0], limit=200
    )
    return value


def _selu(x):
    return activations.SELU_SCALE * (x if x > 0 else activations.SELU_ALPHA * math.expm1(x))


def _selu_prime(x):
    return activations.SELU_SCALE * (1.0 if x > 0 else activations.SELU_ALPHA * math.exp(x))


@pytest.mark.parametrize("q", [0.01, 0.5, 1.0, 3.0, 20.0])
def test_closed_forms_match_quadrature(q):
    assert theory.second_moment("relu", q) == pytest.approx(_gauss(lambda s: max(s, 0) ** 2, q), rel=1e-7)
    a = 0.2
    assert theory.second_moment("leaky_relu", q, negative_slope=a) == pytest.approx(
        _gauss(lambda s: (s if s > 0 else a * s) ** 2, q), rel=1e-7
    )
    assert theory.derivative_moment("leaky_relu", q, negative_slope=a) == pytest.approx((1 + a * a) / 2)
    assert theory.second_moment("selu", q) == pytest.approx(_gauss(lambda s: _selu(s) ** 2, q), rel=1e-7)
    assert theory.derivative_moment("selu", q) == pytest.approx(_gauss(lambda s: _selu_prime(s) ** 2, q), rel=1e-7)
    assert theory.second_moment("linear", q) == q and theory.derivative_moment("linear", q) == 1.0


def test_selu_fixed_point():
    # Klambauer et al.'s constants are chosen so that Var[s] = 1 maps to E[selu(s)^2] = 1.
    assert theory.second_moment("selu", 1.0) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(
    "activation, f", [("tanh", math.tanh), ("softsign", lambda s: s / (1 + abs(s))), ("sigmoid", special.expit)]
)
@pytest.mark.parametrize("q", [0.05, 1.0, 10.0])
def test_mean_field_matches_quadrature(activation, f, q):
    h = 1e-6
    fp = lambda s: (f(s + h) - f(s - h)) / (2 * h)  # noqa: E731
    assert theory.second_moment(activation, q, "mean_field") == pytest.approx(_gauss(lambda s: f(s) ** 2, q), rel=1e-6)
    assert theory.derivative_moment(activation, q, "mean_field") == pytest.approx(
        _gauss(lambda s: fp(s) ** 2, q), rel=1e-5
    )


def test_linear_regime_is_the_papers():
    assert theory.second_moment("tanh", 0.3) == 0.3 and theory.derivative_moment("tanh", 0.3) == 1.0
    assert theory.second_moment("sigmoid", 1.0) == pytest.approx(0.25 + 1 / 16)
    assert theory.derivative_moment("sigmoid", 5.0) == 1 / 16
    # the linear regime is good for small q, and poor for sigmoid's derivative at any q
    assert theory.second_moment("tanh", 0.01, "mean_field") == pytest.approx(0.01, rel=0.05)
    assert theory.derivative_moment("sigmoid", 1.0, "mean_field") < 0.8 / 16


def test_predict_relu_he_flat_and_xavier_halving():
    widths = [300] * 11
    pre, grad = theory.predict(widths, [2 / 300] * 10, "relu")
    assert pre == pytest.approx([2.0] * 10) and grad == pytest.approx([0.5] * 10)
    pre, _ = theory.predict(widths, [1 / 300] * 10, "relu")
    assert pre == pytest.approx([2.0**-l for l in range(10)])


def test_predict_glorot_standard_shrinks_by_a_third():
    # Glorot & Bengio eq. (1): n Var[W] = 1/3 per layer, in the linear regime (eq. 15)
    pre, grad = theory.predict([500] * 6, [1 / 1500] * 5, "tanh")
    assert pre == pytest.approx([3.0 ** -(l + 1) for l in range(5)])
    assert grad == pytest.approx([3.0 ** -(4 - l) for l in range(5)])


def test_predict_telescopes_on_a_pyramid():
    # He et al.: with the forward condition (10) the backward product is n_L / n_1, whatever the depth
    widths = [64, 800, 400, 200, 100, 50]
    pre, grad = theory.predict(widths, [2 / n for n in widths[:-1]], "relu")
    assert pre == pytest.approx([2.0] * 5)
    assert grad[0] / grad[-1] == pytest.approx(widths[-1] / widths[1])


def test_weight_grad_vars_equal_across_layers_with_glorot():
    # Glorot & Bengio eq. (14): with the compromise and equal widths (linear regime), the same per layer
    widths = [200] * 6
    pre, grad = theory.predict(widths, [2 / 400] * 5, "tanh")
    wg = theory.weight_grad_vars(widths, pre, grad, "tanh", batch=10)
    assert wg == pytest.approx([wg[0]] * 5) and wg[0] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("xavier_uniform", {}),
        ("xavier_normal", {"gain": 2.0}),
        ("kaiming_normal", {}),
        ("kaiming_uniform", {"mode": "fan_out", "nonlinearity": "tanh"}),
        ("lecun_uniform", {}),
        ("lecun_normal", {}),
        ("standard_uniform", {}),
        ("pytorch_default", {}),
        ("orthogonal", {}),
        ("normal", {"std": 0.05}),
        ("uniform", {"a": -0.1, "b": 0.1}),
        ("trunc_normal", {"std": 0.1, "a": -0.15, "b": 0.15}),
        ("variance_scaling", {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}),
    ],
)
def test_init_variance_matches_drawn_weights(name, kwargs):
    w = initlib.get_scheme(name)(
        torch.empty(300, 500, dtype=torch.float64), generator=torch.Generator().manual_seed(1), **kwargs
    )
    predicted = theory.init_variance(name, 500, 300, **kwargs)
    # 150,000 entries: the sample second moment has relative sd sqrt(Var[W^2])/E[W^2]/sqrt(N) <= sqrt(2/N)
    # (normal laws; orthogonal and uniform are tighter) = 0.0037; 6 sd is 2.2%.
    assert float(w.square().mean()) == pytest.approx(predicted, rel=0.022)


def test_init_variance_nonzero_mean_and_unknown():
    assert math.isnan(theory.init_variance("uniform", 10, 10))
    assert math.isnan(theory.init_variance("ones", 10, 10))
    with pytest.raises(KeyError):
        theory.init_variance("my_scheme", 10, 10)


@pytest.mark.parametrize(
    "activation, slope",
    [
        ("linear", None),
        ("relu", None),
        ("leaky_relu", 0.25),
        ("tanh", None),
        ("sigmoid", None),
        ("softsign", None),
        ("selu", None),
    ],
)
def test_unit_kurtosis_matches_quadrature(activation, slope):
    f = {
        "linear": lambda x: x,
        "relu": lambda x: max(x, 0.0),
        "leaky_relu": lambda x: x if x > 0 else 0.25 * x,
        "tanh": math.tanh,
        "sigmoid": special.expit,
        "softsign": lambda x: x / (1 + abs(x)),
        "selu": _selu,
    }[activation]
    second, fourth = _gauss(lambda x: f(x) ** 2, 1.0), _gauss(lambda x: f(x) ** 4, 1.0)
    assert theory.unit_kurtosis(activation, slope) == pytest.approx(fourth / second**2 - 1, rel=1e-7)


def test_log_variance_wander_is_a_random_walk_over_fan_ins():
    assert theory.unit_kurtosis("relu") == 5.0 and theory.unit_kurtosis("leaky_relu", 1.0) == 2.0
    assert theory.log_variance_wander([256] * 51, "relu") == pytest.approx(math.sqrt(5 * 50 / 256))
    assert theory.log_variance_wander([100, 400, 10], "linear") == pytest.approx(math.sqrt(2 * (1 / 100 + 1 / 400)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: theory.second_moment("gelu", 1.0), "activation"),
        (lambda: theory.second_moment("relu", 1.0, method="exact"), "method"),
        (lambda: theory.second_moment("relu", -1.0), "q"),
        (lambda: theory.second_moment("relu", 1.0, negative_slope=0.1), "negative_slope"),
        (lambda: theory.derivative_moment("leaky_relu", 1.0, negative_slope=-0.5), "negative_slope"),
        (lambda: theory.predict([10], [], "relu"), "widths"),
        (lambda: theory.log_variance_wander([10], "relu"), "widths"),
        (lambda: theory.unit_kurtosis("gelu"), "activation"),
        (lambda: theory.predict([10, 0], [1.0], "relu"), "widths"),
        (lambda: theory.predict([10, 10, 10], [1.0], "relu"), "weight_vars"),
        (lambda: theory.predict([10, 10], [-1.0], "relu"), "weight_vars"),
        (lambda: theory.predict([10, 10], [1.0], "relu", input_var=0), "input_var"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
