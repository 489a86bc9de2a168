"""Fans of real PyTorch modules, and initialization that uses them.

torch's fan helpers read a weight's shape as ``(out, in, *kernel)``. For many modules that is not
the computation the weight takes part in, and the fans come out wrong:

* a depthwise ``Conv2d(64, 64, 3, groups=64)`` has weight ``(64, 1, 3, 3)``: torch says fans
  (9, 576); each output sums 9 inputs and each input feeds 9 outputs, so they are (9, 9);
* a ``ConvTranspose2d(32, 16, 4, stride=2)`` stores ``(in, out, *k)``: torch says (256, 512); an
  output position receives in * k^2 / stride^2 = 128 terms, an input feeds out * k^2 = 256;
* ``MultiheadAttention`` packs q, k and v into one ``(3E, E)`` matrix, and an LSTM packs its four
  gates into ``(4H, I)``: each chunk is its own ``E -> E`` or ``I -> H`` map.

:func:`module_fans` gives the fans of the module's own computation: for a weight W with entries of
mean square E[W^2], unit-variance inputs give outputs of variance fan_in E[W^2] (Glorot & Bengio
2010, eq. 5; He et al. 2015, eq. 7), and unit-variance output gradients give input gradients of
variance fan_out E[W^2] (Glorot & Bengio eq. 6; He et al. eq. 13), on the interior away from
padding. ``tests/test_module_fans.py`` checks every kind by measuring both.

>>> module_fans(nn.Conv2d(64, 64, 3, groups=64))
{'weight': (9, 9)}
>>> module_fans(nn.ConvTranspose2d(32, 16, 4, stride=2))
{'weight': (128, 256)}
>>> fans = module_fans(nn.LSTM(10, 20))
>>> fans["weight_ih_l0"], fans["weight_ih_l0"].chunks
((10, 20), 4)
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, cast

import torch
from torch import nn

from .._checks import InitTypeError, check_choice, check_real
from .fans import use_fans
from .packed import blocks, check_packed
from .schemes import get_scheme
from .tied import TiedWeightWarning, check_tied, chosen, tied_groups

# The layers whose weight is one dense map with fans (a Linear, or a convolution of any dimension).
WEIGHT_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)

BIAS_POLICIES = ("zeros", "torch")
LEFT_ALONE_POLICIES = ("warn", "raise")
RNN_GATES = {"LSTM": "ifgo", "GRU": "rzn", "RNN_TANH": "h", "RNN_RELU": "h"}
# torch's affine norms, whose own defaults are scale 1 and shift 0. Other libraries' norms are not
# included by name: Gemma's RMSNorm, for one, multiplies by (1 + weight) and starts its weight at 0.
NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)


def is_hf_conv1d(module: nn.Module) -> bool:
    """transformers' ``Conv1D`` (GPT-2's layers): a Linear whose weight is stored (in, out), y = x W + b."""
    weight = getattr(module, "weight", None)
    return (
        type(module).__name__ == "Conv1D"
        and isinstance(weight, torch.Tensor)
        and weight.dim() == 2
        and weight.shape[1] == getattr(module, "nf", None)
    )


def is_weight_layer(module: nn.Module) -> bool:
    """A layer whose ``weight`` is one dense map with fans: Linear, any Conv, transformers' Conv1D."""
    return isinstance(module, WEIGHT_LAYERS) or is_hf_conv1d(module)


