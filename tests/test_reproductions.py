"""Each reproduction's quick preset runs, and writes its data with full provenance."""

import json
import math
import subprocess

import pytest
import torch
from torch import nn

import initlib
from initlib.course import data as datasets
from initlib.course import results
from initlib.measure import ensembles
from initlib.theory import trainability
from reproductions import SCRIPTS, glorot_table1, he_fig3, trainable_depth


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    for script in (glorot_table1, he_fig3, trainable_depth):
        script.main(["--preset", "quick", "--device", "cpu", "--quiet", "--out", str(folder)])
    return {name: results.load(name, directory=folder) for name in SCRIPTS}


def test_every_script_writes_full_provenance(stored):
    assert set(stored) == {"glorot_table1", "he_fig3", "trainable_depth"}
    for name, result in stored.items():
        assert set(result.provenance) == set(results.FIELDS)
        assert result.provenance["preset"] == "quick" and result.provenance["device"].startswith("cpu")
        assert f"reproductions.{name} --preset quick" in result.provenance["command"]
        assert str(result).startswith(f"Loaded from results/{name}.json")


def test_glorot_table1_rows(stored):
    d = stored["glorot_table1"].data
    pairs = [(r["activation"], r["init"]) for r in d["rows"]]
    assert pairs == list(glorot_table1.PAPER)
    assert d["updates"] == glorot_table1.PRESETS["quick"]["updates"] and d["batch"] == 10 and d["online"]
    assert d["examples_seen"] == 10 * d["updates"]
    for r in d["rows"]:
        assert 0 <= r["test_error"] <= 1 and r["paper_test_error"] == glorot_table1.PAPER[(r["activation"], r["init"])]
        # the rate is the grid's best on validation, and the test error is that member's, at the last update
        assert not all(r["diverged"]) and r["valid_errors"][r["lr_grid"].index(r["lr"])] == min(
            v for v, bad in zip(r["valid_errors"], r["diverged"]) if not bad
        )
        curves = r["curves"]
        assert curves["steps"][0] == 0 and curves["steps"][-1] == d["updates"]
        assert r["test_error"] == curves["test_error"][-1][r["lr_grid"].index(r["lr"])]
        assert all(len(rec) == len(r["lr_grid"]) for name in ("valid_error", "test_error") for rec in curves[name])
        chosen = r["chosen"]
        assert chosen["test_error"][-1] == r["test_error"] and chosen["lr"][-1] == r["lr"]
        for k, valid in enumerate(curves["valid_error"]):  # validation's pick at every record
            assert chosen["valid_error"][k] == min(v for v, bad in zip(valid, r["diverged"]) if not bad)


def test_glorot_table1_stream_is_online_no_image_repeats():
    s = dict(glorot_table1.PRESETS["quick"], updates=30, chunk=100)  # 300 images from 3 blocks
    batches = list(glorot_table1.stream(s))
    assert len(batches) == 30 and all(len(x) == 10 for x, _ in batches)
    images = torch.cat([x for x, _ in batches])
    assert len(torch.unique(images, dim=0)) == len(images)
    x_val, _, x_test, _ = datasets.shapeset_split(100, 100, seed=glorot_table1.TEST_SEED)
    held_out = torch.cat([x_val, x_test])
    assert not (images[:, None, :] == held_out[None, :, :]).all(-1).any()


def test_glorot_table1_starts_have_eq1_and_eq16_variances():
    widths = [1024, 400, 400, 9]
    net = glorot_table1.ensemble(widths, "tanh", [("standard", 0.1), ("normalized", 0.1)])
    layers = [m for m in net if isinstance(m, ensembles.EnsembleLinear)]
    for layer, (n_in, n_out) in zip(layers, zip(widths, widths[1:])):
        standard, normalized = layer.weight.detach().var(dim=(1, 2))
        assert standard.item() == pytest.approx(1 / (3 * n_in), rel=0.1)
        assert normalized.item() == pytest.approx(2 / (n_in + n_out), rel=0.1)
        assert not layer.bias.detach().any()


