"""Glorot & Bengio (2010), Table 1, Shapeset-3x2 column: test error of 5 hidden layers, trained online.

As in the paper: softmax + NLL, plain SGD on minibatches of 10, biases at zero, and online data:
every update draws 10 fresh Shapeset-3x2 images from the generator (a new seed for each block of
``chunk`` images), so no training image is seen twice. "standard" is their eq. (1),
U[-1/sqrt(n), 1/sqrt(n)] (Var = 1/(3 fan_in)); "normalized" is eq. (16) (Var = 2/(fan_in +
fan_out)). For one activation, both starts at every learning rate of the grid train as one
ensemble (one batched computation), on the same stream of examples, from the same seed (the two
starts draw the same uniforms, scaled differently). The learning rate of each start is the grid
value with the lowest validation error, read at the same update as the test error, as the paper
chose it on validation error. Validation and test sets are two further fixed draws.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

import initlib
from initlib.course import data as datasets
from initlib.measure import ensembles, training

from . import _run

NAME = "glorot_table1"
# Each start as variance_scaling(scale, mode, "uniform"): eq. (1) and eq. (16).
INITS = {"standard": {"scale": 1 / 3, "mode": "fan_in"}, "normalized": {"scale": 1.0, "mode": "fan_avg"}}
# Table 1, Shapeset-3x2 column, as fractions.
PAPER = {
    ("softsign", "standard"): 0.1627,
    ("softsign", "normalized"): 0.1606,
    ("tanh", "standard"): 0.2715,
    ("tanh", "normalized"): 0.1560,
    ("sigmoid", "standard"): 0.8261,
}
BATCH, HIDDEN_LAYERS = 10, 5
TEST_SEED, STREAM_SEED = 0, 1  # the stream's block k has seed STREAM_SEED + k
PRESETS = {
    "quick": dict(width=16, lrs=(0.1, 0.3), updates=60, records=3, n_val=100, n_test=100, chunk=200),
    "cpu": dict(
        width=256, lrs=(0.01, 0.03, 0.1, 0.3), updates=60_000, records=20, n_val=1000, n_test=2000, chunk=10_000
    ),
    "paper": dict(
        width=1000,
        lrs=(0.01, 0.03, 0.1, 0.3),
        updates=5_000_000,
        records=50,
        n_val=10_000,
        n_test=10_000,
        chunk=100_000,
    ),
}


def ensemble(widths, activation: str, members: list[tuple[str, float]]) -> nn.Sequential:
    """One MLP per ``(start, lr)`` member, drawn from seed 0 with that start's law, stacked into
    :class:`initlib.measure.ensembles.EnsembleLinear` layers (the activation between them)."""
    nets = [
        initlib.init_module(
            training.mlp(widths, activation),
            "variance_scaling",
            generator=torch.Generator().manual_seed(0),
            distribution="uniform",
            **INITS[start],
        )
        for start, _ in members
    ]
    layers: list[nn.Module] = []
    for l in range(len(widths) - 1):
        layers.append(
            ensembles.EnsembleLinear(
                torch.stack([n[2 * l].weight.detach() for n in nets]),
                torch.stack([n[2 * l].bias.detach() for n in nets]),
            )
        )
        if l < len(widths) - 2:
            layers.append(nets[0][2 * l + 1])
    return nn.Sequential(*layers)


def _errors(model, x, y, members: int) -> torch.Tensor:
    """Each member's error fraction on ``(x, y)``."""
    with torch.no_grad():
        wrong = sum(
            (model(cx.expand(members, *cx.shape)).argmax(-1) != cy).sum(1)
            for cx, cy in zip(x.split(1000), y.split(1000))
        )
    return wrong / len(x)


def stream(s: dict):
    """Minibatches of fresh images: block k of ``s["chunk"]`` images from seed STREAM_SEED + k."""
    for k in range(math.ceil(s["updates"] * BATCH / s["chunk"])):
        x, y = datasets.shapeset(s["chunk"], seed=STREAM_SEED + k)
        yield from zip(x.split(BATCH), y.split(BATCH))