class Fans(tuple):
    """``(fan_in, fan_out)`` of one chunk of a weight; ``chunks`` equal chunks along dim 0 share them.

    ``sizes`` (unequal blocks, as grouped-query attention's q, k, v) gives each block's rows; the
    tuple is then the first block's fans, and :meth:`blocks` each one's. ``transposed``: the weight
    is stored (in, out) (transformers' Conv1D), so the chunks run along dim 1.

    >>> f = Fans(10, 20, chunks=4)
    >>> f == (10, 20), f.fan_in, f.chunks
    (True, 10, 4)
    >>> [(a, b, tuple(g)) for a, b, g in Fans(8, 8, sizes=(8, 2, 2)).blocks(12)]
    [(0, 8, (8, 8)), (8, 10, (8, 2)), (10, 12, (8, 2))]
    """

    chunks: int
    sizes: tuple[int, ...] | None
    transposed: bool

    def __new__(
        cls,
        fan_in: float,
        fan_out: float,
        chunks: int = 1,
        *,
        sizes: tuple[int, ...] | None = None,
        transposed: bool = False,
    ) -> Fans:
        self = super().__new__(cls, (_exact(fan_in), _exact(fan_out)))
        self.chunks = len(sizes) if sizes else chunks
        self.sizes = tuple(sizes) if sizes else None
        self.transposed = transposed
        return self

    def blocks(self, rows: int) -> list[tuple[int, int, Fans]]:
        """``(start, stop, fans)`` of each chunk of a weight with ``rows`` rows along the chunked dim."""
        if self.sizes is None:
            step = rows // self.chunks
            return [(c * step, (c + 1) * step, self) for c in range(self.chunks)]
        scale = self[1] / self.sizes[0]  # a block's fan_out per output row (1 for a Linear)
        starts = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        return [(a, a + n, Fans(self[0], n * scale)) for a, n in zip(starts, self.sizes)]

    @property
    def fan_in(self) -> float:
        return self[0]

    @property
    def fan_out(self) -> float:
        return self[1]


def _exact(x: float) -> float:
    """A whole number as an int; a ratio like in * k / stride stays a float only when it is not whole."""
    return int(x) if float(x).is_integer() else float(x)


def _gates(module: nn.Module) -> str:
    mode = getattr(module, "mode", None)
    if mode is None:  # the cells: nn.LSTMCell, nn.GRUCell, nn.RNNCell
        mode = {"LSTMCell": "LSTM", "GRUCell": "GRU"}.get(type(module).__name__, "RNN_TANH")
    return RNN_GATES[mode]


def _conv_fans(module: nn.modules.conv._ConvNd) -> Fans:
    """Groups cut both fans; a stride thins the transposed conv's fan-in and the conv's fan-out."""
    kernel = math.prod(module.kernel_size)
    stride = math.prod(module.stride)
    per_in = module.in_channels // module.groups
    per_out = module.out_channels // module.groups
    if module.transposed:
        return Fans(per_in * kernel / stride, per_out * kernel)
    return Fans(per_in * kernel, per_out * kernel / stride)


def _packed(fan_in: int, fan_out: int, sizes, transposed: bool = False) -> Fans:
    if sizes is None:
        return Fans(fan_in, fan_out, transposed=transposed)
    if len(set(sizes)) == 1:
        return Fans(fan_in, sizes[0], chunks=len(sizes), transposed=transposed)
    return Fans(fan_in, sizes[0], sizes=sizes, transposed=transposed)


