"""initlib.width: SP and μP (Yang & Hu 2021; Yang et al. 2022, Table 3) against the `mup` package."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initlib
from initlib import width as W
from initlib.course import presets

mup = pytest.importorskip("mup")
from mup.coord_check import get_coord_data  # noqa: E402

IN, OUT, BASE = 16, 5, 32


def mlp(w, readout=nn.Linear, bias=False):
    return nn.Sequential(
        nn.Linear(IN, w, bias=bias), nn.ReLU(), nn.Linear(w, w, bias=bias), nn.ReLU(), readout(w, OUT, bias=bias)
    )


def mu_readout(a, b, bias):
    return mup.MuReadout(a, b, bias=bias)


def batch(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, IN, generator=g), torch.randint(0, OUT, (n,), generator=g)


@pytest.mark.parametrize(
    "optimizer, expected",
    [
        ("adam", {"0.weight": 1.0, "2.weight": 1 / 4, "4.weight": 1 / 4}),
        ("sgd", {"0.weight": 4.0, "2.weight": 1.0, "4.weight": 1 / 4}),
    ],
)
def test_roles_and_learning_rates_follow_table_3(optimizer, expected):
    plan = W.parametrize_(mlp(4 * BASE), mlp(BASE), "mup", optimizer)
    assert [r["role"] for r in plan.rows] == ["input", "hidden", "output"]
    assert plan.lr_mult == pytest.approx(expected)
    assert W.parametrize_(mlp(4 * BASE), mlp(BASE), "sp", optimizer).lr_mult == dict.fromkeys(expected, 1.0)


def test_biases_embeddings_and_norms_are_vectors_or_inputs():
    def net(w):
        return nn.Sequential(nn.Embedding(11, w), nn.LayerNorm(w), nn.Linear(w, w), nn.Linear(w, 3))

    plan = W.plan(net(256), net(64), "mup", "sgd")
    roles = {r["name"]: (r["role"], r["lr_mult"]) for r in plan.rows}
    assert roles["0.weight"] == ("input", 4.0)  # an Embedding's table is (in, out)
    assert roles["1.weight"] == ("vector", 4.0) and roles["2.bias"] == ("vector", 4.0)
    assert roles["3.bias"] == ("fixed", 1.0) and roles["3.weight"] == ("output", 0.25)


def test_mup_is_sp_at_the_base_width():
    torch.manual_seed(0)
    sp_model = mlp(BASE)
    sp = W.parametrize_(sp_model, mlp(BASE), "sp")
    torch.manual_seed(0)
    mu_model = mlp(BASE)
    mu = W.parametrize_(mu_model, mlp(BASE), "mup")
    assert sp.lr_mult == mu.lr_mult
    for a, b in zip(sp_model.parameters(), mu_model.parameters()):
        assert torch.equal(a, b)


def test_output_variance_falls_as_one_over_fan_in_squared():
    width = 2048
    model = mlp(width)
    W.parametrize_(model, mlp(BASE), "mup", scheme="kaiming_normal")
    measured = float(model[4].weight.detach().var())
    expected = 2 / width * (BASE / width)  # He's 2/fan_in, times 1/m
    assert abs(measured / expected - 1) < 0.05
    assert abs(float(model[2].weight.detach().var()) * width / 2 - 1) < 0.02  # hidden: SP


def _mup_models(widths, bias, seed=0):
    base = mlp(BASE, bias=bias)

    def make(w):
        def lazy():
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = mlp(w, mu_readout, bias)
                W.parametrize_(model, base, "sp")  # SP draws; mup then rescales them to μP
            return mup.set_base_shapes(model, mlp(BASE, mu_readout, bias))

        return lazy

    return {w: make(w) for w in widths}


@pytest.mark.parametrize("optimizer, lr, bias", [("adam", 0.01, False), ("sgd", 0.5, True)])
def test_coord_check_matches_the_mup_package(optimizer, lr, bias):
    """mup's read-out multiplier and Table 3's smaller init and rate give the same network."""
    widths, steps = (BASE, 4 * BASE, 16 * BASE), 4
    x, y = batch()
    ours = W.coord_check(
        lambda w: mlp(w, bias=bias),
        widths,
        (x, y),
        base_width=BASE,
        parametrization="mup",
        optimizer=optimizer,
        lr=lr,
        steps=steps,
    )
    theirs = get_coord_data(
        _mup_models(widths, bias),
        [(x, y)],
        optimizer=optimizer,
        lr=lr,
        nsteps=steps,
        cuda=False,
        show_progress=False,
        output_fdict={"l2": "l2"},
        filter_module_by_name=lambda n: n in ours.names,
    )
    for i, w in enumerate(widths):
        for k, name in enumerate(ours.names):
            rows = theirs[(theirs.width == w) & (theirs.module == name)].sort_values("t")
            assert rows.l2.values == pytest.approx(ours.rms[i, :, k], rel=1e-4)


def test_coordinates_stay_flat_under_mup_and_grow_under_sp():
    x, y = batch(64)
    widths = (BASE, 4 * BASE, 16 * BASE)
    runs = {
        p: W.coord_check(mlp, widths, (x, y), base_width=BASE, parametrization=p, lr=0.02, steps=4)
        for p in W.PARAMETRIZATIONS
    }
    assert abs(runs["mup"].slope("2", 4)) < 0.1 and abs(runs["mup"].slope("4", 4)) < 0.2
    assert runs["sp"].slope("2", 4) > 0.25 and runs["sp"].slope("4", 4) > 0.6
    assert abs(runs["sp"].slope("2", 1) - runs["mup"].slope("2", 1)) < 1e-9  # same start below the read-out


def test_param_groups_and_optimizer():
    plan = W.parametrize_(mlp(4 * BASE), mlp(BASE), "mup", "adam")
    groups = plan.param_groups(0.1)
    assert sorted(g["lr"] for g in groups) == pytest.approx([0.025, 0.1])
    assert sum(len(g["params"]) for g in groups) == 3
    assert isinstance(plan.optimizer(0.1), torch.optim.Adam)
    assert isinstance(W.parametrize_(mlp(BASE), mlp(BASE), "mup", "sgd").optimizer(0.1), torch.optim.SGD)


def test_data_must_be_a_pair_of_tensors():
    x, y = batch(8)
    with pytest.raises(TypeError, match=r"data must be a pair \(inputs, targets\)"):
        W.coord_check(mlp, (BASE,), x, base_width=BASE, parametrization="mup", lr=0.01)
    with pytest.raises(ValueError, match="one target per input row"):
        W.lr_sweep(mlp, (BASE,), (0.1,), (x, y[:-1]), base_width=BASE, parametrization="mup", steps=1, batch=2)


def test_lr_sweep_is_seeded_and_finite():
    x, y = batch(64)
    a = W.lr_sweep(
        mlp, (BASE, 2 * BASE), (1e-3, 1e-2), (x, y), base_width=BASE, parametrization="mup", steps=3, batch=8
    )
    b = W.lr_sweep(
        mlp, (BASE, 2 * BASE), (1e-3, 1e-2), (x, y), base_width=BASE, parametrization="mup", steps=3, batch=8
    )
    assert a.shape == (2, 2) and (a == b).all() and (a < 3 * math.log(OUT)).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"parametrization": "ntk"}, "parametrization must be one of 'sp', 'mup'"),
        ({"optimizer": "adamw"}, "optimizer must be one of 'sgd', 'adam'"),
        ({"base": nn.Sequential(nn.Linear(IN, BASE))}, "base must have the model's parameter names"),
        ({"base": {"0.weight": (BASE, IN, 3), "2.weight": (BASE, BASE), "4.weight": (OUT, BASE)}}, "0.weight"),
        ({"base": "mlp"}, "base must be an nn.Module"),
        ({"scheme": "nope"}, "scheme must be a callable or one of"),
    ],
)
def test_bad_input_names_the_parameter_and_changes_nothing(kwargs, match):
    model = mlp(2 * BASE)
    before = [p.detach().clone() for p in model.parameters()]
    args = {"base": mlp(BASE)} | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        W.parametrize_(model, **args)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_exported():
    assert initlib.width.parametrize_ is W.parametrize_
    assert presets.width_sizes("paper")["widths"][-1] == 8192
