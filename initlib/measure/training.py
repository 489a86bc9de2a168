"""Train a fully connected net from a given initialization, and watch its gradients as it learns.

:func:`train` builds the multilayer perceptron of Glorot & Bengio's experiments — widths
``[n_0, ..., n_L]``, the activation on every hidden layer, softmax + negative log-likelihood on
top, biases zero — draws its weights with an initlib scheme, and runs minibatch SGD (plain, as in
the paper, unless asked otherwise). Every ``record_every`` steps, and at step 0 before any update,
it records the training loss and error, the test error, and per layer:

* ``grad_var[l]``  — Var[dC/ds^l], the back-propagated gradient at the pre-activations
  ``s^l = W^l h^(l-1) + b^l``, where ``C`` is each example's own NLL (so the value does not
  depend on how many examples are pooled): Glorot & Bengio's eq. (6) quantity.
* ``weight_grad_var[l]`` — Var of the entries of dC/dW^l with ``C`` the NLL averaged over the
  statistics batch: the step direction plain SGD would take (their eq. (7) quantity).
* ``pre_var[l]`` — Var[s^l], the forward signal (their eq. (5)).
* ``weight_var[l]``, ``bias_var[l]`` — E[(W^l)^2] and E[(b^l)^2] of the current parameters: what
  the variance analysis would take as Var[W^l] (and the biases' variance) at this point.

Variances are over every unit and example (means removed), on a fixed statistics batch: the
first 300 test examples, as Glorot & Bengio monitored theirs. The variance analysis of the
derivations describes step 0 only; the later records show how far training moves away from it.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.randn(200, 8, generator=g); y = (x[:, 0] > 0).long()
>>> from initlib.measure.spec import MLP
>>> r = train(MLP([8, 16, 2], "tanh", "xavier_uniform"), (x, y, x, y), steps=100, lr=0.1,
...           record_every=50, device="cpu")
>>> r.steps
[0, 50, 100]
>>> r.test_error[-1] < r.test_error[0]
True
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import numbers
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_int, check_positive, check_widths
from ..laws import activations
from . import ensembles
from .devices import resolve_device
from .probe import Site, measure, second_moment, var_mean
from .record import Record
from .spec import MLP

ACTIVATIONS = activations.NAMES
OPTIMIZERS = ("sgd", "momentum", "adam")
MOMENTUM = 0.9
STATS_EXAMPLES = 300  # Glorot & Bengio's fixed monitoring set
TRAIN_EVAL_EXAMPLES = 500  # training loss and error are measured on (at most) this many fixed examples
EVAL_CHUNK = 2000
DEFAULT_LR = 0.01
DEFAULT_BATCH = 10  # Glorot & Bengio's minibatch
DEFAULT_RECORDS = 20
STEPS = 2000

PER_LAYER = ("grad_var", "weight_grad_var", "pre_var", "weight_var", "bias_var")
PER_RECORD = ("train_loss", "train_error", "test_error")


def mlp(widths: Sequence[int], activation: str = "tanh") -> nn.Sequential:
    """``Linear(n_0, n_1), f, Linear(n_1, n_2), f, ..., Linear(n_(L-1), n_L)``: no activation on the
    logits (the softmax is in the loss). Weights and biases keep nn.Linear's default law (drawn
    from torch's global generator) until an init is applied; the layout is :meth:`MLP.assemble`'s."""
    net = MLP(widths, activation)
    return net.assemble([nn.Linear(n_in, n_out) for n_in, n_out in zip(net.widths[:-1], net.widths[1:])], logits=True)


@dataclasses.dataclass
class TrainResult(Record):
    """What :func:`train` recorded. ``steps[k]`` is the number of updates made before record ``k``;
    ``train_loss``, ``train_error``, ``test_error`` hold one number per record, and ``grad_var``,
    ``weight_grad_var``, ``pre_var``, ``weight_var``, ``bias_var`` one list per record with one
    number per layer (layer 1 first, the logits last). Errors are fractions in [0, 1]. ``diverged``
    is True when the loss became inf/NaN (training stopped there, at the last record). A
    :class:`initlib.measure.record.Record` whose rows are the records: ``column("test_error")`` is
    the test error curve, ``column("grad_var")`` one list of per-layer values per record."""

    device: str
    widths: list
    activation: str
    init: str
    init_kwargs: dict
    optimizer: str
    lr: float
    batch: int
    seed: int
    n_train: int
    n_test: int
    steps: list = dataclasses.field(default_factory=list)
    train_loss: list = dataclasses.field(default_factory=list)
    train_error: list = dataclasses.field(default_factory=list)
    test_error: list = dataclasses.field(default_factory=list)
    grad_var: list = dataclasses.field(default_factory=list)
    weight_grad_var: list = dataclasses.field(default_factory=list)
    pre_var: list = dataclasses.field(default_factory=list)
    weight_var: list = dataclasses.field(default_factory=list)
    bias_var: list = dataclasses.field(default_factory=list)
    diverged: bool = False

    @property
    def depth(self) -> int:
        """Number of weight layers L (hidden layers plus the output layer)."""
        return len(self.widths) - 1

    @property
    def final_test_error(self) -> float:
        return self.test_error[-1]

    def layer_series(self, name: str, layer: int) -> list:
        """One per-layer statistic of ``layer`` (1-based) through training, e.g.
        ``result.layer_series("grad_var", 1)``."""
        check_choice(name, "name", PER_LAYER)
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral) or not 1 <= layer <= self.depth:
            raise ValueError(f"layer must be an integer from 1 to {self.depth}, got {layer!r}")
        return [record[layer - 1] for record in getattr(self, name)]

    def columns(self) -> tuple[str, ...]:
        return ("steps", *PER_RECORD, *PER_LAYER)

    def _column(self, name: str) -> list:
        return list(getattr(self, name))

    def _payload(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["init_kwargs"] = {
            k: (v if isinstance(v, (int, float, str, bool)) or v is None else repr(v))
            for k, v in self.init_kwargs.items()
        }
        return out

    def to_csv(self, file) -> None:
        """One row per record: ``step``, the per-record curves, then ``grad_var_1 ... grad_var_L``,
        ``weight_grad_var_1 ...``, ``pre_var_1 ...``. ``file`` is a path or an open text file."""
        header = ["step", *PER_RECORD] + [f"{name}_{l}" for name in PER_LAYER for l in range(1, self.depth + 1)]

        def write(handle):
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            for k, step in enumerate(self.steps):
                row = [step] + [getattr(self, name)[k] for name in PER_RECORD]
                for name in PER_LAYER:
                    row += getattr(self, name)[k]
                writer.writerow([repr(v) if isinstance(v, float) else v for v in row])

        if isinstance(file, (str, os.PathLike)):
            with open(file, "w", newline="") as handle:
                write(handle)
        elif isinstance(file, io.TextIOBase) or hasattr(file, "write"):
            write(file)
        else:
            raise TypeError(f"file must be a path or an open text file, got {type(file).__name__}")

    @staticmethod
    def read_csv(file) -> dict:
        """The columns written by :meth:`to_csv`, as ``{name: list}`` (steps as ints, the rest floats)."""
        if isinstance(file, (str, os.PathLike)):
            with open(file, newline="") as handle:
                rows = list(csv.reader(handle))
        else:
            rows = list(csv.reader(file))
        header, body = rows[0], rows[1:]
        return {name: [int(r[i]) if name == "step" else float(r[i]) for r in body] for i, name in enumerate(header)}


# --- argument checks -----------------------------------------------------------------------------


def _check_data(data, widths):
    if isinstance(data, dict) or not hasattr(data, "__len__") or len(data) != 4:
        raise TypeError(
            f"data must be a 4-tuple (x_train, y_train, x_test, y_test) of tensors, got {type(data).__name__}"
        )
    names = ("x_train", "y_train", "x_test", "y_test")
    for name, t in zip(names, data):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"data's {name} must be a torch.Tensor, got {type(t).__name__}")
    x_train, y_train, x_test, y_test = data
    for xname, x, yname, y in (("x_train", x_train, "y_train", y_train), ("x_test", x_test, "y_test", y_test)):
        if not x.is_floating_point() or x.dim() != 2:
            raise ValueError(
                f"data's {xname} must be a 2-d float tensor (examples, features), got "
                f"{str(x.dtype).replace('torch.', '')} of shape {tuple(x.shape)}"
            )
        if y.dtype != torch.int64 or y.dim() != 1 or len(y) != len(x):
            raise ValueError(
                f"data's {yname} must be a 1-d int64 tensor with one label per row of {xname} "
                f"({len(x)}), got {str(y.dtype).replace('torch.', '')} of shape {tuple(y.shape)}"
            )
        if len(x) == 0:
            raise ValueError(f"data's {xname} has no examples")
        if x.shape[1] != widths[0]:
            raise ValueError(
                f"widths[0] = {widths[0]} must equal the number of input features, {x.shape[1]} in data's {xname}"
            )
        if int(y.min()) < 0 or int(y.max()) >= widths[-1]:
            raise ValueError(
                f"data's {yname} holds labels in [{int(y.min())}, {int(y.max())}], but the net has "
                f"widths[-1] = {widths[-1]} outputs: labels must lie in [0, {widths[-1] - 1}]"
            )
    return x_train, y_train, x_test, y_test


# --- statistics ----------------------------------------------------------------------------------


def _linear_layers(model: nn.Module) -> list[nn.Linear | ensembles.EnsembleLinear]:
    """The model's Linear layers (nested ones too: a residual block's), in registration order."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, ensembles.EnsembleLinear))]