def test_glorot_table1_each_member_trains_at_its_own_rate():
    s = dict(glorot_table1.PRESETS["quick"], updates=20, records=2)
    alone = glorot_table1.train_online(s, {"tanh": [("normalized", 0.3)]}, "cpu", False)["tanh"]
    pair = glorot_table1.train_online(s, {"tanh": [("normalized", 0.03), ("normalized", 0.3)]}, "cpu", False)["tanh"]
    assert [rec[1] for rec in pair["train_loss"][1:]] == pytest.approx(
        [rec[0] for rec in alone["train_loss"][1:]], rel=1e-5
    )
    assert pair["train_loss"][-1][0] != pytest.approx(pair["train_loss"][-1][1], rel=1e-3)


def test_he_fig3_rows(stored):
    d = stored["he_fig3"].data
    assert d["network"] == "conv" and list(d["depths"]) == ["30"]
    net = d["depths"]["30"]
    assert (net["conv_layers"], net["fc_layers"]) == (27, 3)
    xavier, he, control = net["rows"]
    assert (xavier["init"], he["init"], control["init"]) == ("xavier", "he", "xavier")
    assert [r["weight_decay"] for r in net["rows"]] == [he_fig3.WEIGHT_DECAY, he_fig3.WEIGHT_DECAY, 0.0]
    # the control differs from the first row by weight decay alone: the same draw, so the same step-0 gradients
    assert control["grad_ratio"][0] == xavier["grad_ratio"][0] and control["train_loss"][0] == xavier["train_loss"][0]
    for r in net["rows"]:
        assert r["steps"][-1] == d["updates"] and all(math.isfinite(v) for v in r["train_loss"])
        assert all(len(rec) == 30 for rec in r["grad_ratio"] + r["step_ratio"])
    # at step 0 the first layer's gradient, relative to its weights, is orders of magnitude
    # smaller from the "Xavier" start: (1/sqrt 2)^29 in the backward signal
    assert xavier["grad_ratio"][0][0] < 1e-3 * he["grad_ratio"][0][0]


