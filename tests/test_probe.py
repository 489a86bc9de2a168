"""initlib.probe against an independent reference: autograd.grad over outputs kept by forward hooks."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch import nn

import initlib
from initlib.course import demos
from initlib.measure.probe import histogram, probe

KINDS = ("mlp", "cnn", "resnet", "transformer", "lstm")


def first(value):
    return value if isinstance(value, torch.Tensor) else first(value[0])


def reference(model, x, seed=0, at=None):
    """The same statistics, the plain way: keep every measured output, ask autograd.grad for the
    gradients at those outputs and at the weights, and reduce with torch's own var/mean."""
    model = copy.deepcopy(model)
    named = dict(model.named_modules())
    if at is None:
        at = [n for n, m in named.items() if list(m.parameters(recurse=False))]
    outs, order = [], []

    def keep(name):
        def hook(module, args, output):
            outs.append(first(output))
            order.append(name)

        return hook

    handles = [named[n].register_forward_hook(keep(n)) for n in at]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        y = first(model(x))
    for h in handles:
        h.remove()
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    weights = {n: [p for k, p in named[n].named_parameters(recurse=False) if "weight" in k] for n in at}
    flat = [p for n in at for p in weights[n]]
    grads = torch.autograd.grad(y, outs + flat, g, allow_unused=True)
    out_grads, rest = grads[: len(outs)], iter(grads[len(outs) :])
    weight_grads = {n: [next(rest) for _ in weights[n]] for n in at}
    rows, seen = [], set()
    for n, o, og in zip(order, outs, out_grads):
        row = {
            "name": n,
            "type": type(named[n]).__name__,
            "out_mean": o.mean().item(),
            "out_var": o.var(unbiased=False).item(),
            "grad_out_var": og.var(unbiased=False).item(),
        }
        wg = weight_grads[n] if n not in seen else []
        if wg:
            row["weight_grad_var"] = torch.cat([w.reshape(-1) for w in wg]).var(unbiased=False).item()
        seen.add(n)
        rows.append(row)
    return rows


def snapshot(model):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [None if p.grad is None else p.grad for p in model.parameters()],
        [m.training for m in model.modules()],
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_probe_equals_the_hooks_reference(kind, mode):
    model, x = demos.build(kind)
    model.train(mode == "train")
    expected = reference(model, x, seed=3)
    got = probe(model, x, seed=3).rows
    assert [r["name"] for r in got] == [r["name"] for r in expected]
    assert [r["type"] for r in got] == [r["type"] for r in expected]
    for g, e in zip(got, expected):
        for key in ("out_mean", "out_var", "grad_out_var", "weight_grad_var"):
            if key not in e:
                continue
            assert math.isclose(g[key], e[key], rel_tol=2e-4, abs_tol=1e-7), (kind, g["name"], key, g[key], e[key])


