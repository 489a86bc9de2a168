"""initlib.cli: `python -m initlib propagate|train|probe`, its output formats and its exit codes."""

import functools
import json
import math
import subprocess
import sys

import pytest

import initlib.course.presets
import initlib.measure.training
from initlib import cli
from initlib.course.data import gaussian_mixture_split


def run(capsys, *argv):
    assert cli.main(list(argv)) == 0
    return capsys.readouterr().out


def test_propagate_json_relu_he_flat_xavier_decays(capsys):
    common = (
        "propagate",
        "--depth",
        "20",
        "--width",
        "256",
        "--batch",
        "128",
        "--activation",
        "relu",
        "--device",
        "cpu",
        "--json",
        "--quiet",
        "--hist-bins",
        "0",
    )
    he = json.loads(run(capsys, *common, "--init", "kaiming_normal"))
    xavier = json.loads(run(capsys, *common, "--init", "xavier_normal"))
    assert he["device"] == "cpu" and he["widths"] == [256] * 21 and len(he["layers"]) == 20
    for key in ("layer", "fan_in", "fan_out", "pre_var", "act_var", "grad_var", "theory_pre_var", "theory_grad_var"):
        assert key in he["layers"][0]
    assert [l["theory_pre_var"] for l in he["layers"]] == pytest.approx([2.0] * 20)
    assert [l["theory_pre_var"] for l in xavier["layers"]] == pytest.approx([2.0**-k for k in range(20)])
    # measured: over 19 layers, the log-slope of one net has sd <= sqrt(5/256)/sqrt(19) = 0.032 (see
    # tests/test_propagation.py); 6 sd = 0.19 either side of 0 (He) and log(1/2) (Xavier)
    for result, slope in ((he, 0.0), (xavier, math.log(0.5))):
        pre = [l["pre_var"] for l in result["layers"]]
        assert abs((math.log(pre[-1]) - math.log(pre[0])) / 19 - slope) < 0.19


def test_propagate_table_and_plot(capsys, tmp_path):
    figure = tmp_path / "layers.png"
    out = run(
        capsys,
        "propagate",
        "--widths",
        "16,32,8",
        "--activation",
        "tanh",
        "--init",
        "xavier_uniform",
        "--batch",
        "20",
        "--device",
        "cpu",
        "--plot",
        str(figure),
        "--quiet",
    )
    lines = out.strip().splitlines()
    assert lines[0].startswith("tanh net 16->...->8 (2 layers), init xavier_uniform, batch 20")
    assert lines[1].split() == list(cli.TABLE_COLUMNS)
    assert [line.split()[:3] for line in lines[2:4]] == [["1", "16", "32"], ["2", "32", "8"]]
    assert lines[4].startswith("theory_* are expectations over random nets") and len(lines) == 5
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_propagate_table_footer_gives_the_finite_width_wander(capsys):
    out = run(
        capsys,
        "propagate",
        "--depth",
        "50",
        "--width",
        "256",
        "--batch",
        "8",
        "--activation",
        "relu",
        "--init",
        "kaiming_normal",
        "--device",
        "cpu",
        "--quiet",
        "--hist-bins",
        "0",
    )
    assert (
        out.strip()
        .splitlines()[-1]
        .endswith(f"sqrt(5 * 50/256) = {math.sqrt(5 * 50 / 256):.2f} by layer 50 (finite width)")
    )
    json_out = run(
        capsys, "propagate", "--depth", "2", "--width", "8", "--batch", "4", "--device", "cpu", "--quiet", "--json"
    )
    json.loads(json_out)  # the footer is for people: --json stays pure JSON


def test_depth_help_says_which_layers(capsys):
    for command, words in (("propagate", "number of weight layers"), ("train", "number of hidden layers")):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        assert words in " ".join(capsys.readouterr().out.split())


def test_propagate_init_args_and_preset(capsys):
    out = json.loads(
        run(
            capsys,
            "propagate",
            "--widths",
            "50,50",
            "--activation",
            "tanh",
            "--init",
            "kaiming_uniform",
            "--init-arg",
            "nonlinearity=tanh",
            "--init-arg",
            "mode=fan_out",
            "--batch",
            "8",
            "--device",
            "cpu",
            "--json",
            "--preset",
            "quick",
        )
    )
    assert out["init_kwargs"] == {"nonlinearity": "tanh", "mode": "fan_out"}
    assert out["layers"][0]["theory_pre_var"] == pytest.approx(25 / 9)  # gain 5/3 squared times 50/50
    default = json.loads(
        run(capsys, "propagate", "--preset", "quick", "--device", "cpu", "--json", "--hist-bins", "0", "--depth", "2")
    )
    assert default["batch"] == initlib.course.presets.preset("quick").batch
    assert default["widths"] == [initlib.course.presets.preset("quick").deep_width] * 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["propagate", "--init", "bogus"], "invalid choice"),
        (["propagate", "--activation", "gelu"], "invalid choice"),
        (["propagate", "--widths", "3,x"], "comma-separated"),
        (["propagate", "--widths", "3"], "at least two"),
        (["propagate", "--depth", "0"], "positive integer"),
        (["propagate", "--widths", "4,4", "--depth", "3"], "either --widths or --depth"),
        (["propagate", "--widths", "4,4", "--init-arg", "gian=2"], "gian"),
        (["propagate", "--widths", "4,4", "--init-arg", "gain"], "KEY=VALUE"),
        (["propagate", "--widths", "4,4", "--negative-slope", "0.1"], "negative_slope"),
        (["propagate", "--widths", "4,4", "--device", "tpu"], "invalid choice"),
        (["propagate", "--widths", "4,4", "--batch", "0"], "batch"),
        (["propagate", "--bogus-flag"], "unrecognized"),
        (["train", "--lr", "-1"], "positive"),
        (["train", "--widths", "10,3"], "must start with 1024"),
        ([], "required"),
    ],
)
def test_bad_flags_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv + (["--device", "cpu"] if argv and "--device" not in argv else []))
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@functools.lru_cache(maxsize=1)
def _split():
    return gaussian_mixture_split(200, 100, dim=1024, classes=9)