def _own_fans(module: nn.Module, name: str = "", packed: dict | None = None) -> dict[str, Fans]:
    """Fans of the weights a module owns itself (not its children's); ``name`` is its full name,
    for packed projections (:mod:`initlib.laws.packed`)."""
    if isinstance(module, nn.Linear):
        sizes = blocks(name, module.in_features, module.out_features, packed)
        return {"weight": _packed(module.in_features, module.out_features, sizes)}
    if is_hf_conv1d(module):  # weight (in, out)
        # nn.Module.__getattr__ is typed Tensor | Module; is_hf_conv1d has checked it is a Tensor
        n_in, n_out = cast(torch.Tensor, module.weight).shape
        return {"weight": _packed(n_in, n_out, blocks(name, n_in, n_out, packed), transposed=True)}
    if isinstance(module, nn.modules.conv._ConvNd):
        return {"weight": _conv_fans(module)}
    if isinstance(module, nn.Embedding):
        # a lookup is a one-hot row times W: one active input, embedding_dim outputs
        return {"weight": Fans(1, module.embedding_dim)}
    if isinstance(module, nn.MultiheadAttention):
        e = module.embed_dim
        if module._qkv_same_embed_dim:
            return {"in_proj_weight": Fans(e, e, chunks=3)}
        return {
            "q_proj_weight": Fans(e, e),
            "k_proj_weight": Fans(module.kdim, e),
            "v_proj_weight": Fans(module.vdim, e),
        }
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        gates = len(_gates(module))
        fans = {}
        for name, p in module.named_parameters(recurse=False):
            if name.startswith(("weight_ih", "weight_hh")):
                fans[name] = Fans(p.shape[1], p.shape[0] // gates, chunks=gates)
            elif name.startswith("weight_hr"):  # LSTM's projection (proj_size, hidden)
                fans[name] = Fans(p.shape[1], p.shape[0])
        return fans
    return {}


def module_fans(module: nn.Module, *, packed: dict | None = None) -> dict[str, Fans]:
    """``{parameter name: (fan_in, fan_out)}`` from the module's own computation, per chunk.

    Covers Linear, Conv1d/2d/3d (groups, depthwise), ConvTranspose1d/2d/3d (stride: the average
    fan-in is in_channels/groups * prod(k) / prod(stride)), MultiheadAttention (in_proj per q/k/v
    chunk; out_proj is a Linear), RNN/LSTM/GRU and their cells (per gate, layer and direction:
    weight_ih (input, hidden), weight_hh (hidden, hidden)), Embedding (1, embedding_dim) and
    transformers' Conv1D (weight stored (in, out): ``transposed``), anywhere in ``module``. A
    Linear or Conv1D named as a packed projection (``qkv``, ``c_attn``, ... with out = 3 in; see
    :mod:`initlib.laws.packed`, whose patterns ``packed`` adds to) gets fans per block; names are
    those of ``module.named_parameters()``. Each value is a
    :class:`Fans`: a ``(fan_in, fan_out)`` tuple whose ``chunks`` says how many equal chunks along
    dim 0 it describes. Parameters with no fans (biases, norms, unknown modules) are absent.

    >>> module_fans(nn.MultiheadAttention(64, 4))
    {'in_proj_weight': (64, 64), 'out_proj.weight': (64, 64)}
    >>> module_fans(nn.Embedding(1000, 32))
    {'weight': (1, 32)}
    """
    if not isinstance(module, nn.Module):
        raise InitTypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    packed = check_packed(packed)
    fans = {}
    for prefix, sub in module.named_modules():
        for name, value in _own_fans(sub, prefix, packed).items():
            if getattr(sub, name, None) is not None:
                fans[f"{prefix}.{name}" if prefix else name] = value
    return fans


class LeftAloneWarning(UserWarning):
    """:func:`init_module` left parameters it has no rule for as they were; ``names`` lists them."""

    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(
            f"init_module left {len(names)} parameter(s) as they were (no rule for their module): "
            f"{', '.join(names)}; initialize them yourself, or pass left_alone='raise' to make this an error"
        )


def _draw_weight(init, fans: Fans, kwargs: dict, padding_idx=None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A fill for a weight: ``init`` chunk by chunk, each chunk seeing the module fans."""

    def fill(buffer: torch.Tensor) -> torch.Tensor:
        view = buffer.t() if fans.transposed else buffer  # (out, in), as a Linear's
        for start, stop, own in fans.blocks(view.shape[0]):
            chunk = view if fans.chunks == 1 else view[start:stop]
            with use_fans(chunk, own):
                drawn = init(chunk, **kwargs)
            if drawn is not None and drawn is not chunk:  # a callable may return a new tensor
                chunk.copy_(drawn)
        if padding_idx is not None:  # torch keeps the padding row of an Embedding at 0
            buffer[padding_idx] = 0
        return buffer

    return fill


def _uniform_bias(bound: float, generator):
    return lambda b: b.uniform_(-bound, bound, generator=generator) if bound > 0 else b.zero_()


def _torch_bias_law(module: nn.Module, name: str, generator, mha_out: set):
    """torch's own reset_parameters law for a bias, or None when the module has no bias rule."""
    if is_hf_conv1d(module) and name == "bias":  # transformers zeroes Conv1D's bias
        return torch.Tensor.zero_
    if isinstance(module, WEIGHT_LAYERS) and name == "bias":
        if id(module) in mha_out:  # MultiheadAttention zeroes out_proj.bias
            return torch.Tensor.zero_
        fan_in = nn.init._calculate_fan_in_and_fan_out(module.weight)[0]  # torch's reading, quirks included
        return _uniform_bias(1 / math.sqrt(fan_in) if fan_in > 0 else 0.0, generator)
    if isinstance(module, nn.MultiheadAttention):
        if name == "in_proj_bias":
            return torch.Tensor.zero_
        if name in ("bias_k", "bias_v"):
            return lambda b: nn.init.xavier_normal_(b, generator=generator)
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)) and name.startswith("bias_"):
        return _uniform_bias(1 / math.sqrt(module.hidden_size), generator)
    return None


