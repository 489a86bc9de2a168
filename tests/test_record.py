"""The run specifications (initlib.MLP, initlib.Histograms) and the one result interface (initlib.Record)."""

import dataclasses
import inspect
import json
import math

import pytest
import torch
from torch import nn

import initlib
from initlib import width
from initlib.course import demos
from initlib.measure.record import Record, json_ready

# --- every result honours the Record contract ------------------------------------------------------


def _easy():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 6, generator=g)
    y = (x[:, 0] > 0).long()
    return x, y, x, y


def _propagation():
    return initlib.propagate(initlib.MLP([6, 8, 4], "tanh", "xavier_normal"), batch=8, device="cpu"), "pre_var"


def _probe():
    model, x = demos.build("mlp", {"width": 8, "depth": 2})
    return initlib.probe(model, x), "out_var"


def _lsuv():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4))
    return initlib.lsuv_(model, torch.randn(32, 6)), "var"


def _train():
    net = initlib.MLP([6, 8, 2], "tanh", "xavier_uniform")
    return initlib.train(net, _easy(), steps=4, record_every=2, device="cpu"), "test_error"


def _audit():
    return initlib.audit(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))), "std"


RESULTS = {
    "Propagation": _propagation,
    "ProbeResult": _probe,
    "LSUVReport": _lsuv,
    "TrainResult": _train,
    "Audit": _audit,
}


@pytest.mark.parametrize("kind", RESULTS)
def test_every_result_honours_the_record_contract(kind):
    result, name = RESULTS[kind]()
    assert isinstance(result, Record) and type(result).__name__ == kind
    columns = result.columns()
    assert name in columns and all(isinstance(c, str) for c in columns)
    column = result.column(name)
    assert isinstance(column, list) and len(column) >= 2
    for other in columns:  # every column it names, it gives: one entry per row
        assert len(result.column(other)) == len(column)
    with pytest.raises(ValueError, match=f"name must be one of {columns[0]!r}"):
        result.column("no such column")
    data = result.to_dict()
    assert isinstance(data, dict)
    text = json.dumps(data, allow_nan=False)  # JSON-ready: no inf/NaN, no tensors
    assert json.loads(result.to_json()) == json.loads(text)
    assert result.to_json(indent=2) == json.dumps(data, indent=2)


def test_overflowed_statistics_become_none_in_every_dict():
    net = initlib.MLP([8, 8, 8], "linear", "normal", {"std": 1e30})
    r = initlib.propagate(net, batch=4, device="cpu", theory_method=None)
    assert any(math.isinf(v) for v in r.column("grad_var") + r.column("weight_grad_var"))
    layers = json.loads(r.to_json(allow_nan=False))["layers"]
    assert None in [layer["weight_grad_var"] for layer in layers]
    assert json_ready({"a": (1.0, float("nan")), "b": [float("-inf")]}) == {"a": [1.0, None], "b": [None]}


def test_lsuv_report_dict_keeps_what_was_left_alone():
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4))
    report = initlib.lsuv_(model, torch.randn(32, 6))
    assert {"rows", "hist_edges", "not_called", "skipped"} <= set(report.to_dict())


# --- one spec, one builder --------------------------------------------------------------------------


def test_no_public_run_function_takes_more_than_ten_parameters():
    for fn in (initlib.propagate, initlib.train, width.coord_check, width.lr_sweep):
        assert len(inspect.signature(fn).parameters) <= 10, fn.__name__


def test_the_spec_and_the_short_form_measure_the_same_net():
    net = initlib.MLP.of([10, 12, 6], "leaky_relu", "kaiming_normal", negative_slope=0.2, bias=0.1, mode="fan_out")
    a = initlib.propagate(net, batch=16, seed=3, device="cpu")
    b = initlib.propagate(
        [10, 12, 6],
        "leaky_relu",
        "kaiming_normal",
        batch=16,
        seed=3,
        device="cpu",
        negative_slope=0.2,
        bias=0.1,
        mode="fan_out",
    )
    assert a.to_dict() == b.to_dict() and a.init_kwargs == {"mode": "fan_out", "a": 0.2}


