"""Each reproduction's quick preset runs, and writes its data with full provenance."""

import json
import math

import pytest

from initlib import results
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


def test_trainable_depth_grid_and_theory(stored):
    d = stored["trainable_depth"].data
    preset = trainable_depth.PRESETS["quick"]
    assert d["sigma_w2"] == preset["sigma_w2"] and d["depths"] == preset["depths"]
    for table in (d["train_accuracy"], d["test_accuracy"]):
        assert len(table) == len(d["depths"]) and all(len(row) == len(d["sigma_w2"]) for row in table)
        assert all(0 <= a <= 1 for row in table for a in row)
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