def _forget(fill, module: nn.Module, name: str, forget_bias):
    """LSTM gates are (i, f, g, o): b_ih's f chunk becomes forget_bias, b_hh's 0, so they sum to it."""
    if forget_bias is None or _gates(module) != "ifgo" or not name.startswith("bias_"):
        return fill

    def with_forget(b: torch.Tensor) -> torch.Tensor:
        fill(b)
        h: int = getattr(module, "hidden_size")  # an int attribute, typed Tensor | Module by nn.Module
        b[h : 2 * h] = forget_bias if name.startswith("bias_ih") else 0.0
        return b

    return with_forget


def _plan_param(sub, name, full, fans, init, kwargs, bias, forget_bias, mha_out):
    """The fill for one parameter, or None when init_module has no rule for it."""
    if full in fans:
        padding = getattr(sub, "padding_idx", None) if isinstance(sub, nn.Embedding) else None
        return _draw_weight(init, fans[full], kwargs, padding)
    if isinstance(sub, NORMS):  # torch's defaults for an affine norm: scale 1, shift 0
        return (lambda w: w.fill_(1.0)) if name == "weight" else torch.Tensor.zero_
    law = _torch_bias_law(sub, name, kwargs.get("generator"), mha_out)
    if law is None:
        return None
    return _forget(law if bias == "torch" else torch.Tensor.zero_, sub, name, forget_bias)


def _plan(
    module: nn.Module, init, kwargs: dict, bias: str, forget_bias, packed=None, tied: str = "readout"
) -> tuple[list, list[str], list[str]]:
    """``([(parameter, fill)], [names left alone], [tied lines])`` over every parameter of
    ``module``, once each; a tied parameter by the rule of the user ``tied`` chooses."""
    fans = module_fans(module, packed=packed)
    mha_out = {id(m.out_proj) for m in module.modules() if isinstance(m, nn.MultiheadAttention)}
    drawer = {}
    for group in tied_groups(module):
        drawer[id(getattr(group[0][1], group[0][2]))] = chosen(group, tied), group
    plan, left, lines, seen = [], [], [], set()
    for prefix, sub in module.named_modules():
        for name, param in sub.named_parameters(recurse=False):
            if id(param) in seen:  # a tied parameter is drawn once
                continue
            seen.add(id(param))
            full = f"{prefix}.{name}" if prefix else name
            if id(param) in drawer:
                (full, sub_, name_), group = drawer[id(param)]
                lines.append(_tied_line(group, full, fans.get(full)))
            else:
                sub_, name_ = sub, name
            fill = _plan_param(sub_, name_, full, fans, init, kwargs, bias, forget_bias, mha_out)
            if fill is None:
                left.append(full)
            else:
                plan.append((param, fill))
    return plan, left, lines