def train_online(s: dict, activations: dict, device, progress: bool) -> dict:
    """Train every activation's ensemble (``{activation: [(start, lr), ...]}``) on one stream;
    curves of the online training loss and of the validation and test errors per member."""
    x_val, y_val, x_test, y_test = (
        t.to(device) for t in datasets.shapeset_split(s["n_val"], s["n_test"], seed=TEST_SEED)
    )
    widths = [datasets.SIDE**2] + [s["width"]] * HIDDEN_LAYERS + [datasets.NUM_CLASSES]
    runs = {}
    for act, members in activations.items():
        model = ensemble(widths, act, members).to(device)
        rates = torch.tensor([lr for _, lr in members], device=device)
        runs[act] = dict(
            model=model,
            rates=rates,
            E=len(members),
            loss_sum=torch.zeros(len(members), device=device),
            finite=torch.ones(len(members), dtype=torch.bool, device=device),
            curves={"steps": [], "train_loss": [], "valid_error": [], "test_error": []},
        )
    every = max(1, s["updates"] // s["records"])

    def record(step: int, count: int) -> None:
        for r in runs.values():
            c = r["curves"]
            c["steps"].append(step)
            c["train_loss"].append((r["loss_sum"] / max(count, 1)).tolist() if count else [None] * r["E"])
            c["valid_error"].append(_errors(r["model"], x_val, y_val, r["E"]).tolist())
            c["test_error"].append(_errors(r["model"], x_test, y_test, r["E"]).tolist())
            r["loss_sum"].zero_()

    record(0, 0)
    bar = tqdm(total=s["updates"], desc="online updates", leave=False) if progress else None
    since = 0
    for step, (xb, yb) in enumerate(stream(s), start=1):
        if step > s["updates"]:
            break
        xb, yb = xb.to(device), yb.to(device)
        for r in runs.values():
            logits = r["model"](xb.expand(r["E"], *xb.shape))
            loss = F.cross_entropy(logits.flatten(0, 1), yb.repeat(r["E"]), reduction="none").view(r["E"], -1).mean(1)
            params = list(r["model"].parameters())
            grads = torch.autograd.grad(loss.sum(), params)  # member e's gradient is its own loss's
            with torch.no_grad():
                for p, g in zip(params, grads):  # plain SGD, member e at its own rate
                    p.sub_(r["rates"].view(-1, *[1] * (p.dim() - 1)) * g)
                r["loss_sum"] += loss
                r["finite"] &= torch.isfinite(loss)
        since += 1
        if bar is not None:
            bar.update(1)
        if step % every == 0 or step == s["updates"]:
            record(step, since)
            since = 0
    if bar is not None:
        bar.close()
    return {act: dict(r["curves"], diverged=(~r["finite"]).tolist()) for act, r in runs.items()}


def select(curves: dict, members: list, start: str, k: int = -1) -> int:
    """The member of ``start`` with the lowest validation error at record ``k`` (diverged runs excluded)."""
    candidates = [e for e, (st, _) in enumerate(members) if st == start and not curves["diverged"][e]]
    return min(candidates, key=lambda e: curves["valid_error"][k][e])


def run(s: dict, device, progress: bool) -> dict:
    starts = {act: [st for a, st in PAPER if a == act] for act in dict.fromkeys(a for a, _ in PAPER)}
    activations = {act: [(st, lr) for st in sts for lr in s["lrs"]] for act, sts in starts.items()}
    curves = train_online(s, activations, device, progress)
    rows = []
    for act, sts in starts.items():
        c, members = curves[act], activations[act]
        for st in sts:
            e = select(c, members, st)
            own = [i for i, (m, _) in enumerate(members) if m == st]
            # at every record, the member that validation would choose there: matched budgets
            best = [select(c, members, st, k) for k in range(len(c["steps"]))]
            rows.append(
                {
                    "activation": act,
                    "init": st,
                    "lr": members[e][1],
                    "lr_grid": list(s["lrs"]),
                    "valid_errors": [c["valid_error"][-1][i] for i in own],
                    "test_error": c["test_error"][-1][e],
                    "paper_test_error": PAPER[(act, st)],
                    "diverged": [c["diverged"][i] for i in own],
                    "chosen": {
                        "lr": [members[b][1] for b in best],
                        "valid_error": [c["valid_error"][k][b] for k, b in enumerate(best)],
                        "test_error": [c["test_error"][k][b] for k, b in enumerate(best)],
                    },
                    # every learning rate's curves, [record][lr]
                    "curves": {
                        "steps": c["steps"],
                        **{
                            name: [[rec[i] for i in own] for rec in c[name]]
                            for name in ("train_loss", "valid_error", "test_error")
                        },
                    },
                }
            )
    return {
        "dataset": "Shapeset-3x2",
        "online": True,
        "widths": [datasets.SIDE**2] + [s["width"]] * HIDDEN_LAYERS + [datasets.NUM_CLASSES],
        "batch": BATCH,
        "optimizer": "sgd",
        "updates": s["updates"],
        "examples_seen": s["updates"] * BATCH,
        "n_val": s["n_val"],
        "n_test": s["n_test"],
        "chance_error": datasets.majority_error(),
        "rows": rows,
    }


def main(argv=None) -> dict:
    return _run.main(NAME, __doc__.splitlines()[0], PRESETS, run, argv)


if __name__ == "__main__":
    main()
