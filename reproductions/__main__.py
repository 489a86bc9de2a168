"""``python -m reproductions --preset cpu``: every reproduction in turn, with a progress bar."""

import argparse
import importlib

from tqdm import tqdm

from . import SCRIPTS, _run

args = argparse.ArgumentParser(prog="python -m reproductions", description=__doc__)
args.add_argument("--preset", choices=_run.PRESET_NAMES, default="quick")
args.add_argument("--device", default="auto")
args.add_argument("--out", default=None, metavar="DIR")
ns = args.parse_args()
extra = ["--preset", ns.preset, "--device", ns.device, "--quiet"] + (["--out", ns.out] if ns.out else [])
for name in tqdm(SCRIPTS, desc=f"reproductions ({ns.preset})", unit="script"):
    importlib.import_module(f"reproductions.{name}").main(extra)
