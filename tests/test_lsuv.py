"""lsuv_: Mishkin & Matas's Algorithm 1, measured with probe, atomic on error, and against the
PyPI ``lsuv`` package on the same models."""

import copy
import math

import lsuv
import pytest
import torch
from torch import nn

import initlib
from initlib.course import demos


def _mlp(depth=8, width=64, act=nn.Tanh, bias=True, seed=0):
    torch.manual_seed(seed)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width, bias=bias), act()]
    return nn.Sequential(*layers, nn.Linear(width, 10, bias=bias))


def _x(shape=(256, 64), seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(model, state):
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def _out_vars(model, x):
    """Each weight layer's output variance, measured independently by probe."""
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    rows = initlib.probe(model, x, at=names).rows
    return {row["name"]: row["out_var"] for row in rows}


@pytest.mark.parametrize("act", [nn.Tanh, nn.ReLU])
def test_every_layer_ends_at_unit_variance_within_tol(act):
    model, x = _mlp(act=act), _x()
    report = initlib.lsuv_(model, x)
    assert all(report.column("converged")) and len(report) == 9
    assert all(0 <= it <= 10 for it in report.column("iterations")) and sum(report.column("iterations")) > 0
    measured = _out_vars(model, x)
    for row in report.rows:
        assert abs(measured[row["name"]] - 1) < 0.1
        assert measured[row["name"]] == pytest.approx(row["var"], rel=1e-5)


def test_a_cnn_with_batchnorm_and_a_depthwise_conv():
    model, _ = demos.build("cnn")
    x = _x((64, 3, 16, 16))
    running = model[1].running_var.clone()
    report = initlib.lsuv_(model, x, tol=0.05)
    assert report.column("type") == ["Conv2d"] * 4 + ["Linear"] and all(report.column("converged"))
    assert all(abs(v - 1) < 0.05 for v in _out_vars(model, x).values())
    assert torch.equal(model[1].running_var, running) and model.training  # buffers and mode kept


def test_orthonormal_pre_init_then_one_scale_per_layer():
    model, x = _mlp(bias=False), _x()
    report = initlib.lsuv_(model, x, tol=1e-4)
    for row in report.rows[:-1]:  # the square hidden layers: W W^T = c^2 I
        w = model.get_submodule(row["name"]).weight.detach().double()
        gram = w @ w.T
        c2 = float(gram.diagonal().mean())
        assert torch.allclose(gram, c2 * torch.eye(64, dtype=torch.float64), atol=1e-4 * c2)
    # without biases the output is linear in W: one division by sqrt(Var) lands on 1 at once
    assert set(report.column("iterations")) == {1}
    assert all(abs(v - 1) < 1e-4 for v in report.column("var"))


def test_orthonormal_zeroes_the_biases_and_false_keeps_the_draw():
    model, x = _mlp(depth=3), _x()
    initlib.lsuv_(model, x)
    assert all(float(m.bias.detach().abs().sum()) == 0 for m in model if isinstance(m, nn.Linear))
    model = _mlp(depth=3)
    w = model[0].weight.detach().clone()
    initlib.lsuv_(model, x, orthonormal=False)
    ratio = model[0].weight.detach() / w  # only a scale
    assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-5)