@pytest.mark.parametrize("depth, convs", [(30, 27), (22, 19)])
def test_he_fig3_nets_are_convs_then_3_fc(depth, convs):
    net = he_fig3.conv_net(depth, channels=4, fc_width=16)
    kinds = [type(m) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert kinds == [nn.Conv2d] * convs + [nn.Linear] * 3
    assert all(m.bias is None for m in net.modules() if isinstance(m, nn.Conv2d))
    assert net(torch.zeros(2, 32 * 32)).shape == (2, datasets.NUM_CLASSES)


def test_he_fig3_starts_draw_conv_weights_with_fan_in_3x3xchannels():
    net = he_fig3.conv_net(30, channels=32, fc_width=16)
    conv = [m for m in net.modules() if isinstance(m, nn.Conv2d)][3]  # 32 -> 32 channels, fan_in 288
    for (scheme, kwargs), gain in zip(he_fig3.STARTS.values(), (1.0, 2.0)):
        initlib.init_module(conv, scheme, generator=torch.Generator().manual_seed(0), **kwargs)
        assert conv.weight.var().item() == pytest.approx(gain / (32 * 3 * 3), rel=0.05)


def test_he_fig3_records_the_step_the_optimizer_made():
    s = dict(he_fig3.PRESETS["quick"], steps=2, record_every=1)
    split = datasets.shapeset_split(16, 8, seed=0)
    net = initlib.init_module(he_fig3.conv_net(22, 2, 8), "kaiming_normal", generator=torch.Generator().manual_seed(0))
    plain = he_fig3.train_conv(net, split, s, optimizer="sgd", lr=0.01)
    assert len(plain["step_ratio"]) == 2 and len(plain["grad_ratio"]) == 3
    # without momentum an update is lr * (gradient + weight decay * W): by the triangle
    # inequality its size relative to |W| lies within lr * (g +- weight decay)
    for k in range(2):
        for g, step in zip(plain["grad_ratio"][k], plain["step_ratio"][k]):
            assert 0.01 * abs(g - he_fig3.WEIGHT_DECAY) * 0.999 <= step <= 0.01 * (g + he_fig3.WEIGHT_DECAY) * 1.001


def test_he_fig3_without_weight_decay_a_plain_step_is_lr_times_the_gradient():
    s = dict(he_fig3.PRESETS["quick"], steps=2, record_every=1)
    split = datasets.shapeset_split(16, 8, seed=0)
    net = initlib.init_module(he_fig3.conv_net(22, 2, 8), "kaiming_normal", generator=torch.Generator().manual_seed(0))
    plain = he_fig3.train_conv(net, split, s, optimizer="sgd", lr=0.01, weight_decay=0.0)
    # the step is W_t - W_(t-1) in float32, about 1e-5 of |W|: float32's 6e-8 per entry leaves it ~1e-3 relative
    for k in range(2):
        for g, step in zip(plain["grad_ratio"][k], plain["step_ratio"][k]):
            assert step == pytest.approx(0.01 * g, rel=1e-2)


def test_trainable_depth_grid_rates_limits_and_theory(stored):
    d = stored["trainable_depth"].data
    preset = trainable_depth.PRESETS["quick"]
    assert d["sigma_w2"] == preset["sigma_w2"] and d["depths"] == preset["depths"]
    assert d["dataset"].startswith("MNIST") and d["n_train"] + d["n_valid"] == 4000
    for table in (d["train_accuracy"], d["valid_accuracy"]):
        assert len(table) == len(d["depths"]) and all(len(row) == len(d["sigma_w2"]) for row in table)
        assert all(0 <= a <= 1 for row in table for a in row)
    # each depth's rate is the one of its c / depth^2 grid with the best mean validation accuracy
    for k, depth in enumerate(d["depths"]):
        grid = [c / depth**2 for c in preset["lr_over_depth2"]]
        mean_valid = [sum(row[j] for row in d["all_valid_accuracy"][k]) for j in range(len(grid))]
        assert d["lr"][k] == grid[mean_valid.index(max(mean_valid))]
        assert [row[grid.index(d["lr"][k])] for row in d["all_train_accuracy"][k]] == d["train_accuracy"][k]
    # the stored limits are initlib.theory.trainability's rule applied to the stored accuracies
    for k in range(len(d["sigma_w2"])):
        column = [row[k] for row in d["train_accuracy"]]
        limit = trainability.depth_limit(d["depths"], column, d["threshold"])
        assert d["depth_limit"][k] == (None if math.isinf(limit) else limit)
    assert len(d["depth_limit_by_step"]) == len(d["steps"]) and d["depth_limit_by_step"][-1] == d["depth_limit"]
    # xi_c grows towards the critical sigma_w^2 (1.761 at sigma_b^2 = 0.05) from both sides
    assert d["critical_sigma_w2"] == pytest.approx(1.761, abs=1e-3)
    low, near, high = d["xi_c"]
    assert near > 10 * max(low, high) and d["six_xi_c"] == [6 * x for x in d["xi_c"]]


def test_results_refuse_bad_names_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="name must be letters"):
        results.load("../etc", directory=tmp_path)
    with pytest.raises(FileNotFoundError, match="make reproduce PRESET=cpu"):
        results.load("absent", directory=tmp_path)
    (tmp_path / "partial.json").write_text(json.dumps({"provenance": {"preset": "cpu"}, "data": {}}))
    with pytest.raises(ValueError, match="provenance lacks device, torch, commit"):
        results.load("partial", directory=tmp_path)
    with pytest.raises(ValueError, match="provenance lacks"):
        results.save("x", {}, {"preset": "cpu"}, directory=tmp_path)
    assert not (tmp_path / "x.json").exists()


def test_a_bad_preset_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        he_fig3.main(["--preset", "huge"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_commit_is_dirty_for_code_changes_but_not_for_results(tmp_path):
    # two scripts run side by side: the one that starts second must not call the code
    # dirty because the first one has just rewritten its results/ file
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "a.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = results._commit(tmp_path)
    assert len(clean) == 12 and not clean.endswith("+dirty")
    (tmp_path / "results" / "a.json").write_text('{"new": 1}')
    assert results._commit(tmp_path) == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert results._commit(tmp_path) == clean + "+dirty"
