"""initlib.train: learns, is deterministic, measures what it says, refuses bad input, serialises."""

import io
import json
import math

import numpy
import pytest
import torch
import torch.nn.functional as F

import initlib
from initlib.course import data, presets
from initlib.course.presets import preset
from initlib.measure.training import STATS_EXAMPLES, TrainResult, mlp


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny nets gain nothing from intra-op threads, and on a busy machine the threads' spinning
    # costs more than the arithmetic.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def easy():
    return data.gaussian_mixture_split(600, 400, dim=8, classes=3, noise=0.5, seed=2)


TRAIN_ARGS = ("data", "steps", "lr", "batch", "optimizer", "seed", "device", "record_every", "progress")


def run(easy, **kwargs):
    """train() on ``easy``; keywords that are not train's build the MLP (``bias``, the init keywords)."""
    args = dict(data=easy, steps=150, lr=0.05, batch=10, device="cpu", record_every=50)
    args.update({k: v for k, v in kwargs.items() if k in TRAIN_ARGS})
    net = dict(widths=[8, 32, 32, 3], activation="tanh", init="xavier_uniform")
    net.update({k: v for k, v in kwargs.items() if k not in TRAIN_ARGS})
    return initlib.train(initlib.MLP.of(**net), **args)


def test_learns_an_easy_problem(easy):
    r = run(easy)
    assert r.steps == [0, 50, 100, 150]
    assert r.train_loss[-1] < 0.5 * r.train_loss[0]
    assert r.test_error[0] > 0.3 and r.test_error[-1] < 0.1
    assert not r.diverged
    assert len(r.grad_var) == len(r.steps) and all(len(g) == 3 for g in r.grad_var)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_other_optimizers_learn(easy, optimizer):
    r = run(easy, optimizer=optimizer, lr=0.01)
    assert r.test_error[-1] < 0.1 and r.optimizer == optimizer


def test_deterministic_given_seed(easy):
    a, b, c = run(easy, seed=3), run(easy, seed=3), run(easy, seed=4)
    assert a.to_dict() == b.to_dict()
    assert a.grad_var != c.grad_var


def test_last_step_always_recorded(easy):
    r = run(easy, steps=7, record_every=3)
    assert r.steps == [0, 3, 6, 7]
    assert run(easy, steps=0).steps == [0]


def direct_statistics(widths, activation, init, seed, x, y, **init_kwargs):
    """Step-0 statistics computed independently: the same net, a hand-written forward pass."""
    gen = torch.Generator().manual_seed(seed)
    net = initlib.init_module(mlp(widths, activation), init, generator=gen, **init_kwargs)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    f = {"tanh": torch.tanh, "relu": torch.relu}[activation]
    h, pre = x, []
    for i, layer in enumerate(linears):
        s = h @ layer.weight.T + layer.bias
        s.retain_grad()
        pre.append(s)
        h = f(s) if i < len(linears) - 1 else s
    F.cross_entropy(h, y, reduction="mean").backward()
    n = len(x)
    # d(mean loss)/ds of one example is (1/n) times the gradient of its own loss
    grad_var = [float((s.grad * n).var(unbiased=False)) for s in pre]
    weight_grad_var = [float(layer.weight.grad.var(unbiased=False)) for layer in linears]
    pre_var = [float(s.detach().var(unbiased=False)) for s in pre]
    return grad_var, weight_grad_var, pre_var


@pytest.mark.parametrize("activation, init", [("tanh", "standard_uniform"), ("relu", "kaiming_normal")])
def test_step0_gradients_match_autograd(activation, init):
    split = data.gaussian_mixture_split(100, STATS_EXAMPLES + 50, dim=12, classes=4, seed=5)
    widths = [12, 20, 16, 4]
    r = initlib.train(initlib.MLP(widths, activation, init), split, steps=0, seed=9, device="cpu")
    x, y = split.x_test[:STATS_EXAMPLES], split.y_test[:STATS_EXAMPLES]
    grad_var, weight_grad_var, pre_var = direct_statistics(widths, activation, init, 9, x, y)
    gen = torch.Generator().manual_seed(9)
    net = initlib.init_module(mlp(widths, activation), init, generator=gen)
    weight_var = [float(m.weight.detach().square().mean()) for m in net if isinstance(m, torch.nn.Linear)]
    assert r.bias_var[0] == [0.0, 0.0, 0.0]
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(r.weight_var[0], weight_var))
    for got, want in ((r.grad_var[0], grad_var), (r.weight_grad_var[0], weight_grad_var), (r.pre_var[0], pre_var)):
        assert len(got) == len(want) == 3
        for g, w in zip(got, want):
            assert math.isclose(g, w, rel_tol=1e-4), (got, want)


