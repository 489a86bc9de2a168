"""initlib's initializers: the variance each formula promises, the law torch.nn.init draws, and the
errors bad input gets. Tolerances come from tests/tolerances.py (6 standard errors)."""

import math

import pytest
import torch
from scipy import stats
from torch import nn

import initlib

from tolerances import assert_variance

SHAPES = {
    "linear": (512, 384),
    "conv1d": (128, 64, 7),
    "conv2d": (64, 32, 5, 5),
    "conv3d": (32, 16, 3, 3, 3),
}


def fans(shape):
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


TN2 = initlib.truncated_normal_std(2.0)

# (name, call, expected variance from (fan_in, fan_out), law, bound from (fan_in, fan_out) or None)
CASES = [
    (
        "xavier_uniform",
        lambda w, g: initlib.xavier_uniform_(w, generator=g),
        lambda i, o: 2 / (i + o),
        "uniform",
        lambda i, o: math.sqrt(6 / (i + o)),
    ),
    (
        "xavier_uniform gain=5/3",
        lambda w, g: initlib.xavier_uniform_(w, gain=5 / 3, generator=g),
        lambda i, o: (5 / 3) ** 2 * 2 / (i + o),
        "uniform",
        lambda i, o: 5 / 3 * math.sqrt(6 / (i + o)),
    ),
    ("xavier_normal", lambda w, g: initlib.xavier_normal_(w, generator=g), lambda i, o: 2 / (i + o), "normal", None),
    (
        "kaiming_uniform",
        lambda w, g: initlib.kaiming_uniform_(w, generator=g),
        lambda i, o: 2 / i,
        "uniform",
        lambda i, o: math.sqrt(6 / i),
    ),
    (
        "kaiming_uniform leaky 0.2 fan_out",
        lambda w, g: initlib.kaiming_uniform_(w, a=0.2, mode="fan_out", generator=g),
        lambda i, o: 2 / (1 + 0.04) / o,
        "uniform",
        lambda i, o: math.sqrt(3 * 2 / 1.04 / o),
    ),
    ("kaiming_normal", lambda w, g: initlib.kaiming_normal_(w, generator=g), lambda i, o: 2 / i, "normal", None),
    (
        "kaiming_normal relu fan_out",
        lambda w, g: initlib.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g),
        lambda i, o: 2 / o,
        "normal",
        None,
    ),
    (
        "kaiming_normal tanh",
        lambda w, g: initlib.kaiming_normal_(w, nonlinearity="tanh", generator=g),
        lambda i, o: (5 / 3) ** 2 / i,
        "normal",
        None,
    ),
    (
        "lecun_uniform",
        lambda w, g: initlib.lecun_uniform_(w, generator=g),
        lambda i, o: 1 / i,
        "uniform",
        lambda i, o: math.sqrt(3 / i),
    ),
    (
        "lecun_normal",
        lambda w, g: initlib.lecun_normal_(w, generator=g),
        lambda i, o: 1 / i,
        "truncated_normal",
        lambda i, o: 2 * math.sqrt(1 / i) / TN2,
    ),
    (
        "standard_uniform",
        lambda w, g: initlib.standard_uniform_(w, generator=g),
        lambda i, o: 1 / (3 * i),
        "uniform",
        lambda i, o: 1 / math.sqrt(i),
    ),
    (
        "pytorch_default",
        lambda w, g: initlib.pytorch_default_(w, generator=g),
        lambda i, o: 1 / (3 * i),
        "uniform",
        lambda i, o: 1 / math.sqrt(i),
    ),
]
MODE_N = {
    "fan_in": lambda i, o: i,
    "fan_out": lambda i, o: o,
    "fan_avg": lambda i, o: (i + o) / 2,
    "fan_geo_avg": lambda i, o: math.sqrt(i * o),
}
for mode, n_of in MODE_N.items():
    for dist in ("uniform", "normal", "truncated_normal"):
        bound = {
            "uniform": (lambda n_of: lambda i, o: math.sqrt(3 * 2 / n_of(i, o)))(n_of),
            "normal": None,
            "truncated_normal": (lambda n_of: lambda i, o: 2 * math.sqrt(2 / n_of(i, o)) / TN2)(n_of),
        }[dist]
        CASES.append(
            (
                f"variance_scaling scale=2 {mode} {dist}",
                (lambda mode, dist: lambda w, g: initlib.variance_scaling_(w, 2.0, mode, dist, generator=g))(
                    mode, dist
                ),
                (lambda n_of: lambda i, o: 2 / n_of(i, o))(n_of),
                dist,
                bound,
            )
        )


