"""What a model's initialization actually is: per parameter, its fans, its variance factors, the
known law it matches, and the traps it falls into.

For a weight W of the module's own computation (:func:`initlib.module_fans`), the forward factor
fan_in E[W^2] is what the layer multiplies the variance of its input by (Glorot & Bengio 2010,
eq. 5; He et al. 2015, eq. 7), and the backward factor fan_out E[W^2] what it multiplies the
variance of the gradient by (Glorot & Bengio eq. 6). Both near 1 is Glorot's ideal (their eqs.
10 and 11); 1/3 is their "standard" initialization, eq. (1), which is torch's default.

>>> report = audit(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)))
>>> row = report.rows[0]
>>> row["name"], row["fan_in"], row["matches"], round(row["forward_factor"], 1)
('0.weight', 64, 'torch_default = glorot_eq1', 0.3)
"""

from __future__ import annotations

import json
import math

import torch
from torch import nn

from ._checks import InitTypeError
from .modules import NORMS, WEIGHT_LAYERS, _gates, module_fans

Z = 6.0  # standard errors a realised second moment may stray from a law's and still match it
MAX_TOLERANCE = 0.5
COLUMNS = ("name", "module", "shape", "fan_in", "fan_out", "std", "forward_factor", "backward_factor", "matches")


def _torch_fans(weight: torch.Tensor) -> tuple[int, int]:
    return nn.init._calculate_fan_in_and_fan_out(weight)


def _torch_default_m2(module: nn.Module, name: str, weight: torch.Tensor) -> float | None:
    """E[W^2] of the module's own reset_parameters law for the parameter ``weight`` (all of it)."""
    if isinstance(module, nn.MultiheadAttention):
        if name.endswith("proj_weight"):  # xavier_uniform_, on the packed (3E, E) matrix if packed
            return 2 / sum(_torch_fans(weight))
        return 0.0 if name == "in_proj_bias" else None
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return 1 / (3 * module.hidden_size)
    if isinstance(module, nn.Embedding):
        return 1.0
    if isinstance(module, WEIGHT_LAYERS):
        return 1 / (3 * _torch_fans(module.weight)[0])
    return None


def _candidates(module, name, weight, fans) -> dict[str, float]:
    """Known laws, each as the E[W^2] it gives the parameter ``weight`` (or each chunk of it)."""
    laws = {}
    default = _torch_default_m2(module, name, weight)
    if default is not None:
        laws["torch_default"] = default
    if fans is not None:
        fan_in, fan_out = fans
        laws.update({"glorot_eq1": 1 / (3 * fan_in), "lecun": 1 / fan_in, "glorot": 2 / (fan_in + fan_out),
                     "he": 2 / fan_in, "normal(0,1)": 1.0})
    return laws


def _match(values: torch.Tensor, laws: dict[str, float]) -> str | None:
    """The law (or equal laws, joined by ' = ') whose E[W^2] the values' mean square is within Z s.e. of."""
    if values.numel() == 0:
        return None
    if bool((values == 0).all()):
        return "zeros"
    if bool((values == 1).all()):
        return "ones"
    m2 = float(values.double().pow(2).mean())
    tolerance = min(MAX_TOLERANCE, Z * math.sqrt(2 / values.numel()))
    distance = {law: abs(math.log(m2 / v)) for law, v in laws.items() if v > 0}
    close = {law: d for law, d in distance.items() if abs(m2 / laws[law] - 1) <= tolerance}
    if not close:
        return None
    best = min(close, key=close.get)
    return " = ".join(law for law in laws if law in close and math.isclose(laws[law], laws[best], rel_tol=1e-9))


def _trap_notes(module: nn.Module, name: str, weight: torch.Tensor, fans, matches: str | None) -> list[str]:
    """The known traps this parameter sits in (see references: PyTorch's module defaults)."""
    notes = []
    torch_default = matches is not None and "torch_default" in matches
    if isinstance(module, nn.MultiheadAttention) and name == "in_proj_weight":
        e = module.embed_dim
        notes.append(f"packed q/k/v: torch's xavier_uniform_ treats the (3E, E) in_proj_weight as one matrix, "
                     f"Var 1/(2E) = {1 / (2 * e):.3g} per block; Glorot per q/k/v block is 1/E = {1 / e:.3g}"
                     + (" (this is torch's default)" if torch_default else ""))
    elif isinstance(module, (nn.RNNBase, nn.RNNCellBase)) and fans is not None and torch_default:
        h = module.hidden_size
        notes.append(f"torch's RNN default U(+-1/sqrt(H)): Var 1/(3H) = {1 / (3 * h):.3g} for every gate whatever "
                     f"its fan-in ({fans[0]}): forward factor {fans[0] / (3 * h):.3g}")
    elif isinstance(module, nn.Embedding):
        d, n = module.embedding_dim, module.num_embeddings
        notes.append(f"Embedding: fans of the lookup are (1, {d})" + (", and torch's N(0,1) default gives unit-variance "
                     "rows" if torch_default else "") + f"; torch's fan helpers read the ({n}, {d}) weight as "
                     f"fan_in={d}, fan_out={n}, so xavier_/kaiming_ on it give Var ~1/{d}, not ~1")
    elif isinstance(module, nn.modules.conv._ConvNd) and fans is not None:
        notes += _conv_notes(module, weight, fans)
    return notes


