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

import dataclasses
import math

import torch
from torch import nn

from .._checks import InitTypeError
from ..laws.modules import NORMS, WEIGHT_LAYERS, _gates, is_hf_conv1d, module_fans
from ..laws.packed import check_packed
from ..laws.tied import users as _users
from .record import Record

Z = 6.0  # standard errors a realised second moment may stray from a law's and still match it
MAX_TOLERANCE = 0.5
COLUMNS = ("name", "module", "shape", "fan_in", "fan_out", "std", "forward_factor", "backward_factor", "matches")
# E[W^4] / E[W^2]^2 of each family of draws: U[-a, a], N(0, s^2) truncated to +-2 s (JAX's and
# Keras' truncated_normal; scipy.stats.truncnorm(-2, 2)), and N(0, s^2). Its estimate from n
# entries has a standard error of about sqrt(24 / n) (the normal's; the others' are smaller).
KURTOSIS = {"uniform": 1.8, "truncated normal": 2.3655, "normal": 3.0}
FIXED_STDS = (0.02,)  # BERT's and GPT-2's initializer_range, timm ViT's trunc_normal_(std=.02)


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


def _torch_default_family(module: nn.Module) -> str:
    """torch's reset_parameters draws uniform everywhere except an Embedding's N(0, 1)."""
    return "normal" if isinstance(module, nn.Embedding) else "uniform"


def _candidates(module, name, weight, fans) -> tuple[dict[str, float], dict[str, str]]:
    """Known laws, each as the E[W^2] it gives the parameter ``weight`` (or each chunk of it), and
    the family of draws a law requires (laws absent from it may be drawn normal or uniform)."""
    laws, families = {}, {}
    default = _torch_default_m2(module, name, weight)
    if default is not None:
        laws["torch_default"], families["torch_default"] = default, _torch_default_family(module)
    if fans is not None:
        fan_in, fan_out = fans
        laws.update(
            {
                "glorot_eq1": 1 / (3 * fan_in),
                "lecun": 1 / fan_in,
                "glorot": 2 / (fan_in + fan_out),
                "he": 2 / fan_in,
                "normal(0,1)": 1.0,
            }
        )
        # kaiming_normal_(mode="fan_out"), He's eq. (14) as torchvision, timm and transformers draw their
        # ResNets and MobileNets: torch's fan_out, out * k^2, unthinned by the stride
        torch_fan_out = _torch_fans(weight)[1] if isinstance(module, WEIGHT_LAYERS) else None
        if torch_fan_out is not None and torch_fan_out != fan_in:
            laws["he_fan_out"] = 2 / torch_fan_out
        laws.update({f"normal({std})": std * std for std in FIXED_STDS})
        families.update({"glorot_eq1": "uniform", "normal(0,1)": "normal"})
        families.update({f"normal({std})": "normal" for std in FIXED_STDS})
    return laws, families


@dataclasses.dataclass
class _Moments:
    """What the audit reads off a weight, from one float64 copy: count, sum, E[W^2], E[W^4], std."""

    n: int
    total: float
    m2: float
    m4: float
    std: float
    zeros: bool
    ones: bool


def _moments(values: torch.Tensor) -> _Moments:
    n = values.numel()
    if n == 0:
        return _Moments(0, 0.0, math.nan, math.nan, math.nan, False, False)
    v = values.detach().reshape(-1).double()
    sq = v * v
    total, m2 = float(v.sum()), float(sq.mean())
    ones = total == n and m2 == 1.0 and bool((v == 1).all())
    return _Moments(n, total, m2, float(sq.square_().mean()), float(v.std(unbiased=False)), m2 == 0.0, ones)


def distribution(values: torch.Tensor) -> str | None:
    """The family of draws (``"uniform"``, ``"truncated normal"``, ``"normal"``) whose kurtosis
    E[W^4]/E[W^2]^2 alone is within Z standard errors of the values', or None (too few values to
    tell, or none fits).

    >>> g = torch.Generator().manual_seed(0)
    >>> distribution(torch.rand(256, 256, generator=g) - 0.5), distribution(torch.randn(256, 256, generator=g))
    ('uniform', 'normal')
    """
    return _distribution(_moments(values))


