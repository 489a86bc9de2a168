"""The table of contents as the site numbers it: a chapter's file number is the number the reader sees.

Jupyter Book numbers the chapters of every ``numbered: true`` part in one sequence, 1, 2, ...
(``numbered`` parts continue each other's count). A reader told "chapter 17" must find it in
``chapters/17_*.ipynb``, so the n-th numbered entry's file name starts with ``n`` written in two
digits, and every chapter notebook is in the table of contents.
"""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def numbered_files() -> list[str]:
    return [entry["file"] for part in TOC["parts"] if part.get("numbered") for entry in part["chapters"]]


def test_site_numbers_equal_file_numbers():
    files = numbered_files()
    assert len(files) >= 8
    wrong = [f"{n}: {f}" for n, f in enumerate(files, start=1) if not Path(f).name.startswith(f"{n:02d}_")]
    assert not wrong, "site number: file, where the file's number differs:\n" + "\n".join(wrong)


def test_every_chapter_notebook_is_in_the_toc():
    listed = {entry["file"] for part in TOC["parts"] for entry in part["chapters"]}
    on_disk = {p.relative_to(ROOT).with_suffix("").as_posix() for p in (ROOT / "chapters").glob("*.ipynb")}
    assert on_disk <= listed, f"not in _toc.yml: {sorted(on_disk - listed)}"
