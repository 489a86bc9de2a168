"""What happens inside a deep net at initialization: one forward and one backward pass, measured layer by layer.

:func:`propagate` builds a fully connected net with widths ``[n_0, ..., n_L]`` (``W^l`` of shape
``(n_l, n_(l-1))``, drawn by an initlib scheme), pushes a batch of ``x ~ N(0, 1)`` through it,

    s^l = W^l h^(l-1) (+ b^l),     h^l = f(s^l),     h^0 = x,

injects a standard normal gradient ``dC/dh^L`` at the top (as Glorot & Bengio and He et al. do in
their analyses) and back-propagates it by hand:

    dC/ds^l = dC/dh^l * f'(s^l),     dC/dh^(l-1) = (W^l)^T dC/ds^l,     dC/dW^l = mean_b dC/ds^l h^(l-1)^T.

Every statistic is reduced on the device as soon as its tensor exists; only scalars and fixed-bin
histogram counts reach the host, in one transfer at the end. The backward pass needs ``h^l`` for
every layer (for ``dC/dW^l``, and ``f'(s^l)`` is recovered from ``h^l`` because every activation
here is monotone), so memory is one ``batch x n_l`` tensor per layer plus the weights.

>>> r = propagate([512] * 6, "relu", "kaiming_normal", batch=256, device="cpu")
>>> [round(v, 1) for v in r.column("theory_pre_var")]
[2.0, 2.0, 2.0, 2.0, 2.0]
>>> all(0.5 < v / 2 < 2 for v in r.column("pre_var"))   # one finite net wanders around the mean
True
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Callable

import torch
import torch.nn.functional as F

from . import theory
from ._checks import check_choice, check_int, check_positive, check_real
from .devices import resolve_device
from .initializers import get_scheme

ACTIVATIONS = theory.ACTIVATIONS
SATURATION_THRESHOLD = 0.1  # a unit is saturated when |f'(s)| < 0.1 * sup |f'|
DEFAULT_HIST_BINS = 50
# Histograms are for looking at a law's shape: a few hundred examples times the layer width give
# 10^5 values per layer, plenty for 50 bins, and cap their cost on a big batch (on a CPU a full
# histogram costs a fifth of a layer's matmul).
DEFAULT_HIST_EXAMPLES = 256
MAX_HIST_BINS = 10_000
DTYPES = {"float32": torch.float32, "float64": torch.float64}

# Fixed histogram ranges for h^l: the activation's range where it is bounded, +-4 (four standard
# deviations of a unit-variance signal) otherwise. Gradients: +-4, the injected gradient's scale.
ACT_RANGES = {"tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}
DEFAULT_RANGE = (-4.0, 4.0)


# --- activations: f applied in place, and f' recovered from h = f(s) ------------------------------

def _apply(activation: str, s: torch.Tensor, slope: float) -> torch.Tensor:
    """h = f(s), overwriting s (the forward pass keeps only h)."""
    if activation == "relu":
        return s.relu_()
    if activation == "leaky_relu":
        return F.leaky_relu_(s, slope)
    if activation == "tanh":
        return s.tanh_()
    if activation == "sigmoid":
        return s.sigmoid_()
    if activation == "softsign":
        return s.div_(s.abs().add_(1))
    if activation == "selu":
        return F.selu(s, inplace=True)
    return s  # linear


def _derivative(activation: str, h: torch.Tensor, slope: float) -> torch.Tensor | None:
    """f'(s) as a function of h = f(s) (None for the identity: multiply by nothing).

    tanh' = 1 - h^2, sigmoid' = h (1 - h), softsign' = (1 - |h|)^2, ReLU' = [h > 0] = sign(h),
    leaky' = 1 or a, SELU' = lambda for h > 0 and h + lambda alpha below (lambda alpha e^s).
    Float ops throughout: masks built from comparisons are several times slower on a CPU.
    """
    if activation == "relu":
        return h.sign()
    if activation == "leaky_relu":
        return h.sign().clamp_(min=0).mul_(1 - slope).add_(slope)
    if activation == "tanh":
        return h.square().neg_().add_(1)
    if activation == "sigmoid":
        return h.square().neg_().add_(h)
    if activation == "softsign":
        return (1 - h.abs()).square_()
    if activation == "selu":
        return torch.where(h > 0, theory.SELU_SCALE, h + theory.SELU_SCALE * theory.SELU_ALPHA)
    return None


def _sup_derivative(activation: str, slope: float) -> float:
    return {
        "linear": 1.0, "relu": 1.0, "leaky_relu": 1.0, "tanh": 1.0, "sigmoid": 0.25,
        "softsign": 1.0, "selu": theory.SELU_SCALE * theory.SELU_ALPHA,
    }[activation]


# --- reductions: each stays on the device; on a CPU they are written with float ops and BLAS dots,
# which cost a few percent of a layer's matmuls, where var_mean, histc and bool reductions cost as much
# as the matmuls themselves. ---------------------------------------------------------------------------

def _second_moment(x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(-1)
    return torch.dot(flat, flat) / flat.numel()


def _var_mean(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Population variance (divide by the count) and mean.

    E[x^2] - mean^2 loses digits when mean^2 is close to E[x^2] (a sigmoid layer's outputs), so it
    is used only when mean^2 < E[x^2] / 2, where it is accurate to twice the rounding of E[x^2];
    otherwise the mean is subtracted first. That test needs the values on the host: free on a
    CPU, a synchronisation on a GPU, which therefore always takes the two-pass route.
    """
    mean = x.mean()
    if x.device.type == "cpu":
        second = _second_moment(x)
        if float(mean) ** 2 < float(second) / 2:
            return second - mean * mean, mean
    return _second_moment(x - mean), mean