def layer_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, members: int = 0) -> tuple[torch.Tensor, ...]:
    """Per-layer ``(pre_var, grad_var, weight_grad_var, weight_var, bias_var)`` as five device
    tensors, on the batch ``(x, y)`` (see the module docstring), measured with the core of
    :mod:`initlib.probe` (per member, along a last axis, for an ensemble: ``x`` of shape
    ``(E, n, n_0)``, ``y`` of ``(E, n)``). The model's ``.grad`` fields are left untouched."""
    linears = _linear_layers(model)
    n = x.shape[-2]

    def pre(s):
        return {"pre_var": var_mean(s, members)[0]}

    def grad(g):  # of the summed NLL: each example's own
        return {"grad_var": var_mean(g, members)[0]}

    def weight_grad(g):  # the summed loss's gradient over n is the mean loss's
        return {"weight_grad_var": var_mean(g, members)[0] / n**2}

    sites = [Site(str(l), m, pre, grad, [m.weight], weight_grad) for l, m in enumerate(linears)]
    rows, _ = measure(model, (x,), sites, loss=lambda out: _nll(out, y, "sum"), transfer=False)
    with torch.no_grad():
        weight_var = torch.stack([second_moment(m.weight, members) for m in linears])
        no_bias = linears[0].weight.new_zeros((members,) if members else ())
        bias_var = torch.stack([no_bias if m.bias is None else second_moment(m.bias, members) for m in linears])
    stacked = [torch.stack([row[k] for row in rows]) for k in ("pre_var", "grad_var", "weight_grad_var")]
    return (*stacked, weight_var, bias_var)


