"""The chapters as a reader meets them: code that does not scroll sideways, run top to bottom.

Every code line of every chapter is at most 88 characters (what ``ruff format`` produces with the
settings in chapters/ruff.toml, which also fit the site's code blocks), the code is
formatted by ``ruff format`` exactly, and the stored execution counts are 1, 2, ..., N: the
outputs on the site came from one run from the top, with no cell run twice or skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
MAX_LINE = 88


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_there_are_chapters():
    assert len(CHAPTERS) >= 8


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_code_lines_fit(path):
    long = [
        f"cell {k}, line {j + 1}: {len(line)} characters"
        for k, cell in enumerate(_code_cells(path))
        for j, line in enumerate("".join(cell["source"]).splitlines())
        if len(line) > MAX_LINE
    ]
    assert not long, f"{path.name}: code lines over {MAX_LINE} characters:\n" + "\n".join(long)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_executed_top_to_bottom(path):
    counts = [cell.get("execution_count") for cell in _code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts}; re-run the notebook from the top "
        "(jupyter nbconvert --to notebook --execute --inplace)"
    )


def _ruff() -> list[str]:
    exe = Path(sys.executable).with_name("ruff")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed: it is pinned in requirements.txt (make setup)")
    return [found]


def test_ruff_format_leaves_chapters_unchanged():
    result = subprocess.run(
        [*_ruff(), "format", "--check", "--diff", *map(str, CHAPTERS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, "run `ruff format chapters` :\n" + result.stdout[-3000:]


def test_the_check_catches_a_long_line(tmp_path):
    # the line-length check itself can fail: a notebook with one long line
    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["x = 1" + " " * 90]}]}))
    with pytest.raises(AssertionError):
        test_code_lines_fit(bad)
