"""What a run is given, typed and checked once: the net (:class:`MLP`) and the histograms (:class:`Histograms`).

:func:`initlib.propagate` and :func:`initlib.train` build the same kind of net, a fully connected
one with widths ``[n_0, ..., n_L]`` (``W^l`` of shape ``(n_l, n_(l-1))``):

    s^l = W^l h^(l-1) + b^l,     h^l = f(s^l),     h^0 = x.

:class:`MLP` describes it (widths, activation, init scheme and its keywords, biases, leaky ReLU's
slope), refuses bad values when it is made, and is the one place the net is drawn
(:meth:`MLP.draw`: weights by the scheme, biases by their law, from one generator) and assembled
(:meth:`MLP.assemble`: ``Linear, f, Linear, f, ...``, stacked for an ensemble).

>>> net = MLP([784, 500, 10], "relu", "kaiming_normal")
>>> net.widths, net.depth, net.slope
((784, 500, 10), 2, 0.0)
>>> MLP([8, 4], "tanh", "normal", init_kwargs={"std": 0.1}).module(logits=True)
Sequential(
  (0): Linear(in_features=8, out_features=4, bias=False)
)
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._checks import InitTypeError, check_int, check_positive, check_widths
from ..laws import activations
from ..laws.schemes import get_scheme
from . import ensembles
from .probe import DEFAULT_RANGE, MAX_HIST_BINS, check_range

DEFAULT_HIST_EXAMPLES = 256  # a few hundred examples times the layer width: 10^5 values per layer


# --- init keywords ---------------------------------------------------------------------------------


def _check_init_kwargs(init_fn: Callable, init_kwargs) -> dict:
    if not isinstance(init_kwargs, Mapping) or not all(isinstance(k, str) for k in init_kwargs):
        raise InitTypeError(f"init_kwargs must be a dict of keyword -> value, got {init_kwargs!r}")
    if "generator" in init_kwargs:
        raise ValueError("generator is not an init keyword here: the run seeds its own from seed=")
    params = inspect.signature(init_fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(init_kwargs)
    accepted = [p for p in params if p not in ("tensor", "generator")]
    unknown = sorted(set(init_kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"init keyword(s) {', '.join(unknown)} not accepted by {getattr(init_fn, '__name__', init_fn)}; "
            f"it takes: {', '.join(accepted) or 'no keywords'}"
        )
    return dict(init_kwargs)


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _takes_slope(init_fn: Callable, init_kwargs: dict) -> bool:
    """Whether ``init_fn`` takes a leaky ReLU slope ``a`` (the kaiming family: ``a`` beside
    ``nonlinearity``, which is or defaults to "leaky_relu") that the caller left unset."""
    if "a" in init_kwargs:
        return False
    try:
        params = inspect.signature(init_fn).parameters
    except (TypeError, ValueError):
        return False
    if "a" not in params or "nonlinearity" not in params:
        return False  # uniform_'s and trunc_normal_'s ``a`` is a bound, not a slope
    nonlinearity = init_kwargs.get("nonlinearity", params["nonlinearity"].default)
    return isinstance(nonlinearity, str) and nonlinearity.lower() == "leaky_relu"


def _check_bias(bias):
    if isinstance(bias, bool):
        return bias
    return check_positive(bias, "bias (False, True for nn.Linear's default law, or a standard deviation)")


# --- the net ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MLP:
    """A fully connected net: ``widths = [n_0, ..., n_L]`` (the input width, then each layer's
    output width), the ``activation`` (a name in :data:`initlib.activations.NAMES`), the weights'
    ``init`` (a name in :data:`initlib.SCHEMES`, e.g. ``"standard_uniform"`` Glorot's eq. 1,
    ``"xavier_uniform"`` eq. 16, ``"kaiming_normal"`` He's eq. 10, or a callable
    ``f(tensor, generator=..., **init_kwargs)``) and its keywords ``init_kwargs`` (one given as a
    list, one value per member, makes an ensemble: ``{"std": [0.1, 0.2]}``).

    ``bias``: ``False`` (none in :func:`initlib.propagate`, as in the analyses; zero at the start
    in :func:`initlib.train`, as in Glorot & Bengio's experiments), ``True`` (nn.Linear's law
    U(-1/sqrt(n_in), 1/sqrt(n_in))) or a standard deviation sigma_b (N(0, sigma_b^2), as the
    mean-field analyses take them). ``negative_slope``: leaky ReLU's slope (default 0.01, as in
    torch), only for ``"leaky_relu"``; it is also the default of the scheme's ``a`` when the scheme
    takes a slope (``kaiming_*`` with nonlinearity "leaky_relu"), so He's eq. (15) gain matches.
    """

    widths: Sequence[int]  # any sequence; stored as a tuple
    activation: str = "relu"
    init: str | Callable = "kaiming_normal"
    init_kwargs: Mapping = dataclasses.field(default_factory=dict)
    bias: bool | float = False
    negative_slope: float | None = None

    def __post_init__(self):
        put = object.__setattr__  # frozen: the checked values replace the given ones once, here
        put(self, "widths", tuple(check_widths(self.widths)))
        put(self, "activation", activations.get(self.activation).name)
        kwargs = _check_init_kwargs(get_scheme(self.init), self.init_kwargs)
        put(self, "init_kwargs", types.MappingProxyType(kwargs))
        put(self, "bias", _check_bias(self.bias))
        activations.slope(self.activation, self.negative_slope)

    @classmethod
    def of(
        cls, widths, activation: str = "relu", init="kaiming_normal", *, bias=False, negative_slope=None, **init_kwargs
    ) -> MLP:
        """``MLP(widths, activation, init, init_kwargs, bias, negative_slope)`` with the init keywords
        given as keywords: ``MLP.of([64] * 4, "tanh", "normal", std=0.5)``."""
        return cls(widths, activation, init, init_kwargs, bias, negative_slope)

    @property
    def depth(self) -> int:
        """Number of weight layers L."""
        return len(self.widths) - 1

    @property
    def slope(self) -> float:
        """Leaky ReLU's slope (0 for every other activation)."""
        return activations.slope(self.activation, self.negative_slope)

    @property
    def init_fn(self) -> Callable:
        return get_scheme(self.init)

    @property
    def init_name(self) -> str:
        init = self.init
        return init.rstrip("_") if isinstance(init, str) else getattr(init, "__name__", repr(init))

    def runs(self, seed: int | list[int] | tuple[int, ...], **extra: Any) -> tuple[list[tuple[int, dict]], bool]:
        """``([(seed_e, init_kwargs_e), ...], ensemble)``: one run per member when ``seed`` or an init
        keyword (or an ``extra`` one, e.g. train's ``lr``) is a list, else the single run."""
        runs = ensembles.members(seed, **self.init_kwargs, **extra)
        if runs is not None:
            return [(s, self._keywords(kw)) for s, kw in runs], True
        return [(check_int(seed, "seed", 0), self._keywords(dict(self.init_kwargs, **extra)))], False

    def _keywords(self, kwargs: dict) -> dict:
        if self.activation == "leaky_relu" and _takes_slope(self.init_fn, kwargs):
            # He's eq. (15) gain needs the same slope the net uses; only leaky_relu nets get this
            kwargs = dict(kwargs, a=self.slope)
        return kwargs

    def draw(
        self,
        generator: torch.Generator,
        init_kwargs: dict,
        *,
        device=None,
        dtype=torch.float32,
        biases_last: bool = False,
        zero_bias: bool = False,
    ) -> tuple[list, list]:
        """``(weights, biases)``, one per layer, drawn from ``generator``: layer by layer the weight
        (by the scheme, with ``init_kwargs``) then the bias (by its law), or, with ``biases_last``,
        every weight then every bias (the order :func:`initlib.train` has always used). Without
        biases (``bias=False``) each bias is None, or zeros with ``zero_bias``."""
        takes_generator = {"generator": generator} if _accepts(self.init_fn, "generator") else {}
        weights, biases = [], []
        for n_in, n_out in zip(self.widths[:-1], self.widths[1:]):
            w = torch.empty(n_out, n_in, device=device, dtype=dtype)
            self.init_fn(w, **init_kwargs, **takes_generator)
            weights.append(w)
            if not biases_last:
                biases.append(self._bias(n_in, n_out, generator, device, dtype, zero_bias))
        if biases_last:
            biases = [
                self._bias(n_in, n_out, generator, device, dtype, zero_bias)
                for n_in, n_out in zip(self.widths[:-1], self.widths[1:])
            ]
        return weights, biases

    def _bias(self, n_in: int, n_out: int, generator, device, dtype, zero_bias: bool):
        if self.bias is False:
            return torch.zeros(n_out, device=device, dtype=dtype) if zero_bias else None
        b = torch.empty(n_out, device=device, dtype=dtype)
        if self.bias is True:
            return b.uniform_(-1 / math.sqrt(n_in), 1 / math.sqrt(n_in), generator=generator)
        return b.normal_(0, self.bias, generator=generator)

    def linears(self, weights: list, biases: list) -> list[nn.Module]:
        """Linear layers holding the drawn tensors: ``nn.Linear`` for ``(n_out, n_in)`` weights,
        :class:`initlib.measure.ensembles.EnsembleLinear` for stacked ``(E, n_out, n_in)`` ones."""
        return [ensembles.linear(w, b) for w, b in zip(weights, biases)]

    def assemble(self, linears: list[nn.Module], *, logits: bool = False, inplace: bool = False) -> nn.Sequential:
        """``Linear, f, Linear, f, ...`` from the given linear layers; ``logits``: no f after the last
        one (the softmax is in the loss); ``inplace``: f overwrites its input where it can."""
        act, layers = activations.get(self.activation), []
        for l, linear in enumerate(linears):
            layers.append(linear)
            if logits and l == len(linears) - 1:
                break
            f = act.module(self.slope)
            if inplace and hasattr(f, "inplace"):
                setattr(f, "inplace", True)  # nn.Module types its attributes as Tensor | Module
            layers.append(f)
        return nn.Sequential(*layers)

    def module(
        self, generator: torch.Generator | None = None, *, logits: bool = False, zero_bias: bool = False
    ) -> nn.Sequential:
        """The drawn net as an ``nn.Sequential`` (list-valued init keywords take their first value),
        from ``generator`` (default: a CPU one seeded with 0)."""
        generator = torch.Generator().manual_seed(0) if generator is None else generator
        kwargs = self.runs(0)[0][0][1]
        weights, biases = self.draw(generator, kwargs, zero_bias=zero_bias)
        return self.assemble(self.linears(weights, biases), logits=logits)