def _fraction_below(x: torch.Tensor, cut: float) -> torch.Tensor:
    """Fraction of entries of x >= 0 below cut: sign(cut - x) is 1 exactly there, 0 or -1 elsewhere."""
    return torch.sub(cut, x).sign_().clamp_(min=0).mean()


def _saturation(activation: str, deriv: torch.Tensor, slope: float, cut: float, zero: torch.Tensor):
    if activation == "relu" or (activation == "leaky_relu" and slope < cut):
        # f' takes two values, slope and 1, so its mean gives the fraction at slope: one reduction
        return (1 - deriv.mean()) / (1 - slope)
    if activation == "leaky_relu":
        return zero
    return _fraction_below(deriv, cut)  # every f' here is >= 0


def _histogram(x: torch.Tensor, bins: int, low: float, high: float) -> torch.Tensor:
    """Counts in the bins [low + k w, low + (k+1) w), w = (high - low) / bins; values outside are dropped."""
    if x.device.type != "cpu":
        return torch.histc(x, bins, low, high)  # on a GPU: one kernel, no host sync (bincount needs one)
    # Bin 0 collects everything below, bin bins+1 everything above.
    index = (x - low).mul_(bins / (high - low)).add_(1.0).clamp_(0.0, bins + 1.0).to(torch.int32)
    return torch.bincount(index.reshape(-1), minlength=bins + 2)[1:-1]


def _singular_values(jac: torch.Tensor) -> torch.Tensor:
    """Singular values (descending) of a batch of matrices, as square roots of the eigenvalues of the
    smaller Gram matrix, in the run's precision: several times faster than an SVD at width 1000, and
    accurate to sqrt(machine epsilon) times the largest singular value (3e-4 in float32)."""
    gram = jac @ jac.transpose(-1, -2) if jac.shape[-2] <= jac.shape[-1] else jac.transpose(-1, -2) @ jac
    return torch.linalg.eigvalsh(gram).clamp_(min=0).sqrt_().flip(-1).to(torch.float64)


