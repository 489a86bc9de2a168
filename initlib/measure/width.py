"""Width: a model in the standard parametrization (SP) or in μP, and the checks across widths.

Under the standard parametrization (every weight drawn with Var = c/fan_in, one learning rate
for all) a wider network is not the same network made finer: after a few steps of Adam the
hidden activations move by about lr * width, and the learning rate that trains best shifts
with width. The Maximal Update Parametrization, μP (Yang & Hu 2021, Tensor Programs IV; the
table below is Table 3 of Yang et al. 2022, Tensor Programs V), scales each kind of parameter
so that every layer's update stays Θ(1) as the width grows. Relative to a *base* model whose
shapes it shares (a dimension that differs from the base's is a width; m = width / base width):

=================  ========================  =================  ===========================
                   input weights, biases     hidden weights     output weights
=================  ========================  =================  ===========================
init Var           scheme (c / fan_in)       scheme             scheme / m_in (∝ 1/fan_in²)
SGD lr             lr * m_out                lr * m_out / m_in  lr / m_in
Adam lr            lr                        lr / m_in          lr / m_in
=================  ========================  =================  ===========================

"Input" weights have a width only as fan-out (the first layer, an embedding), "output" weights
only as fan-in (the read-out), "hidden" weights both. At the base shapes every m is 1 and μP
is SP, so hyperparameters tuned on the base transfer to any width.

The ``mup`` package implements the same parametrization with a read-out *multiplier* 1/m
(``MuReadout``) instead of the smaller init and learning rate: in exact arithmetic the two give
the same functions at every step (``tests/test_width.py`` compares them).

>>> from torch import nn
>>> def mlp(w):
...     return nn.Sequential(nn.Linear(8, w, bias=False), nn.ReLU(),
...                          nn.Linear(w, w, bias=False), nn.ReLU(), nn.Linear(w, 3, bias=False))
>>> plan = parametrize_(mlp(256), base=mlp(64), parametrization="mup", optimizer="adam")
>>> [(row["name"], row["role"], row["lr_mult"]) for row in plan.rows]
[('0.weight', 'input', 1.0), ('2.weight', 'hidden', 0.25), ('4.weight', 'output', 0.25)]
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from .._checks import check_choice, check_int, check_positive
from ..laws.modules import _draw_weight, is_hf_conv1d, is_weight_layer, module_fans
from ..laws.schemes import get_scheme
from ..laws.tied import TiedWeightWarning, tied_groups
from .hooks import hooks
from .probe import Site, Tally, attach, second_moment

T = TypeVar("T")

PARAMETRIZATIONS = ("sp", "mup")
OPTIMIZERS = ("sgd", "adam")


@dataclasses.dataclass
class WidthPlan:
    """What :func:`parametrize_` did: one row per parameter (``name``, ``role``, ``fan_in_mult``,
    ``fan_out_mult``, ``init_scale``, ``lr_mult``), and how to build the optimizer it needs."""

    parametrization: str
    optimizer_name: str
    rows: list
    params: dict = dataclasses.field(repr=False, default_factory=dict)

    @property
    def lr_mult(self) -> dict:
        """``{parameter name: learning-rate multiplier}``."""
        return {row["name"]: row["lr_mult"] for row in self.rows}

    def param_groups(self, lr: float) -> list[dict]:
        """torch parameter groups, one per distinct multiplier, each with ``lr * multiplier``."""
        lr = check_positive(lr, "lr")
        groups: dict[float, list] = {}
        for row in self.rows:
            groups.setdefault(row["lr_mult"], []).append(self.params[row["name"]])
        return [{"params": ps, "lr": lr * mult} for mult, ps in groups.items()]

    def optimizer(self, lr: float, **kwargs) -> torch.optim.Optimizer:
        """``torch.optim.SGD`` or ``Adam`` (the plan's) over :meth:`param_groups`."""
        kind = torch.optim.SGD if self.optimizer_name == "sgd" else torch.optim.Adam
        return kind(self.param_groups(lr), lr=lr, **kwargs)


def _shapes(base: object) -> dict:
    if isinstance(base, nn.Module):
        return {name: tuple(p.shape) for name, p in base.named_parameters()}
    if isinstance(base, dict):
        return {name: tuple(shape) for name, shape in base.items()}
    raise TypeError(f"base must be an nn.Module or a dict of parameter shapes, got {type(base).__name__}")


def _fans(model: nn.Module) -> dict:
    """{parameter name: (fan-out dim, fan-in dim)}; an Embedding's table is (in, out), not (out, in)."""
    fans: dict[str, tuple[int, int | None]] = {}
    for prefix, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            full = f"{prefix}.{name}" if prefix else name
            if p.dim() < 2:
                fans[full] = (0, None)
            else:
                fans[full] = (1, 0) if isinstance(module, nn.Embedding) or is_hf_conv1d(module) else (0, 1)
    return fans


def _role(shape, base_shape, dims) -> tuple[str, float, float]:
    """(role, fan_in_mult, fan_out_mult) from the dimensions that differ from the base's."""
    out_dim, in_dim = dims
    m_out = shape[out_dim] / base_shape[out_dim]
    if in_dim is None:  # a bias, a norm's scale
        return ("vector" if m_out != 1 else "fixed"), 1.0, m_out
    m_in = shape[in_dim] / base_shape[in_dim]
    roles = {(True, True): "hidden", (True, False): "input", (False, True): "output", (False, False): "fixed"}
    return roles[m_out != 1, m_in != 1], m_in, m_out


def _lr_mult(role: str, m_in: float, m_out: float, optimizer: str) -> float:
    if role in ("input", "vector"):
        return m_out if optimizer == "sgd" else 1.0
    if role == "hidden":
        return m_out / m_in if optimizer == "sgd" else 1.0 / m_in
    if role == "output":
        return 1.0 / m_in
    return 1.0


def plan(
    model: nn.Module,
    base: nn.Module | dict[str, Sequence[int]],
    parametrization: str = "mup",
    optimizer: str = "adam",
) -> WidthPlan:
    """The :class:`WidthPlan` of :func:`parametrize_` without touching the model."""
    check_choice(parametrization, "parametrization", PARAMETRIZATIONS)
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    base_shapes, fans = _shapes(base), _fans(model)
    params = dict(model.named_parameters())
    if set(params) != set(base_shapes):
        raise ValueError(
            f"base must have the model's parameter names: the model alone has "
            f"{sorted(set(params) - set(base_shapes))}, the base alone {sorted(set(base_shapes) - set(params))}"
        )
    rows = []
    for name, p in params.items():
        shape, base_shape = tuple(p.shape), base_shapes[name]
        if len(shape) != len(base_shape) or any(s != b for s, b in zip(shape[2:], base_shape[2:])):
            raise ValueError(f"{name}: shape {shape} and the base's {base_shape} may differ only in their two fans")
        role, m_in, m_out = _role(shape, base_shape, fans[name])
        mup = parametrization == "mup"
        rows.append(
            {
                "name": name,
                "role": role,
                "fan_in_mult": m_in,
                "fan_out_mult": m_out,
                "init_scale": 1.0 / math.sqrt(m_in) if mup and role == "output" else 1.0,
                "lr_mult": _lr_mult(role, m_in, m_out, optimizer) if mup else 1.0,
            }
        )
    return WidthPlan(parametrization, optimizer, rows, params)


def parametrize_(
    model: nn.Module,
    base: nn.Module | dict[str, Sequence[int]],
    parametrization: str = "mup",
    optimizer: str = "adam",
    scheme: str | Callable = "kaiming_normal",
    **scheme_kwargs: Any,
) -> WidthPlan:
    """Initialize ``model`` in SP or μP relative to ``base``; return the per-parameter learning rates.

    ``base`` is a model of the same architecture at the base width (or its
    ``{name: shape}``). Every Linear and Conv weight is drawn with ``scheme`` (a name in
    :data:`initlib.SCHEMES` or a callable, with ``scheme_kwargs``) and their biases are zeroed: that
    is SP, Var[W] = c / fan_in. Under ``"mup"`` the output weights are then multiplied by
    m_in^(-1/2), so Var[W_out] = c * base_fan_in / fan_in² (Yang et al. 2022, Table 3), and the
    learning-rate multipliers follow the table in the module docstring for ``optimizer``
    (``"sgd"`` or ``"adam"``); under ``"sp"`` they are all 1. Other parameters (embeddings,
    norms, packed attention) keep their values. Checks run and draws go into copies before any
    write, so an error leaves the model unchanged.

    Returns a :class:`WidthPlan`; ``plan.optimizer(lr)`` builds the matching optimizer.
    """
    result = plan(model, base, parametrization, optimizer)
    init = get_scheme(scheme)
    scale = {row["name"]: row["init_scale"] for row in result.rows}
    canonical = {id(p): name for name, p in result.params.items()}  # a tied tensor has one name
    fans, new = module_fans(model), {}
    for prefix, module in model.named_modules():
        if is_weight_layer(module):
            full = f"{prefix}.weight" if prefix else "weight"
            name = canonical[id(module.weight)]
            fill = _draw_weight(init, fans[full], scheme_kwargs)
            new[name] = fill(module.weight.detach().clone()).mul_(scale[name])
            if module.bias is not None:
                new[canonical[id(module.bias)]] = torch.zeros_like(module.bias)
    groups = [g for g in tied_groups(model) if any(is_weight_layer(m) for _, m, _ in g)]
    if groups:
        lines = [
            " = ".join(full for full, _, _ in g) + f" drawn as {[f for f, m, _ in g if is_weight_layer(m)][-1]}, "
            f"with the role of {canonical[id(getattr(g[0][1], g[0][2]))]}"
            for g in groups
        ]
        warnings.warn(TiedWeightWarning("parametrize_", lines), stacklevel=2)
    for name, s in scale.items():
        if name not in new and s != 1.0:
            new[name] = result.params[name].detach() * s
    with torch.no_grad():
        for name, value in new.items():
            result.params[name].copy_(value)
    return result


def _cross_entropy(targets: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda out: nn.functional.cross_entropy(out, targets)


@dataclasses.dataclass
class CoordCheck:
    """Root mean square of each measured module's output (``rms[width, step, module]``), recorded
    in the forward of each training step before its update (step 1 is the initialization)."""

    widths: list
    names: list
    rms: np.ndarray

    def slope(self, module: str, step: int) -> float:
        """The exponent a in rms ∝ width^a at ``step`` (1-based), a least-squares fit in log-log."""
        k = self.names.index(module)
        return float(np.polyfit(np.log(self.widths), np.log(self.rms[:, step - 1, k]), 1)[0])


def _seeded(build: Callable, width: int, base, parametrization: str, optimizer: str, seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(width)
        return model, parametrize_(model, base, parametrization, optimizer)


def _mean_squares(model: nn.Module, names: list, run: Callable[[], T]) -> tuple[dict[str, float], T]:
    """``run()`` with the measurement core's hooks on the modules ``names``: (E[y^2] of each
    module's first output, what ``run`` returned). The training forward itself is measured."""
    named = dict(model.named_modules())
    unknown = [n for n in names if n not in named]
    if unknown:
        raise ValueError(f"at names modules the model does not have: {unknown}; it has {list(named)[:20]}")
    sites = [Site(n, named[n], lambda y: {"ms": second_moment(y)}, lambda g: {}) for n in names]
    tally = Tally()
    with hooks() as h:
        attach(h, sites, tally)
        value = run()
    rows: dict[str, float] = {}
    for row in tally.finish():
        rows.setdefault(row["name"], row["ms"])
    return rows, value


def _pair(data: object, names: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``data = (inputs, targets)``: two tensors with one target per input row."""
    if isinstance(data, torch.Tensor) or not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"data must be a pair ({names}) of tensors, got {type(data).__name__}")
    x, y = data
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or len(x) != len(y):
        raise ValueError(f"data must be a pair ({names}) of tensors with one target per input row")
    return x, y


def coord_check(
    build: Callable[[int], nn.Module],
    widths: Sequence[int],
    data: Sequence[torch.Tensor],
    *,
    base_width: int,
    parametrization: str,
    optimizer: str = "adam",
    lr: float,
    steps: int = 4,
    at: Sequence[str] | None = None,
    seed: int = 0,
) -> CoordCheck:
    """Yang et al.'s coordinate check: train ``build(width)`` for ``steps`` steps on one batch
    ``data = (inputs, targets)`` at each width and record the rms of every module in ``at``
    (default: the Linear layers), measured by the measurement core of :func:`initlib.probe` in
    each training forward, before its update. Under μP the rows stay flat in the width; under SP
    they grow."""
    inputs, targets = _pair(data, "inputs, targets")
    steps = check_int(steps, "steps", 1)
    base = build(check_int(base_width, "base_width", 1))
    names = list(at or [n for n, m in base.named_modules() if isinstance(m, nn.Linear)])
    loss, rms = _cross_entropy(targets), np.zeros((len(widths), steps, len(names)))
    for i, width in enumerate(widths):
        model, p = _seeded(build, width, base, parametrization, optimizer, seed)
        opt = p.optimizer(lr)
        for t in range(steps):
            ms, value = _mean_squares(model, names, lambda: loss(model(inputs)))
            rms[i, t] = [math.sqrt(ms[n]) for n in names]
            opt.zero_grad()
            value.backward()
            opt.step()
    return CoordCheck(list(widths), names, rms)


def lr_sweep(
    build: Callable[[int], nn.Module],
    widths: Sequence[int],
    lrs: Sequence[float],
    data: Sequence[torch.Tensor],
    *,
    base_width: int,
    parametrization: str,
    optimizer: str = "adam",
    steps: int,
    batch: int,
    seed: int = 0,
) -> np.ndarray:
    """Training loss on all of ``data = (x, y)`` after ``steps`` mini-batch steps, as
    ``loss[width, lr]``; the same model draw and batches at every rate. A run that diverges
    records ``inf``."""
    x, y = _pair(data, "x, y")
    steps, batch = check_int(steps, "steps", 1), check_int(batch, "batch", 1)
    base, loss = build(check_int(base_width, "base_width", 1)), np.zeros((len(widths), len(lrs)))
    order = torch.randint(0, len(x), (steps, batch), generator=torch.Generator().manual_seed(seed))
    for i, width in enumerate(widths):
        for j, lr in enumerate(lrs):
            model, p = _seeded(build, width, base, parametrization, optimizer, seed)
            opt = p.optimizer(lr)
            for t in range(steps):
                opt.zero_grad()
                nn.functional.cross_entropy(model(x[order[t]]), y[order[t]]).backward()
                opt.step()
            with torch.no_grad():
                final = float(nn.functional.cross_entropy(model(x), y))
            loss[i, j] = final if math.isfinite(final) else math.inf
    return loss