# --- histograms ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Histograms:
    """Fixed-range histograms of h^l and dC/ds^l in :func:`initlib.propagate`: ``bins`` bins (50 shows
    a law's shape), over the first ``examples`` examples of the batch (Glorot & Bengio's figures
    used 300), in ``act_range`` (default: the activation's ``output_range`` where it is bounded,
    else :data:`initlib.measure.probe.DEFAULT_RANGE`) and ``grad_range`` (default DEFAULT_RANGE)."""

    bins: int = 50
    examples: int = DEFAULT_HIST_EXAMPLES
    act_range: tuple[float, float] | None = None
    grad_range: tuple[float, float] | None = None

    def __post_init__(self):
        put = object.__setattr__
        put(self, "bins", check_int(self.bins, "bins", 0))
        if self.bins > MAX_HIST_BINS:
            raise ValueError(f"bins must be at most {MAX_HIST_BINS}, got {self.bins}")
        put(self, "examples", check_int(self.examples, "examples", 1))
        if self.act_range is not None:
            put(self, "act_range", check_range(self.act_range, "act_range"))
        if self.grad_range is not None:
            put(self, "grad_range", check_range(self.grad_range, "grad_range"))

    @classmethod
    def get(cls, histograms: int | Histograms | None) -> Histograms:
        """``histograms`` as a :class:`Histograms`: None or 0 is none (0 bins), an int is that many bins."""
        if histograms is None:
            return cls(bins=0)
        if isinstance(histograms, cls):
            return histograms
        if isinstance(histograms, bool) or not isinstance(histograms, int):
            raise InitTypeError(f"histograms must be None, a number of bins or a Histograms(...), got {histograms!r}")
        return cls(bins=histograms)

    def ranges(self, activation: str) -> tuple[tuple[float, float], tuple[float, float]]:
        """``(act_range, grad_range)`` with the defaults filled in."""
        act = self.act_range if self.act_range is not None else activations.get(activation).output_range
        return (act or DEFAULT_RANGE), (self.grad_range or DEFAULT_RANGE)
