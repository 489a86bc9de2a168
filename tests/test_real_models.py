"""Each finding of the real-models review (shared/reviews/real-models.md), pinned on the kind of
model where it was found, built from a tiny transformers config (no download)."""

import math
import warnings

import pytest
import torch
from torch import nn

import initlib
from initlib.laws.tied import TiedWeightWarning

import real_models as R

pytestmark = pytest.mark.filterwarnings("ignore::initlib.LeftAloneWarning")


@pytest.mark.parametrize("name", sorted(R.MODELS))
def test_probe_and_audit_run_on_every_model(name):
    build, inputs = R.MODELS[name]
    model = build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = initlib.probe(model, inputs()).rows
    assert rows and all(math.isfinite(r["out_var"]) for r in rows)
    # every weight layer gets a gradient, but BertModel's pooler, which feeds only its second output
    layers = [r for r in rows if r["type"] in ("Linear", "Conv2d", "Conv1D") and not r["name"].startswith("pooler")]
    assert layers and all(r["grad_out_var"] is not None for r in layers)
    report = initlib.audit(model)
    assert {r["name"].split("[")[0] for r in report.rows} >= {n for n, _ in model.named_parameters()}
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


# F1: a ModelOutput (every transformers model) and a plain dict


def test_f1_probe_reads_a_model_output_and_a_dict():
    model, x = R.gpt2(), R.tokens()
    rows = initlib.probe(model, x).rows
    assert rows[-1]["name"] == "lm_head" and rows[-1]["grad_out_var"] == pytest.approx(1.0, rel=0.05)

    class DictOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            return {"logits": self.lin(x), "extra": None}

    assert initlib.probe(DictOut(), torch.randn(8, 4)).rows[0]["grad_out_var"] == pytest.approx(1.0, rel=0.5)