def _tied_line(group: list, full: str, fans) -> str:
    names = " = ".join(f"{n} ({type(m).__name__})" for n, m, _ in group)
    how = f"with {full}'s fans {tuple(fans)}" if fans is not None else f"by {full}'s rule"
    return f"{names} drawn {how}"


def init_module(
    module: nn.Module,
    scheme: str | Callable[..., torch.Tensor] = "kaiming_normal",
    *,
    bias: str = "zeros",
    forget_bias: float | None = None,
    left_alone: str = "warn",
    tied: str = "readout",
    packed: dict | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Initialize every parameter of ``module`` that has a rule, with the fans of its computation.

    Weights (those in :func:`module_fans`: Linear, ConvNd and ConvTransposeNd, MultiheadAttention,
    RNN/LSTM/GRU and their cells, Embedding) get ``scheme``, a name from :data:`SCHEMES` or a
    callable ``f(weight, **kwargs)``, chunk by chunk for packed weights (each q/k/v block, each
    gate), with :func:`module_fans` in place of the shape's fans, so Glorot's eq. (12)
    Var[W] = 2 / (fan_in + fan_out) or He's eq. (10) Var[W] = 2 / fan_in hold for the computation
    the weight takes part in. An Embedding's padding row stays 0.

    Biases: ``bias="zeros"`` (the default, as in Glorot & Bengio 2010 and He et al. 2015) or
    ``"torch"`` (each module's own reset_parameters law: U(+-1/sqrt(fan_in)) for Linear and Conv,
    U(+-1/sqrt(H)) for RNNs, zeros for attention's projections). ``forget_bias`` sets an LSTM's
    forget-gate bias (b_ih's f chunk; b_hh's is 0), as Jozefowicz et al. (2015) recommend 1.
    Norm layers get their defaults (scale 1, shift 0). Every other parameter is left alone and
    named in a :class:`LeftAloneWarning` (``left_alone="raise"``: a ValueError instead).

    Packed projections (``qkv``, ``c_attn``, ...; ``packed`` adds patterns, :mod:`initlib.laws.packed`)
    are drawn block by block. A parameter held by several modules (a tied embedding and
    read-out) is drawn once, by the rule of the read-out (``tied="readout"``: the last weight
    layer among its users), of the first user (``"first"``), or of the user whose parameter name
    ``tied`` gives, and named in a :class:`initlib.laws.tied.TiedWeightWarning`.

    All new values are drawn into copies first: an error anywhere leaves the module unchanged.

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> net = init_module(net, "xavier_uniform", gain=1.0)
    >>> float(net[0].bias.detach().abs().sum())
    0.0
    >>> lstm = init_module(nn.LSTM(8, 16), "xavier_uniform", forget_bias=1.0)
    >>> float(lstm.bias_ih_l0[16:32].detach().mean()), float(lstm.bias_hh_l0.detach().abs().sum())
    (1.0, 0.0)
    """
    if not isinstance(module, nn.Module):
        raise InitTypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    init = get_scheme(scheme)
    check_choice(bias, "bias", BIAS_POLICIES)
    check_choice(left_alone, "left_alone", LEFT_ALONE_POLICIES)
    if forget_bias is not None:
        forget_bias = check_real(forget_bias, "forget_bias")
    tied = check_tied(tied, module)
    plan, left, lines = _plan(module, init, kwargs, bias, forget_bias, packed, tied)
    if left and left_alone == "raise":
        raise ValueError(str(LeftAloneWarning(left)))
    if left:
        warnings.warn(LeftAloneWarning(left), stacklevel=2)
    if lines:
        warnings.warn(TiedWeightWarning("init_module", lines), stacklevel=2)
    with torch.no_grad():
        drawn = [(param, fill(param.detach().clone())) for param, fill in plan]
        for param, value in drawn:
            param.copy_(value)
    return module
