"""module_fans by measurement: draw W, feed unit-variance inputs and gradients through the module's own
forward and backward, and check Var[y] = fan_in E[W^2] Var[x] and Var[dL/dx] = fan_out E[W^2] Var[dL/dy]
on the interior (away from padding borders), within 8%.

Packed weights are measured chunk by chunk, each in the slot of the computation whose output can be
read off exactly: MultiheadAttention over one position outputs out_proj(x W_v^T), so with out_proj = I
each q/k/v chunk is measured in the v slot; an LSTM (GRU) step from a zero state with small inputs
outputs z_g / 4 (z_n / 2) to first order, so each gate is measured in the g (n) slot with the other
gates at 0. The inputs are scaled by 1e-4 there, so tanh and sigmoid are linear to 1e-8.
"""

import functools
import math

import pytest
import torch
from torch import nn

import initlib

TOLERANCE = 0.08
EPS = 1e-4


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def measure(forward, x: torch.Tensor, weight: torch.Tensor, crop_y=lambda t: t, crop_x=lambda t: t, scale=1.0):
    """(fan_in, fan_out) measured: second moments of outputs and input gradients over E[W^2]."""
    x = x.clone().requires_grad_(True)
    y = forward(x) / scale
    g = torch.randn(y.shape, dtype=y.dtype, generator=gen(99))
    (y * g).sum().backward()
    m2 = float(weight.detach().pow(2).mean())
    fan_in = float(crop_y(y.detach()).pow(2).mean()) / (m2 * float(x.detach().pow(2).mean()))
    fan_out = float(crop_x(x.grad).pow(2).mean()) / (m2 * float(g.pow(2).mean()))
    return fan_in, fan_out


def relative_error(measured, computed) -> float:
    return max(abs(m / c - 1) for m, c in zip(measured, computed))


def assert_fans(rows):
    """rows: (what, measured (fan_in, fan_out), module_fans' (fan_in, fan_out)), one per weight measured."""
    for what, measured, computed in rows:
        for m, c, side in zip(measured, computed, ("fan_in", "fan_out")):
            assert abs(m / c - 1) < TOLERANCE, f"{what} {side}: measured {m:.4g}, module_fans {c:.4g}"


# The measurements below are pure functions of their arguments (every weight and input comes from a seeded
# generator), cached so that the summary at the end and the test of each kind share one run, in any order.


