"""initlib.audit on every demo model, its command line, and init_module over real modules."""

import json
import math
import subprocess
import sys
import warnings

import pytest
import torch
from torch import nn

import initlib
from initlib import cli
from initlib.course import demos

from tolerances import assert_variance

KEYS = {
    "name",
    "module",
    "shape",
    "fan_in",
    "fan_out",
    "std",
    "forward_factor",
    "backward_factor",
    "matches",
    "distribution",
    "notes",
}


def rows_of(report, start):
    return [row for row in report.rows if row["name"].startswith(start)]


@pytest.mark.parametrize("name", sorted(demos.DEMOS))
def test_audit_covers_every_parameter_of_every_demo(name):
    model, _ = demos.build(name)
    report = initlib.audit(model)
    assert all(set(row) == KEYS for row in report.rows)
    fans = initlib.module_fans(model)
    expected = sum(fans[n].chunks if n in fans else 1 for n, _ in model.named_parameters())
    assert len(report.rows) == expected  # one row per parameter, one per chunk of a packed one
    assert json.loads(report.to_json())["rows"] == json.loads(json.dumps(report.to_dict()["rows"]))
    table = str(report)
    assert table.splitlines()[0].split() == [
        "name",
        "module",
        "shape",
        "fan_in",
        "fan_out",
        "std",
        "forward_factor",
        "backward_factor",
        "matches",
    ]
    for row in report.rows:
        if row["fan_in"] is not None:
            m2 = float(row["forward_factor"]) / row["fan_in"]
            assert row["backward_factor"] == pytest.approx(row["fan_out"] * m2)
    # torch's defaults everywhere: every weight and bias matches a known law
    assert all(row["matches"] is not None for row in report.rows), [r["name"] for r in report.rows if not r["matches"]]


def test_audit_flags_the_traps_on_the_demo_models():
    cnn = initlib.audit(demos.build("cnn")[0])
    assert [row["name"] for row in cnn.flagged] == ["8.weight"]
    assert cnn.flagged[0]["notes"][0].startswith("depthwise conv: torch's fans (9, 288)")
    assert (cnn.flagged[0]["fan_in"], cnn.flagged[0]["fan_out"]) == (9, 9)

    transformer = initlib.audit(demos.build("transformer")[0])
    q = rows_of(transformer, "1.layers.0.self_attn.in_proj_weight[q]")[0]
    assert q["matches"] == "torch_default" and q["notes"][0].startswith("packed q/k/v")
    assert q["forward_factor"] == pytest.approx(0.5, abs=6 * math.sqrt(2 / 64**2) * 0.5)  # E * 1/(2E)
    embedding = rows_of(transformer, "0.weight")[0]
    assert "normal(0,1)" in embedding["matches"] and "torch's N(0,1) default" in embedding["notes"][0]
    copies = rows_of(transformer, "1.layers.1.linear1.weight")[0]["notes"]
    assert copies and copies[-1].startswith("identical to 1.layers.0.linear1.weight")

    lstm = initlib.audit(demos.build("lstm")[0])
    gates = rows_of(lstm, "0.weight_ih_l0[")
    assert [row["name"][-3:] for row in gates] == ["[i]", "[f]", "[g]", "[o]"]
    assert all("Var 1/(3H)" in row["notes"][0] for row in gates)
    assert gates[0]["forward_factor"] == pytest.approx(16 / (3 * 32), rel=0.25)

    for name in ("mlp", "resnet"):  # Linear layers only: torch's default is Glorot's eq. (1), no trap
        report = initlib.audit(demos.build(name)[0])
        assert report.flagged == []
        assert {row["matches"] for row in report.rows if row["fan_in"]} == {"torch_default = glorot_eq1"}


def test_audit_of_transposed_conv_and_a_re_initialized_model():
    row = initlib.audit(nn.ConvTranspose2d(32, 16, 4, stride=2)).rows[0]
    assert (row["fan_in"], row["fan_out"]) == (128, 256)
    assert "torch's fans (256, 512)" in row["notes"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every parameter of the transformer has a rule: nothing left alone
        model = initlib.init_module(demos.build("transformer")[0], "xavier_uniform")
    report = initlib.audit(model)
    for row in rows_of(report, "1.layers.0.self_attn.in_proj_weight["):
        assert "glorot" in row["matches"]  # per chunk: 1/E, no longer torch's 1/(2E)
    assert rows_of(report, "1.layers.0.linear1.bias")[0]["matches"] == "zeros"


def test_audit_rejects_non_modules():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        initlib.audit("mlp")


# --- the command line ----------------------------------------------------------------------------------


def test_cli_audit_table_and_json(capsys):
    assert cli.main(["audit", "cnn"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[0] == "name" and "* 8.weight: depthwise conv" in out
    spec = [
        "audit",
        "torch.nn:Conv2d",
        "--kwargs",
        '{"in_channels": 64, "out_channels": 64, "kernel_size": 3, "groups": 64}',
        "--json",
    ]
    assert cli.main(spec) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["rows"][0]["fan_in"], data["rows"][0]["fan_out"]) == (9, 9)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["audit", "nope"], "spec must be one of 'mlp'"),
        (["audit", "math:pi"], "'pi' is not callable"),
        (["audit", "mlp", "--kwargs", "{bad"], "--kwargs: must be a JSON object"),
        (["audit", "mlp", "--kwargs", '{"bogus": 1}'], "rejects kwargs"),
    ],
)
def test_cli_audit_bad_spec_exits_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_python_dash_m_audit():
    done = subprocess.run([sys.executable, "-m", "initlib", "audit", "lstm", "--json"], capture_output=True, text=True)
    assert done.returncode == 0 and len(json.loads(done.stdout)["rows"]) == 22


