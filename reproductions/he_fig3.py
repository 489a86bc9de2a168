"""He et al. (2015), Fig. 3: a 30-layer ReLU net stalls from He's "Xavier" start and trains from his.

He's "Xavier" is std sqrt(1/n_in) (``variance_scaling`` with scale 1, fan_in, normal law); his
rule is std sqrt(2/n_in) (``kaiming_normal``). Both nets are trained with SGD and momentum 0.9
on Shapeset-3x2 for the same number of updates, and their curves are recorded. At the sizes
here the net is an MLP (He et al. trained 27 conv + 3 fc layers on ImageNet); the JSON says so.
"""

from __future__ import annotations

import initlib
from initlib import data as datasets

from . import _run

NAME = "he_fig3"
STARTS = {
    "xavier": ("variance_scaling", {"scale": 1.0, "mode": "fan_in", "distribution": "normal"}),
    "he": ("kaiming_normal", {}),
}
PRESETS = {
    "quick": dict(depth=30, width=32, n_train=500, n_test=200, steps=200, lr=0.003),
    "cpu": dict(depth=30, width=256, n_train=20_000, n_test=2_000, steps=20_000, lr=0.003),
    "paper": dict(depth=30, width=1000, n_train=100_000, n_test=10_000, steps=100_000, lr=0.003),
}


def run(s: dict, device, progress: bool) -> dict:
    split = datasets.shapeset_split(s["n_train"], s["n_test"], seed=0)
    widths = [split[0].shape[1]] + [s["width"]] * (s["depth"] - 1) + [datasets.NUM_CLASSES]
    rows = []
    for start, (scheme, kwargs) in STARTS.items():
        r = initlib.train(widths, "relu", scheme, data=split, steps=s["steps"], lr=s["lr"], batch=32,
                          optimizer="momentum", seed=0, device=device,
                          record_every=max(1, s["steps"] // 20), progress=progress, **kwargs)
        rows.append({"init": start, "scheme": scheme, "scheme_kwargs": kwargs, "steps": r.steps,
                     "train_loss": r.train_loss, "test_error": r.test_error,
                     "final_test_error": r.final_test_error, "diverged": r.diverged})
    return {"network": "mlp", "dataset": "Shapeset-3x2", "depth": s["depth"], "width": s["width"],
            "widths": widths, "optimizer": "momentum", "lr": s["lr"], "batch": 32,
            "updates": s["steps"], "chance_error": datasets.majority_error(), "rows": rows}


def main(argv=None) -> dict:
    return _run.main(NAME, __doc__.splitlines()[0], PRESETS, run, argv)


if __name__ == "__main__":
    main()