class Reversed(nn.Module):
    """Registers its layers in the reverse of the order its forward calls them."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.top = nn.Linear(64, 10)
        self.middle = nn.Linear(64, 64)
        self.bottom = nn.Linear(64, 64)

    def forward(self, x):
        return self.top(self.middle(self.bottom(x)))


def test_layers_are_taken_in_forward_order_not_registration_order():
    model, x = Reversed(), 3 * _x()
    report = initlib.lsuv_(model, x)
    assert report.column("name") == ["bottom", "middle", "top"]
    assert all(abs(v - 1) < 0.1 for v in _out_vars(model, x).values())
    # the package walks the registration order: it scales "top" first, then changes its input
    peer = lsuv.lsuv_with_singlebatch(Reversed(), x, verbose=False)
    # (top to 1, then middle from 9 to 1 puts top at 1/9, then bottom puts it at 1/81)
    assert _out_vars(peer, x)["top"] < 0.81 / 9  # far outside even its own std tolerance


def test_a_layer_that_cannot_reach_one_stops_at_max_iter():
    model, x = _mlp(depth=1), _x()
    with torch.no_grad():
        model[0].bias.copy_(3 * torch.randn(64, generator=torch.Generator().manual_seed(2)))
    report = initlib.lsuv_(model, x, max_iter=4, orthonormal=False)
    first = report.rows[0]  # the spread of its bias alone has variance ~9
    assert first["iterations"] == 4 and not first["converged"] and first["var"] > 2
    assert report.rows[1]["converged"]


def test_layers_the_forward_never_calls_are_reported_and_left_alone():
    mha = nn.MultiheadAttention(16, 2, batch_first=True)  # its out_proj is applied functionally

    class Attend(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha, self.head = mha, nn.Linear(16, 3)

        def forward(self, x):
            return self.head(self.mha(x, x, x)[0])

    model = Attend()
    before = mha.out_proj.weight.detach().clone()
    with pytest.warns(UserWarning, match=r"left 1 module\(s\) with weights as they were: mha \(MultiheadAttention\)"):
        report = initlib.lsuv_(model, _x((8, 5, 16)))
    assert report.column("name") == ["head"] and report.not_called == ["mha.out_proj"]
    assert torch.equal(mha.out_proj.weight, before)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tol": 0.0}, "tol must be positive"),
        ({"tol": float("nan")}, "tol must be finite"),
        ({"max_iter": 0}, "max_iter must be an integer >= 1"),
        ({"max_iter": 2.5}, "max_iter must be an integer >= 1"),
        ({"inputs": _x((256, 63))}, "lsuv_: inputs: module '0' (Linear) failed on input of shape (256, 63)"),
    ],
)
def test_bad_arguments_name_the_parameter_and_change_nothing(kwargs, message):
    model = _mlp(depth=3)
    state = _state(model)
    args = {"inputs": _x()} | kwargs
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        initlib.lsuv_(model, **args)
    assert _same(model, state)


def test_no_weight_layer_and_bad_types():
    with pytest.raises(ValueError, match="no weight layer"):
        initlib.lsuv_(nn.Sequential(nn.ReLU()), _x())
    with pytest.raises(TypeError, match="inputs must be a tensor"):
        initlib.lsuv_(_mlp(depth=1), [1, 2])
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        initlib.lsuv_("mlp", _x())


def test_a_dead_layer_mid_way_restores_the_layers_already_scaled():
    model = _mlp(depth=2, act=nn.ReLU)
    with torch.no_grad():
        model[2].bias.fill_(-1e4)  # every unit of layer 2 dead: layer 4 outputs its (zero-spread) bias
        model[4].bias.zero_()
    state = _state(model)
    with pytest.raises(ValueError, match=r"layer '4' \(Linear\) has output variance 0"):
        initlib.lsuv_(model, _x(), orthonormal=False)
    assert _same(model, state)


def test_matches_the_lsuv_package_where_the_two_agree():
    # same start, no orthonormal draw, tolerances tight enough that std and variance agree,
    # no biases (one rescaling per layer is exact): both land on the same weights
    ours, x = _mlp(act=nn.ReLU, bias=False), _x()
    peer = copy.deepcopy(ours)
    initlib.lsuv_(ours, x, tol=1e-6, max_iter=20, orthonormal=False)
    lsuv.lsuv_with_singlebatch(peer, x, std_tol=1e-6, max_attempts=20, do_orthonorm=False, verbose=False)
    for a, b in zip(ours.parameters(), peer.parameters()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-6)


def test_default_tolerances_variance_here_std_there():
    x = _x()
    ours, peer = _mlp(act=nn.ReLU), _mlp(act=nn.ReLU)
    initlib.lsuv_(ours, x)
    lsuv.lsuv_with_singlebatch(peer, x, verbose=False)
    assert all(abs(v - 1) < 0.1 for v in _out_vars(ours, x).values())
    # |std - 1| < 0.1 is a variance in (0.81, 1.21)
    assert all(0.81 < v < 1.21 for v in _out_vars(peer, x).values())
    assert math.isclose((1 - 0.1) ** 2, 0.81) and math.isclose((1 + 0.1) ** 2, 1.21)


def test_the_package_puts_later_rescalings_on_the_first_layer():
    # lsuv 0.3.0 does not reset its layer counter between the rescalings of one layer: from
    # the second rescaling of layer k > 0 on, the factor lands on the first layer instead.
    # With biases, layers need several rescalings; the first layer's variance then drifts.
    x = _x()
    ours, peer = _mlp(act=nn.ReLU), _mlp(act=nn.ReLU)
    initlib.lsuv_(ours, x, tol=1e-6, max_iter=20, orthonormal=False)
    lsuv.lsuv_with_singlebatch(peer, x, std_tol=1e-6, max_attempts=20, do_orthonorm=False, verbose=False)
    assert all(abs(v - 1) < 1e-5 for v in _out_vars(ours, x).values())
    drifted = _out_vars(peer, x)
    assert abs(drifted["0"] - 1) > 0.1 and abs(drifted["16"] - 1) < 0.01  # the last layer it checked


def test_forward_rows_can_stop_at_the_measured_layer():
    from initlib.measure.probe import Site, forward_rows

    model, calls = _mlp(depth=2), []
    model[4].register_forward_hook(lambda m, a, o: calls.append("above"))
    site = Site("2", model[2], lambda y: {"n": y.shape[1]}, None)
    assert forward_rows(model, (_x(),), [site], stop=True) == [{"name": "2", "type": "Linear", "n": 64}]
    assert calls == []
    forward_rows(model, (_x(),), [site])
    assert calls == ["above"]