# --- init_module over real modules ------------------------------------------------------------------------


def test_init_module_draws_packed_weights_chunk_by_chunk_with_module_fans():
    e = 256
    mha = initlib.init_module(nn.MultiheadAttention(e, 4), "xavier_normal", generator=torch.Generator().manual_seed(0))
    for chunk in mha.in_proj_weight.detach().chunk(3):
        assert_variance(chunk, 1 / e, "normal")  # Glorot per block: 2 / (E + E)
    assert torch.count_nonzero(mha.in_proj_bias) == 0 and torch.count_nonzero(mha.out_proj.bias) == 0
    depthwise = initlib.init_module(nn.Conv2d(512, 512, 3, groups=512), "kaiming_normal")
    assert_variance(depthwise.weight.detach(), 2 / 9, "normal")  # fan_in 9 (torch's too)
    transposed = initlib.init_module(nn.ConvTranspose2d(64, 64, 4, stride=2), "kaiming_normal", mode="fan_out")
    assert_variance(transposed.weight.detach(), 2 / (64 * 16), "normal")  # fan_out = out * k^2 = 1024
    lstm = initlib.init_module(nn.LSTM(100, 200), "xavier_uniform")
    for gate in lstm.weight_ih_l0.detach().chunk(4):
        assert_variance(gate, 2 / 300, "uniform")  # per gate: (input 100, hidden 200)


def test_init_module_is_torch_exact_for_linear_layers():
    ours = nn.Linear(30, 20)
    theirs = nn.Linear(30, 20)
    initlib.init_module(ours, "xavier_uniform", generator=torch.Generator().manual_seed(3))
    nn.init.xavier_uniform_(theirs.weight, generator=torch.Generator().manual_seed(3))
    assert torch.equal(ours.weight, theirs.weight)


def test_init_module_bias_policies_and_forget_gate():
    g = torch.Generator().manual_seed(0)
    lstm = initlib.init_module(nn.LSTM(8, 64, 2), "orthogonal", bias="torch", forget_bias=1.0, generator=g)
    h = 64
    for layer in (0, 1):
        b_ih, b_hh = getattr(lstm, f"bias_ih_l{layer}").detach(), getattr(lstm, f"bias_hh_l{layer}").detach()
        assert torch.all(b_ih[h : 2 * h] == 1.0) and torch.all(b_hh[h : 2 * h] == 0.0)
        others = torch.cat([b_ih[:h], b_ih[2 * h :], b_hh[:h], b_hh[2 * h :]])
        assert float(others.abs().max()) <= 1 / math.sqrt(h) and float(others.abs().max()) > 0.5 / math.sqrt(h)
    linear = initlib.init_module(nn.Linear(400, 300), "xavier_uniform", bias="torch")
    assert float(linear.bias.detach().abs().max()) <= 1 / math.sqrt(400)
    assert_variance(linear.bias.detach(), 1 / (3 * 400), "uniform")
    emb = initlib.init_module(nn.Embedding(50, 8, padding_idx=3), "lecun_normal")
    assert torch.count_nonzero(emb.weight[3]) == 0 and torch.count_nonzero(emb.weight) == 49 * 8


def test_init_module_names_what_it_leaves_alone_and_can_refuse():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 4)
            self.alpha = nn.Parameter(torch.tensor(0.5))

    model = nn.Sequential(Scaled(), nn.LayerNorm(4), nn.Bilinear(4, 4, 2))
    with pytest.warns(initlib.LeftAloneWarning, match=r"left 3 parameter\(s\).*0.alpha, 2.weight, 2.bias") as caught:
        initlib.init_module(model, "xavier_uniform")
    assert caught[0].message.names == ["0.alpha", "2.weight", "2.bias"]
    assert float(model[0].alpha.detach()) == 0.5 and torch.all(model[1].weight == 1)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="left 3 parameter"):
        initlib.init_module(model, "xavier_uniform", left_alone="raise")
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_init_module_lstm_and_demo_models_no_longer_skipped():
    lstm, _ = demos.build("lstm")
    before = {n: p.detach().clone() for n, p in lstm.named_parameters()}
    initlib.init_module(lstm, "xavier_uniform")
    assert all(not torch.equal(before[n], p) for n, p in lstm.named_parameters() if "weight" in n)


def test_init_module_is_atomic_across_module_kinds():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's own reset of the empty Linear warns
        model = nn.Sequential(nn.LSTM(4, 8), nn.Linear(8, 0))  # a zero-element weight fails a strict scheme

    def strict(w, **kwargs):
        if w.numel() == 0:
            raise ValueError("empty weight refused")
        return initlib.normal_(w, **kwargs)

    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="empty weight refused"):
        initlib.init_module(model, strict)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"bias": "uniform"}, r"bias must be one of 'zeros', 'torch'"),
        ({"left_alone": "ignore"}, r"left_alone must be one of 'warn', 'raise'"),
        ({"forget_bias": "1"}, r"forget_bias must be a real number"),
    ],
)
def test_init_module_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        initlib.init_module(nn.LSTM(4, 8), "xavier_uniform", **kwargs)
