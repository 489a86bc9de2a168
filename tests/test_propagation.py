"""initlib.propagate: its statistics against autograd, its measurements against the theory.

Tolerances. A finite net is one draw: its forward variance wanders from layer to layer like a
random walk in log scale. When the batch is fully correlated (deep ReLU nets drift that way) one
layer multiplies E[s^2] by (1/n) sum_i relu(z_i)^2 / E[relu(z)^2] with z_i ~ N(0, 1) -- a mean of n
terms of relative variance 5 (linear layers: 2) -- so one log step has sd <= sqrt(5/n), and the
average log slope over k steps has sd <= sqrt(5/n) / sqrt(k). Slope tests allow 6 of those.
"""

import json
import math

import numpy
import pytest
import torch

import initlib
from initlib import activations, theory
from initlib.measure import ensembles, propagation
from initlib.measure.propagation import propagate
from initlib.measure.spec import Histograms

CPU = "cpu"


def _slope(values):
    """Average change of log(value) per layer, first layer to last."""
    return (math.log(values[-1]) - math.log(values[0])) / (len(values) - 1)


def _slope_tolerance(width, steps):
    return 6 * math.sqrt(5 / width) / math.sqrt(steps)


# --- the statistics are the right ones: compare with autograd on the same weights -----------------

ACTS = {
    "linear": lambda s: s,
    "relu": torch.relu,
    "leaky_relu": lambda s: torch.nn.functional.leaky_relu(s, 0.2),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softsign": torch.nn.functional.softsign,
    "selu": torch.selu,
}