# --- the result ----------------------------------------------------------------------------------

@dataclasses.dataclass
class LayerStats:
    """Statistics of layer ``layer`` (1-based), over every unit and example of the batch.

    ``pre_var``/``pre_mean``: of ``s^l``; ``act_var``/``act_mean``: of ``h^l``; ``grad_var``:
    Var[dC/ds^l]; ``weight_grad_var``: Var of the entries of dC/dW^l (cost averaged over the
    batch); ``weight_var``: E[W^2] of the drawn weights. ``saturation``: the fraction of units
    with |f'(s)| < 0.1 sup|f'| -- for ReLU the zeros, for leaky ReLU with slope < 0.1 the negative
    side, for tanh |h| > 0.949, for sigmoid h < 0.026 or h > 0.974, for softsign |h| > 0.684, for
    SELU s < ln 0.1, never for linear. ``act_hist``/``grad_hist``: counts of h^l and dC/ds^l
    over the first ``hist_examples`` examples, in the fixed bins [e_k, e_(k+1)) of :attr:`Propagation.act_edges` / :attr:`Propagation.grad_edges`
    (values outside are not counted). Variances are population variances (divided by the count). ``jacobian_singular_values``: singular values (descending) of
    J^l = dh^l/dh^(l-1) = diag(f'(s^l)) W^l for the first example, and
    ``jacobian_mean_singular_value`` their mean over the examples asked for (Glorot & Bengio
    eq. 17) -- None unless requested. ``theory_*``: :mod:`initlib.theory`'s predictions.
    """

    layer: int
    fan_in: int
    fan_out: int
    weight_var: float
    pre_var: float
    pre_mean: float
    act_var: float
    act_mean: float
    grad_var: float
    weight_grad_var: float
    saturation: float
    act_hist: list | None
    grad_hist: list | None
    jacobian_singular_values: list | None
    jacobian_mean_singular_value: float | None
    theory_pre_var: float
    theory_grad_var: float
    theory_weight_grad_var: float


FIELDS = tuple(f.name for f in dataclasses.fields(LayerStats))


def _json_number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_number(v) for v in value]
    return value


@dataclasses.dataclass
class Propagation:
    """What :func:`propagate` measured: the settings, and one :class:`LayerStats` per layer."""

    device: str
    widths: list
    activation: str
    init: str
    batch: int
    seed: int
    dtype: str
    bias: float | bool
    negative_slope: float | None
    init_kwargs: dict
    act_edges: list | None
    grad_edges: list | None
    layers: list

    def column(self, name: str) -> list:
        """One field of every layer, bottom to top: ``result.column("pre_var")``."""
        check_choice(name, "name", FIELDS)
        return [getattr(layer, name) for layer in self.layers]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return (f"Propagation({self.activation}, init={self.init!r}, widths={self.widths[0]}->...->{self.widths[-1]} "
                f"({len(self.layers)} layers), batch={self.batch}, seed={self.seed}, device={self.device!r})")

    def to_dict(self) -> dict:
        """A JSON-ready dict; statistics that overflowed (inf/NaN) become None."""
        out = {k: getattr(self, k) for k in
               ("device", "widths", "activation", "init", "batch", "seed", "dtype", "bias", "negative_slope")}
        out["init_kwargs"] = {k: (v if isinstance(v, (int, float, str, bool)) else repr(v))
                              for k, v in self.init_kwargs.items()}
        out["act_edges"], out["grad_edges"] = self.act_edges, self.grad_edges
        out["layers"] = [{k: _json_number(v) for k, v in dataclasses.asdict(layer).items()} for layer in self.layers]
        return out


# --- argument checks -----------------------------------------------------------------------------

def _check_range(value, name: str) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}")
    low, high = check_real(value[0], f"{name}[0]"), check_real(value[1], f"{name}[1]")
    if not low < high:
        raise ValueError(f"{name} must have low < high, got {value!r}")
    return low, high


