"""The practitioner's one call: is this model's start healthy, and if not, what fixes it?

:func:`doctor` reads the model's weights (:func:`initlib.audit`), measures one forward and one
backward pass at initialization (:func:`initlib.probe`), and extrapolates what it measured over
depth. Each problem found is a :class:`Verdict`, with a fix that is applied to a *copy* of the
model and measured by probing the copy again; the model itself is never changed.

The checks, each with the quantity it measures:

* **signal** -- a chain of layers without repeated blocks (an MLP, a plain CNN): the variance of
  the first weight layer's output against the last one's, forward, and of the gradient there,
  backward. A ratio beyond 100 either way vanishes or explodes; a constant factor per layer r
  gives r^(2L) at twice the depth L. Fix: re-draw with the He or Glorot scheme whose ratio is
  nearer 1 (:func:`initlib.init_module`).
* **residual stream** -- N repeated blocks x_{l+1} = x_l + F_l(x_l): the variance the blocks
  add to the stream, Sigma = (Var[x_N] - Var[x_0]) / u, in units u of the variance a branch reads
  (its norm's output, 1 in a pre-norm transformer; the stream's own Var[x_0] without norms).
  Unscaled branches add the same amount at any
  depth, so Sigma grows in proportion to N; GPT-2's 1/sqrt(2N) on each branch's last layer
  (Radford et al. 2019) keeps it at about one branch's worth. Sigma > 1: the branches together
  outweigh a unit signal, and twice as many blocks would double it. Fix: each branch's last
  layer times 1/sqrt(number of branches) (the ``"scaled"`` rule of :func:`initlib.residual_init_`).
* **tied** -- a tensor shared by an Embedding and a read-out (:mod:`initlib.laws.tied`) whose read-out
  forward factor fan_in E[W^2] exceeds 10: drawn for the lookup's fans (1, d). Fix: the tensor
  rescaled to E[W^2] = 1/fan_in of the read-out.
* **packed** -- a packed q/k/v projection (:mod:`initlib.laws.packed`) drawn by Glorot over the whole
  matrix, 2/(fan_in + k fan_out) per block, not per block's 2/(fan_in + fan_out). Fix: each block
  rescaled to its own Glorot variance.
* **norm** -- a norm layer's scale that is neither 1 nor 0 everywhere (left at a random draw).
  Fix: scale 1, shift 0.

>>> from torch import nn
>>> model = nn.Sequential(*[m for _ in range(12) for m in (nn.Linear(64, 64), nn.ReLU())])
>>> report = doctor(model, torch.randn(32, 64))
>>> [v.problem for v in report.verdicts], report.healthy
(['vanishing signal'], False)
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import warnings
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from .._checks import check_int
from ..laws.modules import NORMS, init_module, is_weight_layer, module_fans
from ..laws.residual import _is_shortcut
from ..laws.tied import tied_groups
from .audit import audit
from .hooks import hooks
from .probe import ProbeResult, _check_inputs, first_tensor, json_number, probe, unchanged, var_mean

LIMIT = 100.0  # a ratio of variances beyond this (or below its inverse) vanishes or explodes
TIED_LIMIT = 10.0  # a read-out's forward factor beyond this: drawn for another user's fans
SCHEMES = ("kaiming_normal", "xavier_normal")


@dataclasses.dataclass
class Verdict:
    """One problem: what (``problem``), where (``where``), the measurement (``evidence``), the
    fix, and what the fix did when applied to a copy and measured again (``effect``)."""

    problem: str
    where: str
    evidence: str
    fix: str
    effect: str

    def __str__(self) -> str:
        return (
            f"PROBLEM {self.problem} at {self.where}\n  measured: {self.evidence}\n  fix: {self.fix}\n"
            f"  after the fix: {self.effect}"
        )


@dataclasses.dataclass
class Diagnosis:
    """What :func:`doctor` found: the ``verdicts``, the probe at initialization (``signal``), the
    per-block stream variances (``stream``, empty without repeated blocks) and the audit."""

    verdicts: list
    signal: ProbeResult
    stream: list
    audit_rows: list = dataclasses.field(repr=False, default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.verdicts

    def to_dict(self) -> dict:
        return {
            "healthy": self.healthy,
            "verdicts": [dataclasses.asdict(v) for v in self.verdicts],
            "stream": [json_number(v) for v in self.stream],
            "signal": self.signal.to_dict()["rows"],
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        if self.healthy:
            return "healthy: no problem found (signal, residual stream, tied, packed, norms)"
        return "\n".join(str(v) for v in self.verdicts)


# --- what the checks measure -------------------------------------------------------------------


def _blocks(model: nn.Module) -> list[str]:
    """The names of the longest run of repeated blocks: consecutive children of one class in a
    ModuleList or Sequential, at least 2, each holding weight layers but not one itself (a
    transformer's layers, a residual stack, a ResNet stage's blocks)."""
    best: list[str] = []
    for name, m in model.named_modules():
        if not isinstance(m, (nn.ModuleList, nn.Sequential)):
            continue
        run: list[str] = []
        kids = list(m.named_children())
        for i, (k, child) in enumerate(kids):
            ok = not is_weight_layer(child) and any(is_weight_layer(s) for s in child.modules())
            if not ok or (run and type(child) is not type(kids[i - 1][1])):
                run = []
            if ok:
                run.append(f"{name}.{k}" if name else k)
                if len(run) >= 2 and len(run) >= len(best):  # ties: the later, inner run (a stage's blocks)
                    best = list(run)
    return best


def _stream(model, inputs, blocks: list[str]) -> tuple[list[float], float, bool]:
    """(Var[x_0], ..., Var[x_N]) at the blocks' input and outputs; u, the variance a branch reads:
    the mean of the norm layers' outputs inside the blocks, or Var[x_0] without norms; and
    whether the blocks have norms."""
    named = dict(model.named_modules())
    values, norms = {}, []

    def record(key):
        def hook(module, args, output=None):
            y = first_tensor(args if output is None else output)
            if y is not None and y.is_floating_point() and key not in values:
                values[key] = float(var_mean(y.detach().float())[0])

        return hook

    def norm_hook(module, args, output):
        y = first_tensor(output)
        if y is not None and y.is_floating_point():
            norms.append(float(var_mean(y.detach().float())[0]))

    with hooks() as h:
        h.pre(named[blocks[0]], record(0))
        for i, name in enumerate(blocks):
            h.forward(named[name], record(i + 1))
            for m in named[name].modules():
                if isinstance(m, NORMS) or type(m).__name__.endswith(("LayerNorm", "RMSNorm")):
                    h.forward(m, norm_hook)
        with torch.no_grad(), unchanged(model, []):
            model(*inputs)
    stream = [values.get(i, math.nan) for i in range(len(blocks) + 1)]
    return stream, (sum(norms) / len(norms) if norms else stream[0]), bool(norms)


def _chain_ratios(result: ProbeResult) -> tuple[float, float, int]:
    """(last / first weight layer's output variance, first / last's gradient variance, layers)."""
    rows = [r for r in result.rows if r["type"] in ("Linear", "Conv1d", "Conv2d", "Conv3d", "Conv1D")]
    if len(rows) < 2:
        return 1.0, 1.0, len(rows)
    fwd = rows[-1]["out_var"] / rows[0]["out_var"] if rows[0]["out_var"] else math.inf
    g0, g1 = rows[0]["grad_out_var"], rows[-1]["grad_out_var"]
    bwd = g0 / g1 if g0 is not None and g1 else 1.0
    return fwd, bwd, len(rows)


def _branches(model: nn.Module, blocks: list[str]) -> list[tuple[nn.Module, nn.Module | None]]:
    """(last weight layer, the norm after it or None) of every branch of every block: each child
    of a block that holds weight layers and is not its shortcut (attn and mlp in a transformer),
    or the block itself when its children are single layers (torchvision's BasicBlock)."""
    named = dict(model.named_modules())
    found: list[tuple[nn.Module, nn.Module | None]] = []
    for block_name in blocks:
        block = named[block_name]
        kids = [
            (n, k)
            for n, k in block.named_children()
            if not _is_shortcut(n) and any(is_weight_layer(m) for m in k.modules())
        ]
        groups = [k for _, k in kids] if kids and not any(is_weight_layer(k) for _, k in kids) else [block]
        for group in groups:
            last: nn.Module | None = None
            norm: nn.Module | None = None
            for n, m in group.named_modules():
                if _is_shortcut(n):
                    continue
                if is_weight_layer(m):
                    last, norm = m, None
                elif isinstance(m, NORMS) and last is not None and getattr(m, "weight", None) is not None:
                    norm = m
            if last is not None:
                found.append((last, norm))
    return found


# --- the checks -----------------------------------------------------------------------------------


def _signal_verdicts(model, measure, where: str, seed: int, high: float = LIMIT) -> list[Verdict]:
    """``measure(model) -> (forward ratio, backward ratio, layers)``; a ratio below 1/LIMIT or
    above ``high`` is a verdict, whose fix is the scheme of :data:`SCHEMES` that brings both nearer 1."""
    fwd, bwd, n = measure(model)
    bad = [(what, r) for what, r in (("forward", fwd), ("backward", bwd)) if not 1 / LIMIT <= r <= high]
    if not bad:
        return []
    what, ratio = bad[0]
    problem = "vanishing signal" if ratio < 1 else "exploding signal"
    mode = "train" if model.training else "eval"
    evidence = (
        f"{what}: Var ratio {ratio:.3g} over {n} {where} in {mode} mode (last/first forward, first/last "
        f"backward: {fwd:.3g}, {bwd:.3g}); at twice the depth about {ratio**2:.3g}"
    )
    tried = {}
    for scheme in SCHEMES:
        fixed = copy.deepcopy(model)
        init_module(fixed, scheme, generator=torch.Generator().manual_seed(seed))
        f, b, _ = measure(fixed)
        spread = max(abs(math.log(f)), abs(math.log(b))) if f > 0 and b > 0 else math.inf
        tried[scheme] = (spread, f, b)
    best = min(tried, key=lambda s: tried[s][0])
    _, f, b = tried[best]
    return [
        Verdict(
            problem,
            f"the {n} {where}",
            evidence,
            f"initlib.init_module(model, {best!r})",
            f"Var ratios forward {f:.3g}, backward {b:.3g}",
        )
    ]


def _residual_verdicts(model, inputs, blocks, stream, unit, normed) -> list[Verdict]:
    added = (stream[-1] - stream[0]) / unit
    if not added > 1:
        return []
    fixed = copy.deepcopy(model)
    fixed_branches = _branches(fixed, blocks)
    if not fixed_branches:
        return []
    factor = 1 / math.sqrt(len(fixed_branches))
    with torch.no_grad():
        for layer, norm in fixed_branches:
            # cast: nn.Module types its attributes as Tensor | Module; a weight layer's and a norm's weight is a Tensor
            cast(torch.Tensor, norm.weight if norm is not None else layer.weight).mul_(factor)
    after, unit_after, _ = _stream(fixed, inputs, blocks)
    n = len(blocks)
    where = f"{n} blocks ({blocks[0]} .. {blocks[-1]}), {len(fixed_branches)} branches"
    evidence = (
        f"the blocks add Sigma = {added:.3g} to the stream (Var {stream[0]:.3g} -> {stream[-1]:.3g}, in "
        f"units of the {unit:.3g} a branch reads): "
    )
    if normed:  # a normed branch adds the same at any depth: linear growth
        evidence += (
            f"about {added / n:.3g} per block, the same at any depth, so {2 * n} blocks would add "
            f"{2 * added:.3g}; branch scaling is missing"
        )
    else:  # the branch reads the stream itself: geometric growth
        rate = (stream[-1] / stream[0]) ** (1 / n)
        evidence += (
            f"a factor {rate:.3g} per block, so {2 * n} blocks would multiply the stream's variance by "
            f"{rate ** (2 * n):.3g}; the branches are not scaled down"
        )
    return [
        Verdict(
            "residual stream grows with depth",
            where,
            evidence,
            f"each branch's last layer times 1/sqrt({len(fixed_branches)}) = {factor:.3g} (GPT-2's "
            "1/sqrt(2N); initlib.residual_init_(branches, 'scaled') when re-drawing)",
            f"Sigma = {(after[-1] - after[0]) / unit_after:.3g} (Var {after[0]:.3g} -> {after[-1]:.3g})",
        )
    ]


def _tied_verdicts(model, inputs, seed) -> list[Verdict]:
    verdicts, fans = [], module_fans(model)
    for group in tied_groups(model):
        layers = [(full, m) for full, m, _ in group if is_weight_layer(m)]
        if not layers or not any(isinstance(m, nn.Embedding) for _, m, _ in group):
            continue
        full, layer = layers[-1]
        w = cast(torch.Tensor, layer.weight)  # a weight layer's weight (nn.Module types it Tensor | Module)
        m2 = float(w.detach().double().pow(2).mean())
        factor = fans[full][0] * m2
        if factor <= TIED_LIMIT:
            continue
        names = [f for f, _, _ in group]
        fixed = copy.deepcopy(model)
        with torch.no_grad():
            dict(fixed.named_parameters(remove_duplicate=False))[full].mul_(1 / math.sqrt(factor))
        before = _var_of(model, inputs, full.rsplit(".", 1)[0], seed)
        after = _var_of(fixed, inputs, full.rsplit(".", 1)[0], seed)
        verdicts.append(
            Verdict(
                "tied weight drawn for the embedding's fans",
                " = ".join(names),
                f"the read-out {full} multiplies its input's variance by fan_in E[W^2] = {factor:.3g}; its output Var "
                f"{before:.3g}",
                f"rescale the tied tensor to E[W^2] = 1/{fans[full][0]} (or "
                "initlib.init_module(model, scheme, tied='readout'))",
                f"the read-out's output Var {after:.3g}",
            )
        )
    return verdicts


def _var_of(model, inputs, name, seed) -> float:
    rows = probe(model, inputs, at=[name], seed=seed).rows
    return rows[0]["out_var"] if rows else math.nan


def _packed_verdicts(model) -> list[Verdict]:
    fans, found = module_fans(model), []
    named, params = dict(model.named_modules()), dict(model.named_parameters(remove_duplicate=False))
    for name, f in fans.items():
        module = named.get(name.rsplit(".", 1)[0] if "." in name else "")
        if f.chunks < 2 or f.sizes is not None or isinstance(module, (nn.MultiheadAttention, nn.RNNBase)):
            continue
        w = params[name].detach().double()
        m2, n = float(w.pow(2).mean()), w.numel()
        whole, block = 2 / (f[0] + f.chunks * f[1]), 2 / (f[0] + f[1])
        if abs(m2 / whole - 1) <= 6 * math.sqrt(2 / n) and abs(m2 / block - 1) > 6 * math.sqrt(2 / n):
            found.append((name, f, m2, block))
    if not found:
        return []
    names = ", ".join(n for n, _, _, _ in found[:3]) + (" ..." if len(found) > 3 else "")
    name, f, m2, block = found[0]
    return [
        Verdict(
            "packed projection drawn as one matrix",
            f"{len(found)} layer(s): {names}",
            f"E[W^2] = {m2:.3g} = 2/(fan_in + {f.chunks} fan_out), Glorot over the whole matrix; per block "
            f"it is 2/(fan_in + fan_out) = {block:.3g}",
            "initlib.init_module(model, 'xavier_uniform'), which draws each block with its own fans",
            f"each block's forward factor fan_in E[W^2] from {f[0] * m2:.3g} to {f[0] * block:.3g}",
        )
    ]


def _norm_verdicts(model) -> list[Verdict]:
    odd = []
    for name, m in model.named_modules():
        weight = getattr(m, "weight", None)
        if isinstance(m, NORMS) and isinstance(weight, torch.Tensor) and weight.numel() > 1:
            w = weight.detach()
            if not (bool((w == 1).all()) or bool((w == 0).all())):
                odd.append((name, float(w.double().mean()), float(w.double().std())))
    if not odd:
        return []
    names = ", ".join(n for n, _, _ in odd[:3]) + (" ..." if len(odd) > 3 else "")
    return [
        Verdict(
            "norm layers not at their defaults",
            f"{len(odd)} norm(s): {names}",
            f"scale mean {odd[0][1]:.3g}, std {odd[0][2]:.3g} (torch's default: 1 everywhere)",
            "scale 1, shift 0 (initlib.init_module sets them)",
            "scale 1 everywhere",
        )
    ]


def doctor(model: nn.Module, inputs: torch.Tensor | Sequence[torch.Tensor], *, seed: int = 0) -> Diagnosis:
    """Diagnose ``model``'s initialization on the batch ``inputs`` (a tensor or a tuple, as
    ``model(*inputs)``): the checks of the module docstring, each problem a :class:`Verdict`
    with its fix measured on a copy. ``model`` is left unchanged (parameters, buffers, mode)."""
    inputs = _check_inputs(model, inputs)
    seed = check_int(seed, "seed", 0)
    signal = probe(model, inputs, seed=seed)
    blocks = _blocks(model)
    with warnings.catch_warnings():  # the fixes' own warnings (left alone, tied) are about the copies
        warnings.simplefilter("ignore")
        if blocks:
            stream, unit, normed = _stream(model, inputs, blocks)
            verdicts = _residual_verdicts(model, inputs, blocks, stream, unit, normed)

            def along_stream(m):
                values = _stream(m, inputs, blocks)[0]
                return (values[-1] / values[0] if values[0] > 0 else math.inf), 1.0, len(blocks)

            # only a vanishing stream: its growth is the residual check's (a stream that starts from
            # a small embedding grows by design)
            verdicts += _signal_verdicts(model, along_stream, "blocks", seed, high=math.inf)
        else:
            stream = []
            verdicts = _signal_verdicts(
                model, lambda m: _chain_ratios(probe(m, inputs, seed=seed)), "weight layers", seed
            )
        verdicts += _tied_verdicts(model, inputs, seed) + _packed_verdicts(model) + _norm_verdicts(model)
    return Diagnosis(verdicts, signal, stream, audit(model).rows)
