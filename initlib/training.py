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
>>> r = train([8, 16, 2], "tanh", "xavier_uniform", data=(x, y, x, y), steps=100, lr=0.1,
...           record_every=50, device="cpu")
>>> r.steps
[0, 50, 100]
>>> r.test_error[-1] < r.test_error[0]
True
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import numbers
import os

import torch
import torch.nn.functional as F
from torch import nn

from . import activations, ensembles
from ._checks import check_choice, check_int, check_positive
from .devices import resolve_device
from .modules import init_module
from .presets import default_data, glorot_widths  # noqa: F401 -- the notebook layer's defaults, kept here by name
from .probe import Site, measure, var_mean
from .schemes import get_scheme

ACTIVATIONS = activations.NAMES
OPTIMIZERS = ("sgd", "momentum", "adam")
MOMENTUM = 0.9
STATS_EXAMPLES = 300  # Glorot & Bengio's fixed monitoring set
TRAIN_EVAL_EXAMPLES = 500  # training loss and error are measured on (at most) this many fixed examples
EVAL_CHUNK = 2000
DEFAULT_LR = 0.01
DEFAULT_RECORDS = 20
STEPS = 2000

PER_LAYER = ("grad_var", "weight_grad_var", "pre_var", "weight_var", "bias_var")
PER_RECORD = ("train_loss", "train_error", "test_error")


def mlp(widths, activation: str = "tanh") -> nn.Sequential:
    """``Linear(n_0, n_1), f, Linear(n_1, n_2), f, ..., Linear(n_(L-1), n_L)``: no activation on the
    logits (the softmax is in the loss). Weights keep nn.Linear's default until an init is applied."""
    from .theory import check_widths

    widths = check_widths(widths)
    act = activations.get(activation)
    layers: list[nn.Module] = []
    for l in range(len(widths) - 1):
        layers.append(nn.Linear(widths[l], widths[l + 1]))
        if l < len(widths) - 2:
            layers.append(act.module(activations.DEFAULT_NEGATIVE_SLOPE))
    return nn.Sequential(*layers)