def test_f1_an_output_without_a_float_tensor_is_a_clear_error():
    class Ids(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            return {"ids": self.lin(x).argmax(-1)}

    with pytest.raises(ValueError, match="no floating-point tensor.*loss="):
        initlib.probe(Ids(), torch.randn(8, 4))


# F2: tied weights (GPT-2's wte and lm_head) in probe


def test_f2_probe_on_tied_weights_gives_both_users_the_summed_gradient():
    model, x = R.gpt2(), R.tokens()
    rows = {r["name"]: r for r in initlib.probe(model, x, loss=lambda o: o.logits.pow(2).mean()).rows}
    model.zero_grad()
    model(x).logits.pow(2).mean().backward()
    expected = float(model.lm_head.weight.grad.var(unbiased=False))
    assert rows["lm_head"]["weight_grad_var"] == pytest.approx(expected, rel=1e-4)
    assert rows["transformer.wte"]["weight_grad_var"] == rows["lm_head"]["weight_grad_var"]


# F3 / item 5: tied parameters drawn once by the read-out's rule, named, audited


def test_f3_tied_drawn_by_the_readout_and_named():
    model, x = R.gpt2(width=64), R.tokens()
    with pytest.warns(TiedWeightWarning, match=r"transformer\.wte\.weight \(Embedding\) = lm_head\.weight"):
        initlib.init_module(model, "kaiming_normal", generator=torch.Generator().manual_seed(0))
    m2 = float(model.lm_head.weight.detach().pow(2).mean())
    assert m2 == pytest.approx(2 / 64, rel=0.05)  # He with the read-out's fan_in 64, not the Embedding's 1
    with torch.no_grad():
        hidden = model.transformer(x).last_hidden_state
        logits = model(x).logits
    # the read-out multiplies E[h^2] by its forward factor fan_in E[W^2] = 2, not 64 * 2 = 128
    assert float(logits.pow(2).mean()) / float(hidden.pow(2).mean()) == pytest.approx(2.0, rel=0.25)
    with pytest.warns(TiedWeightWarning):
        initlib.init_module(model, "kaiming_normal", tied="first")
    assert float(model.lm_head.weight.detach().pow(2).mean()) == pytest.approx(2.0, rel=0.05)
    with pytest.raises(ValueError, match="tied must be one of 'readout', 'first'"):
        initlib.init_module(model, tied="lm_head")


def test_f3_audit_lists_every_user_of_a_tied_tensor():
    report = initlib.audit(R.gpt2())
    [row] = [r for r in report.rows if r["name"] == "transformer.wte.weight"]
    assert any("lm_head.weight (Linear, fans (64, 500)" in note for note in row["notes"])
    assert not any(r["name"] == "lm_head.weight" for r in report.rows)  # one tensor, one row


def test_f3_width_parametrize_on_a_tied_model():
    wide, base = R.gpt2(width=128), R.gpt2(width=64)
    with pytest.warns(TiedWeightWarning):
        plan = initlib.width.parametrize_(wide, base, "mup")
    assert "transformer.wte.weight" in plan.lr_mult and wide.lm_head.weight is wide.transformer.wte.weight


# F4, F8, F9: residual_init_ on ResNets and ConvNeXt


class BasicBlock(nn.Module):
    """torchvision's BasicBlock, module for module: ``downsample`` registered after ``bn2``."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + self.downsample(x))


def test_f4_the_shortcut_is_not_the_branch_torchvision_layout():
    torch.manual_seed(0)
    blocks = [BasicBlock(8, 16, 2), BasicBlock(16, 32, 2)]
    shortcut = [b.downsample[0].weight.detach().clone() for b in blocks]
    report = initlib.residual_init_(blocks, "zero_last")
    assert report["shortcuts"] == 2 and report["norm_scaled"] == 2
    for b, w in zip(blocks, shortcut):
        assert torch.equal(b.downsample[0].weight, w)  # left alone
        assert float(b.bn2.weight.detach().abs().sum()) == 0 and float(b.conv2.weight.detach().abs().sum()) > 0
    x = torch.randn(4, 8, 16, 16)
    y = blocks[0].train()(x)
    assert float(y.detach().var()) > 0.1  # the shortcut path is alive: not a constant output


def test_f4_f9_transformers_resnet_blocks():
    model = R.resnet().train()
    blocks = [layer for stage in model.encoder.stages for layer in stage.layers]
    x = R.images()
    report = initlib.residual_init_(blocks, "scaled")
    assert report["shortcuts"] == 1 and report["norm_scaled"] == len(blocks) == 4
    last_bn = [b.layer[-1].normalization for b in blocks]
    assert all(torch.allclose(bn.weight, torch.full_like(bn.weight, 0.5)) for bn in last_bn)  # 1/sqrt(4)
    # F9: the branch's output is scaled in train mode, where BN renormalizes any scale on the conv
    block = blocks[1]
    h = model.embedder(x)
    h = blocks[0](h)
    with torch.no_grad():
        branch = block.layer(h)
    assert float(branch.var()) == pytest.approx(0.25, rel=0.05)


def test_f8_residual_init_uses_module_fans_on_a_depthwise_conv():
    model = R.convnext()
    layers = [layer for stage in model.encoder.stages for layer in stage.layers]
    initlib.residual_init_(layers, "scaled", "xavier_normal", generator=torch.Generator().manual_seed(0))
    dw = layers[0].dwconv  # Conv2d(16, 16, 7, groups=16): fans (49, 49)
    assert float(dw.weight.detach().pow(2).mean()) == pytest.approx(2 / 98, rel=0.1)


# F5: lsuv_ on GPT-2: Conv1D layers scaled, the tied embedding left alone and named


def test_f5_lsuv_scales_conv1d_and_names_what_it_skips():
    model, x = R.gpt2(), R.tokens()
    wte = model.transformer.wte.weight.detach().clone()
    with pytest.warns(UserWarning, match=r"lm_head \(Linear\): its weight is tied to transformer\.wte\.weight"):
        report = initlib.lsuv_(model, x)
    assert torch.equal(model.transformer.wte.weight, wte)
    assert report.column("type").count("Conv1D") == 8 and all(report.column("converged"))
    assert any(line.startswith("transformer.wpe (Embedding)") for line in report.skipped)


# F6: audit's matches on the inits these models use


def test_f6_he_fan_out_and_normal_laws():
    rows = initlib.audit(R.resnet()).rows
    convs = [r for r in rows if r["module"] == "Conv2d"]
    # transformers' ResNet draws kaiming_normal_(mode="fan_out") for every conv
    assert all("he_fan_out" in r["matches"] or r["fan_in"] == r["fan_out"] and r["matches"] == "he" for r in convs)
    assert not any("torch_default" in (r["matches"] or "") for r in convs)
    bert = [r for r in initlib.audit(R.bert()).rows if r["module"] == "Linear" and r["fan_in"] is not None]
    assert all(r["matches"] == "normal(0.02)" for r in bert)
    assert all(r["distribution"] == "normal" for r in bert if r["fan_in"] * r["fan_out"] >= 16384)


def test_f6_a_normal_draw_is_not_torch_default():
    layer = nn.Conv2d(64, 128, 3)
    g = torch.Generator().manual_seed(0)
    assert initlib.audit(layer).rows[0]["matches"].startswith("torch_default")
    assert initlib.audit(layer).rows[0]["distribution"] == "uniform"
    with torch.no_grad():  # the same E[W^2] as torch's default, drawn normal
        layer.weight.normal_(0, math.sqrt(1 / (3 * 576)), generator=g)
    row = initlib.audit(layer).rows[0]
    assert row["distribution"] == "normal" and "torch_default" not in (row["matches"] or "")


# F7 / item 4: packed projections


def test_f7_gpt2_c_attn_is_three_blocks():
    model = R.gpt2()
    fans = initlib.module_fans(model)["transformer.h.0.attn.c_attn.weight"]
    assert tuple(fans) == (64, 64) and fans.chunks == 3 and fans.transposed
    with pytest.warns(TiedWeightWarning):
        initlib.init_module(model, "xavier_normal", generator=torch.Generator().manual_seed(0))
    w = model.transformer.h[0].attn.c_attn.weight.detach()  # (in, 3 E)
    for block in w.split(64, dim=1):
        assert float(block.pow(2).mean()) == pytest.approx(1 / 64, rel=0.1)  # Glorot per block: 2/(E+E)


def test_item4_timm_style_qkv_user_patterns_and_gqa():
    model = nn.ModuleDict({"qkv": nn.Linear(192, 576), "fused": nn.Linear(64, 96)})
    fans = initlib.module_fans(model)
    assert fans["qkv.weight"].chunks == 3 and fans["fused.weight"].chunks == 1
    fans = initlib.module_fans(model, packed={"fused": (64, 16, 16), "qkv": 1})
    assert fans["qkv.weight"].chunks == 1
    assert [tuple(f) for _, _, f in fans["fused.weight"].blocks(96)] == [(64, 64), (64, 16), (64, 16)]
    initlib.init_module(
        model, "xavier_normal", packed={"fused": (64, 16, 16)}, generator=torch.Generator().manual_seed(0)
    )
    k = model["fused"].weight.detach()[64:80]
    assert float(k.pow(2).mean()) == pytest.approx(2 / 80, rel=0.2)  # the k block: fans (64, 16)
    with pytest.raises(ValueError, match=r"block sizes \(64, 16\) add up to 80"):
        initlib.module_fans(model, packed={"fused": (64, 16)})


def test_item4_llama_gqa_k_v_have_their_own_fans():
    fans = initlib.module_fans(R.llama())
    assert tuple(fans["model.layers.0.self_attn.q_proj.weight"]) == (64, 64)
    assert tuple(fans["model.layers.0.self_attn.k_proj.weight"]) == (64, 32)  # 2 kv heads of 16


# F10: RMSNorm, Conv1D fans in audit


def test_f10_rmsnorm_and_conv1d():
    norm = nn.RMSNorm(8)
    with torch.no_grad():
        norm.weight.mul_(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        initlib.init_module(norm)
    assert torch.equal(norm.weight, torch.ones(8))
    rows = {r["name"]: r for r in initlib.audit(R.gpt2()).rows}
    mlp = rows["transformer.h.0.mlp.c_fc.weight"]
    assert (mlp["fan_in"], mlp["fan_out"]) == (64, 256) and "Conv1D stores its weight (in, out)" in mlp["notes"][0]