def _replay(widths, init, batch, seed, activation, bias=False, **kwargs):
    """Draw x, the weights and the top gradient exactly as propagate does, then run autograd."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, widths[0], generator=gen, dtype=torch.float64)
    weights, biases = [], []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        w = initlib.get_scheme(init)(torch.empty(n_out, n_in, dtype=torch.float64), generator=gen, **kwargs)
        weights.append(w.requires_grad_())
        if bias:
            biases.append(torch.empty(n_out, dtype=torch.float64).normal_(0, bias, generator=gen))
    top = torch.randn(batch, widths[-1], generator=gen, dtype=torch.float64)
    f = ACTS[activation]
    h, pres, acts = x, [], []
    for l, w in enumerate(weights):
        s = h @ w.t() + (biases[l] if bias else 0)
        s.retain_grad()
        h = f(s)
        pres.append(s)
        acts.append(h)
    (h * top).sum().div(batch).backward()  # cost averaged over the batch; dC_b/dh^L = top[b]
    return x, weights, pres, acts


def test_histograms_count_the_first_hist_examples_examples():
    widths, batch, seed = [7, 9, 5], 11, 3
    r = propagate(
        widths,
        "tanh",
        "xavier_normal",
        batch=batch,
        seed=seed,
        device=CPU,
        dtype="float64",
        histograms=Histograms(bins=8, examples=4),
    )
    full = propagate(widths, "tanh", "xavier_normal", batch=batch, seed=seed, device=CPU, dtype="float64", histograms=8)
    x, weights, pres, acts = _replay(widths, "xavier_normal", batch, seed, "tanh")
    for layer, whole, s, h in zip(r.layers, full.layers, pres, acts):
        per_example_grad = s.grad * batch
        assert layer.act_hist == numpy.histogram(h.detach()[:4].numpy(), 8, (-1, 1))[0].tolist()
        assert layer.grad_hist == numpy.histogram(per_example_grad[:4].numpy(), 8, (-4, 4))[0].tolist()
        assert layer.pre_var == whole.pre_var and layer.grad_var == whole.grad_var  # the rest uses the whole batch
    with pytest.raises(ValueError, match="examples"):
        propagate(widths, "tanh", batch=batch, device=CPU, histograms=Histograms(8, examples=0))


@pytest.mark.parametrize("activation", activations.NAMES)
def test_statistics_match_autograd(activation):
    widths, batch, seed = [7, 9, 5, 6], 11, 3
    slope = 0.2 if activation == "leaky_relu" else None
    r = propagate(
        widths,
        activation,
        "xavier_normal",
        batch=batch,
        seed=seed,
        device=CPU,
        dtype="float64",
        jacobian=2,
        histograms=8,
        negative_slope=slope,
        gain=1.7,
    )
    x, weights, pres, acts = _replay(widths, "xavier_normal", batch, seed, activation, gain=1.7)
    lo, hi = initlib.activations.get(activation).output_range or propagation.DEFAULT_RANGE
    for layer, w, s, h in zip(r.layers, weights, pres, acts):
        per_example_grad, s, h = s.grad * batch, s.detach(), h.detach()
        assert layer.pre_var == pytest.approx(float(s.var(correction=0)), rel=1e-10)
        assert layer.pre_mean == pytest.approx(float(s.mean()), rel=1e-10, abs=1e-14)
        assert layer.act_var == pytest.approx(float(h.var(correction=0)), rel=1e-10)
        assert layer.act_mean == pytest.approx(float(h.mean()), rel=1e-10, abs=1e-14)
        assert layer.grad_var == pytest.approx(float(per_example_grad.var(correction=0)), rel=1e-9)
        assert layer.weight_grad_var == pytest.approx(float(w.grad.var(correction=0)), rel=1e-9)
        assert layer.weight_var == pytest.approx(float(w.detach().square().mean()), rel=1e-12)
        assert layer.act_hist == numpy.histogram(h.numpy(), 8, (lo, hi))[0].tolist()
        assert layer.grad_hist == numpy.histogram(per_example_grad.numpy(), 8, (-4, 4))[0].tolist()
        # saturation: |f'(s)| < 0.1 sup|f'|, f' from autograd
        s0 = s.clone().requires_grad_()
        fprime = torch.autograd.grad(ACTS[activation](s0).sum(), s0)[0]
        sup = activations.get(activation).sup_derivative(0.2)
        assert layer.saturation == pytest.approx(float((fprime.abs() < 0.1 * sup).double().mean()), abs=1e-12)
        # Glorot eq. (17): J = dh^l/dh^(l-1) for the first two examples
        jac = fprime[:2, :, None] * w.detach()[None]
        sv = torch.linalg.svdvals(jac)
        # (computed from a Gram matrix: accurate to sqrt(eps) times the largest, 1e-8 in float64)
        assert layer.jacobian_singular_values == pytest.approx(sv[0].tolist(), abs=1e-6)
        assert layer.jacobian_mean_singular_value == pytest.approx(float(sv.mean()), abs=1e-6)


def test_bias_matches_autograd():
    r = propagate([6, 8, 4], "tanh", "lecun_normal", batch=9, seed=1, device=CPU, dtype="float64", bias=0.3)
    _, weights, pres, _ = _replay([6, 8, 4], "lecun_normal", 9, 1, "tanh", bias=0.3)
    assert r.column("pre_var") == pytest.approx([float(s.detach().var(correction=0)) for s in pres], rel=1e-10)
    assert r.column("grad_var") == pytest.approx([float((s.grad * 9).var(correction=0)) for s in pres], rel=1e-9)
    assert r.layers[0].theory_pre_var == pytest.approx(6 * 1 / 6 + 0.09)


# --- the measurements agree with the theory -------------------------------------------------------


def test_relu_he_flat_xavier_halving():
    width, depth = 256, 30
    he = propagate([width] * (depth + 1), "relu", "kaiming_normal", batch=256, device=CPU)
    xavier = propagate([width] * (depth + 1), "relu", "xavier_normal", batch=256, device=CPU)
    lecun = propagate([width] * (depth + 1), "relu", "lecun_normal", batch=256, device=CPU)
    tol = _slope_tolerance(width, depth - 1)
    assert abs(_slope(he.column("pre_var"))) < tol
    assert abs(_slope(xavier.column("pre_var")) - math.log(0.5)) < tol
    assert abs(_slope(lecun.column("pre_var")) - math.log(0.5)) < tol
    assert he.column("theory_pre_var") == pytest.approx([2.0] * depth)
    assert xavier.column("theory_pre_var") == pytest.approx([2.0**-l for l in range(depth)])
    # the backward pass mirrors it: He flat, Xavier halving from the top down
    assert abs(_slope(he.column("grad_var"))) < tol
    assert abs(_slope(xavier.column("grad_var")) - math.log(2.0)) < tol


def test_linear_lecun_flat():
    width, depth = 256, 30
    r = propagate([width] * (depth + 1), "linear", "lecun_normal", batch=256, device=CPU)
    assert abs(_slope(r.column("pre_var"))) < _slope_tolerance(width, depth - 1)
    assert r.column("theory_pre_var") == pytest.approx([1.0] * depth)
    assert r.column("saturation") == [0.0] * depth


def test_glorot_standard_tanh_shrinks_by_about_a_third():
    # eq. (1): n Var[W] = 1/3; in the linear regime (tanh, small variance) Var[s] shrinks threefold per layer
    r = propagate([500] * 6, "tanh", "standard_uniform", batch=500, device=CPU)
    ratios = [b / a for a, b in zip(r.column("pre_var")[1:], r.column("pre_var")[2:])]
    assert all(0.25 < q < 0.36 for q in ratios), ratios


def test_telescoping_backward_ratio_on_a_pyramid():
    # He et al.: Var[W] = 2/fan_in makes the backward product n_L / n_1, independent of depth.
    # Injected gradients are independent across examples, so the backward pass averages over
    # batch x width terms: over 12 seeds the log of measured/predicted had sd 0.04; we allow 0.25.
    for widths in ([256, 1024, 512, 256], [256, 1024, 768, 512, 384, 256, 128]):
        r = propagate(widths, "relu", "kaiming_normal", batch=256, device=CPU)
        g = r.column("grad_var")
        expected = widths[-1] / widths[1]
        assert g[0] / g[-1] / expected == pytest.approx(1.0, abs=0.25)
        assert r.column("theory_grad_var")[0] / r.column("theory_grad_var")[-1] == pytest.approx(expected)


def test_orthogonal_linear_preserves_norms_exactly():
    # square orthogonal W: ||W h|| = ||h|| for every example, so E[s^2] is the same in every layer
    r = propagate([64] * 9, "linear", "orthogonal", batch=32, device=CPU, dtype="float64")
    second = [v + m * m for v, m in zip(r.column("pre_var"), r.column("pre_mean"))]
    assert second == pytest.approx([second[0]] * 8, rel=1e-10)


# --- determinism, devices, the result's shape ----------------------------------------------------


def test_deterministic_and_seed_dependent():
    a = propagate([32, 32, 32], "tanh", "xavier_uniform", batch=16, seed=5, device=CPU)
    b = propagate([32, 32, 32], "tanh", "xavier_uniform", batch=16, seed=5, device=CPU)
    c = propagate([32, 32, 32], "tanh", "xavier_uniform", batch=16, seed=6, device=CPU)
    assert a.to_dict() == b.to_dict()
    assert a.column("pre_var") != c.column("pre_var")


def test_every_scheme_runs():
    for name in sorted(set(initlib.SCHEMES) - {"dirac", "delta_orthogonal"}):  # conv kernels only
        kwargs = {"constant": {"val": 0.0}, "sparse": {"sparsity": 0.1}}.get(name, {})
        r = propagate([8, 8, 8], "tanh", name, batch=4, device=CPU, **kwargs)
        assert len(r) == 2 and r.init == name


def test_callable_init_uses_drawn_variance():
    def half_normal(tensor, generator=None):
        return tensor.normal_(0, 0.5, generator=generator)

    r = propagate([100, 100], "linear", half_normal, batch=8, device=CPU)
    assert r.init == "half_normal"
    assert r.layers[0].theory_pre_var == pytest.approx(100 * r.layers[0].weight_var)


def test_histograms_are_opt_in():
    r = propagate([10, 12, 8], "tanh", "xavier_normal", batch=8, device=CPU)
    assert r.act_edges is None and all(layer.act_hist is None and layer.grad_hist is None for layer in r.layers)
    r = propagate([10, 12, 8], "tanh", "xavier_normal", batch=8, device=CPU, histograms=4)
    assert len(r.act_edges) == 5 and all(sum(layer.act_hist) == 8 * layer.fan_out for layer in r.layers)


def test_to_dict_is_json_and_complete():
    r = propagate([10, 12, 8], "relu", "kaiming_uniform", batch=8, device=CPU, histograms=5)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["device"] == "cpu" and d["widths"] == [10, 12, 8] and len(d["layers"]) == 2
    assert set(propagation.FIELDS) <= set(d["layers"][0])
    assert len(d["act_edges"]) == 6 and d["act_edges"][0] == -4.0 and d["grad_edges"][-1] == 4.0
    assert sum(d["layers"][0]["act_hist"]) <= 8 * 12
    assert d["layers"][1]["fan_in"] == 12 and d["layers"][1]["fan_out"] == 8


def test_overflow_becomes_null_in_json():
    r = propagate([64] * 40, "relu", "normal", batch=8, device=CPU)  # x32 per layer: overflows
    assert not math.isfinite(r.layers[-1].pre_var)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["layers"][-1]["pre_var"] is None
    r64 = propagate([64] * 40, "relu", "normal", batch=8, device=CPU, dtype="float64")
    assert math.isfinite(r64.layers[-1].pre_var)


def test_column_checks_its_name():
    r = propagate([4, 4], batch=4, device=CPU)
    with pytest.raises(ValueError, match="name"):
        r.column("pre_variance")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"widths": [10]}, "widths"),
        ({"widths": [10, 0, 5]}, r"widths\[1\]"),
        ({"activation": "gelu"}, "activation"),
        ({"init": "he_magic"}, "scheme"),
        ({"batch": 0}, "batch"),  # one example is allowed: its norm (chapter 19)
        ({"batch": 2.5}, "batch"),
        ({"seed": -1}, "seed"),
        ({"device": "tpu"}, "device"),
        ({"bias": -1.0}, "bias"),
        ({"jacobian": -2}, "jacobian"),
        ({"histograms": -1}, "bins"),
        ({"histograms": 20_000}, "bins"),
        ({"dtype": "int32"}, "dtype"),
        ({"negative_slope": 0.1}, "negative_slope"),
        ({"theory_method": "exact"}, "theory_method"),
        ({"gian": 2.0}, "gian"),
        ({"generator": None}, "generator"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"widths": [4, 4], "batch": 4, "device": CPU} | kwargs
    with pytest.raises(ValueError, match=match):
        propagate(**args)


def test_bad_widths_type():
    with pytest.raises(TypeError, match="widths"):
        propagate("10,10", device=CPU)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_agree_statistically():
    # Different generators, so different nets: compare the slopes, each within the slope tolerance.
    width, depth = 512, 30
    for init, expected in (("kaiming_normal", 0.0), ("xavier_normal", math.log(0.5))):
        for dev in ("cpu", "cuda"):
            r = propagate([width] * (depth + 1), "relu", init, batch=512, device=dev)
            assert r.device == dev
            assert abs(_slope(r.column("pre_var")) - expected) < _slope_tolerance(width, depth - 1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_paper_presets_run_on_cuda():
    p = initlib.course.presets.preset("paper")
    r = propagate([p.deep_width] * (p.deep_depth + 1), "relu", "kaiming_normal", batch=p.batch, device="cuda")
    assert abs(_slope(r.column("pre_var"))) < _slope_tolerance(p.deep_width, p.deep_depth - 1)
    r = propagate(
        [p.glorot_width] * (p.glorot_depth + 1), "tanh", "xavier_uniform", batch=p.batch, device="cuda", jacobian=4
    )
    assert all(0.6 < v < 1.0 for v in r.column("jacobian_mean_singular_value"))
    deep = propagate([1000] * 1001, "relu", "kaiming_normal", batch=1000, device="cuda")
    assert len(deep) == 1000 and all(math.isfinite(v) for v in deep.column("grad_var"))


def test_leaky_relu_slope_is_the_kaiming_default_a():
    common = dict(batch=32, seed=4, device=CPU)
    implicit = propagate([64] * 4, "leaky_relu", "kaiming_normal", negative_slope=0.25, **common)
    explicit = propagate([64] * 4, "leaky_relu", "kaiming_normal", negative_slope=0.25, a=0.25, **common)
    assert implicit.init_kwargs == {"a": 0.25}
    assert implicit.column("pre_var") == explicit.column("pre_var")  # the same draws, bit for bit
    # He's eq. (15): Var[W] = 2 / ((1 + a^2) n), so the theory is flat at 2 / (1 + a^2)
    assert implicit.column("theory_pre_var") == pytest.approx([2 / (1 + 0.25**2)] * 3)
    default_slope = propagate([64] * 3, "leaky_relu", "he_uniform", **common)
    assert default_slope.init_kwargs == {"a": activations.DEFAULT_NEGATIVE_SLOPE}
    # the caller's a wins; other nonlinearities, other activations and bound-like a's are left alone
    assert propagate([64] * 3, "leaky_relu", "kaiming_normal", negative_slope=0.25, a=0.0, **common).init_kwargs == {
        "a": 0.0
    }
    assert propagate([64] * 3, "leaky_relu", "kaiming_normal", nonlinearity="relu", **common).init_kwargs == {
        "nonlinearity": "relu"
    }
    assert propagate([64] * 3, "relu", "kaiming_normal", **common).init_kwargs == {}
    assert propagate([64] * 3, "leaky_relu", "uniform", a=-0.1, b=0.1, **common).init_kwargs == {"a": -0.1, "b": 0.1}
    assert propagate([64] * 3, "leaky_relu", "trunc_normal", std=0.1, **common).init_kwargs == {"std": 0.1}


# --- ensembles: E nets in one batched computation equal E separate runs ---------------------------

ENSEMBLE_FIELDS = (
    "weight_var",
    "pre_var",
    "pre_mean",
    "act_var",
    "act_mean",
    "grad_var",
    "weight_grad_var",
    "saturation",
    "jacobian_mean_singular_value",
    "theory_pre_var",
    "theory_grad_var",
    "theory_weight_grad_var",
)


@pytest.mark.parametrize(
    "activation, init, kwargs",
    [
        ("tanh", "xavier_normal", dict(seed=[0, 1, 2], histograms=10, jacobian=2)),
        ("relu", "kaiming_normal", dict(seed=[4, 4, 5], bias=True)),
        ("leaky_relu", "kaiming_uniform", dict(seed=[1, 2], negative_slope=0.3, histograms=6)),
        ("tanh", "normal", dict(seed=7, std=[0.05, 0.1, 0.2, 0.4])),  # a sweep over sigma_w
    ],
)
def test_ensemble_equals_separate_runs(activation, init, kwargs):
    widths = [12, 16, 16, 8]
    common = dict(batch=24, device=CPU)
    nets = propagate(widths, activation, init, **common, **kwargs)
    members = ensembles.members(
        kwargs["seed"], **{k: v for k, v in kwargs.items() if k not in ("seed",) and isinstance(v, list)}
    )
    assert isinstance(nets, list) and len(nets) == len(members)
    scalars = {k: v for k, v in kwargs.items() if k != "seed" and not isinstance(v, list)}
    for net, (seed, per_member) in zip(nets, members):
        one = propagate(widths, activation, init, seed=seed, **common, **scalars, **per_member)
        assert net.seed == seed and net.init_kwargs == one.init_kwargs
        for a, b in zip(one.layers, net.layers):
            for field in ENSEMBLE_FIELDS:
                x, y = getattr(a, field), getattr(b, field)
                assert (x is None and y is None) or y == pytest.approx(x, rel=1e-4, abs=1e-7), field
            assert a.act_hist == b.act_hist and a.grad_hist == b.grad_hist


def test_ensemble_bad_lists():
    with pytest.raises(ValueError, match="same length"):
        propagate([4, 4], "relu", "normal", batch=4, device=CPU, seed=[0, 1], std=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"seed\[1\]"):
        propagate([4, 4], "relu", batch=4, device=CPU, seed=[0, -1])


def test_theory_is_a_separate_step():
    bare = propagate([32] * 4, "relu", "xavier_normal", batch=16, device=CPU, theory_method=None)
    assert bare.column("theory_pre_var") == [None] * 3
    with_theory = propagate([32] * 4, "relu", "xavier_normal", batch=16, device=CPU)
    assert theory.attach(bare).column("theory_pre_var") == with_theory.column("theory_pre_var") == [1.0, 0.5, 0.25]
    assert bare.column("pre_var") == with_theory.column("pre_var")


def test_a_batch_of_one_input_measures_its_squared_norm():
    # Hanin & Rolnick's statistic (chapter 19): ||h^L||^2 of one input, per network
    widths = [16, 32, 24]
    r = initlib.propagate(widths, "relu", "kaiming_normal", batch=1, seed=4, device="cpu", theory_method=None)
    gen = torch.Generator().manual_seed(4)
    h = torch.randn(1, 16, generator=gen)
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        w = initlib.kaiming_normal_(torch.empty(n_out, n_in), generator=gen)
        h = torch.relu(h @ w.T)
    last = r.layers[-1]
    assert (last.act_var + last.act_mean**2) * 24 == pytest.approx(float(h.square().sum()), rel=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_relu_saturation_counts_zeros_of_either_sign(dtype):
    # the fast path reads h's bits: +0.0 is saturated, and so is -0.0 (through the fallback)
    act = activations.get("relu")
    h = torch.relu(torch.randn(3, 64, 32, dtype=dtype, generator=torch.Generator().manual_seed(0)))
    want = [float((m == 0).to(torch.float64).mean()) for m in h]
    assert propagation._saturation("relu", act, h, 0.0, 0.1, 3).tolist() == pytest.approx(want, abs=1e-12)
    h[1, 0, :7] = -0.0
    got = float(propagation._saturation("relu", act, h[1], 0.0, 0.1, 0))
    assert got == pytest.approx(float((h[1] == 0).to(torch.float64).mean()), abs=1e-12)
