"""The library, its tests, the reproductions and the benchmarks pass pyflakes' checks (ruff's F rules:
unused imports and variables, undefined names, shadowed definitions) and have no syntax errors (E9).

A first lint gate; initlib keeps its own line length and layout (no `ruff format` on it yet).
``initlib/__init__.py`` re-exports submodules by importing them, which F401 would flag.
"""

import subprocess
from pathlib import Path

from test_notebook_style import _ruff

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["initlib", "tests", "reproductions", "benchmarks"]


def test_pyflakes_finds_nothing():
    result = subprocess.run(
        [*_ruff(), "check", "--isolated", "--select", "F,E9", "--per-file-ignores", "initlib/__init__.py:F401",
         "--output-format", "concise", *PATHS],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