def test_probe_rows_cover_the_architectures():
    cnn = probe(*demos.build("cnn"))
    assert {"Conv2d", "BatchNorm2d", "Linear"} <= set(cnn.column("type"))
    lstm = probe(*demos.build("lstm"))
    assert lstm.column("type") == ["LSTM", "Linear"]
    tf = probe(*demos.build("transformer"))
    assert {"Embedding", "MultiheadAttention", "LayerNorm"} <= set(tf.column("type"))
    # the residual stream at each block: measure the blocks themselves
    model, x = demos.build("resnet", {"blocks": 3})
    stream = probe(model, x, at=["1", "2", "3"])
    assert stream.column("type") == ["ResidualBlock"] * 3
    for got, want in zip(stream.rows, reference(model, x, at=["1", "2", "3"])):
        assert math.isclose(got["out_var"], want["out_var"], rel_tol=1e-5)
        assert math.isclose(got["grad_out_var"], want["grad_out_var"], rel_tol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_probe_leaves_the_model_unchanged(kind):
    model, x = demos.build(kind)
    model.train()
    first_param = next(model.parameters())
    first_param.grad = torch.full_like(first_param, 7.0)
    state, grads, modes = snapshot(model)
    probe(model, x, hist_bins=10)
    state2, grads2, modes2 = snapshot(model)
    assert modes == modes2
    assert all(torch.equal(state[k], state2[k]) for k in state)
    assert all(a is b for a, b in zip(grads, grads2))
    assert torch.equal(first_param.grad, torch.full_like(first_param, 7.0))


def test_loss_and_grad_output():
    model, x = demos.build("mlp")
    y = torch.zeros(len(x), dtype=torch.long)
    with_loss = probe(model, x, loss=lambda out: nn.functional.cross_entropy(out, y))
    assert all(v > 0 for v in with_loss.column("grad_out_var"))
    ones = probe(model, x, grad_output=torch.ones(len(x), 10))
    assert ones.rows[-1]["grad_out_var"] == 0.0  # a constant gradient has no variance
    with pytest.raises(ValueError, match="not both"):
        probe(model, x, loss=lambda out: out.sum(), grad_output=torch.ones(len(x), 10))


def test_result_column_json_and_histograms():
    model, x = demos.build("mlp")
    r = probe(model, x, hist_bins=8, hist_range=(-2, 2))
    assert r.hist_edges == [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
    assert all(len(row["out_hist"]) == 8 and len(row["grad_hist"]) == 8 for row in r.rows)
    assert json.loads(r.to_json())["rows"][0]["name"] == "0"
    with pytest.raises(ValueError, match="name must be one of"):
        r.column("nope")


def test_bad_input_names_the_module_and_the_shape():
    model, x = demos.build("cnn")
    with pytest.raises(ValueError, match=r"module '0' \(Conv2d\) failed on input of shape \(8, 4, 16, 16\)") as info:
        probe(model, torch.randn(8, 4, 16, 16))
    assert isinstance(info.value.__cause__, RuntimeError)
    model, x = demos.build("resnet")
    with pytest.raises(ValueError, match=r"module '1.branch.0' \(Linear\)|module '0' \(Linear\)"):
        probe(model, torch.randn(8, 63))
    with pytest.raises(TypeError, match="inputs must be a tensor"):
        probe(model, [[1.0, 2.0]])
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        probe(lambda t: t, x)
    with pytest.raises(ValueError, match="at names modules the model does not have"):
        probe(model, x, at=["nope"])
    state, _, _ = snapshot(model)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_histogram_closed_at_high_on_cpu_like_histc():
    x = torch.tensor([-1.0, -1.0, 0.0, 0.999, 1.0, 1.0, 1.5])
    assert histogram(x, 4, -1.0, 1.0).tolist() == torch.histc(x, 4, -1.0, 1.0).to(torch.int64).tolist()
    two = torch.stack([x, -x])
    per = histogram(two, 4, -1.0, 1.0, members=2).tolist()
    assert per == [histogram(x, 4, -1.0, 1.0).tolist(), histogram(-x, 4, -1.0, 1.0).tolist()]


def test_saturated_tanh_keeps_its_plus_ones():
    r = initlib.propagate([64] * 4, "tanh", "normal", std=30.0, batch=64, device="cpu", histograms=10)
    last = r.layers[-1].act_hist
    assert last[-1] > 0.3 * sum(last) and last[0] > 0.3 * sum(last)  # as many +1 as -1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_probe_matches_cpu(kind):
    model, x = demos.build(kind)
    model.eval()  # no dropout: the CPU and CUDA generators draw different masks
    cpu = probe(model, x, hist_bins=8)
    gpu = probe(model.cuda(), x.cuda(), hist_bins=8, grad_output=None)
    for a, b in zip(cpu.rows, gpu.rows):
        assert a["name"] == b["name"]
        assert b["out_var"] == pytest.approx(a["out_var"], rel=1e-3, abs=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_ensemble_equals_separate_runs():
    nets = initlib.propagate([64] * 6, "tanh", "xavier_normal", batch=32, device="cuda", seed=[0, 1], histograms=10)
    for seed, net in zip([0, 1], nets):
        one = initlib.propagate([64] * 6, "tanh", "xavier_normal", batch=32, device="cuda", seed=seed, histograms=10)
        assert net.column("pre_var") == pytest.approx(one.column("pre_var"), rel=1e-4)
        assert net.column("act_hist") == one.column("act_hist")


@pytest.mark.parametrize("low, high, bins", [(-1.0, 1.0, 50), (-4.0, 4.0, 50), (-0.37, 0.91, 12), (0.0, 1.0, 7)])
def test_histogram_equals_histc_with_values_at_the_edges(low, high, bins):
    g = torch.Generator().manual_seed(0)
    x = torch.cat(
        [
            torch.empty(5000).uniform_(low - 0.5, high + 0.5, generator=g),
            torch.full((17,), low),
            torch.full((23,), high),
        ]
    )  # interior edges round as they may
    want = torch.histc(x, bins, low, high).to(torch.int64).tolist()
    assert histogram(x, bins, low, high).tolist() == want
    assert histogram(torch.stack([x, x.flip(0)]), bins, low, high, members=2).tolist() == [want, want]
