"""``python -m reproductions --preset cpu``: every reproduction, with a progress bar.

On a CPU each script runs single-threaded (minibatches of 10-32 gain nothing from a second
thread), so ``--jobs`` scripts run side by side in separate processes: two on a 2-core machine.
The longest script starts first.
"""

import argparse
import importlib
import os
from concurrent.futures import ProcessPoolExecutor, as_completed

from tqdm import tqdm

from . import SCRIPTS, _run

ORDER = ("trainable_depth", "he_fig3", "glorot_table1")  # longest first


def _one(name: str, extra: list) -> str:
    importlib.import_module(f"reproductions.{name}").main(extra)
    return name


def main(argv=None) -> None:
    args = argparse.ArgumentParser(prog="python -m reproductions", description=__doc__.splitlines()[0])
    args.add_argument("--preset", choices=_run.PRESET_NAMES, default="quick")
    args.add_argument("--device", default="auto")
    args.add_argument("--out", default=None, metavar="DIR")
    args.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="scripts run at once (default: 2, or 1 on a 1-core machine); use 1 on a GPU",
    )
    ns = args.parse_args(argv)
    if ns.jobs < 1:
        args.error(f"--jobs must be at least 1, got {ns.jobs}")
    extra = ["--preset", ns.preset, "--device", ns.device, "--quiet"] + (["--out", ns.out] if ns.out else [])
    names = sorted(SCRIPTS, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
    bar = tqdm(total=len(names), desc=f"reproductions ({ns.preset})", unit="script")
    with ProcessPoolExecutor(max_workers=ns.jobs) as pool:
        for done in as_completed([pool.submit(_one, name, extra) for name in names]):
            bar.set_postfix_str(f"{done.result()} done")
            bar.update(1)
    bar.close()


if __name__ == "__main__":
    main()