def normal_weights(module: nn.Module) -> nn.Module:
    """Every weight N(0, 1), every bias 0: E[W^2] is whatever the draw realises."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.normal_(generator=gen(1)) if "weight" in name else p.zero_()
    return module.double()


def interior(spatial: int, margin: int, period: int):
    """Crop each spatial dim to a window that starts ``margin`` in and spans whole stride periods."""

    def crop(t):
        for dim in range(2, 2 + spatial):
            n = t.shape[dim]
            t = t.narrow(dim, margin, (n - 2 * margin) // period * period)
        return t

    return crop


LINEAR_AND_CONV = [
    ("Linear", lambda: nn.Linear(48, 80), (4096, 48)),
    ("Conv1d", lambda: nn.Conv1d(8, 16, 5), (16, 8, 200)),
    ("Conv1d stride 2", lambda: nn.Conv1d(8, 12, 4, stride=2), (16, 8, 202)),
    ("Conv2d groups 2", lambda: nn.Conv2d(8, 16, 3, groups=2), (16, 8, 24, 24)),
    ("Conv2d depthwise", lambda: nn.Conv2d(16, 16, 3, groups=16, padding=1), (16, 16, 24, 24)),
    ("Conv3d", lambda: nn.Conv3d(4, 8, 3, dilation=2), (8, 4, 20, 20, 20)),
    ("ConvTranspose1d stride 2", lambda: nn.ConvTranspose1d(8, 4, 4, stride=2), (16, 8, 200)),
    ("ConvTranspose2d(32, 16, 4, stride=2)", lambda: nn.ConvTranspose2d(32, 16, 4, stride=2), (8, 32, 12, 12)),
    ("ConvTranspose2d groups 2", lambda: nn.ConvTranspose2d(8, 12, 3, groups=2), (16, 8, 20, 20)),
    ("ConvTranspose3d k3 stride 2", lambda: nn.ConvTranspose3d(4, 8, 3, stride=2), (4, 4, 14, 14, 14)),
]


@functools.cache
def linear_or_conv_rows(what: str) -> tuple:
    make, shape = {c[0]: c[1:] for c in LINEAR_AND_CONV}[what]
    module = normal_weights(make())
    spatial = len(shape) - 2
    if spatial:
        margin = max(k * d for k, d in zip(module.kernel_size, module.dilation))
        crop = interior(spatial, margin, max(module.stride))
    else:
        crop = lambda t: t  # noqa: E731
    x = torch.randn(shape, dtype=torch.float64, generator=gen(2))
    measured = measure(module, x, module.weight, crop, crop)
    return ((what, measured, tuple(initlib.module_fans(module)["weight"])),)


@pytest.mark.parametrize("what", [c[0] for c in LINEAR_AND_CONV])
def test_linear_and_conv_fans_by_measurement(what):
    assert_fans(linear_or_conv_rows(what))


def test_the_issues_numbers_and_torchs():
    depthwise, transposed = nn.Conv2d(64, 64, 3, groups=64), nn.ConvTranspose2d(32, 16, 4, stride=2)
    assert initlib.module_fans(depthwise)["weight"] == (9, 9)
    assert initlib.module_fans(transposed)["weight"] == (128, 256)
    assert nn.init._calculate_fan_in_and_fan_out(depthwise.weight) == (9, 576)
    assert nn.init._calculate_fan_in_and_fan_out(transposed.weight) == (256, 512)


E = 64


@functools.cache
def attention_rows(chunk: int) -> tuple:
    e = E
    mha = normal_weights(nn.MultiheadAttention(e, 4))
    packed = mha.in_proj_weight.detach().clone()
    with torch.no_grad():
        mha.in_proj_weight[2 * e :] = packed[chunk * e : (chunk + 1) * e]  # the chunk, in the v slot
        nn.init.eye_(mha.out_proj.weight)
    x = torch.randn(1, 2048, e, dtype=torch.float64, generator=gen(3))  # one position: attention weight 1
    measured = measure(lambda t: mha(t, t, t, need_weights=False)[0], x, packed[chunk * e : (chunk + 1) * e])
    return ((f"in_proj chunk {chunk}", measured, tuple(initlib.module_fans(mha)["in_proj_weight"])),)


@pytest.mark.parametrize("chunk", [0, 1, 2], ids=["q", "k", "v"])
def test_attention_chunks_by_measurement(chunk):
    fans = initlib.module_fans(nn.MultiheadAttention(E, 4))
    assert fans["in_proj_weight"].chunks == 3
    assert_fans(attention_rows(chunk))
    assert fans["out_proj.weight"] == (E, E)


def test_attention_with_other_key_and_value_sizes():
    fans = initlib.module_fans(nn.MultiheadAttention(32, 4, kdim=12, vdim=20))
    assert fans == {
        "q_proj_weight": (32, 32),
        "k_proj_weight": (12, 32),
        "v_proj_weight": (20, 32),
        "out_proj.weight": (32, 32),
    }


# (module class, gate letters, the observable slot, the first-order output of that slot from x and from h:
# z * factor; a GRU's reset gate (1/2 at 0) halves the h path once more)
RECURRENT = [
    (nn.RNN, "h", 0, {"ih": 1.0, "hh": 1.0}),
    (nn.LSTM, "ifgo", 2, {"ih": 0.25, "hh": 0.25}),
    (nn.GRU, "rzn", 2, {"ih": 0.5, "hh": 0.25}),
]


def _one_step(module, source: str):
    """One step from (x, h0): which of the two is the input being measured."""

    def forward(t):
        if source == "ih":
            return module(t)[0][0]
        h0 = t.unsqueeze(0)
        state = (h0, torch.zeros_like(h0)) if isinstance(module, nn.LSTM) else h0
        out = module(torch.zeros(1, t.shape[0], module.input_size, dtype=t.dtype), state)[0][0]
        return out - 0.5 * t if isinstance(module, nn.GRU) else out  # GRU's update gate passes z * h0 = h0 / 2

    return forward


@functools.cache
def recurrent_rows(kind: type, source: str) -> tuple:
    _, gates, slot, factor = next(r for r in RECURRENT if r[0] is kind)
    inputs, hidden = 24, 40
    module = normal_weights(kind(inputs, hidden))
    name = f"weight_{source}_l0"
    fans = tuple(initlib.module_fans(module)[name])
    rows = []
    weight = getattr(module, name).detach().clone()
    for gate in range(len(gates)):
        chunk = weight[gate * hidden : (gate + 1) * hidden]
        with torch.no_grad():
            getattr(module, name).zero_()
            getattr(module, name)[slot * hidden : (slot + 1) * hidden] = chunk
        size = inputs if source == "ih" else hidden
        x = EPS * torch.randn(
            (1, 4096, size) if source == "ih" else (4096, size), dtype=torch.float64, generator=gen(4)
        )
        measured = measure(_one_step(module, source), x, chunk, scale=factor[source])
        rows.append((f"{kind.__name__} {name} gate {gates[gate]}", measured, fans))
    return tuple(rows)


@pytest.mark.parametrize("kind,gates", [r[:2] for r in RECURRENT], ids=[r[0].__name__ for r in RECURRENT])
@pytest.mark.parametrize("source", ["ih", "hh"])
def test_recurrent_gates_by_measurement(kind, gates, source):
    assert initlib.module_fans(kind(24, 40))[f"weight_{source}_l0"].chunks == len(gates)
    rows = recurrent_rows(kind, source)
    assert len(rows) == len(gates)
    assert_fans(rows)


@pytest.mark.parametrize("kind", [nn.RNN, nn.LSTM, nn.GRU])
def test_every_layer_and_direction_has_the_fans_of_its_own_step(kind):
    stacked = initlib.module_fans(kind(10, 16, num_layers=3, bidirectional=True))
    assert len(stacked) == 3 * 2 * 2
    for layer in range(3):
        inputs = 10 if layer == 0 else 2 * 16  # a later layer reads both directions of the one below
        single = initlib.module_fans(kind(inputs, 16))
        for suffix in ("", "_reverse"):
            assert stacked[f"weight_ih_l{layer}{suffix}"] == single["weight_ih_l0"]
            assert stacked[f"weight_hh_l{layer}{suffix}"] == single["weight_hh_l0"]


def test_lstm_projection_and_cells():
    fans = initlib.module_fans(nn.LSTM(10, 16, proj_size=6))
    assert fans["weight_ih_l0"] == (10, 16) and fans["weight_hh_l0"] == (6, 16) and fans["weight_hr_l0"] == (16, 6)
    assert initlib.module_fans(nn.GRUCell(10, 16))["weight_ih"].chunks == 3
    assert initlib.module_fans(nn.LSTMCell(10, 16))["weight_hh"] == (16, 16)


def _embedding_and_tokens():
    return normal_weights(nn.Embedding(500, 32)), torch.randint(0, 500, (8192,), generator=gen(5))


@functools.cache
def embedding_rows() -> tuple:
    emb, idx = _embedding_and_tokens()
    onehot = nn.functional.one_hot(idx, 500).double()
    x_m2 = 1.0  # the one active input is 1 (what "unit variance" is for a token)
    y = emb(idx).detach()
    fan_in = float(y.pow(2).mean()) / (float(emb.weight.detach().pow(2).mean()) * x_m2)
    onehot.requires_grad_(True)
    g = torch.randn(8192, 32, dtype=torch.float64, generator=gen(6))
    ((onehot @ emb.weight) * g).sum().backward()
    fan_out = float(onehot.grad.pow(2).mean()) / (float(emb.weight.detach().pow(2).mean()) * float(g.pow(2).mean()))
    return (("Embedding", (fan_in, fan_out), tuple(initlib.module_fans(emb)["weight"])),)


def test_embedding_by_measurement():
    emb, idx = _embedding_and_tokens()
    with torch.no_grad():  # the measurement's premise: a lookup is a one-hot row times W
        torch.testing.assert_close(nn.functional.one_hot(idx, 500).double() @ emb.weight, emb(idx))
    assert_fans(embedding_rows())


def test_module_fans_names_and_errors():
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Conv1d(8, 8, 3, bias=False))
    assert initlib.module_fans(model) == {"0.weight": (4, 8), "2.weight": (24, 24)}
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        initlib.module_fans(torch.empty(3, 3))
    assert math.isclose(initlib.module_fans(nn.ConvTranspose1d(3, 2, 3, stride=2))["weight"][0], 4.5)


def test_summary_of_the_measurements():
    # Every measurement above (computed here if no test ran it yet); prints the table with `pytest -s`.
    rows = [row for what, *_ in LINEAR_AND_CONV for row in linear_or_conv_rows(what)]
    rows += [row for chunk in range(3) for row in attention_rows(chunk)]
    rows += [row for kind, *_ in RECURRENT for source in ("ih", "hh") for row in recurrent_rows(kind, source)]
    rows += embedding_rows()
    print("\nmodule kind: measured (fan_in, fan_out) vs module_fans, relative error")
    for what, measured, computed in rows:
        print(
            f"  {what}: {tuple(round(m, 2) for m in measured)} vs {computed}, {relative_error(measured, computed):.2%}"
        )
    worst = max(relative_error(measured, computed) for _, measured, computed in rows)
    print(f"worst over all {len(rows)} weights measured: {worst:.2%}")
    assert len({what for what, *_ in rows}) == len(rows) == 30
    assert worst < TOLERANCE
