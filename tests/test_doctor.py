"""initlib.doctor: verdicts, fixes measured on a copy, the model left unchanged; GPT-2 with and
without its 1/sqrt(2N) branch scaling; the command line's exit codes."""

import copy
import json

import pytest
import torch
from torch import nn

import initlib
from initlib import cli
from initlib.course import demos

import real_models as R


def _same(model, state):
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_a_deep_torch_default_mlp_vanishes_and_he_fixes_it():
    torch.manual_seed(0)
    model = nn.Sequential(*[m for _ in range(12) for m in (nn.Linear(64, 64), nn.ReLU())])
    state = copy.deepcopy(model.state_dict())
    report = initlib.doctor(model, torch.randn(64, 64))
    [verdict] = report.verdicts
    assert verdict.problem == "vanishing signal" and "kaiming_normal" in verdict.fix
    # after the fix both ratios are within the limit (the effect line quotes them)
    ratios = [float(part.split()[-1]) for part in verdict.effect.replace("Var ratios ", "").split(",")]
    assert all(1 / 100 <= r <= 100 for r in ratios)
    assert _same(model, state) and not report.healthy


def test_residual_stack_torch_default_is_healthy_he_grows():
    model, x = demos.build("resnet")
    assert initlib.doctor(model, x).healthy  # branch gain (1/3)(1/2)(1/3) = 1/18: (1 + 1/18)^8 = 1.5
    initlib.init_module(model, "kaiming_normal", generator=torch.Generator().manual_seed(0))
    [verdict] = initlib.doctor(model, x).verdicts
    assert verdict.problem == "residual stream grows with depth" and "8 branches" in verdict.where
    before = float(verdict.evidence.split("Sigma = ")[1].split()[0])
    after = float(verdict.effect.split("Sigma = ")[1].split()[0])
    assert after < before / 10


@pytest.fixture(scope="module")
def gpt2_small():
    """GPT-2 small's shape (12 layers of 768, 12 heads) as transformers initializes it."""
    cfg = R.T.GPT2Config(
        n_layer=12, n_embd=768, n_head=12, vocab_size=256, n_positions=16, bos_token_id=0, eos_token_id=0
    )
    torch.manual_seed(0)
    return R.T.GPT2LMHeadModel(cfg).eval(), torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))


def test_gpt2_as_transformers_initializes_it_is_healthy(gpt2_small):
    model, x = gpt2_small
    state = copy.deepcopy(model.state_dict())
    report = initlib.doctor(model, x)
    assert report.healthy, str(report)
    assert _same(model, state)


def test_gpt2_without_its_branch_scaling_is_flagged_and_the_fix_measured(gpt2_small):
    model, x = copy.deepcopy(gpt2_small[0]), gpt2_small[1]
    with torch.no_grad():  # c_proj drawn N(0, 0.02^2) like every other layer: the 1/sqrt(2N) removed
        for block in model.transformer.h:
            for layer in (block.attn.c_proj, block.mlp.c_proj):
                layer.weight.normal_(0, 0.02, generator=torch.Generator().manual_seed(1))
    [verdict] = initlib.doctor(model, x).verdicts
    assert verdict.problem == "residual stream grows with depth" and "24 branches" in verdict.where
    before = float(verdict.evidence.split("Sigma = ")[1].split()[0])
    after = float(verdict.effect.split("Sigma = ")[1].split()[0])
    assert before > 1 > after


def test_tied_weight_drawn_for_the_embedding():
    model, x = R.gpt2(), R.tokens()
    with pytest.warns(initlib.laws.tied.TiedWeightWarning):
        initlib.init_module(model, "kaiming_normal", tied="first", generator=torch.Generator().manual_seed(0))
    verdicts = {v.problem: v for v in initlib.doctor(model, x).verdicts}
    tied = verdicts["tied weight drawn for the embedding's fans"]
    assert "lm_head.weight" in tied.where
    before = float(tied.evidence.split("output Var ")[1])
    after = float(tied.effect.split("output Var ")[1])
    assert after < before / 50  # forward factor 64 * 2 = 128 brought to 1


