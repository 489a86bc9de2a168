"""Lint gates, run with the ruff pinned in requirements.txt.

- The library, its tests, the reproductions and the benchmarks pass pyflakes' checks (ruff's F rules:
  unused imports and variables, undefined names, shadowed definitions) and have no syntax errors (E9).
  initlib keeps its own line length and layout (no `ruff format` on it yet);
  ``initlib/__init__.py`` re-exports submodules by importing them, which F401 would flag.
- The tests and the benchmarks also pass the rules chosen in tests/ruff.toml (pycodestyle's errors and
  warnings, imports sorted) and are formatted by ``ruff format`` exactly, at 120 columns.
"""

import subprocess
from pathlib import Path

from test_notebook_style import _ruff

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["initlib", "tests", "reproductions", "benchmarks"]
FORMATTED = ["tests", "benchmarks"]  # configured by tests/ruff.toml and benchmarks/ruff.toml


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_ruff(), *args], capture_output=True, text=True, check=False, cwd=ROOT)


def test_pyflakes_finds_nothing():
    result = _run(
        "check",
        "--isolated",
        "--select",
        "F,E9",
        "--per-file-ignores",
        "initlib/__init__.py:F401",
        "--output-format",
        "concise",
        *PATHS,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


def test_tests_and_benchmarks_pass_their_lint_rules():
    result = _run("check", "--output-format", "concise", *FORMATTED)
    assert result.returncode == 0, "run `ruff check --fix tests benchmarks`:\n" + result.stdout[-3000:]


def test_tests_and_benchmarks_are_formatted():
    result = _run("format", "--check", "--diff", *FORMATTED)
    assert result.returncode == 0, "run `ruff format tests benchmarks`:\n" + result.stdout[-3000:]


def test_the_checks_see_every_test_and_benchmark_file():
    # The two checks above pass vacuously if ruff's file discovery finds nothing (pyproject.toml's
    # [tool.ruff] `include` names only the chapters): every Python file there must be seen.
    result = _run("check", "--show-files", *FORMATTED)
    seen = {Path(line).resolve() for line in result.stdout.splitlines() if line.endswith(".py")}
    wanted = {p.resolve() for folder in FORMATTED for p in (ROOT / folder).glob("*.py")}
    excluded = {ROOT / "tests" / "test_reproductions.py"}  # until it is formatted: see tests/ruff.toml
    assert wanted - excluded <= seen, sorted(str(p) for p in wanted - excluded - seen)
    assert len(wanted) > 30  # the glob itself found them


def test_the_format_check_catches_a_misformatted_file(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("x = {'a':1}\n")
    result = _run("format", "--check", "--config", str(ROOT / "tests" / "ruff.toml"), str(bad))
    assert result.returncode == 1 and "1 file would be reformatted" in result.stdout, result.stdout