def _distribution(stats: _Moments) -> str | None:
    fits = _families(stats)
    return fits[0] if len(fits) == 1 else None


def _families(stats: _Moments) -> list[str]:
    if stats.n < 2 or not stats.m2 > 0:
        return list(KURTOSIS)
    kurtosis = stats.m4 / (stats.m2 * stats.m2)
    se = math.sqrt(24 / stats.n)
    return [family for family, k in KURTOSIS.items() if abs(kurtosis - k) <= Z * se]


def _match(stats: _Moments, laws: dict[str, float], families: dict[str, str] | None = None) -> str | None:
    """The law (or equal laws, joined by ' = ') whose E[W^2] the values' mean square is within Z s.e.
    of, among those whose family of draws (``families``) the values' kurtosis does not rule out."""
    if stats.n == 0:
        return None
    if stats.zeros:
        return "zeros"
    if stats.ones:
        return "ones"
    m2 = stats.m2
    tolerance = min(MAX_TOLERANCE, Z * math.sqrt(2 / stats.n))
    distance = {law: abs(math.log(m2 / v)) for law, v in laws.items() if v > 0}
    close = {law: d for law, d in distance.items() if abs(m2 / laws[law] - 1) <= tolerance}
    if families and close:
        fits = _families(stats)
        close = {law: d for law, d in close.items() if law not in families or families[law] in fits}
    if not close:
        return None
    best = min(close, key=close.__getitem__)
    return " = ".join(law for law in laws if law in close and math.isclose(laws[law], laws[best], rel_tol=1e-9))


def _trap_notes(module: nn.Module, name: str, weight: torch.Tensor, fans, matches: str | None) -> list[str]:
    """The known traps this parameter sits in (see references: PyTorch's module defaults)."""
    notes = []
    torch_default = matches is not None and "torch_default" in matches
    if isinstance(module, nn.MultiheadAttention) and name == "in_proj_weight":
        e = module.embed_dim
        notes.append(
            f"packed q/k/v: torch's xavier_uniform_ treats the (3E, E) in_proj_weight as one matrix, "
            f"Var 1/(2E) = {1 / (2 * e):.3g} per block; Glorot per q/k/v block is 1/E = {1 / e:.3g}"
            + (" (this is torch's default)" if torch_default else "")
        )
    elif isinstance(module, (nn.RNNBase, nn.RNNCellBase)) and fans is not None and torch_default:
        h = module.hidden_size
        notes.append(
            f"torch's RNN default U(+-1/sqrt(H)): Var 1/(3H) = {1 / (3 * h):.3g} for every gate whatever "
            f"its fan-in ({fans[0]}): forward factor {fans[0] / (3 * h):.3g}"
        )
    elif isinstance(module, nn.Embedding):
        d, n = module.embedding_dim, module.num_embeddings
        notes.append(
            f"Embedding: fans of the lookup are (1, {d})"
            + (", and torch's N(0,1) default gives unit-variance rows" if torch_default else "")
            + f"; torch's fan helpers read the ({n}, {d}) weight as "
            f"fan_in={d}, fan_out={n}, so xavier_/kaiming_ on it give Var ~1/{d}, not ~1"
        )
    elif isinstance(module, nn.modules.conv._ConvNd) and fans is not None:
        notes += _conv_notes(module, weight, fans)
    elif is_hf_conv1d(module) and fans is not None:
        notes.append(
            f"transformers' Conv1D stores its weight (in, out) = {tuple(weight.shape)}: torch's fan helpers "
            f"read it as (out, in), fans {_torch_fans(weight)}; the computation's are {tuple(fans)}"
        )
    if (
        fans is not None
        and fans.chunks > 1
        and not isinstance(module, (nn.MultiheadAttention, nn.RNNBase, nn.RNNCellBase))
    ):
        sizes = fans.sizes or (fans[1],) * fans.chunks
        notes.append(
            f"packed projection: {fans.chunks} blocks of {'/'.join(map(str, sizes))} outputs, each a map "
            f"of its own with fans per block (torch's fans read the whole matrix as one map)"
        )
    return notes


