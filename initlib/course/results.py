"""Stored results of long runs (``reproductions/``), each with the provenance a reader needs to trust it.

A result is a JSON file ``results/NAME.json`` holding ``provenance`` (``preset``, ``device``,
``torch``, ``commit``, ``date``, ``wall_s``, ``command``) and ``data``. A chapter that shows one
loads it with :func:`load`, whose ``str()`` says where the numbers came from:

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> p = provenance("quick", "cpu", "python -m reproductions.demo", wall_s=1.5)
>>> path = save("demo", {"rows": [1, 2]}, p, directory=folder)
>>> stored = load("demo", directory=folder)
>>> stored.data["rows"], stored.provenance["preset"]
([1, 2], 'quick')
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib
import platform
import re
import subprocess

import torch

from .._checks import check_real

FIELDS = ("preset", "device", "torch", "commit", "date", "wall_s", "command")
# The repository's results/ (initlib is installed in editable mode from the repository).
DEFAULT_DIRECTORY = pathlib.Path(__file__).resolve().parents[2] / "results"
_NAME = re.compile(r"[A-Za-z0-9_]+")


def _commit(root: pathlib.Path = DEFAULT_DIRECTORY.parent) -> str:
    """The HEAD of the repository at ``root``, with ``+dirty`` when tracked files outside ``results/``
    differ from it; ``unknown`` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        # results/ is what runs write: a run started beside another must not call the code dirty
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def describe_device(device: str | torch.device) -> str:
    """``"cuda (NVIDIA H200)"`` or ``"cpu (x86_64, 2 threads)"``: enough to compare two runs' speed."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"{device.type} ({platform.machine()}, {threads} thread{'' if threads == 1 else 's'})"


def current_commit() -> str:
    """The commit a run is made from: take it when the run starts, since HEAD may move while it runs."""
    return _commit()


def provenance(preset: str, device: str | torch.device, command: str, wall_s: float, commit: str | None = None) -> dict:
    """The provenance record of a run that just finished (the date taken now; ``commit`` from
    :func:`current_commit` at the run's start, or now when it is None)."""
    if not isinstance(preset, str) or not isinstance(command, str):
        raise TypeError("preset and command must be strings")
    return {
        "preset": preset,
        "device": describe_device(device),
        "torch": torch.__version__,
        "commit": _commit() if commit is None else commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_s": round(check_real(wall_s, "wall_s"), 1),
        "command": command,
    }


def _path(name: str, directory) -> pathlib.Path:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"name must be letters, digits and underscores (the file is results/NAME.json); got {name!r}")
    return pathlib.Path(DEFAULT_DIRECTORY if directory is None else directory) / f"{name}.json"


def _check_provenance(record, where: str) -> dict:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: provenance must be a dict with {', '.join(FIELDS)}")
    missing = [f for f in FIELDS if f not in record]
    if missing:
        raise ValueError(f"{where}: provenance lacks {', '.join(missing)} (needs {', '.join(FIELDS)})")
    return record


def save(name: str, data: dict, record: dict, directory: str | pathlib.Path | None = None) -> pathlib.Path:
    """Write ``{"provenance": record, "data": data}`` to ``directory/NAME.json`` and return the path."""
    path = _path(name, directory)
    _check_provenance(record, "save")
    text = json.dumps({"provenance": record, "data": data}, indent=1, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    return path


@dataclasses.dataclass(frozen=True)
class StoredResult:
    """A result read back from ``results/``; ``str()`` is the line a chapter prints above its figure."""

    name: str
    provenance: dict
    data: dict

    def __str__(self) -> str:
        p = self.provenance
        return (
            f"Loaded from results/{self.name}.json (not computed on this page): preset {p['preset']!r} "
            f"on {p['device']}, torch {p['torch']}, commit {p['commit']}, {p['date']}, "
            f"{p['wall_s']:.0f} s; made by `{p['command']}`"
        )


def load(name: str, directory: str | pathlib.Path | None = None) -> StoredResult:
    """Read ``directory/NAME.json`` (default: the repository's ``results/``), checking its provenance."""
    path = _path(name, directory)
    if not path.is_file():
        raise FileNotFoundError(
            f"no stored result {path.name} in {path.parent}; make it with "
            f"`make reproduce PRESET=cpu` (or `python -m reproductions.{name}`)"
        )
    stored = json.loads(path.read_text())
    if not isinstance(stored, dict) or "data" not in stored:
        raise ValueError(f"{path.name}: expected an object with 'provenance' and 'data'")
    return StoredResult(name, _check_provenance(stored.get("provenance"), path.name), stored["data"])


def stored_names(directory: str | pathlib.Path | None = None) -> list[str]:
    """The names of the results stored in ``directory`` (default: the repository's ``results/``)."""
    folder = pathlib.Path(DEFAULT_DIRECTORY if directory is None else directory)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


__all__ = ["FIELDS", "StoredResult", "current_commit", "describe_device", "load", "provenance", "save", "stored_names"]