@pytest.mark.parametrize("layer", SHAPES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_realised_variance_and_bound(case, layer):
    _, init, variance, law, bound = case
    shape = SHAPES[layer]
    fan_in, fan_out = fans(shape)
    w = torch.empty(shape)
    assert init(w, gen(1)) is w
    assert_variance(w, variance(fan_in, fan_out), law)
    if bound is not None:
        b = bound(fan_in, fan_out)
        assert float(w.abs().max()) <= b * (1 + 1e-6)
        # the bound is reached, not merely respected: the largest of n draws lies near it
        assert float(w.abs().max()) > b * (1 - 10 / w.numel() ** 0.5 if law == "uniform" else 0.9)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("case", [c for c in CASES if "scale" not in c[0]], ids=lambda c: c[0])
def test_other_float_dtypes_reach_the_target_variance(case, dtype):
    _, init, variance, law, _ = case
    w = torch.empty(SHAPES["linear"], dtype=dtype)
    init(w, gen(2))
    assert w.dtype == dtype
    assert_variance(w, variance(*fans(SHAPES["linear"])), law)


# --- the same law as torch.nn.init -------------------------------------------------------------

TORCH_PAIRS = [
    ("uniform_", dict(a=-0.5, b=1.5)),
    ("normal_", dict(mean=0.3, std=0.2)),
    ("trunc_normal_", dict()),
    ("trunc_normal_", dict(mean=0.1, std=0.5, a=-0.5, b=1.0)),
    ("xavier_uniform_", dict(gain=2.0)),
    ("xavier_normal_", dict()),
    ("kaiming_uniform_", dict()),
    ("kaiming_uniform_", dict(a=math.sqrt(5))),
    ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", dict(mode="FAN_IN", nonlinearity="selu")),
    ("orthogonal_", dict(gain=1.5)),
]


# torch 2.13 samples trunc_normal_ by rejection and initlib by inverse CDF: the same law (the KS test
# below), other numbers. Every other law is drawn with torch's own calls, so the numbers agree.
EXACT_PAIRS = [pair for pair in TORCH_PAIRS if pair[0] != "trunc_normal_"]


@pytest.mark.parametrize("name,kwargs", EXACT_PAIRS, ids=[f"{n}{k}" for n, k in EXACT_PAIRS])
@pytest.mark.parametrize("shape", [(64, 48), (16, 8, 3, 3), (300, 200), (7, 5)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_numbers_as_torch_for_the_same_generator_state(name, kwargs, shape, dtype):
    # bit for bit: xavier_uniform_ at (7, 5) in float64 was an ulp off before it took torch's order
    ours = getattr(initlib, name)(torch.empty(shape, dtype=dtype), **kwargs, generator=gen(7))
    theirs = getattr(nn.init, name)(torch.empty(shape, dtype=dtype), **kwargs, generator=gen(7))
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("name,kwargs", TORCH_PAIRS, ids=[f"{n}{k}" for n, k in TORCH_PAIRS])
def test_same_law_as_torch_two_sample_ks(name, kwargs):
    # Independent seeds: the two samples share nothing but the law. With fixed seeds the
    # p-value is a fixed number; a wrong law gives p ~ 0 at this sample size.
    ours = getattr(initlib, name)(torch.empty(400, 300), **kwargs, generator=gen(11)).flatten().numpy()
    theirs = getattr(nn.init, name)(torch.empty(400, 300), **kwargs, generator=gen(12)).flatten().numpy()
    assert stats.ks_2samp(ours, theirs).pvalue > 1e-4


def test_variance_scaling_truncated_normal_is_the_corrected_law():
    w = initlib.variance_scaling_(torch.empty(400, 300), 1.0, "fan_in", "truncated_normal", generator=gen(3))
    s = math.sqrt(1 / 300) / TN2
    law = stats.truncnorm(-2, 2, scale=s)
    assert stats.kstest(w.flatten().double().numpy(), law.cdf).pvalue > 1e-4
    assert law.std() == pytest.approx(math.sqrt(1 / 300), rel=1e-12)


def test_truncated_normal_std_matches_scipy_and_the_known_constant():
    for k in (0.5, 1.0, 2.0, 3.0):
        assert initlib.truncated_normal_std(k) == pytest.approx(stats.truncnorm(-k, k).std(), rel=1e-12)
    assert initlib.truncated_normal_std(2.0) == pytest.approx(0.87962566103423978, abs=1e-15)


def test_trunc_normal_keeps_torchs_uncorrected_variance():
    w = initlib.trunc_normal_(torch.empty(500, 400), generator=gen(4))
    assert_variance(w, TN2**2, "truncated_normal")
    assert float(w.min()) >= -2 and float(w.max()) <= 2


@pytest.mark.parametrize(
    "mean,std,a,b", [(10, 1, -2, 2), (-10, 1, -2, 2), (0, 1, 3, 4), (0, 1, -4, -3), (0, 0.5, -0.5, 1.0), (0, 1, 7, 9)]
)
def test_trunc_normal_is_exact_even_far_out_in_a_tail(mean, std, a, b):
    # An inverse CDF written with 2 Phi - 1 rounds to +-1 out there and piles the draws on one bound.
    w = initlib.trunc_normal_(torch.empty(300, 200, dtype=torch.float64), mean, std, a, b, generator=gen(8))
    law = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    assert stats.kstest(w.flatten().numpy(), law.cdf).pvalue > 1e-4
    assert float(w.min()) >= a and float(w.max()) <= b


def test_trunc_normal_refuses_an_interval_with_no_representable_mass():
    w = torch.zeros(3, 3)
    with pytest.raises(ValueError, match=r"the interval \[a, b\] = \[50.0, 60.0\] holds no probability"):
        initlib.trunc_normal_(w, 0.0, 1.0, 50.0, 60.0)
    assert torch.count_nonzero(w) == 0


def test_zero_dim_tensor_numbers_are_accepted_as_in_torch():
    ours = initlib.xavier_uniform_(torch.empty(40, 30), gain=torch.tensor(2.0), generator=gen(1))
    theirs = nn.init.xavier_uniform_(torch.empty(40, 30), gain=torch.tensor(2.0), generator=gen(1))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)  # torch computes the bound in float32
    with pytest.raises(TypeError, match="gain must be a real number"):
        initlib.xavier_uniform_(torch.empty(4, 3), gain=torch.tensor(True))


def test_uniform_and_normal_moments():
    w = initlib.uniform_(torch.empty(500, 400), -0.5, 1.5, generator=gen(5))
    assert float(w.min()) >= -0.5 and float(w.max()) <= 1.5
    assert float(w.mean()) == pytest.approx(0.5, abs=6 * (2 / math.sqrt(12)) / math.sqrt(w.numel()))
    assert_variance(w - 0.5, 4 / 12, "uniform")
    w = initlib.normal_(torch.empty(500, 400), mean=2.0, std=0.1, generator=gen(5))
    assert float(w.mean()) == pytest.approx(2.0, abs=6 * 0.1 / math.sqrt(w.numel()))
    assert_variance(w - 2.0, 0.01, "normal")


@pytest.mark.parametrize("shape", [(40, 30), (30, 40), (8, 4, 3, 3), (4, 8, 3, 3)])
@pytest.mark.parametrize("gain", [1.0, 0.5, math.sqrt(2)])
def test_orthogonal_is_semi_orthogonal_times_gain(shape, gain):
    w = initlib.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=gain, generator=gen(6))
    m = w.reshape(shape[0], -1)
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    torch.testing.assert_close(gram, gain**2 * torch.eye(small, dtype=torch.float64))
    # every entry's mean square is gain^2 / max(rows, cols): exactly, not just on average
    assert float(m.pow(2).mean()) == pytest.approx(gain**2 / max(m.shape), rel=1e-12)


def test_constant_zeros_ones():
    w = torch.empty(3, 4)
    assert torch.equal(initlib.constant_(w, 0.25), torch.full((3, 4), 0.25))
    assert torch.equal(initlib.zeros_(w), torch.zeros(3, 4))
    assert torch.equal(initlib.ones_(w), torch.ones(3, 4))


@pytest.mark.parametrize("nonlinearity", initlib.laws.gains.NONLINEARITIES)
def test_calculate_gain_equals_torch(nonlinearity):
    assert initlib.calculate_gain(nonlinearity) == nn.init.calculate_gain(nonlinearity)


@pytest.mark.parametrize("slope", [None, 0, 0.01, 0.2, 1, 3.5, -0.5])
def test_leaky_relu_gain_equals_torch(slope):
    assert initlib.calculate_gain("leaky_relu", slope) == nn.init.calculate_gain("leaky_relu", slope)


def test_aliases_are_the_same_functions():
    assert initlib.he_normal_ is initlib.kaiming_normal_
    assert initlib.he_uniform_ is initlib.kaiming_uniform_
    assert initlib.glorot_normal_ is initlib.xavier_normal_
    assert initlib.glorot_uniform_ is initlib.xavier_uniform_


# --- determinism -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(initlib.SCHEMES) - {"constant", "zeros", "ones", "eye", "dirac"}))
def test_a_generator_makes_every_random_scheme_repeatable(name):
    init = initlib.get_scheme(name)
    kw = {"sparsity": 0.5} if name == "sparse" else {}
    shape = (32, 24, 3, 3) if name == "delta_orthogonal" else (32, 24)  # a conv kernel only
    first = init(torch.empty(shape), generator=gen(9), **kw)
    again = init(torch.empty(shape), generator=gen(9), **kw)
    other = init(torch.empty(shape), generator=gen(10), **kw)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_schemes_accept_trailing_underscore_and_callables():
    assert initlib.get_scheme("xavier_uniform_") is initlib.xavier_uniform_
    assert initlib.get_scheme(initlib.orthogonal_) is initlib.orthogonal_


# --- init_module ------------------------------------------------------------------------------------


def _net():
    return nn.Sequential(
        nn.Conv2d(3, 64, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 4, 512),
        nn.Tanh(),
        nn.Linear(512, 384),
        nn.ConvTranspose1d(4, 8, 3),
    )


def test_init_module_applies_the_scheme_to_every_weight_and_zeros_biases():
    torch.manual_seed(0)
    net = initlib.init_module(_net(), "kaiming_normal", nonlinearity="relu")
    for layer in (net[0], net[3], net[5], net[6]):
        fan_in, _ = initlib.fan_in_and_fan_out(layer.weight)
        if layer.weight.numel() > 10_000:
            assert_variance(layer.weight.detach(), 2 / fan_in, "normal")
        assert torch.count_nonzero(layer.bias) == 0
    assert net[5].weight.requires_grad


def test_init_module_with_a_callable():
    net = initlib.init_module(_net(), lambda w: initlib.constant_(w, 0.5))
    assert torch.all(net[3].weight == 0.5)


def test_init_module_changes_nothing_when_a_later_layer_fails():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    before = [p.detach().clone() for p in net.parameters()]
    calls = []

    def fails_on_second(w):
        calls.append(w.shape)
        if len(calls) == 2:
            raise ValueError("second layer refused")
        return initlib.zeros_(w)

    with pytest.raises(ValueError, match="second layer refused"):
        initlib.init_module(net, fails_on_second)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))