def _conv_notes(module, weight, fans) -> list[str]:
    torch_fans = _torch_fans(weight)
    if torch_fans == tuple(fans):
        return []
    if module.transposed:
        return [f"transposed conv: torch reads the (in, out/groups, *k) weight as (out, in, *k) and ignores the "
                f"stride: torch's fans {torch_fans}, the computation's {tuple(fans)}"]
    if module.groups > 1:
        kind = "depthwise" if module.groups == module.in_channels else f"groups={module.groups}"
        return [f"{kind} conv: torch's fans {torch_fans} ignore the groups in fan_out; the computation's are "
                f"{tuple(fans)}"]
    return [f"strided conv: torch's fans {torch_fans}; the computation's {tuple(fans)} (stride thins fan_out)"]


def _chunk_labels(module: nn.Module, name: str, chunks: int) -> list[str]:
    if chunks == 1:
        return [""]
    if isinstance(module, nn.MultiheadAttention):
        return ["[q]", "[k]", "[v]"]
    return [f"[{gate}]" for gate in _gates(module)]


def _row(full, module, name, param, values, fans) -> dict:
    """The row of ``values`` (``param`` itself, or one chunk of it)."""
    laws = _candidates(module, name, param, fans) if not isinstance(module, NORMS) else {}
    matches = _match(values, laws)
    m2 = float(values.double().pow(2).mean()) if values.numel() else math.nan
    return {
        "name": full, "module": type(module).__name__, "shape": list(values.shape),
        "fan_in": None if fans is None else fans[0], "fan_out": None if fans is None else fans[1],
        "std": float(values.double().std(unbiased=False)) if values.numel() else math.nan,
        "forward_factor": None if fans is None else fans[0] * m2,
        "backward_factor": None if fans is None else fans[1] * m2,
        "matches": matches, "notes": [],
    }


def _param_rows(prefix: str, module: nn.Module, fans: dict, seen: set) -> list[tuple[dict, torch.Tensor]]:
    """``(row, values)`` for each parameter the module owns (each chunk of a packed one), once each."""
    rows = []
    for name, param in module.named_parameters(recurse=False):
        if id(param) in seen:  # a tied parameter is reported where it first appears
            continue
        seen.add(id(param))
        full = f"{prefix}.{name}" if prefix else name
        values, own = param.detach(), fans.get(full)
        chunks = own.chunks if own is not None else 1
        parts = values.chunk(chunks) if chunks > 1 else (values,)
        for label, part in zip(_chunk_labels(module, name, chunks), parts):
            row = _row(full + label, module, name, values, part, own)
            row["notes"] = _trap_notes(module, name, values, own, row["matches"])
            rows.append((row, part))
    return rows


def _identical_notes(rows: list[dict], tensors: list[torch.Tensor]) -> None:
    """Flag weights equal entry for entry to an earlier one (nn.TransformerEncoder deep-copies its layer)."""
    first: dict[tuple, int] = {}
    for i, (row, t) in enumerate(zip(rows, tensors)):
        if row["fan_in"] is None or row["matches"] in ("zeros", "ones") or t.numel() < 2:
            continue
        key = (tuple(t.shape), float(t.double().sum()), float(t.double().pow(2).sum()))
        j = first.setdefault(key, i)
        if j != i and torch.equal(tensors[j], t):
            row["notes"].append(f"identical to {rows[j]['name']}: the copies start equal (nn.TransformerEncoder "
                                f"deep-copies one layer), so they get the same updates until the data separates them")


class Audit:
    """A per-parameter report: ``rows`` (a list of dicts), ``to_dict()``, ``to_json()``, and a table as ``str()``."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    @property
    def flagged(self) -> list[dict]:
        return [row for row in self.rows if row["notes"]]

    def to_dict(self) -> dict:
        return {"columns": list(COLUMNS) + ["notes"], "rows": self.rows}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        cells = [[_cell(row[c]) for c in COLUMNS] for row in self.rows]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)] if cells else []
        lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
        notes = [f"* {row['name']}: {note}" for row in self.rows for note in row["notes"]]
        return "\n".join(lines + (["", "notes:"] + notes if notes else []))

    def __repr__(self) -> str:
        return f"Audit({len(self.rows)} rows, {len(self.flagged)} flagged)"


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "x".join(map(str, value))
    return str(value)


def audit(model: nn.Module) -> Audit:
    """Audit every parameter of ``model``: one row per parameter, one per chunk of a packed weight.

    Row keys: ``name``, ``module`` (its class), ``shape``, ``fan_in`` and ``fan_out``
    (:func:`initlib.module_fans`; None for biases and norms), ``std`` (of the entries),
    ``forward_factor`` = fan_in E[W^2], ``backward_factor`` = fan_out E[W^2], ``matches`` (the
    known law whose E[W^2] the entries' mean square is within 6 standard errors of:
    ``torch_default`` (the module's own reset_parameters), ``glorot_eq1`` (1/(3 fan_in)),
    ``lecun`` (1/fan_in), ``glorot`` (2/(fan_in + fan_out)), ``he`` (2/fan_in), ``normal(0,1)``,
    ``zeros``, ``ones``, or None; equal laws are joined by ``" = "``), and ``notes``, which flag
    the traps: packed q/k/v, LSTM's 1/(3H), Embedding's N(0,1) and fans, torch's depthwise and
    transposed fans, identical copies of a layer.

    >>> report = audit(nn.Conv2d(64, 64, 3, groups=64))
    >>> report.rows[0]["fan_in"], report.rows[0]["fan_out"], report.rows[0]["notes"][0][:14]
    (9, 9, 'depthwise conv')
    """
    if not isinstance(model, nn.Module):
        raise InitTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    fans, seen = module_fans(model), set()
    pairs = [pair for prefix, sub in model.named_modules() for pair in _param_rows(prefix, sub, fans, seen)]
    rows = [row for row, _ in pairs]
    _identical_notes(rows, [values for _, values in pairs])
    return Audit(rows)