def test_init_kwargs_reach_the_scheme(easy):
    plain = run(easy, steps=0, init="kaiming_normal")
    scaled = run(easy, steps=0, init="kaiming_normal", nonlinearity="linear")
    # gain sqrt(2) -> 1 halves the first layer's pre-activation variance
    assert math.isclose(scaled.pre_var[0][0] / plain.pre_var[0][0], 0.5, rel_tol=1e-6)
    assert scaled.init_kwargs == {"nonlinearity": "linear"}


def test_divergence_is_reported_and_serialisable(easy):
    r = run(easy, activation="linear", lr=1e3, steps=100, record_every=10, init="normal", std=10.0)
    assert r.diverged and r.steps[-1] < 100
    text = json.dumps(r.to_dict(), allow_nan=False)
    assert json.loads(text)["diverged"] is True


def test_to_dict_is_json(easy):
    r = run(easy, init="variance_scaling", scale=1.0, mode="fan_avg", distribution="uniform")
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    for key in (
        "device",
        "widths",
        "activation",
        "init",
        "steps",
        "train_loss",
        "train_error",
        "test_error",
        "grad_var",
        "weight_grad_var",
        "pre_var",
    ):
        assert key in d
    assert d["device"] == "cpu" and d["widths"] == [8, 32, 32, 3] and d["init"] == "variance_scaling"
    assert d["grad_var"] == r.grad_var


def test_csv_round_trip(easy, tmp_path):
    r = run(easy)
    path = tmp_path / "curves.csv"
    r.to_csv(path)
    buffer = io.StringIO()
    r.to_csv(buffer)
    assert buffer.getvalue() == path.read_text()
    cols = TrainResult.read_csv(path)
    assert cols["step"] == r.steps
    assert cols["test_error"] == r.test_error and cols["train_loss"] == r.train_loss
    for layer in (1, 2, 3):
        assert cols[f"grad_var_{layer}"] == r.layer_series("grad_var", layer)
        assert cols[f"weight_grad_var_{layer}"] == r.layer_series("weight_grad_var", layer)
    with pytest.raises(TypeError, match="file must be a path or an open text file"):
        r.to_csv(42)


def test_layer_series_checks(easy):
    r = run(easy, steps=0)
    with pytest.raises(ValueError, match="name must be one of"):
        r.layer_series("grad", 1)
    with pytest.raises(ValueError, match="layer must be an integer from 1 to 3"):
        r.layer_series("grad_var", 0)