def test_packed_drawn_as_one_matrix_and_norms_off_their_defaults():
    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(64)
            self.qkv = nn.Linear(64, 192)
            self.proj = nn.Linear(64, 64)

        def forward(self, x):
            q, k, v = self.qkv(self.norm(x)).chunk(3, -1)
            return self.proj(torch.softmax(q @ k.transpose(-1, -2) / 8, -1) @ v)

    torch.manual_seed(0)
    model = Attention()
    nn.init.xavier_uniform_(model.qkv.weight)  # torch's fans: the (192, 64) matrix as one map
    with torch.no_grad():
        model.norm.weight.uniform_(0.5, 1.5)
    problems = {v.problem for v in initlib.doctor(model, torch.randn(4, 10, 64)).verdicts}
    assert {"packed projection drawn as one matrix", "norm layers not at their defaults"} <= problems
    initlib.init_module(model, "xavier_uniform")
    problems = {v.problem for v in initlib.doctor(model, torch.randn(4, 10, 64)).verdicts}
    assert not problems & {"packed projection drawn as one matrix", "norm layers not at their defaults"}


@pytest.mark.parametrize("name", ["bert", "llama", "vit", "resnet", "convnext"])
def test_doctor_runs_on_real_models(name):
    build, inputs = R.MODELS[name]
    model = build()
    state = copy.deepcopy(model.state_dict())
    report = initlib.doctor(model, inputs())
    assert json.loads(report.to_json())["healthy"] == report.healthy
    assert _same(model, state)


def test_cli_exit_codes_json_and_plot(capsys, tmp_path):
    assert cli.main(["doctor", "resnet"]) == 0
    assert "healthy" in capsys.readouterr().out
    figure = tmp_path / "doctor.png"
    assert cli.main(["doctor", "mlp", "--kwargs", '{"depth": 12}', "--json", "--plot", str(figure)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["healthy"] is False and out["verdicts"][0]["problem"] == "vanishing signal"
    assert figure.stat().st_size > 1000
    for argv in (
        ["doctor", "nope"],
        ["doctor", "torch.nn:Linear", "--kwargs", '{"in_features": 3, "out_features": 2}'],
        ["doctor", "mlp", "--input-shape", "8,3"],
        ["doctor", "mlp", "--tokens", "5"],
    ):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 2
    capsys.readouterr()


def test_cli_doctor_on_a_transformers_config(capsys):
    argv = [
        "doctor",
        "initlib.course.demos:transformers_model",
        "--kwargs",
        json.dumps(
            {
                "model": "LlamaForCausalLM",
                "config": {
                    "num_hidden_layers": 2,
                    "hidden_size": 64,
                    "num_attention_heads": 4,
                    "intermediate_size": 128,
                    "vocab_size": 100,
                },
            }
        ),
        "--input-shape",
        "2,8",
        "--tokens",
        "100",
        "--json",
    ]
    assert cli.main(argv) in (0, 1)
    assert "verdicts" in json.loads(capsys.readouterr().out)
    with pytest.raises(SystemExit) as exit_:
        cli.main(
            [
                "doctor",
                "initlib.course.demos:transformers_model",
                "--kwargs",
                '{"model": "NoSuchModel"}',
                "--input-shape",
                "2,8",
            ]
        )
    assert exit_.value.code == 2


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        initlib.doctor("model", torch.randn(2, 3))
    with pytest.raises(TypeError, match="inputs must be a tensor"):
        initlib.doctor(nn.Linear(3, 2), "x")
    with pytest.raises(ValueError, match="seed"):
        initlib.doctor(nn.Linear(3, 2), torch.randn(2, 3), seed=-1)
    with pytest.raises(ValueError, match="failed on input of shape"):
        initlib.doctor(nn.Linear(3, 2), torch.randn(2, 4))