def _nll(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The NLL of one net, or the sum over an ensemble's members of each member's own NLL."""
    if logits.dim() == 2:
        return F.cross_entropy(logits, y, reduction=reduction)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction=reduction)


def _evaluate(model, x, y, members: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean NLL, error fraction) over ``x``, in chunks, as device tensors (shape ``(E,)`` for an
    ensemble, whose members all see the same ``x``)."""
    loss = x.new_zeros((members,) if members else ())
    wrong = x.new_zeros((members,) if members else ())
    for start in range(0, len(x), EVAL_CHUNK):
        chunk, target = x[start : start + EVAL_CHUNK], y[start : start + EVAL_CHUNK]
        if members:
            target = target.expand(members, len(target))
            logits = model(chunk.expand(members, *chunk.shape))
            loss = loss + F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none").view(
                target.shape
            ).sum(1)
        else:
            logits = model(chunk)
            loss = loss + F.cross_entropy(logits, target, reduction="sum")
        wrong = wrong + (logits.argmax(-1) != target).sum(-1)
    return loss / len(x), wrong / len(x)


# --- the trainer ---------------------------------------------------------------------------------


def _optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=MOMENTUM)
    return torch.optim.Adam(params, lr=lr)


def _draw(c: dict, runs: list) -> tuple[nn.Module, list[torch.Generator]]:
    """``(model, generators)``: each run's net drawn on the CPU from its own seed by
    :meth:`MLP.draw` -- every weight by the scheme, then every bias (zero, or by the net's bias
    law) -- and, for an ensemble, stacked into :class:`initlib.measure.ensembles.EnsembleLinear` layers; or
    a copy of the module given. Each generator goes on to shuffle its run's examples."""
    gens = [torch.Generator().manual_seed(seed) for seed, _ in runs]
    net = c["net"]
    if not isinstance(net, MLP):
        return copy.deepcopy(net), gens
    drawn = [net.draw(gen, kwargs, biases_last=True, zero_bias=True) for gen, (_, kwargs) in zip(gens, runs)]
    if len(runs) == 1:
        ((weights, biases),) = drawn
    else:
        weights, biases = ([torch.stack(ts) for ts in zip(*parts)] for parts in zip(*drawn))
    return net.assemble(net.linears(weights, biases), logits=True), gens


