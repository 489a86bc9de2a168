"""What every reproduction shares: the command line, the timing and the provenance."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from typing import Callable

import torch

from initlib.course import results
from initlib.measure.devices import resolve_device

PRESET_NAMES = ("quick", "cpu", "paper")


def parser(name: str, doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m reproductions.{name}", description=doc)
    p.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        default="quick",
        help="quick: seconds (CI); cpu: minutes on a 2-core CPU; paper: the paper's sizes (GPU)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    p.add_argument("--out", default=None, metavar="DIR", help="where NAME.json goes (default: results/)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(name: str, doc: str, presets: dict, run: Callable[..., dict], argv=None) -> dict:
    """Parse ``argv``, run ``run(settings, device, progress)`` and save its data with provenance."""
    args = parser(name, doc).parse_args(argv)
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # minibatches of 10-32: a second thread adds synchronisation, not speed
    commit, start = results.current_commit(), time.perf_counter()
    data = run(presets[args.preset], device, not args.quiet)
    command = shlex.join(["python", "-m", f"reproductions.{name}", *(sys.argv[1:] if argv is None else argv)])
    record = results.provenance(args.preset, device, command, time.perf_counter() - start, commit)
    path = results.save(name, data, record, directory=args.out)
    print(f"{name}: wrote {path} ({record['wall_s']:.0f} s on {record['device']})")
    return data