def _conv_notes(module, weight, fans) -> list[str]:
    torch_fans = _torch_fans(weight)
    if torch_fans == tuple(fans):
        return []
    if module.transposed:
        return [
            f"transposed conv: torch reads the (in, out/groups, *k) weight as (out, in, *k) and ignores the "
            f"stride: torch's fans {torch_fans}, the computation's {tuple(fans)}"
        ]
    if module.groups > 1:
        kind = "depthwise" if module.groups == module.in_channels else f"groups={module.groups}"
        return [
            f"{kind} conv: torch's fans {torch_fans} ignore the groups in fan_out; the computation's are {tuple(fans)}"
        ]
    return [f"strided conv: torch's fans {torch_fans}; the computation's {tuple(fans)} (stride thins fan_out)"]


def _chunk_labels(module: nn.Module, name: str, chunks: int) -> list[str]:
    if chunks == 1:
        return [""]
    if isinstance(module, nn.MultiheadAttention) or chunks == 3 and not isinstance(module, nn.RNNBase):
        return ["[q]", "[k]", "[v]"]
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return [f"[{gate}]" for gate in _gates(module)]
    return [f"[{c}]" for c in range(chunks)]


def _row(full, module, name, param, values, fans, stats: _Moments) -> dict:
    """The row of ``values`` (``param`` itself, or one chunk of it), whose moments are ``stats``."""
    laws, families = _candidates(module, name, param, fans) if not isinstance(module, NORMS) else ({}, {})
    matches = _match(stats, laws, families)
    m2 = stats.m2
    return {
        "name": full,
        "module": type(module).__name__,
        "shape": list(values.shape),
        "fan_in": None if fans is None else fans[0],
        "fan_out": None if fans is None else fans[1],
        "std": stats.std,
        "forward_factor": None if fans is None else fans[0] * m2,
        "backward_factor": None if fans is None else fans[1] * m2,
        "matches": matches,
        "distribution": _distribution(stats) if fans is not None else None,
        "notes": [],
    }


def _param_rows(
    prefix: str, module: nn.Module, fans: dict, seen: set[int], users: dict
) -> list[tuple[dict, tuple[torch.Tensor, _Moments]]]:
    """``(row, (values, moments))`` for each parameter the module owns (each chunk of a packed one), once each."""
    rows = []
    for name, param in module.named_parameters(recurse=False):
        if id(param) in seen:  # a tied parameter is reported where it first appears, with its users
            continue
        seen.add(id(param))
        full = f"{prefix}.{name}" if prefix else name
        values, own = param.detach(), fans.get(full)
        chunks = own.chunks if own is not None else 1
        view = values.t() if own is not None and own.transposed else values
        # chunks > 1 only for a packed parameter, which has its fans (own)
        parts = (
            [(view[a:b], f) for a, b, f in own.blocks(view.shape[0])]
            if chunks > 1 and own is not None
            else [(view, own)]
        )
        for label, (part, part_fans) in zip(_chunk_labels(module, name, chunks), parts):
            stats = _moments(part)
            row = _row(full + label, module, name, values, part, part_fans, stats)
            row["notes"] = _trap_notes(module, name, values, own, row["matches"])
            if len(users.get(id(param), ())) > 1:
                row["notes"].append(_tied_note(users[id(param)], fans, stats.m2))
            rows.append((row, (part, stats)))
    return rows


def _tied_note(group: list, fans: dict, m2: float) -> str:
    """Every module that uses a tied tensor, with the fans and forward factor it sees."""
    seen = []
    for full, module, _ in group:
        own = fans.get(full)
        seen.append(
            f"{full} ({type(module).__name__}"
            + (f", fans {tuple(own)}, forward factor {own[0] * m2:.3g})" if own is not None else ")")
        )
    return (
        "tied: one tensor used by " + ", ".join(seen) + "; it can be drawn for one of them only "
        "(init_module: tied='readout' by default)"
    )