@pytest.fixture
def small_data(monkeypatch):
    """Shapeset takes seconds to draw: the CLI's train path gets a small stand-in of the same shape."""
    monkeypatch.setattr(initlib.course.presets, "default_data", lambda preset_name=None: _split())


def test_train_table_json_csv(capsys, tmp_path, small_data):
    common = (
        "train",
        "--depth",
        "2",
        "--width",
        "16",
        "--steps",
        "20",
        "--record-every",
        "10",
        "--lr",
        "0.05",
        "--device",
        "cpu",
        "--quiet",
    )
    table = run(capsys, *common)
    assert table.splitlines()[0].startswith("tanh MLP 1024-16-16-9, init xavier_uniform, sgd lr 0.05")
    assert [line.split()[0] for line in table.splitlines()[2:]] == ["0", "10", "20"]
    result = json.loads(run(capsys, *common, "--json"))
    for key in ("device", "widths", "steps", "train_loss", "test_error", "grad_var"):
        assert key in result
    assert result["widths"] == [1024, 16, 16, 9] and result["steps"] == [0, 10, 20]
    assert len(result["grad_var"][0]) == 3
    csv_file = tmp_path / "curves.csv"
    run(capsys, *common, "--csv", str(csv_file))
    columns = initlib.measure.training.TrainResult.read_csv(csv_file)
    assert columns["step"] == [0, 10, 20] and columns["test_error"] == pytest.approx(result["test_error"])
    stdout_csv = run(capsys, *common, "--csv", "-")
    assert stdout_csv.splitlines()[0].startswith("step,train_loss")


def test_train_plot(capsys, tmp_path, small_data):
    pytest.importorskip("initlib.course.plotting").__dict__.get("plot_training") or pytest.skip("no plot_training yet")
    figure = tmp_path / "train.png"
    run(
        capsys,
        "train",
        "--depth",
        "1",
        "--width",
        "8",
        "--steps",
        "4",
        "--device",
        "cpu",
        "--quiet",
        "--plot",
        str(figure),
    )
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_python_dash_m_entry_point():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "initlib",
            "propagate",
            "--widths",
            "8,8,8",
            "--batch",
            "4",
            "--device",
            "cpu",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["widths"] == [8, 8, 8]


def test_train_default_width_is_the_training_width(capsys, small_data):
    # bug (c): the default hidden width is glorot_train_width (256 on quick), not glorot_width (1000)
    out = json.loads(
        run(
            capsys, "train", "--preset", "quick", "--depth", "1", "--steps", "0", "--device", "cpu", "--json", "--quiet"
        )
    )
    assert out["widths"] == [1024, initlib.course.presets.preset("quick").glorot_train_width, 9]


@pytest.mark.parametrize("spec", ["mlp", "cnn", "resnet", "transformer", "lstm"])
def test_probe_table_and_json(capsys, spec):
    table = run(capsys, "probe", spec)
    assert table.splitlines()[1].split()[:2] == ["name", "type"]
    result = json.loads(run(capsys, "probe", spec, "--json", "--hist-bins", "4"))
    assert result["spec"] == spec and len(result["hist_edges"]) == 5
    assert all(set(cli.PROBE_COLUMNS) <= set(row) for row in result["rows"])


def test_probe_kwargs_and_plot(capsys, tmp_path):
    figure = tmp_path / "probe.png"
    out = json.loads(
        run(capsys, "probe", "resnet", "--kwargs", '{"blocks": 2, "width": 16}', "--json", "--plot", str(figure))
    )
    assert len(out["rows"]) == 2 + 2 * 2 and out["kwargs"] == {"blocks": 2, "width": 16}
    assert figure.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["probe", "nope"], "spec must be one of"),
        (["probe", "mlp", "--kwargs", "[1]"], "must be a JSON object"),
        (["probe", "mlp", "--kwargs", '{"bogus": 1}'], "the factory rejects kwargs"),
        (["probe", "torch.nn:Linear", "--kwargs", '{"in_features": 2, "out_features": 2}'], "returned no inputs"),
        (["probe", "mlp", "--hist-bins", "-1"], "--hist-bins"),
    ],
)
def test_probe_bad_input_exits_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
