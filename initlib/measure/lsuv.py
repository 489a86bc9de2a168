"""Layer-sequential unit-variance (LSUV) initialization (Mishkin & Matas 2016): a start fitted to data.

Their Algorithm 1, on one batch of inputs:

1. pre-initialize every weight layer with an orthonormal matrix (Saxe et al. 2014), biases zero;
2. for each weight layer L, first to last in forward order: while |Var(B_L) - 1| >= tol and fewer
   than max_iter rescalings were made, run the batch forward and set W_L <- W_L / sqrt(Var(B_L)),

where B_L is the layer's output and the variance is over all its entries (population variance, as
:func:`initlib.probe` measures it). The paper's values are tol = 0.1 and max_iter = 10. The
tolerance is on the *variance*: the PyPI package ``lsuv`` (``lsuv_with_singlebatch(...,
std_tol=0.1)``) puts it on the standard deviation, |std - 1| < 0.1, which accepts a variance
anywhere in (0.81, 1.21) where this accepts (0.9, 1.1).

>>> from torch import nn
>>> model = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 10))
>>> x = torch.randn(256, 16, generator=torch.Generator().manual_seed(0))
>>> report = lsuv_(model, x)
>>> report.column("name")
['0', '2']
>>> all(abs(v - 1) < 0.1 for v in report.column("var"))
True
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from .._checks import check_int, check_positive
from ..laws.initializers import orthogonal_
from ..laws.modules import is_weight_layer
from ..laws.tied import users
from .hooks import hooks
from .probe import ProbeResult, Site, _check_inputs, forward_rows, unchanged, var_mean, wrap_failure


@dataclasses.dataclass
class LSUVReport(ProbeResult):
    """What :func:`lsuv_` did: one row per weight layer, in forward order, with ``name``, ``type``,
    ``iterations`` (rescalings made), ``var_before`` (the output variance before the first one),
    ``var`` (after the last one) and ``converged`` (|var - 1| < tol); ``not_called`` names the
    weight layers the forward pass never called (left as they were), and ``skipped`` the modules
    with weights that it does not scale, each with the reason ("name (Type): why")."""

    not_called: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)

    def _payload(self) -> dict:
        return super()._payload() | {"not_called": self.not_called, "skipped": self.skipped}


def _output_var(y: torch.Tensor) -> dict:
    return {"var": var_mean(y.float())[0]}


def _skipped(model: nn.Module) -> tuple[set, list[str]]:
    """(ids of the weight layers to leave alone, "name (Type): why" for every module with a
    matrix-shaped weight that lsuv_ does not scale). A weight tied to another module (GPT-2's
    lm_head and its token embedding) is left alone: rescaling it rescales the other user too."""
    held = users(model)
    leave, lines = set(), []
    for name, m in model.named_modules():
        weights = [(n, p) for n, p in m.named_parameters(recurse=False) if p.dim() >= 2]
        if not weights:
            continue
        if is_weight_layer(m):
            others = [full for full, sub, _ in held[id(m.weight)] if sub is not m]
            if others:
                leave.add(id(m))
                lines.append(
                    f"{name} ({type(m).__name__}): its weight is tied to {', '.join(others)}, which a "
                    "rescaling would change as well"
                )
        else:
            lines.append(f"{name or '(the model)'} ({type(m).__name__}): not a Linear, Conv or Conv1D layer")
    return leave, lines


def _forward_order(model: nn.Module, inputs: tuple) -> tuple[list, list, list]:
    """The weight layers as (name, module) in the order the forward first calls them, the names
    of those it never calls, and the modules it skips (:func:`_skipped`)."""
    leave, skipped = _skipped(model)
    layers = [(n, m) for n, m in model.named_modules() if is_weight_layer(m) and id(m) not in leave]
    if not layers:
        raise ValueError(
            f"model ({type(model).__name__}) has no weight layer for lsuv_ to scale: it looks for "
            "nn.Linear, nn.Conv*/ConvTranspose* and transformers' Conv1D modules"
            + (f"; it skipped {'; '.join(skipped)}" if skipped else "")
        )
    sites = [Site(n, m, lambda y: {}, None) for n, m in layers]
    try:
        rows = forward_rows(model, inputs, sites)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise wrap_failure(model, inputs, error, "lsuv_: inputs") from error
    called = list(dict.fromkeys(row["name"] for row in rows))
    modules = dict(layers)
    return [(n, modules[n]) for n in called], [n for n, _ in layers if n not in called], skipped


class _Dead(Exception):
    """A layer whose output variance no rescaling can bring to 1 (raised inside the pass)."""


def _variance(y, name: str, layer: nn.Module) -> float:
    var = float(var_mean(y.float())[0])
    if not math.isfinite(var) or var <= 0:
        raise _Dead(
            f"lsuv_: layer {name!r} ({type(layer).__name__}) has output variance {var} on inputs, "
            "which no rescaling of its weight can bring to 1 (a dead or overflowing layer below it?)"
        )
    return var


@torch.no_grad()
def _orthonormal_(layers: list, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _, layer in layers:
        w = layer.weight
        w.copy_(orthogonal_(torch.empty(w.shape, dtype=w.dtype), generator=gen))
        if layer.bias is not None:
            layer.bias.zero_()


def _scale_all(model: nn.Module, inputs: tuple, layers: list, tol: float, max_iter: int) -> list[dict]:
    """Algorithm 1's loop in one forward pass: when a layer is first called, its input comes from
    the layers below, already scaled, so rescaling its weight and calling it again on that input
    gives exactly what a new forward from the start would; the pass then goes on with the scaled
    output. The cost is one pass plus each layer's own re-runs, linear in the depth."""
    rows, todo = {}, {id(m): n for n, m in layers}

    def hook(layer, args, kwargs, output):
        name = todo.pop(id(layer), None)
        if name is None:  # a later call, or a re-run below
            return None
        var = before = _variance(output, name, layer)
        iterations = 0
        while abs(var - 1.0) >= tol and iterations < max_iter:
            layer.weight.div_(math.sqrt(var))
            iterations += 1
            output = layer(*args, **kwargs)
            var = _variance(output, name, layer)
        rows[name] = {
            "name": name,
            "type": type(layer).__name__,
            "iterations": iterations,
            "var_before": before,
            "var": var,
            "converged": abs(var - 1.0) < tol,
        }
        return output

    with hooks() as h:
        for _, layer in layers:
            h.forward(layer, hook, with_kwargs=True)
        with torch.no_grad(), unchanged(model, []):
            model(*inputs)
    return [rows[n] for n, _ in layers]