def _identical_notes(rows: list[dict], parts: list[tuple]) -> None:
    """Flag weights equal entry for entry to an earlier one (nn.TransformerEncoder deep-copies its layer)."""
    first: dict[tuple, int] = {}
    for i, (row, (t, stats)) in enumerate(zip(rows, parts)):
        if row["fan_in"] is None or row["matches"] in ("zeros", "ones") or t.numel() < 2:
            continue
        key = (tuple(t.shape), stats.total, stats.m2)
        j = first.setdefault(key, i)
        if j != i and torch.equal(parts[j][0], t):
            row["notes"].append(
                f"identical to {rows[j]['name']}: the copies start equal (nn.TransformerEncoder "
                f"deep-copies one layer), so they get the same updates until the data separates them"
            )


class Audit(Record):
    """A per-parameter report: ``rows`` (a list of dicts), a table as ``str()``, and, as every
    :class:`initlib.measure.record.Record`, ``column(name)``, ``to_dict()`` and ``to_json()``."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    @property
    def flagged(self) -> list[dict]:
        return [row for row in self.rows if row["notes"]]

    def columns(self) -> tuple[str, ...]:
        return (*COLUMNS, "notes")

    def _payload(self) -> dict:
        return {"columns": list(self.columns()), "rows": self.rows}

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


def audit(model: nn.Module, *, packed: dict | None = None) -> Audit:
    """Audit every parameter of ``model``: one row per parameter, one per chunk of a packed weight.

    Row keys: ``name``, ``module`` (its class), ``shape``, ``fan_in`` and ``fan_out``
    (:func:`initlib.module_fans`; None for biases and norms), ``std`` (of the entries),
    ``forward_factor`` = fan_in E[W^2], ``backward_factor`` = fan_out E[W^2], ``matches`` (the
    known law whose E[W^2] the entries' mean square is within 6 standard errors of:
    ``torch_default`` (the module's own reset_parameters), ``glorot_eq1`` (1/(3 fan_in)),
    ``lecun`` (1/fan_in), ``glorot`` (2/(fan_in + fan_out)), ``he`` (2/fan_in), ``he_fan_out``
    (2/fan_out with torch's fan_out, out * k^2, as ``kaiming_normal_(mode="fan_out")`` draws it;
    listed where it differs from fan_in), ``normal(0,1)``, ``normal(0.02)``,
    ``zeros``, ``ones``, or None; equal laws are joined by ``" = "``; a law tied to one family of
    draws (torch's uniform defaults, the normal laws) is ruled out when the entries' kurtosis
    E[W^4]/E[W^2]^2 is more than 6 standard errors from that family's), ``distribution`` (the
    family the kurtosis points to: ``uniform`` 1.8, ``truncated normal`` (at 2 std) 2.37,
    ``normal`` 3, or None), and ``notes``, which flag the traps: packed q/k/v (also a plain
    ``qkv``/``c_attn``/... layer, :mod:`initlib.laws.packed`; ``packed`` adds patterns), LSTM's
    1/(3H), Embedding's N(0,1) and fans, torch's depthwise and transposed fans, transformers'
    (in, out) Conv1D, tied parameters (every module using them), identical copies of a layer.

    >>> report = audit(nn.Conv2d(64, 64, 3, groups=64))
    >>> report.rows[0]["fan_in"], report.rows[0]["fan_out"], report.rows[0]["notes"][0][:14]
    (9, 9, 'depthwise conv')
    """
    if not isinstance(model, nn.Module):
        raise InitTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seen: set[int] = set()
    fans, users = module_fans(model, packed=check_packed(packed)), _users(model)
    pairs = [pair for prefix, sub in model.named_modules() for pair in _param_rows(prefix, sub, fans, seen, users)]
    rows = [row for row, _ in pairs]
    _identical_notes(rows, [values for _, values in pairs])
    return Audit(rows)
