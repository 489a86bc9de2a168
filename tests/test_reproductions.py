"""Each reproduction's quick preset runs, and writes its data with full provenance."""

import json
import math

import pytest
import torch
from torch import nn

import initlib
from initlib import data as datasets
from initlib import results, trainability
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
    assert d["updates"] == glorot_table1.PRESETS["quick"]["updates"] and d["batch"] == 10
    for r in d["rows"]:
        assert 0 <= r["test_error"] <= 1 and r["paper_test_error"] == glorot_table1.PAPER[(r["activation"], r["init"])]
        assert r["lr"] == r["lr_grid"][r["valid_errors"].index(min(r["valid_errors"]))]
        assert r["curve"]["steps"][-1] == d["updates"]


def test_he_fig3_the_he_start_learns_faster(stored):
    d = stored["he_fig3"].data
    assert d["network"] == "mlp" and d["depth"] == 30 and len(d["widths"]) == 31
    xavier, he = d["rows"]
    assert (xavier["init"], he["init"]) == ("xavier", "he")
    assert all(math.isfinite(v) for r in d["rows"] for v in r["train_loss"])
    # the "Xavier" net's loss barely moves; He's falls further below where it started
    assert he["train_loss"][0] - he["train_loss"][-1] > xavier["train_loss"][0] - xavier["train_loss"][-1]


def test_he_fig3_paper_network_is_27_conv_and_3_fc_and_trains():
    assert he_fig3.PRESETS["paper"]["network"] == "conv"
    assert {he_fig3.PRESETS[p]["network"] for p in ("quick", "cpu")} == {"mlp"}
    net = he_fig3.network(dict(he_fig3.PRESETS["paper"], width=4, fc_width=16), 32 * 32)
    kinds = [type(m) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert kinds == [nn.Conv2d] * 27 + [nn.Linear] * 3
    x, y, x_test, y_test = datasets.shapeset_split(16, 8, seed=0)
    for scheme, kwargs in he_fig3.STARTS.values():
        r = initlib.train(net, init=scheme, data=(x, y, x_test, y_test), steps=2, lr=0.003, batch=8,
                          optimizer="momentum", **kwargs)
        assert r.steps[-1] == 2 and all(math.isfinite(v) for v in r.train_loss)


def test_he_fig3_starts_draw_conv_weights_with_fan_in_3x3xchannels():
    net = he_fig3.conv_net(channels=32, fc_width=16)
    conv = [m for m in net.modules() if isinstance(m, nn.Conv2d)][3]  # 32 -> 32 channels, fan_in 288
    for (scheme, kwargs), gain in zip(he_fig3.STARTS.values(), (1.0, 2.0)):
        initlib.init_module(conv, scheme, generator=torch.Generator().manual_seed(0), **kwargs)
        assert conv.weight.var().item() == pytest.approx(gain / (32 * 3 * 3), rel=0.05)


def test_glorot_table1_starts_are_one_ensemble_with_eq1_and_eq16_variances():
    widths = [1024, 400, 400, 10]
    x, y, x_test, y_test = datasets.shapeset_split(20, 10, seed=0)
    runs = glorot_table1._fit(widths, "tanh", ["standard", "normalized"], (x, y, x_test, y_test), 0, 0.1,
                              "cpu", False)
    standard, normalized = runs["standard"].weight_var[0], runs["normalized"].weight_var[0]
    for layer, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        assert standard[layer] == pytest.approx(1 / (3 * n_in), rel=0.1)
        assert normalized[layer] == pytest.approx(2 / (n_in + n_out), rel=0.1)


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
    # the stored limits are initlib.trainability's rule applied to the stored accuracies
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