def test_init_module_rejects_unknown_schemes_and_non_modules():
    with pytest.raises(ValueError, match=r"scheme must be .*xavier_uniform"):
        initlib.init_module(_net(), "glorot")
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        initlib.init_module(torch.empty(3, 3), "xavier_uniform")


# --- eye_, dirac_, sparse_: torch's laws; the generator draws sparse_'s mask too ---------------------


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 1)])
def test_eye_equals_torch(shape):
    assert torch.equal(initlib.eye_(torch.full(shape, 7.0)), nn.init.eye_(torch.full(shape, 7.0)))


@pytest.mark.parametrize("shape,groups", [((6, 4, 3), 1), ((6, 2, 3, 3), 2), ((9, 2, 3, 1, 5), 3), ((2, 5, 4), 1)])
def test_dirac_equals_torch(shape, groups):
    assert torch.equal(initlib.dirac_(torch.full(shape, 7.0), groups), nn.init.dirac_(torch.full(shape, 7.0), groups))


def test_sparse_nonzeros_are_torchs_normal_draws_and_the_mask_follows_the_generator():
    state = torch.random.get_rng_state()
    ours = initlib.sparse_(torch.empty(40, 30), 0.25, std=0.5, generator=gen(5))
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is not touched
    assert torch.equal(ours, initlib.sparse_(torch.empty(40, 30), 0.25, std=0.5, generator=gen(5)))
    normal = nn.init.normal_(torch.empty(40, 30), 0.0, 0.5, generator=gen(5))
    assert torch.equal(ours[ours != 0], normal[ours != 0])
    assert ((ours == 0).sum(dim=0) == math.ceil(0.25 * 40)).all()
    # every row is zeroed about equally often over many columns: the mask is uniform
    many = initlib.sparse_(torch.empty(10, 20000), 0.3, generator=gen(6))
    per_row = (many == 0).double().mean(dim=1)
    assert float((per_row - 0.3).abs().max()) < 6 * math.sqrt(0.3 * 0.7 / 20000)


