"""The activation registry: every field of an Activation agrees with the others and with torch."""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch
from scipy import integrate

from initlib import activations
from initlib.laws.activations import ACTIVATIONS, NAMES
from initlib.theory import symbolic

SLOPE = {"leaky_relu": 0.2}
GRID = torch.linspace(-6, 6, 2001, dtype=torch.float64)


def gaussian(g, q):
    sd = math.sqrt(q)
    return integrate.quad(
        lambda z: g(sd * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), -12, 12, points=[0.0], limit=200
    )[0]


@pytest.mark.parametrize("name", NAMES)
def test_function_module_scalar_and_symbolic_agree(name):
    act, a = ACTIVATIONS[name], SLOPE.get(name, 0.0)
    h = act.function(GRID, a)
    assert torch.allclose(act.module(a).double()(GRID), h, atol=1e-12)
    assert torch.allclose(torch.tensor([act.scalar(float(x), a) for x in GRID], dtype=torch.float64), h, atol=1e-12)
    y = sp.Symbol("y", real=True)
    f = sp.lambdify(y, act.symbolic(y, a), "math")
    assert all(math.isclose(f(float(x)), float(v), abs_tol=1e-12) for x, v in zip(GRID[::50], h[::50]))


@pytest.mark.parametrize("name", NAMES)
def test_derivative_from_h_matches_autograd(name):
    act, a = ACTIVATIONS[name], SLOPE.get(name, 0.0)
    s = GRID[GRID != 0].clone().requires_grad_()  # the kinks at 0 have no derivative
    h = act.function(s, a)
    (autograd,) = torch.autograd.grad(h.sum(), s)
    from_h = act.derivative(h.detach(), a)
    assert torch.allclose(torch.ones_like(autograd) if from_h is None else from_h, autograd, atol=1e-9)
    scalar = torch.tensor([act.scalar_derivative(float(x), a) for x in s.detach()], dtype=torch.float64)
    assert torch.allclose(scalar, autograd, atol=1e-12)
    assert act.sup_derivative(a) == pytest.approx(float(autograd.abs().max()), rel=1e-3)


# Only the smooth squashing functions (those with a linear regime at 0: tanh, sigmoid, softsign) lack
# closed-form moments; every other activation has them.
CLOSED_FORM = [n for n in NAMES if ACTIVATIONS[n].linear_regime is None]


@pytest.mark.parametrize("name", CLOSED_FORM)
@pytest.mark.parametrize("q", [0.3, 1.0, 4.0])
def test_closed_form_moments_match_quadrature(name, q):
    act, a = ACTIVATIONS[name], SLOPE.get(name, 0.0)
    closed = act.moments(q, a)
    assert closed is not None, f"{name} has no linear regime, so it needs closed-form moments"
    assert closed[0] == pytest.approx(gaussian(lambda x: act.scalar(x, a) ** 2, q), rel=1e-7)
    assert closed[1] == pytest.approx(gaussian(lambda x: act.scalar_derivative(x, a) ** 2, q), rel=1e-7)


@pytest.mark.parametrize("name", [n for n in NAMES if ACTIVATIONS[n].linear_regime is not None])
def test_linear_regime_is_f_and_f_prime_at_zero(name):
    f0, slope0 = ACTIVATIONS[name].linear_regime
    assert (f0, slope0) == tuple(float(v) for v in symbolic.linear_regime(name))
    assert ACTIVATIONS[name].scalar(0.0, 0.0) == f0 and ACTIVATIONS[name].scalar_derivative(0.0, 0.0) == slope0


def test_slope_and_errors():
    assert activations.slope("leaky_relu") == activations.DEFAULT_NEGATIVE_SLOPE == torch.nn.LeakyReLU().negative_slope
    with pytest.raises(ValueError, match="only applies to activation='leaky_relu'"):
        activations.slope("relu", 0.1)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        activations.slope("leaky_relu", -0.5)
    with pytest.raises(ValueError, match="activation must be one of"):
        activations.get("gelu")


@pytest.mark.parametrize("name", NAMES)
def test_output_range_is_the_closure_of_f_s_image(name):
    """output_range is (f(-inf), f(+inf)) where both limits are finite, else None; f stays inside it."""
    act, a = ACTIVATIONS[name], SLOPE.get(name, 0.0)
    low, high = act.function(torch.tensor([-1e12, 1e12], dtype=torch.float64), a).tolist()
    if max(abs(low), abs(high)) > 1e6:  # unbounded on at least one side (ReLU, SELU above, linear)
        assert act.output_range is None
    else:
        assert act.output_range == pytest.approx((low, high), abs=1e-11)
        h = act.function(torch.linspace(-60, 60, 24001, dtype=torch.float64), a)
        assert bool(((h >= act.output_range[0]) & (h <= act.output_range[1])).all())
