"""residual_init_: each rule does what its paper says, measured on the residual stream."""

import math

import pytest
import torch
from torch import nn

import initlib
from initlib.course.demos import ResidualBlock
from initlib.laws.residual import residual_init_


def _stream(n_blocks, width=256, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(*[ResidualBlock(width) for _ in range(n_blocks)])


def _stream_var_ratio(model, width=256, batch=512):
    x = torch.randn(batch, width, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return float(model(x).var() / x.var())


def test_fixup_zeroes_the_last_layer_and_scales_the_inner_ones():
    net = _stream(16)
    report = residual_init_([b.branch for b in net], "fixup", generator=torch.Generator().manual_seed(0))
    assert report == {
        "rule": "fixup",
        "branches": 16,
        "layers_per_branch": 2,
        "inner_scale": 0.25,
        "last_scale": 0.0,
        "shortcuts": 0,
        "norm_scaled": 0,
    }
    inner = torch.cat([b.branch[0].weight.detach().flatten() for b in net])
    assert abs(float(inner.var()) * 256 / 2 / 0.25**2 - 1) < 0.02  # He's 2/n times N^(-1/(2m-2)) squared
    assert all(float(b.branch[2].weight.detach().abs().sum()) == 0 for b in net)
    assert all(float(b.branch[0].bias.detach().abs().sum()) == 0 for b in net)
    assert _stream_var_ratio(net) == pytest.approx(1.0, abs=1e-12)  # every block is the identity at init


def test_fixup_exponent_for_bottleneck_branches():
    branches = [
        nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4)) for _ in range(81)
    ]
    assert residual_init_(branches, "fixup")["inner_scale"] == pytest.approx(81**-0.25)


def test_plain_stream_explodes_and_the_scaled_one_grows_only_to_e_to_the_c():
    n = 32
    plain = _stream(n)
    initlib.init_module(plain, "kaiming_normal")
    scaled = _stream(n)
    residual_init_([b.branch for b in scaled], "scaled")
    # each He branch adds 2 Var[x]: plain (1 + 2)^N, scaled (1 + 2/N)^N -> e^2
    assert math.log(_stream_var_ratio(plain)) == pytest.approx(n * math.log(3), rel=0.1)
    assert _stream_var_ratio(scaled) == pytest.approx((1 + 2 / n) ** n, rel=0.15)


def test_zero_last_draws_the_inner_layers_with_the_scheme():
    net = _stream(4, width=128)
    residual_init_([b.branch for b in net], "zero_last", "xavier_uniform", gain=2.0)
    w = net[0].branch[0].weight
    assert float(w.detach().abs().max()) <= 2.0 * math.sqrt(6 / 256) + 1e-7
    assert float(net[3].branch[2].weight.detach().abs().sum()) == 0


@pytest.mark.parametrize(
    "branches, rule, error, message",
    [
        ([], "fixup", ValueError, "non-empty list"),
        (nn.Linear(3, 3), "fixup", ValueError, "non-empty list"),
        ([nn.ReLU()], "fixup", ValueError, r"branches\[0\] \(ReLU\) has no Linear or Conv"),
        (["x"], "fixup", TypeError, r"branches\[0\] must be a torch.nn.Module"),
        ([nn.Linear(3, 3)], "rezero", ValueError, "rule must be one of 'fixup', 'scaled', 'zero_last'"),
    ],
)
def test_bad_input_is_a_clear_error(branches, rule, error, message):
    with pytest.raises(error, match=message):
        residual_init_(branches, rule)


def test_a_failure_leaves_every_branch_unchanged():
    branches = [nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)), nn.Sequential(nn.Conv1d(2, 2, 3), nn.Linear(4, 4))]
    before = [p.detach().clone() for b in branches for p in b.parameters()]
    calls = []

    def fails_on_the_third_layer(weight):
        calls.append(weight.shape)
        if len(calls) == 3:
            raise ValueError("third layer refused")
        return weight.normal_()

    with pytest.raises(ValueError, match="third layer refused"):
        residual_init_(branches, "scaled", fails_on_the_third_layer)
    assert all(torch.equal(a, p) for a, p in zip(before, (p for b in branches for p in b.parameters())))