def test_orthogonal_on_a_non_contiguous_view_equals_the_contiguous_result():
    base = torch.zeros(12, 8)
    view = base.t()  # (8, 12), non-contiguous: torch.nn.init.orthogonal_ raises here
    ours = initlib.orthogonal_(view, gain=2.0, generator=gen(4))
    assert ours is view
    torch.testing.assert_close(
        base.t(), nn.init.orthogonal_(torch.empty(8, 12), gain=2.0, generator=gen(4)), rtol=0, atol=1e-6
    )


# --- delta_orthogonal_ (Xiao et al. 2018) ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(16, 16, 3), (24, 16, 3, 3), (8, 8, 3, 5), (8, 4, 3, 3, 3)])
def test_delta_orthogonal_is_an_orthogonal_centre_tap(shape):
    w = initlib.delta_orthogonal_(torch.empty(shape, dtype=torch.float64), gain=1.7, generator=gen(3))
    centre = tuple(k // 2 for k in shape[2:])
    tap = w[(slice(None), slice(None), *centre)]
    assert torch.allclose(tap.T @ tap, 1.7**2 * torch.eye(shape[1], dtype=torch.float64), atol=1e-12)
    others = w.clone()
    others[(slice(None), slice(None), *centre)] = 0
    assert torch.count_nonzero(others) == 0
    # E[W^2] is the registered law's gain^2 / fan_out
    fan_in, fan_out = initlib.fan_in_and_fan_out(w)
    law = initlib.schemes.variance("delta_orthogonal", fan_in, fan_out, gain=1.7)
    assert float(w.square().mean()) == pytest.approx(law, rel=1e-12)


def test_delta_orthogonal_conv_keeps_every_norm():
    w = initlib.delta_orthogonal_(torch.empty(12, 8, 3, 3, dtype=torch.float64), generator=gen(1))
    x = torch.randn(4, 8, 7, 7, generator=gen(2), dtype=torch.float64)
    y = torch.nn.functional.conv2d(x, w, padding=1)
    assert torch.allclose(y.flatten(1).norm(dim=1), x.flatten(1).norm(dim=1), rtol=1e-12)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((8, 8), "3 or 4 or 5 dimensions for delta_orthogonal_"),
        ((4, 8, 3, 3), r"in_channels <= out_channels .* got shape \(4, 8, 3, 3\)"),
    ],
)
def test_delta_orthogonal_bad_input(shape, message):
    t = torch.full(shape, 7.0)
    with pytest.raises(ValueError, match=message):
        initlib.delta_orthogonal_(t)
    assert torch.all(t == 7.0)