class _Orders:
    """Each member's own shuffled order of the training examples, drawn from its generator after its
    weights (as a single run draws it), and the next minibatch of indices for every member at once."""

    def __init__(self, n: int, batch: int, gens: list, device):
        self.n, self.batch, self.gens, self.device = n, batch, gens, device
        self._shuffle()

    def _shuffle(self) -> None:
        self.order = torch.stack([torch.randperm(self.n, generator=g) for g in self.gens]).to(self.device)
        self.cursor = 0

    def next(self, ensemble: bool) -> torch.Tensor:
        if self.cursor + self.batch > self.n:
            self._shuffle()
        idx = self.order[:, self.cursor : self.cursor + self.batch]
        self.cursor += self.batch
        return idx if ensemble else idx[0]


def _results(
    meta: dict, runs: list, rates: list, pending: list, stops: list, diverged: list, members: int
) -> list[TrainResult]:
    """Split the records (one device-to-host transfer for all of them) into one result per run
    (an ensemble's records carry a member axis last, even for E = 1)."""
    host = [(step, curves.cpu(), layers.cpu()) for step, curves, layers in pending]
    results = []
    for e, (seed, kwargs) in enumerate(runs):
        r = TrainResult(**meta, lr=rates[e], seed=seed, init_kwargs=dict(kwargs))
        for k, (step, curves, layers) in enumerate(host[: stops[e] + 1]):
            pick = (lambda t: t[..., e]) if members else (lambda t: t)
            curves, layers = pick(curves).tolist(), pick(layers).tolist()
            r.steps.append(step)
            r.train_loss.append(curves[0])
            r.train_error.append(curves[1])
            r.test_error.append(curves[2])
            for name, values in zip(("pre_var", "grad_var", "weight_grad_var", "weight_var", "bias_var"), layers):
                getattr(r, name).append(values)
        r.diverged = diverged[e]
        results.append(r)
    return results


def _module_widths(module: nn.Module) -> list[int]:
    """The sizes of a module's Linear layers, ``[in of the first, out of each]``."""
    found = _linear_layers(module)
    linears = [m for m in found if isinstance(m, nn.Linear)]
    if len(linears) < len(found):
        raise ValueError(f"widths: the module {type(module).__name__} holds stacked EnsembleLinear layers; pass an MLP")
    if not linears:
        raise ValueError(f"widths: the module {type(module).__name__} has no nn.Linear layer to measure")
    return [linears[0].in_features] + [m.out_features for m in linears]


def _check_lr(lr, optimizer):
    """A positive rate, or a list of them (one per member) for plain or momentum SGD: their update is
    linear in the gradient, so member e's rate is applied exactly by scaling its loss by
    ``lr[e] / max(lr)``. Adam normalises the gradient, which would undo that scaling."""
    if not ensembles.is_list(lr):
        return check_positive(lr, "lr")
    rates = [check_positive(r, f"lr[{e}]") for e, r in enumerate(lr)]
    if optimizer == "adam":
        raise ValueError("lr as a list (one rate per member) needs optimizer 'sgd' or 'momentum', got 'adam'")
    return rates


def _check_net(net) -> list[int]:
    """The widths of ``net``, an :class:`MLP` or an ``nn.Module`` (its Linear layers')."""
    if isinstance(net, MLP):
        widths = list(net.widths)
    elif isinstance(net, nn.Module):
        widths = check_widths(_module_widths(net))
    else:
        raise TypeError(
            f"net must be an initlib.MLP(widths, activation, init, ...) or an nn.Module, got {type(net).__name__}"
        )
    if widths[-1] < 2:
        raise ValueError(f"widths[-1] is the number of classes and must be at least 2, got {widths}")
    return widths


