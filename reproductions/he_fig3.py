"""He et al. (2015), Fig. 3: a 30-layer ReLU net stalls from He's "Xavier" start and trains from his.

He's "Xavier" is std sqrt(1/n_in) (``variance_scaling`` with scale 1, fan_in, normal law); his
rule is std sqrt(2/n_in) (``kaiming_normal``). Both nets are trained with SGD and momentum 0.9
on Shapeset-3x2 for the same number of updates, and their curves are recorded. At the paper
preset the net is convolutional as in Fig. 3 (27 3x3 conv + 3 fc layers, ReLU; He et al.
trained it on ImageNet); the quick and cpu presets train 30-layer MLPs. The JSON's "network"
field says which.
"""

from __future__ import annotations

from torch import nn

import initlib
from initlib import data as datasets

from . import _run

NAME = "he_fig3"
STARTS = {
    "xavier": ("variance_scaling", {"scale": 1.0, "mode": "fan_in", "distribution": "normal"}),
    "he": ("kaiming_normal", {}),
}
PRESETS = {
    "quick": dict(network="mlp", depth=30, width=32, n_train=500, n_test=200, steps=200, lr=0.003),
    "cpu": dict(network="mlp", depth=30, width=256, n_train=20_000, n_test=2_000, steps=20_000, lr=0.003),
    # width: the first stage's channels (then 2x and 4x); fc_width: the two hidden Linear layers
    "paper": dict(network="conv", depth=30, width=64, fc_width=1000, n_train=100_000, n_test=10_000,
                  steps=100_000, lr=0.003),
}


CONV_LAYERS, FC_LAYERS = 27, 3


def conv_net(channels: int, fc_width: int) -> nn.Sequential:
    """Fig. 3's shape on 32x32 images: 27 3x3 convs (9 per stage at 32, 16 and 8 pixels, each
    later stage opened by a stride-2 conv that doubles the channels), then 3 Linear layers; ReLU
    after every layer but the logits. Takes ``(n, 1024)`` rows, as :func:`initlib.train` feeds."""
    layers: list[nn.Module] = [nn.Unflatten(1, (1, datasets.SIDE, datasets.SIDE))]
    n_in = 1
    for i in range(CONV_LAYERS):
        stride = 2 if i in (9, 18) else 1
        n_out = channels * 2 ** (i // 9)
        layers += [nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1), nn.ReLU()]
        n_in = n_out
    side = datasets.SIDE // 4
    layers += [nn.Flatten(), nn.Linear(n_in * side * side, fc_width), nn.ReLU(),
               nn.Linear(fc_width, fc_width), nn.ReLU(), nn.Linear(fc_width, datasets.NUM_CLASSES)]
    return nn.Sequential(*layers)


def network(s: dict, n_features: int):
    """The paper preset's conv net, or the widths of an MLP of ``depth`` layers."""
    if s["network"] == "conv":
        return conv_net(s["width"], s["fc_width"])
    return [n_features] + [s["width"]] * (s["depth"] - 1) + [datasets.NUM_CLASSES]


def run(s: dict, device, progress: bool) -> dict:
    split = datasets.shapeset_split(s["n_train"], s["n_test"], seed=0)
    net = network(s, split[0].shape[1])
    widths = None if isinstance(net, nn.Module) else net
    rows = []
    for start, (scheme, kwargs) in STARTS.items():
        r = initlib.train(net, "relu", scheme, data=split, steps=s["steps"], lr=s["lr"], batch=32,
                          optimizer="momentum", seed=0, device=device,
                          record_every=max(1, s["steps"] // 20), progress=progress, **kwargs)
        rows.append({"init": start, "scheme": scheme, "scheme_kwargs": kwargs, "steps": r.steps,
                     "train_loss": r.train_loss, "test_error": r.test_error,
                     "final_test_error": r.final_test_error, "diverged": r.diverged})
    return {"network": s["network"], "dataset": "Shapeset-3x2", "depth": s["depth"], "width": s["width"],
            "widths": widths, "optimizer": "momentum", "lr": s["lr"], "batch": 32,
            "updates": s["steps"], "chance_error": datasets.majority_error(), "rows": rows}


def main(argv=None) -> dict:
    return _run.main(NAME, __doc__.splitlines()[0], PRESETS, run, argv)


if __name__ == "__main__":
    main()
