"""Measure any ``nn.Module``: one forward and one backward pass, statistics at the modules you name.

:func:`probe` runs ``model(inputs)``, injects a gradient at the output (a standard normal
``dC/dy``, as Glorot & Bengio and He et al. do in their analyses, or a given ``grad_output``, or
the gradient of a given ``loss``) and records, at every measured module in forward order,

    out_mean = E[y],   out_var = Var[y],   grad_out_var = Var[dC/dy],   weight_grad_var = Var[dC/dW],

with ``y`` the module's output (the first tensor of a tuple output, as ``nn.LSTM`` returns) and
``W`` its own weights (its parameters whose name contains ``weight``, pooled). Variances are
population variances over every entry (every example, unit, position and channel).

The same core, :func:`measure`, serves :func:`initlib.propagate` and :func:`initlib.train`: a
:class:`Site` says what to compute from a module's output and from its gradient; every statistic is
reduced on the device as soon as its tensor exists (a forward hook, a gradient hook, a hook after
each weight's gradient is accumulated), and :class:`Tally` brings them all to the host in one
transfer at the end. Statistics may be per ensemble member: ``members=E`` reduces each
``x[e]`` separately (the nets of :mod:`initlib.measure.ensembles` stack E nets on a leading axis).

>>> from initlib.course import demos
>>> model, x = demos.build("mlp", {"width": 32, "depth": 2})
>>> r = probe(model, x)
>>> r.column("name")
['0', '2', '4']
>>> r.column("type")
['Linear', 'Linear', 'Linear']
>>> all(v > 0 for v in r.column("grad_out_var"))
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._checks import check_int
from .hooks import Hooks, hooks
from .record import Record

DEFAULT_RANGE = (-4.0, 4.0)  # four standard deviations of a unit-variance signal
MAX_HIST_BINS = 10_000
ROW_KEYS = ("name", "type", "out_mean", "out_var", "grad_out_var", "weight_grad_var")


# --- reductions: each stays on the device. On a CPU they are written with float ops and BLAS dots,
# which cost a few percent of a layer's matmuls, where var_mean, histc and bool reductions cost as
# much as the matmuls themselves. ``members=E`` reduces each of the E leading slices separately. -----


def _rows(x: torch.Tensor, members: int) -> torch.Tensor:
    return x.reshape(members or 1, -1)


def second_moment(x: torch.Tensor, members: int = 0) -> torch.Tensor:
    """E[x^2] over every entry (a 0-d tensor), or over each member's entries (shape ``(E,)``)."""
    if not members:
        flat = x.reshape(-1)
        return torch.dot(flat, flat) / flat.numel()
    flat = _rows(x, members)
    return torch.linalg.vecdot(flat, flat) / flat.shape[1]


def mean(x: torch.Tensor, members: int = 0) -> torch.Tensor:
    return x.mean() if not members else _rows(x, members).mean(1)