def _clean(value):
    """JSON has no inf/NaN: a diverged run's statistics become None."""
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` recorded. ``steps[k]`` is the number of updates made before record ``k``;
    ``train_loss``, ``train_error``, ``test_error`` hold one number per record, and ``grad_var``,
    ``weight_grad_var``, ``pre_var``, ``weight_var``, ``bias_var`` one list per record with one number per layer (layer 1 first,
    the logits last). Errors are fractions in [0, 1]. ``diverged`` is True when the loss became
    inf/NaN (training stopped there, at the last record)."""

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

    def to_dict(self) -> dict:
        """A JSON-ready dict of the settings and the curves (inf/NaN become None)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["init_kwargs"] = {k: (v if isinstance(v, (int, float, str, bool)) or v is None else repr(v))
                              for k, v in self.init_kwargs.items()}
        return {k: _clean(v) for k, v in out.items()}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

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
            "data must be a 4-tuple "
            f"(x_train, y_train, x_test, y_test) of tensors, got {type(data).__name__}"
        )
    names = ("x_train", "y_train", "x_test", "y_test")
    for name, t in zip(names, data):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"data's {name} must be a torch.Tensor, got {type(t).__name__}")
    x_train, y_train, x_test, y_test = data
    for xname, x, yname, y in (("x_train", x_train, "y_train", y_train), ("x_test", x_test, "y_test", y_test)):
        if not x.is_floating_point() or x.dim() != 2:
            raise ValueError(f"data's {xname} must be a 2-d float tensor (examples, features), got "
                             f"{str(x.dtype).replace('torch.', '')} of shape {tuple(x.shape)}")
        if y.dtype != torch.int64 or y.dim() != 1 or len(y) != len(x):
            raise ValueError(f"data's {yname} must be a 1-d int64 tensor with one label per row of {xname} "
                             f"({len(x)}), got {str(y.dtype).replace('torch.', '')} of shape {tuple(y.shape)}")
        if len(x) == 0:
            raise ValueError(f"data's {xname} has no examples")
        if x.shape[1] != widths[0]:
            raise ValueError(f"widths[0] = {widths[0]} must equal the number of input features, "
                             f"{x.shape[1]} in data's {xname}")
        if int(y.min()) < 0 or int(y.max()) >= widths[-1]:
            raise ValueError(f"data's {yname} holds labels in [{int(y.min())}, {int(y.max())}], but the net has "
                             f"widths[-1] = {widths[-1]} outputs: labels must lie in [0, {widths[-1] - 1}]")
    return x_train, y_train, x_test, y_test


# --- statistics ----------------------------------------------------------------------------------

def _linear_layers(model: nn.Sequential) -> list[nn.Linear]:
    return [m for m in model if isinstance(m, nn.Linear)]


def layer_gradients(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor):
    """Per-layer ``(pre_var, grad_var, weight_grad_var, weight_var, bias_var)`` as five device
    tensors, on the batch ``(x, y)`` (see the module docstring), measured with the core of
    :mod:`initlib.probe`. The model's ``.grad`` fields are left untouched."""
    linears = _linear_layers(model)

    def pre(s):
        return {"pre_var": var_mean(s)[0]}

    def grad(g):  # of the summed NLL: each example's own
        return {"grad_var": var_mean(g)[0]}

    def weight_grad(g):  # the summed loss's gradient over len(x) is the mean loss's
        return {"weight_grad_var": var_mean(g)[0] / len(x) ** 2}

    sites = [Site(str(l), m, pre, grad, [m.weight], weight_grad) for l, m in enumerate(linears)]
    rows, _ = measure(model, (x,), sites, loss=lambda out: F.cross_entropy(out, y, reduction="sum"), transfer=False)
    with torch.no_grad():
        weight_var = torch.stack([m.weight.square().mean() for m in linears])
        bias_var = torch.stack([m.bias.square().mean() for m in linears])
    stacked = [torch.stack([row[k] for row in rows]) for k in ("pre_var", "grad_var", "weight_grad_var")]
    return (*stacked, weight_var, bias_var)


def _evaluate(model, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean NLL, error fraction) over ``x``, in chunks, as device tensors."""
    loss = x.new_zeros(())
    wrong = x.new_zeros(())
    for start in range(0, len(x), EVAL_CHUNK):
        logits = model(x[start:start + EVAL_CHUNK])
        target = y[start:start + EVAL_CHUNK]
        loss = loss + F.cross_entropy(logits, target, reduction="sum")
        wrong = wrong + (logits.argmax(1) != target).sum()
    return loss / len(x), wrong / len(x)


# --- the trainer ---------------------------------------------------------------------------------

def train(
    widths,
    activation: str = "tanh",
    init="xavier_uniform",
    data=None,
    steps: int = STEPS,
    lr: float = DEFAULT_LR,
    batch: int = 10,
    optimizer: str = "sgd",
    seed: int = 0,
    device=None,
    record_every: int | None = None,
    progress: bool = False,
    bias_std: float | None = None,
    **init_kwargs,
) -> TrainResult | list[TrainResult]:
    """Train an MLP with softmax + NLL from the initialization ``init``, recording as it goes.

    Parameters
    ----------
    widths : ``[n_0, ..., n_L]``: input features, hidden widths, number of classes.
    activation : one of :data:`ACTIVATIONS`, on every hidden layer.
    init : a name in :data:`initlib.SCHEMES` (``"standard_uniform"``: Glorot's eq. 1;
        ``"xavier_uniform"``: eq. 16; ``"kaiming_normal"``: He's eq. 10...) or a callable
        ``f(weight, generator=..., **init_kwargs)``; biases start at zero.
    data : ``(x_train, y_train, x_test, y_test)`` (float ``(n, n_0)`` inputs, trained in float32;
        int64 labels in ``[0, n_L)``), e.g. :func:`initlib.data.shapeset_split` or, at the preset's
        sizes, :func:`initlib.presets.default_data`. Statistics use the first 300 test examples.
    steps : number of updates (default :data:`STEPS`); 0 records step 0 only.
    lr : learning rate.  batch : examples per update (Glorot & Bengio: 10).
    optimizer : ``"sgd"`` (plain), ``"momentum"`` (SGD with momentum 0.9) or ``"adam"``.
    seed : draws the weights (a CPU generator, so every device starts from the same net) and
        the order of the examples. Same seed, same arguments, same CPU: same result.
    device : ``None``/``"auto"`` (:func:`initlib.device`), ``"cpu"``, ``"cuda"``...; the data
        are moved there once.
    record_every : updates between records (default: ``steps / 20``); the last step is always recorded.
    progress : show a tqdm bar.
    bias_std : ``None`` (biases start at zero) or a standard deviation: biases drawn from
        N(0, bias_std^2) after each layer's weights, as the mean-field analyses assume
        (Poole et al. 2016; Schoenholz et al. 2017 take sigma_b^2 = 0.05).

    ``seed=[s_0, ..., s_(E-1)]``, or any init keyword given as a list (one value per member, e.g.
    ``std=[...]``), trains E nets as one batched computation (:mod:`initlib.ensembles`): member
    ``e`` is drawn and shuffled exactly as ``train(..., seed=s_e, **kwargs_e)`` would be, and the
    result is the list of E :class:`TrainResult`, equal to the E separate runs up to float rounding.

    Returns a :class:`TrainResult` (a list of them for an ensemble).
    """
    from .theory import check_widths

    widths = check_widths(widths)
    if len(widths) < 2 or widths[-1] < 2:
        raise ValueError(f"widths[-1] is the number of classes and must be at least 2, got {widths}")
    check_choice(activation, "activation", ACTIVATIONS)
    init_fn = get_scheme(init)
    init_name = init.rstrip("_") if isinstance(init, str) else getattr(init, "__name__", repr(init))
    if "generator" in init_kwargs:
        raise ValueError("generator is not an init keyword here: train draws the weights from seed=")
    steps = check_int(steps, "steps", 0)
    lr = check_positive(lr, "lr")
    batch = check_int(batch, "batch", 1)
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    runs = ensembles.members(seed, **init_kwargs)
    if runs is None:
        seed = check_int(seed, "seed", 0)
    if bias_std is not None:
        bias_std = check_positive(bias_std, "bias_std (None for zero biases, or a standard deviation)")
    if record_every is None:
        record_every = max(1, steps // DEFAULT_RECORDS)
    record_every = check_int(record_every, "record_every", 1)
    dev = resolve_device(device)
    if data is None:
        raise TypeError("data is required: (x_train, y_train, x_test, y_test), e.g. "
                        "initlib.presets.default_data() for Shapeset-3x2 at the preset's sizes")
    x_train, y_train, x_test, y_test = _check_data(data, widths)
    if batch > len(x_train):
        raise ValueError(f"batch must be at most the number of training examples ({len(x_train)}), got {batch}")

    x_train, y_train = x_train.to(dev, torch.float32), y_train.to(dev)
    x_test, y_test = x_test.to(dev, torch.float32), y_test.to(dev)
    if runs is not None:
        nets = [_draw(widths, activation, init_fn, s, bias_std, kw) for s, kw in runs]
        settings = dict(device=str(dev), widths=widths, activation=activation, init=init_name,
                        optimizer=optimizer, lr=lr, batch=batch, n_train=len(x_train), n_test=len(x_test))
        return _train_ensemble(nets, runs, (x_train, y_train, x_test, y_test), settings,
                               steps, record_every, progress)
    # Weights are drawn on the CPU from seed, then moved: CPU and GPU runs start from one net.
    model, gen = _draw(widths, activation, init_fn, seed, bias_std, init_kwargs)
    model.to(dev)
    x_stats, y_stats = x_test[:STATS_EXAMPLES], y_test[:STATS_EXAMPLES]
    x_eval, y_eval = x_train[:TRAIN_EVAL_EXAMPLES], y_train[:TRAIN_EVAL_EXAMPLES]

    opt = _optimizer(model.parameters(), optimizer, lr)

    result = TrainResult(
        device=str(dev), widths=widths, activation=activation, init=init_name, init_kwargs=dict(init_kwargs),
        optimizer=optimizer, lr=lr, batch=batch, seed=seed, n_train=len(x_train), n_test=len(x_test),
    )
    # Records stay on the device and reach the host in one transfer at the end.
    pending = []

    def record(step: int) -> None:
        pending.append((step, *_statistics(model, x_eval, y_eval, x_test, y_test)))

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, desc=f"train {init_name}", unit="step", leave=False)

    record(0)
    order = torch.randperm(len(x_train), generator=gen).to(dev)
    cursor = 0
    step = 0
    while step < steps:
        if cursor + batch > len(order):
            order = torch.randperm(len(x_train), generator=gen).to(dev)
            cursor = 0
        idx = order[cursor:cursor + batch]
        cursor += batch
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if bar is not None:
            bar.update(1)
        if step % record_every == 0 or step == steps:
            record(step)
            if not math.isfinite(float(loss.detach())):  # one host sync per record, not per step
                result.diverged = True
                break
    if bar is not None:
        bar.close()

    _store(result, pending)
    return result


# --- pieces shared by one run and an ensemble ----------------------------------------------------

def _draw(widths, activation, init_fn, seed, bias_std, init_kwargs):
    """``(model, generator)``: the net drawn on the CPU from ``seed``, weights then (with
    ``bias_std``) biases; the generator goes on to shuffle the examples."""
    gen = torch.Generator().manual_seed(seed)
    model = mlp(widths, activation)
    init_module(model, init_fn, generator=gen, **init_kwargs)
    if bias_std is not None:  # drawn only when asked: zero-bias runs keep their numbers
        with torch.no_grad():
            for layer in _linear_layers(model):
                layer.bias.normal_(0, bias_std, generator=gen)
    return model, gen


def _optimizer(params, optimizer: str, lr: float) -> torch.optim.Optimizer:
    params = list(params)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if optimizer == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=MOMENTUM)
    return torch.optim.Adam(params, lr=lr)


def _statistics(model, x_eval, y_eval, x_test, y_test):
    """One record of a single net: (curves, per-layer statistics) as device tensors."""
    model.eval()
    per_layer = layer_gradients(model, x_test[:STATS_EXAMPLES], y_test[:STATS_EXAMPLES])
    with torch.no_grad():
        train_loss, train_error = _evaluate(model, x_eval, y_eval)
        _, test_error = _evaluate(model, x_test, y_test)
    model.train()
    return torch.stack([train_loss, train_error, test_error]).detach(), torch.stack(per_layer).detach()


def _store(result: TrainResult, pending: list) -> None:
    for step_k, curves, layers in pending:
        curves, layers = curves.cpu().tolist(), layers.cpu().tolist()
        result.steps.append(step_k)
        result.train_loss.append(curves[0])
        result.train_error.append(curves[1])
        result.test_error.append(curves[2])
        for name, values in zip(("pre_var", "grad_var", "weight_grad_var", "weight_var", "bias_var"), layers):
            getattr(result, name).append(values)


def _train_ensemble(nets, runs, data, settings, steps, record_every, progress) -> list[TrainResult]:
    """E nets, drawn as E separate runs would be, trained as one batched net: each member's
    minibatch comes from its own shuffle, and the summed loss gives each its own gradient."""
    x_train, y_train, x_test, y_test = data
    dev = torch.device(settings["device"])
    singles = [model.to(dev) for model, _ in nets]
    per_member = [_linear_layers(m) for m in singles]
    stacked = [ensembles.linear(torch.stack([ls[l].weight.detach() for ls in per_member]),
                                torch.stack([ls[l].bias.detach() for ls in per_member]))
               for l in range(len(per_member[0]))]
    layers = iter(stacked)
    model = nn.Sequential(*[next(layers) if isinstance(m, nn.Linear) else m for m in singles[0]])
    opt = _optimizer(model.parameters(), settings["optimizer"], settings["lr"])
    results = [TrainResult(seed=s, init_kwargs=dict(kw), **settings) for s, kw in runs]
    pending, live = [[] for _ in runs], [True] * len(runs)
    x_eval, y_eval = x_train[:TRAIN_EVAL_EXAMPLES], y_train[:TRAIN_EVAL_EXAMPLES]

    def record(step: int) -> None:  # member by member, through its own single net
        for e in (e for e in range(len(runs)) if live[e]):
            with torch.no_grad():
                for single, layer in zip(per_member[e], stacked):
                    single.weight.copy_(layer.weight[e])
                    single.bias.copy_(layer.bias[e])
            pending[e].append((step, *_statistics(singles[e], x_eval, y_eval, x_test, y_test)))

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, desc=f"train {settings['init']} x{len(runs)}", unit="step", leave=False)
    record(0)
    batch, step, cursor = settings["batch"], 0, len(x_train)
    while step < steps:
        if cursor + batch > len(x_train):
            orders = [torch.randperm(len(x_train), generator=gen).to(dev) for _, gen in nets]
            cursor = 0
        idx = torch.stack([order[cursor:cursor + batch] for order in orders])
        cursor += batch
        logits = model(x_train[idx])
        loss = F.cross_entropy(logits.flatten(0, 1), y_train[idx].flatten(), reduction="none")
        loss = loss.view(len(runs), batch).mean(1)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        step += 1
        if bar is not None:
            bar.update(1)
        if step % record_every == 0 or step == steps:
            record(step)
            for e, finite in enumerate(torch.isfinite(loss.detach()).tolist()):
                if live[e] and not finite:
                    results[e].diverged, live[e] = True, False
            if not any(live):
                break
    if bar is not None:
        bar.close()
    for result, rows in zip(results, pending):
        _store(result, rows)
    return results
