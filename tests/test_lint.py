"""Lint gates, run with the ruff pinned in requirements.txt.

- The library, its tests, the reproductions and the benchmarks pass the rules chosen in ruff.toml
  (pyflakes, pycodestyle's errors and warnings, imports sorted) and are formatted by ``ruff format``
  exactly, at 120 columns.
- The library passes the mypy pinned in requirements.txt, configured by ``[tool.mypy]`` in pyproject.toml,
  and every public function of the library (``initlib.__all__``'s, and those of every module of
  initlib.laws, initlib.measure and initlib.theory) annotates its parameters and its return.
"""

import importlib
import importlib.metadata
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import initlib

from test_notebook_style import _ruff

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["initlib", "tests", "reproductions", "benchmarks"]  # configured by ruff.toml


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_ruff(), *args], capture_output=True, text=True, check=False, cwd=ROOT)


def test_the_python_code_passes_its_lint_rules():
    result = _run("check", "--output-format", "concise", *PATHS)
    assert result.returncode == 0, f"run `ruff check --fix {' '.join(PATHS)}`:\n" + result.stdout[-3000:]


def test_the_python_code_is_formatted():
    result = _run("format", "--check", "--diff", *PATHS)
    assert result.returncode == 0, f"run `ruff format {' '.join(PATHS)}`:\n" + result.stdout[-3000:]


def test_the_checks_see_every_python_file():
    # The two checks above pass vacuously if ruff's file discovery finds nothing (an `include` or
    # `exclude` in a configuration can hide a folder): every Python file there must be seen.
    result = _run("check", "--show-files", *PATHS)
    seen = {Path(line).resolve() for line in result.stdout.splitlines() if line.endswith(".py")}
    wanted = {p.resolve() for folder in PATHS for p in (ROOT / folder).rglob("*.py")}
    assert wanted <= seen, sorted(str(p) for p in wanted - seen)
    assert len(wanted) > 80  # the glob itself found them


def test_the_format_check_catches_a_misformatted_file(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("x = {'a':1}\n")
    result = _run("format", "--check", "--config", str(ROOT / "ruff.toml"), str(bad))
    assert result.returncode == 1 and "1 file would be reformatted" in result.stdout, result.stdout


def _pinned(package: str) -> str:
    pins = re.findall(rf"^{package}==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert len(pins) == 1, f"requirements.txt must pin {package} exactly once, found {pins}"
    return pins[0]


def _mypy(*args: str) -> subprocess.CompletedProcess:
    try:
        installed = importlib.metadata.version("mypy")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"mypy is not installed: pip install mypy=={_pinned('mypy')} (make setup)")
    assert installed == _pinned("mypy"), f"mypy {installed} is installed, requirements.txt pins {_pinned('mypy')}"
    return subprocess.run([sys.executable, "-m", "mypy", *args], capture_output=True, text=True, check=False, cwd=ROOT)


def test_mypy_finds_nothing_in_initlib():
    # files, python_version and the per-module settings come from [tool.mypy] in pyproject.toml
    result = _mypy()
    assert result.returncode == 0, (
        "mypy (see [tool.mypy] in pyproject.toml):\n" + result.stdout[-4000:] + result.stderr[-1000:]
    )
    assert re.search(r"Success: no issues found in (\d+) source files", result.stdout), result.stdout
    checked = int(re.search(r"in (\d+) source files", result.stdout).group(1))
    assert checked == len(list((ROOT / "initlib").rglob("*.py"))), result.stdout  # every module was seen


def test_mypy_catches_a_type_error(tmp_path):
    # the gate above is not vacuous: the same mypy, config and flags report a wrong call into initlib
    bad = tmp_path / "bad.py"
    bad.write_text("from initlib.laws.fans import fans_of_shape\n\nfans_of_shape(3.5)\n")
    result = _mypy("--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache"), str(bad))
    assert result.returncode == 1 and "fans_of_shape" in result.stdout and "[arg-type]" in result.stdout, result.stdout


def _unannotated(function) -> list[str]:
    signature = inspect.signature(inspect.unwrap(function))
    missing = [p.name for p in signature.parameters.values() if p.annotation is inspect.Parameter.empty]
    return missing + (["return"] if signature.return_annotation is inspect.Signature.empty else [])


# The library's layers whose every public function is checked; the course layer (initlib/course) and
# the CLI are the course's own code, checked by mypy but not held to annotating every parameter.
LAYERS = ("laws", "measure", "theory")


def _public_functions() -> dict:
    """``initlib.__all__``'s functions, and the public functions (no leading underscore, defined
    there) of every module of the library's layers, named like ``laws.fans.fans_of_shape``."""
    found = {name: getattr(initlib, name) for name in initlib.__all__ if inspect.isfunction(getattr(initlib, name))}
    for layer in LAYERS:
        package = importlib.import_module(f"initlib.{layer}")
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if not name.startswith("_") and inspect.isfunction(value) and value.__module__ == module.__name__:
                    found[f"{module.__name__.removeprefix('initlib.')}.{name}"] = value
    return found


def test_the_public_functions_are_annotated():
    functions = _public_functions()
    # the search itself found them: every layer's modules, and the exported names
    assert len(functions) >= 173 and {
        "laws.fans.fans_of_shape",
        "measure.probe.probe",
        "theory.symbolic.kurtosis",
    } <= set(functions)
    missing = {name: _unannotated(f) for name, f in functions.items()}
    assert not any(missing.values()), {name: m for name, m in missing.items() if m}