def test_the_spec_is_frozen_and_checked_once():
    net = initlib.MLP([4, 3], "tanh", "normal", {"std": 0.5})
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.widths = (5, 3)
    with pytest.raises(TypeError):
        net.init_kwargs["std"] = 1.0
    assert net.widths == (4, 3) and net.depth == 1 and net.init_name == "normal"
    assert dataclasses.replace(net, activation="relu").activation == "relu"


def test_propagate_and_train_build_the_same_layers():
    net = initlib.MLP([6, 8, 8, 3], "tanh", "xavier_uniform")
    seq = net.module(torch.Generator().manual_seed(0))
    logits = net.module(torch.Generator().manual_seed(0), logits=True)
    assert [type(m) for m in seq] == [nn.Linear, nn.Tanh] * 3
    assert [type(m) for m in logits] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(seq[::2], logits[::2]))
    r = initlib.train(net, _easy()[:2] * 2, steps=0, device="cpu")  # weights drawn by the same MLP.draw
    assert r.weight_var[0] == pytest.approx([float(m.weight.detach().square().mean()) for m in seq[::2]], rel=1e-6)


def test_histograms_spec():
    h = initlib.Histograms(bins=8, examples=4, grad_range=(-1, 1))
    assert h.ranges("tanh") == ((-1.0, 1.0), (-1.0, 1.0)) and h.ranges("relu")[0] == (-4.0, 4.0)
    r = initlib.propagate([6, 5, 5], "tanh", batch=10, device="cpu", histograms=h)
    assert r.act_edges[0] == -1.0 and len(r.layers[0].grad_hist) == 8 and r.hist_examples == 4
    assert initlib.propagate([6, 5], batch=4, device="cpu", histograms=3).layers[0].act_hist is not None


# --- bad input to the specs names the parameter and the valid choices -------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(widths=[10]), ValueError, "widths must list at least the input and one layer"),
        (dict(widths=[4, 0]), ValueError, r"widths\[1\] must be a positive integer"),
        (dict(widths="4,4"), TypeError, "widths must be a list of layer sizes"),
        (dict(activation="gelu"), ValueError, "activation must be one of 'linear', 'relu'"),
        (dict(init="he_magic"), ValueError, "scheme must be a callable or one of"),
        (
            dict(init_kwargs={"gian": 2.0}),
            ValueError,
            "init keyword.s. gian not accepted by .*it takes: a, mode, nonlinearity",
        ),
        (dict(init_kwargs={"generator": None}), ValueError, "generator is not an init keyword"),
        (dict(init_kwargs=[("std", 1.0)]), TypeError, "init_kwargs must be a dict"),
        (dict(bias=-1.0), ValueError, r"bias \(False, True for nn.Linear's default law, or a standard deviation\)"),
        (dict(bias="yes"), TypeError, "bias"),
        (dict(negative_slope=0.1), ValueError, "negative_slope only applies to activation='leaky_relu'"),
        (dict(activation="leaky_relu", negative_slope=2.0), ValueError, "negative_slope"),
    ],
)
def test_bad_mlp(kwargs, exc, match):
    args = dict(widths=[4, 4], activation="relu", init="kaiming_normal") | kwargs
    with pytest.raises(exc, match=match):
        initlib.MLP(**args)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(bins=-1), ValueError, "bins must be an integer >= 0"),
        (dict(bins=20_000), ValueError, "bins must be at most 10000"),
        (dict(examples=0), ValueError, "examples must be an integer >= 1"),
        (dict(act_range=(1, 0)), ValueError, "act_range must have low < high"),
        (dict(grad_range=3), ValueError, r"grad_range must be a pair \(low, high\)"),
    ],
)
def test_bad_histograms(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        initlib.Histograms(**kwargs)


def test_bad_run_arguments_name_the_new_spelling():
    with pytest.raises(TypeError, match="histograms=initlib.Histograms"):
        initlib.propagate([4, 4], hist_bins=10, device="cpu")
    with pytest.raises(TypeError, match="histograms must be None, a number of bins or a Histograms"):
        initlib.propagate([4, 4], histograms="many", device="cpu")
    with pytest.raises(TypeError, match="belong in the MLP"):
        initlib.propagate(initlib.MLP([4, 4]), std=0.1, device="cpu")
    with pytest.raises(TypeError, match="net must be an initlib.MLP"):
        initlib.train([4, 4], _easy(), steps=0)