def var_mean(x: torch.Tensor, members: int = 0, mu: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Population variance (divide by the count) and mean (``mu``, if the caller has it already).

    E[x^2] - mean^2 loses digits when mean^2 is close to E[x^2] (a sigmoid layer's outputs), so it
    is used only when mean^2 < E[x^2] / 2, where it is accurate to twice the rounding of E[x^2];
    otherwise the mean is subtracted first. That test needs the values on the host: free on a
    CPU, a synchronisation on a GPU, which therefore always takes the two-pass route.

    >>> v, m = var_mean(torch.tensor([1.0, 3.0]))
    >>> float(v), float(m)
    (1.0, 2.0)
    """
    mu = mean(x, members) if mu is None else mu
    if x.device.type == "cpu":
        second = second_moment(x, members)
        if members:
            small = bool((mu * mu < second / 2).all())
        else:  # the same test on host floats (no tensor ops), where mu^2 also fits the dtype
            m2 = float(mu) ** 2
            small = m2 < float(second) / 2 and m2 <= torch.finfo(x.dtype).max
        if small:
            return second - mu * mu, mu
    centred = x - (mu if not members else mu.reshape(-1, *[1] * (x.dim() - 1)))
    return second_moment(centred, members), mu


def histogram(x: torch.Tensor, bins: int, low: float, high: float, members: int = 0) -> torch.Tensor:
    """Counts in the bins [low + k w, low + (k+1) w), w = (high - low) / bins, the last bin closed
    ([.., high]) as ``torch.histc`` has it; values outside are dropped. CPU and GPU agree.

    >>> histogram(torch.tensor([-1.0, 0.0, 1.0, 2.0]), 2, -1.0, 1.0).tolist()
    [1, 2]
    """
    if x.device.type != "cpu":  # on a GPU: one kernel per member, no host sync (bincount needs one)
        if not members:
            return torch.histc(x, bins, low, high)
        return torch.stack([torch.histc(row, bins, low, high) for row in _rows(x, members)])
    # Bin 0 collects everything below, bin bins+1 everything above.
    index = _scaled(x, bins, low, high).clamp_(0.0, bins + 1.0).to(torch.int32)
    rows = members or 1
    if members:
        index = index.reshape(members, -1) + torch.arange(members, dtype=torch.int32)[:, None] * (bins + 2)
    counts = torch.bincount(index.reshape(-1), minlength=rows * (bins + 2)).reshape(rows, bins + 2)
    # high itself belongs to the last bin (as in histc), but rounding may have sent it above: count it
    # back when something is above (any() first: summing a bool tensor costs a full integer pass)
    if _high_lands_above(bins, low, high, x.dtype) and counts[:, -1].any():
        at_high = _rows(x, members) == high
        if at_high.any():
            counts[:, -2] += at_high.sum(1)
    return counts[:, 1:-1] if members else counts[0, 1:-1]


def _scaled(x: torch.Tensor, bins: int, low: float, high: float) -> torch.Tensor:
    """1 + (x - low) bins / (high - low): bin k + 1 holds the values of [low + k w, low + (k+1) w)."""
    return (x - low).mul_(bins / (high - low)).add_(1.0)


@functools.lru_cache(maxsize=64)
def _high_lands_above(bins: int, low: float, high: float, dtype: torch.dtype) -> bool:
    """Whether :func:`_scaled` sends ``high`` itself past the last bin (it usually does, exactly)."""
    return int(_scaled(torch.tensor([high], dtype=dtype), bins, low, high)) == bins + 1


def check_range(value: object, name: str) -> tuple[float, float]:
    """A histogram range ``(low, high)`` with ``low < high``."""
    from .._checks import check_real

    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}")
    low, high = check_real(value[0], f"{name}[0]"), check_real(value[1], f"{name}[1]")
    if not low < high:
        raise ValueError(f"{name} must have low < high, got {value!r}")
    return low, high


def check_bins(hist_bins: object) -> int:
    hist_bins = check_int(hist_bins, "hist_bins", 0)
    if hist_bins > MAX_HIST_BINS:
        raise ValueError(f"hist_bins must be at most {MAX_HIST_BINS}, got {hist_bins}")
    return hist_bins


def edges(bins: int, bounds: tuple[float, float]) -> list | None:
    """The ``bins + 1`` bin edges of :func:`histogram` over ``bounds`` (None without bins)."""
    low, high = bounds
    return [low + (high - low) * i / bins for i in range(bins + 1)] if bins else None


# --- the tally: device values in, host values out, in one transfer --------------------------------


class Tally:
    """Rows of statistics whose values may be device tensors until :meth:`finish` brings every one
    of them to the host in a single transfer (0-d tensors become floats, others nested lists)."""

    def __init__(self):
        self.rows: list[dict] = []

    def row(self, **fixed) -> dict:
        self.rows.append(dict(fixed))
        return self.rows[-1]

    def finish(self) -> list[dict]:
        cells = [(row, k) for row in self.rows for k, v in row.items() if isinstance(v, torch.Tensor)]
        tensors = [row[k] for row, k in cells]
        for (row, k), t, chunk in zip(cells, tensors, _to_host(tensors)):
            row[k] = chunk[0] if t.dim() == 0 else _nest(chunk, t.shape)
        return self.rows


def _to_host(tensors: list) -> list[list]:
    """The entries of each tensor as a list of Python floats, from one device-to-host transfer.
    Tensors of one kind (device, dtype, 0-d or not) are joined by one ``stack`` or ``cat``: on a
    CPU, one conversion per tensor would cost more than the statistics themselves."""
    kinds: dict = {}
    for i, t in enumerate(tensors):
        kinds.setdefault((t.device, t.dtype, t.dim() == 0), []).append(i)
    several = len({device for device, _, _ in kinds}) > 1
    parts = []
    with torch.no_grad():
        for (device, _, scalar), members in kinds.items():
            joined = (
                torch.stack([tensors[i] for i in members])
                if scalar
                else torch.cat([tensors[i].reshape(-1) for i in members])
            )
            parts.append(joined.to("cpu" if several else device, torch.float64))
        values = torch.cat(parts).cpu().tolist() if parts else []
    chunks: list = [None] * len(tensors)  # every entry is set below
    at = 0
    for members in kinds.values():
        for i in members:
            chunks[i], at = values[at : at + tensors[i].numel()], at + tensors[i].numel()
    return chunks


def _nest(flat: list, shape) -> list:
    """A flat list in row-major order as nested lists of the given shape."""
    if len(shape) <= 1:
        return flat
    step = len(flat) // shape[0]
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


# --- the core -------------------------------------------------------------------------------------

Stats = Callable[[torch.Tensor], dict]


@dataclasses.dataclass
class Site:
    """A module to measure: ``forward(y)`` and ``backward(dC/dy)`` return dicts of (device)
    statistics of its output and of the gradient there (``backward=None``: no gradient hook);
    ``weights`` are the parameters whose gradient ``weight(dC/dW)`` summarises (its dict is merged
    into the module's first row)."""

    name: str
    module: nn.Module
    forward: Stats
    backward: Stats | None
    weights: list = dataclasses.field(default_factory=list)
    weight: Stats | None = None


def first_tensor(value: object) -> torch.Tensor | None:
    """The tensor itself, or the first tensor inside a (nested) tuple, list or dict (a ``dict``'s or
    transformers' ``ModelOutput``'s values in their order, so ``logits`` or ``last_hidden_state``);
    None if there is none."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        for item in value:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


def attach(h: Hooks, sites: list[Site], tally: Tally) -> None:
    """Register the sites' hooks on ``h``: a forward hook per module, a gradient hook on each
    output, and one post-accumulate hook per weight. A weight shared by several sites (tied
    embedding and read-out) is hooked once and its gradient, summed over its uses, goes to each."""
    first_row: dict[int, dict] = {}
    pending: dict[int, list[torch.Tensor]] = {}
    owners: dict[int, list[Site]] = {}

    def forward_hook(site):
        def hook(module, args, output):
            y = first_tensor(output)
            if y is None or not y.is_floating_point():
                return
            row = tally.row(name=site.name, type=type(module).__name__)
            row.update(site.forward(y.detach()))
            if id(site) not in first_row:
                first_row[id(site)] = row
                row.update({"weight_grad_var": None} if site.weights else {})
            if y.requires_grad and site.backward is not None:
                h.tensor(y, lambda g: row.update(site.backward(g)))

        return hook

    def weight_hook(p):
        def hook(p):
            grad, p.grad = p.grad, None  # free it now; measure() puts back whatever .grad was there before
            for site in owners[id(p)]:
                # several weights (an LSTM's, an attention's) are pooled: reduce once the last one is in
                grads = pending.setdefault(id(site), [])
                grads.append(grad)
                if len(grads) == len(site.weights):
                    del pending[id(site)]  # free the gradients now: the next layer's reuse their memory
                    if id(site) in first_row:
                        pooled = grads[0] if len(grads) == 1 else torch.cat([g.reshape(-1) for g in grads])
                        assert site.weight is not None, "a Site with weights has a weight statistic"
                        first_row[id(site)].update(site.weight(pooled))

        return hook

    for site in sites:
        h.forward(site.module, forward_hook(site))
        for p in site.weights:
            if id(p) not in owners:
                h.accumulated(p, weight_hook(p))
            owners.setdefault(id(p), []).append(site)


@contextlib.contextmanager
def unchanged(model: nn.Module, params: list) -> Iterator[None]:
    """Set the ``.grad`` of ``params`` to None for the block, then put back the old ``.grad`` fields and
    every buffer's values (a BatchNorm in train mode updates its running statistics in a forward)."""
    saved = [(p, p.grad) for p in params]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        for p in params:
            p.grad = None
        yield
    finally:
        for p, g in saved:
            p.grad = g
        with torch.no_grad():
            for b, copy in buffers:
                b.copy_(copy)


class _Stop(Exception):
    """Raised by a hook to end a forward pass once what was wanted has been measured."""


def _stop(module, args, output):
    raise _Stop


def forward_rows(model: nn.Module, inputs: tuple, sites: list[Site], *, stop: bool = False) -> list[dict]:
    """One forward pass without gradients, measured at ``sites`` (their ``forward`` statistics
    only): the tally's rows in forward order, one per call of a site's module. With ``stop`` the
    pass ends at the first measured call (the layers above it are not run). Buffers and the
    mode are left as they were. :func:`initlib.lsuv_` finds the forward order of the weight
    layers, and each layer's output variance, with it."""
    tally = Tally()
    with hooks() as h:
        attach(h, [dataclasses.replace(site, weights=[]) for site in sites], tally)
        if stop:  # registered after the measuring hooks, so it runs after them
            for site in sites:
                h.forward(site.module, _stop)
        try:
            with torch.no_grad(), unchanged(model, []):
                model(*inputs)
        except _Stop:
            pass
    return tally.finish()


def wrap_failure(model: nn.Module, inputs: tuple, error: Exception, who: str) -> Exception:
    """The model's own ``error`` re-raised with context: a ``ValueError`` (``TypeError`` for a type
    error) naming the module that failed on ``inputs`` and the shapes it got."""
    name, kind, shapes = _where_it_fails(model, inputs)
    wrapped = TypeError if isinstance(error, TypeError) else ValueError
    return wrapped(f"{who}: module {name!r} ({kind}) failed on input of shape {shapes}: {error}")


def measure(
    model: nn.Module,
    inputs: tuple,
    sites: list[Site],
    *,
    grad_output: torch.Tensor | None = None,
    loss: Callable[[Any], torch.Tensor] | None = None,
    draw_grad: Callable[[torch.Tensor], torch.Tensor] | None = None,
    transfer: bool = True,
) -> tuple[list[dict], torch.Tensor | None]:
    """Run ``model(*inputs)``, back-propagate, and return (the tally's rows, the output's first tensor).

    With ``transfer=False`` the rows keep their device tensors (a caller that measures many times,
    like :func:`initlib.train`, transfers once at its own end).

    The backward pass starts from ``loss(output)`` if ``loss`` is given, else from ``grad_output``
    (or ``draw_grad(output)``, e.g. a seeded standard normal). Only the measured weights (and, if no
    weight is measured, the measured outputs) are asked for: autograd computes what reaches them and
    nothing more. ``.grad`` fields, buffers and the mode are left exactly as they were.
    """
    tally = Tally()
    # each weight once (a tied weight belongs to two sites)
    weights = list({id(p): p for site in sites for p in site.weights}.values())
    # without a measured weight, ask autograd for every trainable parameter (their .grad is restored)
    targets = weights or [p for p in model.parameters() if p.requires_grad]
    with hooks() as h:
        attach(h, sites, tally)
        with unchanged(model, targets):
            output = model(*inputs)
            y = first_tensor(output)
            if loss is not None:
                start, grad = loss(output), None
            else:
                start = _start(y, output)
                if grad_output is not None:
                    grad = grad_output
                elif draw_grad is not None:
                    grad = draw_grad(start)  # start is y itself
                else:
                    raise ValueError("measure: give grad_output, loss or draw_grad")
            if isinstance(start, torch.Tensor) and start.requires_grad and targets:
                torch.autograd.backward(start, grad, inputs=targets)
    return (tally.finish() if transfer else tally.rows), y


class OutputError(ValueError):
    """The model's output holds no floating-point tensor to start the backward pass from."""


def _start(y: torch.Tensor | None, output: object) -> torch.Tensor:
    if y is None or not y.is_floating_point():
        kind = type(output).__name__ if y is None else f"{type(output).__name__} whose first tensor is {y.dtype}"
        raise OutputError(
            f"the model's output ({kind}) has no floating-point tensor to inject dC/dy at; "
            "pass loss=lambda output: <a scalar> to start the backward pass from a loss"
        )
    return y


# --- probe: the public surface for any module -----------------------------------------------------


@dataclasses.dataclass
class ProbeResult(Record):
    """What :func:`probe` measured: ``rows`` (one dict per measured call, in forward order) and
    the histogram edges (None without histograms). A :class:`initlib.measure.record.Record`: its columns
    are the keys of its rows."""

    rows: list
    hist_edges: list | None = None

    def columns(self) -> tuple[str, ...]:
        return tuple(self.rows[0].keys() if self.rows else ROW_KEYS)

    def __len__(self) -> int:
        return len(self.rows)

    def _payload(self) -> dict:
        return {"rows": self.rows, "hist_edges": self.hist_edges}


def json_number(value: object) -> object:
    """JSON has no inf/NaN: they become None (lists are cleaned entry by entry)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [json_number(v) for v in value]
    return value


def _own_weights(module: nn.Module) -> list:
    return [p for name, p in module.named_parameters(recurse=False) if "weight" in name and p.requires_grad]


def _default_sites(model: nn.Module, at, hist_bins: int, bounds) -> list[Site]:
    named = dict(model.named_modules())
    if at is None:
        at = [name for name, m in named.items() if any(True for _ in m.parameters(recurse=False))]
    elif isinstance(at, str) or not all(isinstance(a, str) for a in at):
        raise TypeError(f"at must be a list of module names (as in model.named_modules()), got {at!r}")
    unknown = [a for a in at if a not in named]
    if unknown:
        raise ValueError(f"at names modules the model does not have: {unknown}; it has {list(named)[:20]}")

    def forward(y):
        var, mu = var_mean(y.to(torch.float32) if y.dtype in (torch.float16, torch.bfloat16) else y)
        out = {"out_mean": mu, "out_var": var, "grad_out_var": None}
        return out | ({"out_hist": histogram(y.float(), hist_bins, *bounds)} if hist_bins else {})

    def backward(g):
        out = {"grad_out_var": var_mean(g.float())[0]}
        return out | ({"grad_hist": histogram(g.float(), hist_bins, *bounds)} if hist_bins else {})

    def weight(g):
        return {"weight_grad_var": var_mean(g.float())[0]}

    return [Site(a, named[a], forward, backward, _own_weights(named[a]), weight) for a in at]


def _check_inputs(model, inputs) -> tuple:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else inputs
    if not isinstance(inputs, (tuple, list)) or not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise TypeError(f"inputs must be a tensor or a tuple of tensors, got {type(inputs).__name__}")
    return tuple(inputs)


def _shapes(args) -> str:
    shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
    return ", ".join(map(str, shapes)) or "no tensor"


def _where_it_fails(model: nn.Module, inputs: tuple) -> tuple[str, str, str]:
    """(name, type, input shapes) of the innermost module that raises on ``inputs``: the forward is
    run again, without gradients, with a pre-hook on every module recording who was entered."""
    stack = []
    with hooks() as h:
        for name, module in model.named_modules():
            h.pre(
                module,
                lambda m, args, name=name: stack.append((name or "(the model)", type(m).__name__, _shapes(args))),
            )
            h.forward(module, lambda m, args, out: stack.pop())
        try:
            with torch.no_grad(), unchanged(model, []):
                model(*inputs)
        except Exception:  # noqa: BLE001 -- any failure: the stack says where
            return stack[-1] if stack else ("(the model)", type(model).__name__, _shapes(inputs))
    return "(the model)", type(model).__name__, _shapes(inputs)


def probe(
    model: nn.Module,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    *,
    grad_output: torch.Tensor | None = None,
    loss: Callable[[Any], torch.Tensor] | None = None,
    at: Sequence[str] | None = None,
    hist_bins: int = 0,
    hist_range: tuple[float, float] = DEFAULT_RANGE,
    seed: int = 0,
) -> ProbeResult:
    """One forward and one backward pass through ``model``, measured at the modules named in ``at``.

    Parameters
    ----------
    model : any ``nn.Module``, run in the mode it is in (train or eval).
    inputs : a tensor, or a tuple of tensors passed as ``model(*inputs)``.
    grad_output : the gradient ``dC/dy`` injected at the output ``y`` (default: standard normal,
        drawn from ``seed``); ``loss`` instead: a function ``loss(output) -> scalar`` to back-propagate.
    at : names from ``model.named_modules()`` (default: every module that owns parameters).
    hist_bins : bins of fixed-range histograms of each output and gradient over ``hist_range``
        (``out_hist``, ``grad_hist``; 0: none).
    seed : seeds torch's generators for the pass (dropout masks) and draws the default ``grad_output``.

    Parameters, buffers (BatchNorm's running statistics), ``.grad`` fields and the mode are left as
    they were. If the model raises, a ``ValueError`` (``TypeError`` for a type error) names the
    module that failed and the shapes it got, with the model's own error as the cause.

    >>> model = nn.Sequential(nn.Linear(8, 4), nn.Tanh(), nn.Linear(4, 2))
    >>> probe(model, torch.randn(5, 8), at=["1"]).column("type")
    ['Tanh']
    >>> probe(model, torch.randn(5, 3))
    Traceback (most recent call last):
    ...
    ValueError: probe: module '0' (Linear) failed on input of shape (5, 3): ...
    """
    inputs = _check_inputs(model, inputs)
    if grad_output is not None and loss is not None:
        raise ValueError("give grad_output or loss, not both")
    hist_bins, bounds = check_bins(hist_bins), check_range(hist_range, "hist_range")
    seed = check_int(seed, "seed", 0)
    sites = _default_sites(model, at, hist_bins, bounds)

    def draw(y):
        return torch.randn(
            y.shape, generator=torch.Generator(y.device).manual_seed(seed), device=y.device, dtype=y.dtype
        )

    devices = sorted({t.device.index for t in inputs if t.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        try:
            rows, y = measure(model, inputs, sites, grad_output=grad_output, loss=loss, draw_grad=draw)
        except OutputError as error:
            raise ValueError(f"probe: {error}") from None
        except (RuntimeError, ValueError, TypeError, IndexError) as error:
            raise wrap_failure(model, inputs, error, "probe") from error
    return ProbeResult(rows, edges(hist_bins, bounds))