BAD = [
    (dict(widths=[8]), ValueError, "widths must list at least"),
    (dict(widths="8,3"), TypeError, "widths must be a list"),
    (dict(widths=[8, 32, 1]), ValueError, "number of classes and must be at least 2"),
    (dict(widths=[9, 32, 3]), ValueError, r"widths\[0\] = 9 must equal the number of input features, 8"),
    (dict(widths=[8, 32, 2]), ValueError, r"labels must lie in \[0, 1\]"),
    (dict(activation="gelu"), ValueError, "activation must be one of 'linear', 'relu'"),
    (dict(init="xavier"), ValueError, "scheme must be a callable or one of"),
    (dict(optimizer="rmsprop"), ValueError, "optimizer must be one of 'sgd', 'momentum', 'adam'"),
    (dict(lr=0.0), ValueError, "lr must be positive"),
    (dict(lr="fast"), TypeError, "lr must be a real number"),
    (dict(steps=-1), ValueError, "steps must be an integer >= 0"),
    (dict(steps=2.5), ValueError, "steps must be an integer >= 0"),
    (dict(batch=0), ValueError, "batch must be an integer >= 1"),
    (dict(batch=601), ValueError, r"batch must be at most the number of training examples \(600\)"),
    (dict(seed=-1), ValueError, "seed must be an integer >= 0"),
    (dict(record_every=0), ValueError, "record_every must be an integer >= 1"),
    (dict(device="tpu"), ValueError, "device must be"),
    (dict(generator=torch.Generator()), ValueError, "generator is not an init keyword"),
    (dict(data=[1, 2, 3]), TypeError, "data must be a 4-tuple"),
    (dict(data=(1, 2, 3, 4)), TypeError, "data's x_train must be a torch.Tensor"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD)
def test_bad_input(easy, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        run(easy, **kwargs)


def test_bad_data_tensors(easy):
    x, y, xt, yt = easy
    with pytest.raises(ValueError, match="y_train must be a 1-d int64 tensor"):
        run(easy, data=(x, y.int(), xt, yt))
    with pytest.raises(ValueError, match="y_test must be a 1-d int64 tensor with one label per row of x_test"):
        run(easy, data=(x, y, xt, yt[:-1]))
    with pytest.raises(ValueError, match="x_train must be a 2-d float tensor"):
        run(easy, data=(x.view(-1, 2, 4), y, xt, yt))
    with pytest.raises(ValueError, match="init keyword.s. bogus not accepted"):
        run(easy, bogus=1.0)


def test_data_is_an_argument_and_the_preset_supplies_shapeset():
    with pytest.raises(TypeError, match="data is required"):
        initlib.train(initlib.MLP([1024, 16, 9], "tanh", "xavier_uniform"), None, steps=1, device="cpu")
    p = preset()
    net = initlib.MLP([1024, 16, 9], "tanh", "xavier_uniform")
    r = initlib.train(net, presets.default_data(), steps=1, device="cpu")
    assert (r.n_train, r.n_test) == (p.glorot_train_size, p.glorot_test_size)
    assert r.activation == "tanh" and r.init == "xavier_uniform" and r.optimizer == "sgd" and r.batch == 10


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_starts_from_the_cpu_net(easy):
    cpu, gpu = run(easy, steps=0), run(easy, steps=0, device="cuda")
    assert gpu.device.startswith("cuda")
    for a, b in zip(cpu.grad_var[0], gpu.grad_var[0]):
        assert math.isclose(a, b, rel_tol=1e-3)


def test_plots(easy):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from initlib.course import plotting

    a, b = run(easy, steps=20, record_every=10), run(easy, steps=20, record_every=10, init="standard_uniform")
    fig = plotting.plot_training([a, b], chance=2 / 3)
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 3  # two runs and the chance line
    assert fig.axes[1].lines[0].get_ydata()[0] == pytest.approx(100 * a.test_error[0])
    ax = plotting.plot_layer_stats(a, "weight_grad_var", against="layer", steps=[0, 20])
    assert len(ax.lines) == 2 and list(ax.lines[1].get_ydata()) == a.weight_grad_var[-1]
    ax = plotting.plot_layer_stats(a, "grad_var", against="step", layers=[1, 3])
    assert list(ax.lines[1].get_ydata()) == a.layer_series("grad_var", 3)
    with pytest.raises(ValueError, match="metrics must be among"):
        plotting.plot_training(a, metrics=("accuracy",))
    with pytest.raises(ValueError, match="steps must be recorded steps"):
        plotting.plot_layer_stats(a, against="layer", steps=[5])
    with pytest.raises(ValueError, match="against must be one of"):
        plotting.plot_layer_stats(a, against="time")
    plt.close("all")


CURVES = ("train_loss", "train_error", "test_error", "grad_var", "weight_grad_var", "pre_var", "weight_var", "bias_var")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(seed=[0, 1, 2]),
        dict(seed=[3]),  # an ensemble of one member still returns a list of plain curves
        dict(seed=[4, 5], optimizer="adam", activation="relu", init="kaiming_normal"),
        dict(seed=1, init="normal", std=[0.05, 0.3], optimizer="momentum"),  # a sweep over the init scale
        dict(seed=[0, 1], init="normal", std=[0.1, 5.0], lr=20.0, activation="relu", record_every=2, steps=20),
        dict(seed=0, lr=[0.01, 0.05, 0.2], optimizer="momentum"),  # a sweep over the learning rate
        dict(seed=[2, 3], init="normal", std=[0.05, 0.3], lr=[0.2, 0.02]),
    ],
)
def test_ensemble_trains_like_separate_runs(easy, kwargs):
    runs = run(easy, **kwargs)
    lists = {k: v for k, v in kwargs.items() if isinstance(v, list) and k != "seed"}
    seeds = kwargs["seed"]
    scalars = {k: v for k, v in kwargs.items() if k != "seed" and not isinstance(v, list)}
    for r, (seed, per_member) in zip(runs, initlib.measure.ensembles.members(seeds, **lists)):
        one = run(easy, seed=seed, **scalars, **per_member)
        assert r.lr == one.lr == per_member.get("lr", scalars.get("lr", 0.05))
        assert (r.steps, r.diverged, r.seed, r.init_kwargs) == (one.steps, one.diverged, one.seed, one.init_kwargs)
        for name in CURVES:
            got, want = numpy.array(getattr(r, name), float), numpy.array(getattr(one, name), float)
            assert numpy.allclose(got, want, rtol=1e-3, atol=1e-6, equal_nan=True), name
    if kwargs.get("lr") == 20.0:
        assert runs[1].diverged and not runs[0].diverged and len(runs[1].steps) < len(runs[0].steps)