def lsuv_(
    model: nn.Module,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    tol: float = 0.1,
    max_iter: int = 10,
    *,
    orthonormal: bool = True,
    seed: int = 0,
) -> LSUVReport:
    """Initialize ``model``'s Linear and Conv layers in place by LSUV on the batch ``inputs``.

    Parameters
    ----------
    model : any ``nn.Module``; its weight layers are taken in the order its forward calls them
        (found with one pass of :func:`initlib.probe`'s core), and it runs in the mode it is in.
    inputs : a tensor, or a tuple of tensors passed as ``model(*inputs)``: one batch of data.
    tol : the tolerance on the output *variance*, |Var - 1| < tol (paper: 0.1).
    max_iter : at most this many rescalings per layer (paper: 10).
    orthonormal : first draw every weight layer orthonormal (:func:`initlib.orthogonal_`, from
        ``seed``) and zero its bias (initlib's choice: the paper's Algorithm 1 does not mention
        biases); False keeps the current weights and biases.

    Modules with matrix-shaped weights that are not weight layers (Embedding, RNNs, attention's
    packed ``in_proj_weight``) and weight layers whose weight is tied to another module are
    left as they were, named in a warning and in the report's ``skipped``.

    Returns an :class:`LSUVReport`. On any error (bad ``inputs``, no weight layer, a layer whose
    output variance is 0 or not finite) every parameter is put back as it was.
    """
    tol = check_positive(tol, "tol")
    max_iter = check_int(max_iter, "max_iter", 1)
    seed = check_int(seed, "seed", 0)
    inputs = _check_inputs(model, inputs)
    saved = [(p, p.detach().clone()) for p in model.parameters()]
    try:
        layers, not_called, skipped = _forward_order(model, inputs)
        if orthonormal:
            _orthonormal_(layers, seed)
        rows = _scale_all(model, inputs, layers, tol, max_iter)
    except BaseException as error:
        with torch.no_grad():
            for p, copy in saved:
                p.copy_(copy)
        if isinstance(error, _Dead):
            raise ValueError(str(error)) from None
        raise
    if skipped:
        warnings.warn(
            f"lsuv_ left {len(skipped)} module(s) with weights as they were: {'; '.join(skipped)}", stacklevel=2
        )
    return LSUVReport(rows, not_called=not_called, skipped=skipped)