def _check_init_kwargs(init_fn: Callable, init_kwargs: dict) -> None:
    if "generator" in init_kwargs:
        raise ValueError("generator is not an init keyword here: propagate seeds its own from seed=")
    params = inspect.signature(init_fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [p for p in params if p not in ("tensor", "generator")]
    unknown = sorted(set(init_kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"init keyword(s) {', '.join(unknown)} not accepted by {getattr(init_fn, '__name__', init_fn)}; "
            f"it takes: {', '.join(accepted) or 'no keywords'}"
        )


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


# --- the engine ----------------------------------------------------------------------------------

def propagate(
    widths,
    activation: str = "relu",
    init="kaiming_normal",
    batch: int | None = None,
    seed: int = 0,
    device=None,
    bias=False,
    jacobian=False,
    hist_bins: int = DEFAULT_HIST_BINS,
    hist_examples: int = DEFAULT_HIST_EXAMPLES,
    act_range=None,
    grad_range=None,
    negative_slope=None,
    dtype="float32",
    theory_method: str = "paper",
    progress: bool = False,
    **init_kwargs,
) -> Propagation:
    """Measure one forward and one backward pass through a fresh net, layer by layer.

    Parameters
    ----------
    widths : ``[n_0, n_1, ..., n_L]``, the input width then each layer's output width.
    activation : one of :data:`ACTIVATIONS`, applied after every layer (the last one too).
    init : a name in :data:`initlib.SCHEMES` (e.g. ``"standard_uniform"`` is Glorot's eq. 1,
        ``"xavier_uniform"`` eq. 16, ``"kaiming_normal"`` He's eq. 10) or a callable
        ``f(tensor, generator=..., **init_kwargs)``; ``init_kwargs`` go to it
        (``nonlinearity="tanh"``, ``gain=...``, ``mode="fan_out"``...).
    batch : examples (default :func:`initlib.presets.preset`'s ``batch``).
    seed : seeds one ``torch.Generator`` on the device that draws x, the weights (layer 1 first)
        and the injected gradient, in that order: a run is a function of its arguments.
    device : ``None``/``"auto"`` (:func:`initlib.device`), ``"cpu"``, ``"cuda"``...
    bias : ``False`` (no biases, as in the analyses); ``True``: nn.Linear's default law
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)); a positive number: N(0, bias^2).
    jacobian : ``False``; ``True`` or k: singular values of J^l = dh^l/dh^(l-1) for the first k
        examples (one SVD per example and layer: costly at width 1000).
    hist_bins : bins of the fixed-range histograms (0: none). ``act_range``/``grad_range``
        override the ranges (see :data:`ACT_RANGES`).
    hist_examples : the histograms count the first ``hist_examples`` examples of the batch
        (default 256; Glorot & Bengio's figures used 300); every other statistic uses all of it.
    negative_slope : leaky ReLU's slope (default 0.01, as in torch); only for ``"leaky_relu"``.
        With ``"leaky_relu"`` it is also the default of the initializer's ``a`` when the scheme
        takes a slope (``kaiming_*``/``he_*`` with nonlinearity "leaky_relu", their default),
        so He's eq. (15) gain matches the net; pass ``a=`` to override.
    dtype : ``"float32"`` or ``"float64"`` (float64 keeps very deep vanishing/exploding nets finite).
    theory_method : ``"paper"`` or ``"mean_field"`` (:mod:`initlib.theory`).
    progress : show a tqdm bar over the 2L layer passes.

    Returns a :class:`Propagation`.
    """
    widths = theory.check_widths(widths)
    check_choice(activation, "activation", ACTIVATIONS)
    slope = theory._slope(activation, negative_slope)
    init_fn = get_scheme(init)
    init_name = init.rstrip("_") if isinstance(init, str) else getattr(init, "__name__", repr(init))
    _check_init_kwargs(init_fn, init_kwargs)
    if activation == "leaky_relu" and _takes_slope(init_fn, init_kwargs):
        # He's eq. (15) gain needs the same slope the net uses; only leaky_relu nets get this
        init_kwargs["a"] = slope
    takes_generator = {"generator": None} if _accepts(init_fn, "generator") else {}
    if batch is None:
        from .presets import preset
        batch = preset().batch
    batch = check_int(batch, "batch", 2)
    seed = check_int(seed, "seed", 0)
    dev = resolve_device(device)
    bias = _check_bias(bias)
    if isinstance(jacobian, bool):
        jac_examples = 1 if jacobian else 0
    else:
        jac_examples = min(check_int(jacobian, "jacobian", 0), batch)
    hist_bins = check_int(hist_bins, "hist_bins", 0)
    hist_rows = min(check_int(hist_examples, "hist_examples", 1), batch)
    if hist_bins > MAX_HIST_BINS:
        raise ValueError(f"hist_bins must be at most {MAX_HIST_BINS}, got {hist_bins}")
    act_range = _check_range(act_range, "act_range") if act_range is not None else ACT_RANGES.get(
        activation, DEFAULT_RANGE)
    grad_range = _check_range(grad_range, "grad_range") if grad_range is not None else DEFAULT_RANGE
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).replace("torch.", "")
    check_choice(dtype, "dtype", tuple(DTYPES))
    check_choice(theory_method, "theory_method", theory.METHODS)
    progress = bool(progress)
    tdtype = DTYPES[dtype]
    depth = len(widths) - 1

    gen = torch.Generator(device=dev).manual_seed(seed)
    if takes_generator:
        takes_generator["generator"] = gen
    # Draw everything first: the weights need the generator in a fixed order, and a bad
    # init keyword surfaces before any work.
    x = torch.randn(batch, widths[0], generator=gen, device=dev, dtype=tdtype)
    weights, biases = [], []
    for l in range(depth):
        w = torch.empty(widths[l + 1], widths[l], device=dev, dtype=tdtype)
        init_fn(w, **init_kwargs, **takes_generator)
        weights.append(w)
        if bias is False:
            biases.append(None)
        elif bias is True:
            bound = 1 / math.sqrt(widths[l])
            biases.append(torch.empty(widths[l + 1], device=dev, dtype=tdtype).uniform_(-bound, bound, generator=gen))
        else:
            biases.append(torch.empty(widths[l + 1], device=dev, dtype=tdtype).normal_(0, bias, generator=gen))
    top_grad = torch.randn(batch, widths[-1], generator=gen, device=dev, dtype=tdtype)

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=2 * depth, desc="propagate", unit="layer", leave=False)

    sat_cut = SATURATION_THRESHOLD * _sup_derivative(activation, slope)
    zero = torch.zeros((), device=dev, dtype=tdtype)
    stats: dict[str, list] = {k: [] for k in (
        "weight_var", "pre_var", "pre_mean", "act_var", "act_mean", "saturation", "grad_var", "weight_grad_var")}
    act_hists, grad_hists, jac_sv, jac_mean = [], [], [None] * depth, [None] * depth

    with torch.no_grad():
        hs = [x]
        h = x
        for l in range(depth):
            w = weights[l]
            stats["weight_var"].append(_second_moment(w))
            s = torch.mm(h, w.t()) if biases[l] is None else torch.addmm(biases[l], h, w.t())
            var, mean = _var_mean(s)
            stats["pre_var"].append(var)
            stats["pre_mean"].append(mean)
            h = _apply(activation, s, slope)
            var, mean = _var_mean(h)
            stats["act_var"].append(var)
            stats["act_mean"].append(mean)
            deriv = _derivative(activation, h, slope)
            stats["saturation"].append(zero if deriv is None else _saturation(activation, deriv, slope, sat_cut, zero))
            if hist_bins:
                act_hists.append(_histogram(h[:hist_rows], hist_bins, *act_range))
            hs.append(h)
            if bar is not None:
                bar.update()

        g = top_grad  # dC/dh^L
        for l in reversed(range(depth)):
            h = hs[l + 1]
            deriv = _derivative(activation, h, slope)
            gs = g if deriv is None else g.mul_(deriv)  # dC/ds^l, in g's buffer
            stats["grad_var"].append(_var_mean(gs)[0])
            if hist_bins:
                grad_hists.append(_histogram(gs[:hist_rows], hist_bins, *grad_range))
            weight_grad = torch.mm(gs.t(), hs[l]).div_(batch)
            stats["weight_grad_var"].append(_var_mean(weight_grad)[0])
            del weight_grad
            if jac_examples:
                d = torch.ones(jac_examples, widths[l + 1], device=dev, dtype=tdtype) if deriv is None \
                    else deriv[:jac_examples]
                sv = _singular_values(d[:, :, None] * weights[l][None])
                jac_sv[l] = sv[0].cpu().tolist()
                jac_mean[l] = float(sv.mean())
            if l > 0:
                g = torch.mm(gs, weights[l])  # dC/dh^(l-1)
            hs[l + 1] = None  # free h^l as soon as the backward pass is past it
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()

    for key in ("grad_var", "weight_grad_var"):
        stats[key].reverse()
    grad_hists.reverse()
    # One transfer to the host for every scalar of every layer.
    names = list(stats)
    table = torch.stack([torch.stack(stats[k]).to(torch.float64) for k in names]).cpu().tolist()
    values = dict(zip(names, table))
    act_hists = torch.stack(act_hists).cpu().to(torch.int64).tolist() if hist_bins else [None] * depth
    grad_hists = torch.stack(grad_hists).cpu().to(torch.int64).tolist() if hist_bins else [None] * depth

    # Theory from the scheme's formula; a callable has none, so its drawn E[W^2] stands in.
    weight_vars = []
    for l in range(depth):
        try:
            weight_vars.append(theory.init_variance(init_name, widths[l], widths[l + 1], **init_kwargs))
        except KeyError:
            weight_vars.append(values["weight_var"][l])
    if bias is False:
        bias_vars = None
    elif bias is True:
        bias_vars = [1 / (3 * n) for n in widths[:-1]]
    else:
        bias_vars = [bias**2] * depth
    if all(math.isfinite(v) for v in weight_vars):
        t_pre, t_grad = theory.predict(widths, weight_vars, activation, bias_vars=bias_vars, method=theory_method,
                                       negative_slope=negative_slope)
        t_wgrad = theory.weight_grad_vars(widths, t_pre, t_grad, activation, batch, method=theory_method,
                                          negative_slope=negative_slope)
    else:
        t_pre = t_grad = t_wgrad = [math.nan] * depth

    def edges(bounds):
        low, high = bounds
        return [low + (high - low) * i / hist_bins for i in range(hist_bins + 1)] if hist_bins else None

    layers = [
        LayerStats(
            layer=l + 1, fan_in=widths[l], fan_out=widths[l + 1],
            **{k: values[k][l] for k in names},
            act_hist=act_hists[l], grad_hist=grad_hists[l],
            jacobian_singular_values=jac_sv[l], jacobian_mean_singular_value=jac_mean[l],
            theory_pre_var=t_pre[l], theory_grad_var=t_grad[l], theory_weight_grad_var=t_wgrad[l],
        )
        for l in range(depth)
    ]
    return Propagation(
        device=dev.type, widths=widths, activation=activation, init=init_name, batch=batch, seed=seed,
        dtype=dtype, bias=bias, negative_slope=slope if activation == "leaky_relu" else None,
        init_kwargs=dict(init_kwargs), act_edges=edges(act_range), grad_edges=edges(grad_range), layers=layers,
    )