# --- biases N(0, sigma_b^2) and ensembles ---------------------------------------------------------


def test_bias_draws_gaussian_biases_and_leaves_the_default_alone(easy):
    plain = run(easy, steps=0, seed=5)
    again = run(easy, steps=0, seed=5, bias=False)
    assert plain.to_dict() == again.to_dict() and plain.bias_var[0] == [0.0, 0.0, 0.0]
    wide = run(easy, widths=[8, 4000, 3], init="normal", steps=0, seed=5, bias=0.3, std=0.1)
    assert wide.bias_var[0][0] == pytest.approx(0.09, rel=0.1)  # E[b^2] over 4000 draws
    # the weights are drawn first, from the same generator: they do not change
    same = run(easy, widths=[8, 4000, 3], init="normal", steps=0, seed=5, std=0.1)
    assert same.weight_var == wide.weight_var


@pytest.mark.parametrize("bias", [0.0, -1.0, "big"])
def test_bias_must_be_positive(easy, bias):
    with pytest.raises((ValueError, TypeError), match="bias"):
        run(easy, bias=bias)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_an_ensemble_equals_its_separate_runs(easy, optimizer):
    kw = dict(init="normal", steps=40, record_every=20, bias=0.2, optimizer=optimizer, lr=0.02)
    members = run(easy, seed=[1, 2, 1], std=[0.3, 0.3, 0.6], **kw)
    assert isinstance(members, list) and len(members) == 3
    for r, (seed, std) in zip(members, [(1, 0.3), (2, 0.3), (1, 0.6)]):
        one = run(easy, seed=seed, std=std, **kw)
        assert r.seed == seed and r.init_kwargs == {"std": std} and r.steps == one.steps == [0, 20, 40]
        assert r.test_error == pytest.approx(one.test_error, abs=1e-6)
        assert r.train_loss == pytest.approx(one.train_loss, rel=1e-4)
        for name in ("grad_var", "pre_var", "weight_var", "bias_var"):
            for got, want in zip(getattr(r, name), getattr(one, name)):
                assert got == pytest.approx(want, rel=1e-3)
    assert members[0].train_loss != members[1].train_loss


def test_an_ensemble_member_that_diverges_stops_alone(easy):
    kw = dict(activation="linear", init="normal", lr=5.0, steps=100, record_every=10)
    members = run(easy, seed=[0, 0], std=[1e-3, 10.0], **kw)
    alone = [run(easy, seed=0, std=std, **kw) for std in (1e-3, 10.0)]
    assert all(m.diverged and a.diverged for m, a in zip(members, alone))
    assert [m.steps for m in members] == [a.steps for a in alone]
    assert members[0].steps[-1] > members[1].steps[-1]  # the other member trained on


def test_a_rate_list_needs_sgd_and_positive_rates(easy):
    with pytest.raises(ValueError, match="needs optimizer 'sgd' or 'momentum'"):
        run(easy, lr=[0.1, 0.2], optimizer="adam")
    with pytest.raises(ValueError, match=r"lr\[1\] must be positive"):
        run(easy, lr=[0.1, -0.2])
    with pytest.raises(ValueError, match="same length"):
        run(easy, init="normal", std=[0.1, 0.2], lr=[0.1, 0.2, 0.3])


def test_bad_ensemble_lists(easy):
    with pytest.raises(ValueError, match="same length"):
        run(easy, init="normal", seed=[0, 1], std=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"seed\[1\] must be an integer >= 0"):
        run(easy, seed=[0, -1])