def _check_train(net, data, steps, lr, batch, optimizer, device, record_every) -> dict:
    widths = _check_net(net)
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS)
    steps = check_int(steps, "steps", 0)
    checked = dict(
        net=net,
        widths=widths,
        steps=steps,
        lr=_check_lr(lr, optimizer),
        batch=check_int(batch, "batch", 1),
        optimizer=optimizer,
        record_every=check_int(
            max(1, steps // DEFAULT_RECORDS) if record_every is None else record_every, "record_every", 1
        ),
        device=resolve_device(device),
    )
    if data is None:
        raise TypeError(
            "data is required: (x_train, y_train, x_test, y_test), e.g. "
            "initlib.course.presets.default_data() for Shapeset-3x2 at the preset's sizes"
        )
    checked["data"] = _check_data(data, widths)
    if checked["batch"] > len(checked["data"][0]):
        raise ValueError(
            f"batch must be at most the number of training examples ({len(checked['data'][0])}), got {checked['batch']}"
        )
    return checked


def _runs(c: dict, seed) -> tuple[list, list, int]:
    """``(runs, rates, members)``: ``[(seed_e, init_kwargs_e)]``, each run's learning rate, and E
    (0 for a single run). A list of seeds, of init keywords or of rates makes an ensemble."""
    net = c["net"]
    if isinstance(net, MLP):
        runs, ensemble = net.runs(seed, lr=c["lr"])
    else:
        if ensembles.members(seed, lr=c["lr"]) is not None:
            raise ValueError(
                "an ensemble (seed=[...], lr=[...] or list-valued init keywords) needs an MLP, not a module"
            )
        runs, ensemble = [(check_int(seed, "seed", 0), {"lr": c["lr"]})], False
    rates = [kwargs.pop("lr") for _, kwargs in runs]
    return runs, rates, len(runs) if ensemble else 0


class _Run:
    """One training run (or one ensemble of them) in progress: the model on its device, the
    data, the optimizer, and the records kept on the device until the one transfer at the end."""

    def __init__(self, c: dict, runs: list, rates: list, members: int):
        dev = c["device"]
        self.model, gens = _draw(c, runs)
        self.model.to(dev)
        self.members = members
        self.x_train, self.y_train, self.x_test, self.y_test = (
            t.to(dev, torch.float32) if t.is_floating_point() else t.to(dev) for t in c["data"]
        )
        x, y = self.x_test[:STATS_EXAMPLES], self.y_test[:STATS_EXAMPLES]
        self.stats = (x.expand(members, *x.shape), y.expand(members, len(y))) if members else (x, y)
        top = max(rates)
        self.opt = _optimizer(c["optimizer"], list(self.model.parameters()), top)
        self.loss_scale = torch.tensor([r / top for r in rates], device=dev) if members else None
        self.orders = _Orders(len(self.x_train), c["batch"], gens, dev)
        self.pending: list[tuple[int, torch.Tensor, torch.Tensor]] = []
        self.stops: list[int | None] = [None] * len(runs)
        self.diverged = [False] * len(runs)

    def record(self, step: int) -> None:
        model, members = self.model, self.members
        model.eval()
        per_layer = layer_gradients(model, *self.stats, members)
        with torch.no_grad():
            n = TRAIN_EVAL_EXAMPLES
            train_loss, train_error = _evaluate(model, self.x_train[:n], self.y_train[:n], members)
            test_error = _evaluate(model, self.x_test, self.y_test, members)[1]
        model.train()
        self.pending.append(
            (step, torch.stack([train_loss, train_error, test_error]).detach(), torch.stack(per_layer).detach())
        )

    def step(self) -> torch.Tensor:
        """One update of every member; returns each member's loss (a 0-d tensor for a single run)."""
        idx = self.orders.next(bool(self.members))
        logits = self.model(self.x_train[idx])
        losses = _member_nll(logits, self.y_train[idx]) if self.members else _nll(logits, self.y_train[idx])
        self.opt.zero_grad(set_to_none=True)
        (losses.sum() if self.loss_scale is None else (losses * self.loss_scale).sum()).backward()
        self.opt.step()
        return losses

    def check(self, losses: torch.Tensor) -> bool:
        """Mark the members whose loss became inf/NaN (one host sync per record); True when all have."""
        for e, ok in enumerate(torch.isfinite(losses.detach().reshape(-1)).tolist()):
            if not ok and self.stops[e] is None:
                self.stops[e], self.diverged[e] = len(self.pending) - 1, True
        return all(s is not None for s in self.stops)


def _loop(run: _Run, steps: int, record_every: int, bar) -> None:
    run.record(0)
    for step in range(1, steps + 1):
        losses = run.step()
        if bar is not None:
            bar.update(1)
        if step % record_every == 0 or step == steps:
            run.record(step)
            if run.check(losses):
                break


def train(
    net: MLP | nn.Module,
    data: Sequence[torch.Tensor],
    *,
    steps: int = STEPS,
    lr: float | list[float] | tuple[float, ...] = DEFAULT_LR,
    batch: int = DEFAULT_BATCH,
    optimizer: str = "sgd",
    seed: int | list[int] | tuple[int, ...] = 0,
    device: str | torch.device | None = None,
    record_every: int | None = None,
    progress: bool = False,
) -> TrainResult | list[TrainResult]:
    """Train an MLP with softmax + NLL from its initialization, recording as it goes.

    Parameters
    ----------
    net : an :class:`initlib.MLP` -- widths ``[n_0, ..., n_L]`` (input features, hidden widths,
        number of classes), the activation on every hidden layer (none on the logits), the init
        scheme and its keywords (``"standard_uniform"``: Glorot's eq. 1; ``"xavier_uniform"``: eq.
        16; ``"kaiming_normal"``: He's eq. 10...), and the biases: zero at the start unless
        ``bias`` gives their law (a standard deviation: N(0, sigma_b^2), drawn after the weights,
        as the mean-field analyses assume -- Poole et al. 2016; Schoenholz et al. 2017 take
        sigma_b^2 = 0.05). Or any ``nn.Module`` mapping ``(n, n_0)`` inputs to logits, trained
        as a copy with its own weights (the module passed in is left unchanged; its Linear layers
        are the measured "layers"; draw it first with :func:`initlib.init_module` to change them).
    data : ``(x_train, y_train, x_test, y_test)`` (float ``(n, n_0)`` inputs, trained in float32;
        int64 labels in ``[0, n_L)``), e.g. :func:`initlib.course.data.shapeset_split` or, at the preset's
        sizes, :func:`initlib.course.presets.default_data`. Statistics use the first 300 test examples.
    steps : number of updates (default :data:`STEPS`); 0 records step 0 only.
    lr : learning rate, or (plain and momentum SGD) a list with one rate per member: a rate sweep
        is an ensemble too. batch : examples per update (Glorot & Bengio: 10).
    optimizer : ``"sgd"`` (plain), ``"momentum"`` (SGD with momentum 0.9) or ``"adam"``.
    seed : draws the weights (a CPU generator, so every device starts from the same net) and
        the order of the examples. Same seed, same arguments, same CPU: same result. A list of E
        seeds (or an init keyword given as a list, one value per member) trains E nets at once,
        stacked (:mod:`initlib.measure.ensembles`), and returns E results equal to the separate runs to
        float32 rounding (chaotic training can amplify that rounding over many steps).
    device : ``None``/``"auto"`` (:func:`initlib.device`), ``"cpu"``, ``"cuda"``...; the data
        are moved there once.
    record_every : updates between records (default: ``steps / 20``); the last step is always recorded.
    progress : show a tqdm bar.

    Returns a :class:`TrainResult` (a list of them for an ensemble).
    """
    c = _check_train(net, data, steps, lr, batch, optimizer, device, record_every)
    runs, rates, members = _runs(c, seed)
    run = _Run(c, runs, rates, members)
    own = "(the module's own)"
    init_name, activation = (net.init_name, net.activation) if isinstance(net, MLP) else (own, own)
    bar = _bar(progress, c["steps"], init_name)
    _loop(run, c["steps"], c["record_every"], bar)
    if bar is not None:
        bar.close()
    stops = [len(run.pending) - 1 if s is None else s for s in run.stops]
    meta = dict(
        device=str(c["device"]),
        widths=c["widths"],
        activation=activation,
        init=init_name,
        optimizer=c["optimizer"],
        batch=c["batch"],
        n_train=len(run.x_train),
        n_test=len(run.x_test),
    )
    results = _results(meta, runs, rates, run.pending, stops, run.diverged, members)
    return results if members else results[0]


def _member_nll(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each member's own mean NLL, shape ``(E,)``: their sum has each member's gradient."""
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)


def _bar(progress: bool, total: int, name: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"train {name}", unit="step", leave=False)
