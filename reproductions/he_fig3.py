"""He et al. (2015), Figs. 2 and 3: a deep ReLU conv net from He's "Xavier" start against his own.

The net is Fig. 3's shape, narrowed for a CPU: 3x3 convolutions without biases in three stages
(``channels``, 2x and 4x as many; a 2x2 max-pool after each stage) on 32x32 Shapeset-3x2 images,
then three fully connected layers (biases starting at 0), ReLU after every layer but the logits.
Fig. 3's 30-layer net has 27 convolutions (9 per stage); Fig. 2's 22-layer net, 19 (7, 6, 6).

"Xavier" in He et al. is std sqrt(1/n_in) (``variance_scaling``, scale 1, fan_in, normal law);
theirs is eq. (10), std sqrt(2/n_in) (``kaiming_normal``), n_in = 3 * 3 * channels in. Both are
trained as He et al. trained: SGD with momentum 0.9 and weight decay 5e-4, the same examples in
the same order; minibatch and learning rate are the cpu preset's (32 and 0.003). A control
trains the 30-layer "Xavier" net again without weight decay.

Every ``record_every`` updates the run records the training loss (a fixed set of 500 training
images), the test error, and per weight layer the relative gradient ``|dC/dW| / |W|`` of the
current minibatch's loss and the relative step ``|W_t - W_(t-1)| / |W|`` that the update made:
the measurements that tell a stall caused by vanished gradients from one the optimizer makes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

import initlib
from initlib.course import data as datasets

from . import _run

NAME = "he_fig3"
STARTS = {
    "xavier": ("variance_scaling", {"scale": 1.0, "mode": "fan_in", "distribution": "normal"}),
    "he": ("kaiming_normal", {}),
}
# Convolutions per stage for each depth (convolutions + 3 fully connected layers).
STAGES = {30: (9, 9, 9), 22: (7, 6, 6)}
MOMENTUM, WEIGHT_DECAY = 0.9, 5e-4  # He et al.'s settings
EVAL_EXAMPLES = 500
PRESETS = {
    # controls: extra runs of the deepest net, as (start, optimizer, lr, weight decay); the one below
    # asks whether weight decay is what holds the "Xavier" start still
    "quick": dict(
        depths=[30],
        controls=[("xavier", "momentum", 0.003, 0.0)],
        channels=2,
        fc_width=16,
        n_train=256,
        n_test=64,
        steps=12,
        batch=8,
        lr=0.003,
        record_every=4,
    ),
    "cpu": dict(
        depths=[30, 22],
        controls=[("xavier", "momentum", 0.003, 0.0)],
        channels=16,
        fc_width=256,
        n_train=10_000,
        n_test=500,
        steps=3000,
        batch=32,
        lr=0.003,
        record_every=100,
    ),
    "paper": dict(
        depths=[30, 22],
        controls=[("xavier", "momentum", 0.003, 0.0)],
        channels=64,
        fc_width=1000,
        n_train=100_000,
        n_test=10_000,
        steps=100_000,
        batch=128,
        lr=0.003,
        record_every=2000,
    ),
}


def conv_net(depth: int, channels: int, fc_width: int) -> nn.Sequential:
    """``depth - 3`` bias-free 3x3 convs in three stages (``channels``, 2x, 4x; a 2x2 max-pool
    after each) and 3 Linear layers, ReLU after all but the logits. Takes ``(n, 1024)`` rows."""
    layers: list[nn.Module] = [nn.Unflatten(1, (1, datasets.SIDE, datasets.SIDE))]
    n_in = 1
    for stage, count in enumerate(STAGES[depth]):
        for _ in range(count):
            n_out = channels * 2**stage
            layers += [nn.Conv2d(n_in, n_out, 3, padding=1, bias=False), nn.ReLU()]
            n_in = n_out
        layers.append(nn.MaxPool2d(2))
    side = datasets.SIDE // 2 ** len(STAGES[depth])
    layers += [
        nn.Flatten(),
        nn.Linear(n_in * side * side, fc_width),
        nn.ReLU(),
        nn.Linear(fc_width, fc_width),
        nn.ReLU(),
        nn.Linear(fc_width, datasets.NUM_CLASSES),
    ]
    return nn.Sequential(*layers)


def weights(net: nn.Module) -> list[torch.Tensor]:
    """The weight tensors of the conv and Linear layers, bottom first."""
    return [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _evaluate(net, x, y) -> tuple[float, float]:
    """(mean NLL, error fraction) on ``(x, y)``."""
    with torch.no_grad():
        logits = torch.cat([net(chunk) for chunk in x.split(250)])
        return F.cross_entropy(logits, y).item(), (logits.argmax(1) != y).float().mean().item()


def train_conv(
    net,
    split,
    s: dict,
    optimizer: str = "momentum",
    lr: float | None = None,
    seed: int = 0,
    device="cpu",
    progress: bool = False,
    weight_decay: float = WEIGHT_DECAY,
) -> dict:
    """SGD (``"momentum"``: 0.9, or ``"sgd"``: none) with ``weight_decay`` (He et al.'s 5e-4) on
    ``split``; the curves and the per-layer relative gradients and steps, every ``s["record_every"]``
    updates."""
    if optimizer not in ("momentum", "sgd"):
        raise ValueError(f"optimizer must be 'momentum' or 'sgd', got {optimizer!r}")
    lr = s["lr"] if lr is None else lr
    net = net.to(device)
    x, y, x_test, y_test = (t.to(device) for t in split)
    params = weights(net)
    opt = torch.optim.SGD(
        net.parameters(), lr=lr, momentum=MOMENTUM if optimizer == "momentum" else 0.0, weight_decay=weight_decay
    )
    gen = torch.Generator().manual_seed(seed)
    out = {"steps": [], "train_loss": [], "test_error": [], "grad_ratio": [], "step_ratio": []}
    order, cursor = torch.randperm(len(x), generator=gen), 0
    bar = tqdm(total=s["steps"], desc=f"{optimizer} lr {lr:g}", leave=False) if progress else None
    for step in range(s["steps"] + 1):
        if cursor + s["batch"] > len(x):
            order, cursor = torch.randperm(len(x), generator=gen), 0
        idx = order[cursor : cursor + s["batch"]].to(device)
        cursor += s["batch"]
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step % s["record_every"] == 0 or step == s["steps"]:
            train_loss, _ = _evaluate(net, x[:EVAL_EXAMPLES], y[:EVAL_EXAMPLES])
            out["steps"].append(step)
            out["train_loss"].append(train_loss)
            out["test_error"].append(_evaluate(net, x_test, y_test)[1])
            out["grad_ratio"].append([(w.grad.norm() / w.norm()).item() for w in params])
            before = [w.detach().clone() for w in params]
        if step == s["steps"]:
            break
        opt.step()
        if step % s["record_every"] == 0:  # the update just made, from the record's weights
            out["step_ratio"].append([((w.detach() - b).norm() / b.norm()).item() for w, b in zip(params, before)])
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    out["diverged"] = not all(math.isfinite(v) for v in out["train_loss"])
    return out


def run(s: dict, device, progress: bool) -> dict:
    split = datasets.shapeset_split(s["n_train"], s["n_test"], seed=0)
    nets = {}
    for depth in s["depths"]:
        runs = [(start, "momentum", s["lr"], WEIGHT_DECAY) for start in STARTS]
        runs += [tuple(c) for c in s["controls"]] if depth == max(s["depths"]) else []
        rows = []
        for start, optimizer, lr, decay in runs:
            scheme, kwargs = STARTS[start]
            net = initlib.init_module(
                conv_net(depth, s["channels"], s["fc_width"]),
                scheme,
                generator=torch.Generator().manual_seed(0),
                **kwargs,
            )
            rows.append(
                {
                    "init": start,
                    "scheme": scheme,
                    "scheme_kwargs": kwargs,
                    "optimizer": optimizer,
                    "lr": lr,
                    "weight_decay": decay,
                    **train_conv(net, split, s, optimizer, lr, device=device, progress=progress, weight_decay=decay),
                }
            )
        nets[str(depth)] = {"conv_layers": sum(STAGES[depth]), "fc_layers": 3, "rows": rows}
    priors = datasets.class_priors()
    return {
        "network": "conv",
        "dataset": "Shapeset-3x2",
        "channels": [s["channels"] * 2**k for k in range(3)],
        "fc_width": s["fc_width"],
        "batch": s["batch"],
        "momentum": MOMENTUM,
        "weight_decay": WEIGHT_DECAY,
        "updates": s["steps"],
        "n_train": s["n_train"],
        "n_test": s["n_test"],
        "chance_error": datasets.majority_error(),
        "prior_entropy": float(-(priors * priors.log()).sum()),
        "depths": nets,
    }


def main(argv=None) -> dict:
    return _run.main(NAME, __doc__.splitlines()[0], PRESETS, run, argv)


if __name__ == "__main__":
    main()
