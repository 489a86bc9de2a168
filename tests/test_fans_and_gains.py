"""Fans follow torch's (out, in, *kernel) layout; gains are torch's, and the derived ones are derived."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import initlib
from initlib.laws import fans
from initlib.laws.fans import fans_of_shape


@pytest.mark.parametrize("shape", [(3, 2), (33, 16, 3, 3), (8, 4, 5), (2, 3, 1, 2, 3), (1, 1), (300, 200)])
def test_fans_equal_torchs(shape):
    t = torch.empty(shape)
    assert initlib.fan_in_and_fan_out(t) == nn.init._calculate_fan_in_and_fan_out(t)


def test_documented_example():
    assert initlib.fan_in_and_fan_out(torch.empty(33, 16, 3, 3)) == (144, 297)


def test_layers_report_the_fans_their_shapes_mean():
    assert initlib.fan_in_and_fan_out(nn.Linear(300, 200).weight) == (300, 200)
    assert initlib.fan_in_and_fan_out(nn.Conv2d(16, 33, 3).weight) == (16 * 9, 33 * 9)


@pytest.mark.parametrize(
    "mode,expected", [("fan_in", 144), ("fan_out", 297), ("fan_avg", 220.5), ("fan_geo_avg", math.sqrt(144 * 297))]
)
def test_variance_scaling_modes(mode, expected):
    from initlib.laws.fans import _fan

    assert _fan(torch.empty(33, 16, 3, 3), mode) == pytest.approx(expected)


def test_leaky_relu_gain_keeps_the_second_moment():
    # For y ~ N(0, 1), E[leaky(y)^2] = (1 + a^2) / 2; the gain squared undoes exactly that.
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2_000_000, generator=g, dtype=torch.float64)
    for a in (0.0, 0.01, 0.25, 1.0):
        second = float(torch.nn.functional.leaky_relu(y, a).pow(2).mean())
        assert second * initlib.calculate_gain("leaky_relu", a) ** 2 == pytest.approx(
            1.0, abs=6 * math.sqrt(2 / 2e6) * 2
        )


def test_nn_linear_default_is_glorots_standard_init():
    # PyTorch's default Linear init has gain sqrt(2 / (1 + 5)): Var = 1 / (3 fan_in), Glorot & Bengio eq. (1).
    gain = initlib.calculate_gain("leaky_relu", math.sqrt(5))
    assert gain**2 == pytest.approx(1 / 3)


def test_use_fans_applies_to_that_tensor_only_and_ends_with_the_block():
    w, other = torch.empty(64, 1, 3, 3), torch.empty(64, 1, 3, 3)
    with pytest.raises(RuntimeError, match="inside"):
        with initlib.use_fans(w, (9, 9)):
            assert initlib.fan_in_and_fan_out(w) == (9, 9)
            assert initlib.fan_in_and_fan_out(other) == (9, 576)
            assert initlib.kaiming_normal_(w, generator=torch.Generator().manual_seed(0)) is w
            raise RuntimeError("inside")
    assert initlib.fan_in_and_fan_out(w) == (9, 576)
    assert float(w.pow(2).mean()) == pytest.approx(2 / 9, rel=0.25)  # 576 weights drawn with fan_in 9


@pytest.mark.parametrize("slope", [1e154, 1e200, -1e300])
def test_leaky_relu_gain_of_a_huge_slope_is_its_limit(slope):
    # 1 + slope^2 overflows a float past ~1e154; the gain is then sqrt(2) / |slope| to float precision
    assert initlib.calculate_gain("leaky_relu", slope) == pytest.approx(math.sqrt(2) / abs(slope), rel=1e-12)


def test_the_leaky_slope_has_one_home(monkeypatch):
    """calculate_gain's default slope is the activation registry's, torch.nn.LeakyReLU's 0.01."""
    from initlib import activations
    from initlib.laws import gains

    assert activations.DEFAULT_NEGATIVE_SLOPE == nn.LeakyReLU().negative_slope
    assert gains.calculate_gain("leaky_relu") == nn.init.calculate_gain("leaky_relu", 0.01)
    monkeypatch.setattr(activations, "DEFAULT_NEGATIVE_SLOPE", 0.2)
    assert gains.calculate_gain("leaky_relu") == gains.calculate_gain("leaky_relu", 0.2)
    assert activations.slope("leaky_relu") == 0.2


# Shapes from 2 to 5 dimensions, zero sizes included: on the meta device nothing is allocated.
SHAPES = [
    (out, inp, *kernel)
    for out in (0, 1, 3, 64)
    for inp in (0, 1, 5, 300)
    for kernel in [(), (1,), (3,), (0, 3), (3, 3), (2, 3, 4), (7, 1, 1)]
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fans_of_shape_equal_torchs(shape):
    torchs = nn.init._calculate_fan_in_and_fan_out(torch.empty(shape, device="meta"))
    assert fans_of_shape(shape) == torchs
    assert fans_of_shape(list(shape)) == torchs
    assert fans_of_shape(torch.Size(shape)) == torchs
    assert all(type(n) is int for n in fans_of_shape(shape))


def test_fan_in_and_fan_out_reads_the_shape_through_fans_of_shape(monkeypatch):
    # one home for the rule: changing fans_of_shape changes what every tensor reports
    monkeypatch.setattr(initlib.laws.fans, "fans_of_shape", lambda shape: (-1, -2))
    assert initlib.laws.fans.fan_in_and_fan_out(torch.empty(3, 4)) == (-1, -2)


def test_fans_of_shape_takes_numpy_integers():
    assert fans_of_shape((np.int64(4), np.int32(3), np.int64(2))) == (6, 8)


@pytest.mark.parametrize(
    "shape,error,words",
    [
        ((10,), ValueError, "at least 2 dimensions"),
        ((), ValueError, "at least 2 dimensions"),
        ((3, -1), ValueError, "sizes >= 0, got -1"),
        ((3, 2.0), TypeError, "integers"),
        ((3, True), TypeError, "integers"),
        (12, TypeError, "sequence of ints"),
        ("34", TypeError, "sequence of ints"),
        (None, TypeError, "sequence of ints"),
    ],
)
def test_fans_of_shape_refuses_bad_shapes_naming_the_parameter(shape, error, words):
    with pytest.raises(error, match="^shape ") as caught:
        fans_of_shape(shape)
    assert words in str(caught.value)


@pytest.mark.parametrize("fan_in, fan_out", [(1, 1), (300, 200), (144, 297), (7.5, 2)])
def test_fan_on_plain_numbers_is_the_tensor_rule(fan_in, fan_out):
    expected = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
    expected["fan_geo_avg"] = math.sqrt(fan_in * fan_out)
    assert {mode: fans.fan(fan_in, fan_out, mode) for mode in fans.FAN_MODES} == pytest.approx(expected, rel=1e-15)
    if float(fan_in).is_integer():
        w = torch.empty(int(fan_out), int(fan_in))
        assert all(fans._fan(w, mode) == fans.fan(fan_in, fan_out, mode) for mode in fans.FAN_MODES)


def test_fan_names_the_modes_on_bad_input():
    with pytest.raises(ValueError, match="mode must be one of"):
        fans.fan(3, 4, "fan_sum")
