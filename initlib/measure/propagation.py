"""What happens inside a deep net at initialization: one forward and one backward pass, measured layer by layer.

:func:`propagate` builds a fully connected net with widths ``[n_0, ..., n_L]`` (``W^l`` of shape
``(n_l, n_(l-1))``, drawn by an initlib scheme), pushes a batch of ``x ~ N(0, 1)`` through it,

    s^l = W^l h^(l-1) (+ b^l),     h^l = f(s^l),     h^0 = x,

injects a standard normal gradient ``dC/dh^L`` at the top (as Glorot & Bengio and He et al. do in
their analyses) and back-propagates it with autograd:

    dC/ds^l = dC/dh^l * f'(s^l),     dC/dh^(l-1) = (W^l)^T dC/ds^l,     dC/dW^l = mean_b dC/ds^l h^(l-1)^T.

It is three steps: build the net as an ``nn.Sequential`` (:func:`build`), draw it (:func:`draw`),
and measure it with the core of :mod:`initlib.probe`, which reduces every statistic on the device
as soon as its tensor exists and brings them to the host in one transfer at the end. The
predictions of :mod:`initlib.theory` are a separate step (:func:`initlib.theory.attach`), which
:func:`propagate` calls unless ``theory_method=None``. ``seed=[s_0, ..., s_(E-1)]`` (or any init
keyword given as a list, one value per member) measures E nets in one batched computation
(:mod:`initlib.measure.ensembles`) and returns a list equal to the E separate runs.

>>> r = propagate([512] * 6, "relu", "kaiming_normal", batch=256, device="cpu")
>>> [round(v, 1) for v in r.column("theory_pre_var")]
[2.0, 2.0, 2.0, 2.0, 2.0]
>>> all(0.5 < v / 2 < 2 for v in r.column("pre_var"))   # one finite net wanders around the mean
True
>>> nets = propagate([64] * 4, "tanh", "normal", batch=32, device="cpu", std=[0.1, 0.2])  # sweep sigma_w
>>> [round(r.layers[0].theory_pre_var, 2) for r in nets]
[0.64, 2.56]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .._checks import check_choice, check_int
from ..laws import activations
from .devices import resolve_device
from .probe import DEFAULT_RANGE, Site, edges, histogram, measure, second_moment, var_mean  # noqa: F401 -- DEFAULT_RANGE kept by name
from .probe import mean as _mean
from .record import Record
from .spec import DEFAULT_HIST_EXAMPLES, MLP, Histograms  # noqa: F401 -- DEFAULT_HIST_EXAMPLES kept here by name

ACTIVATIONS = activations.NAMES
BATCH = 512  # examples, unless asked otherwise (a library call is a function of its arguments)
SATURATION_THRESHOLD = 0.1  # a unit is saturated when |f'(s)| < 0.1 * sup |f'|
# Histograms are for looking at a law's shape, and opt-in (``histograms=``, :class:`initlib.Histograms`):
# even over a part of the batch, two per layer cost about a tenth of a CPU pass (the benchmark's
# figure), which sweeps of variances should not pay. A few hundred examples times the layer width
# give 10^5 values per layer, plenty for 50 bins.
DTYPES = {"float32": torch.float32, "float64": torch.float64}

# Fixed histogram ranges for h^l: the activation's output_range (the registry) where it is bounded,
# DEFAULT_RANGE otherwise. Gradients: DEFAULT_RANGE, the injected gradient's scale.


# --- statistics that only an MLP layer has: saturation and the layer Jacobian ----------------------


def _fraction_below(x: torch.Tensor, cut: float, members: int) -> torch.Tensor:
    """Fraction of entries of x >= 0 below cut: sign(cut - x) is 1 exactly there, 0 or -1 elsewhere."""
    return _mean(torch.sub(cut, x).sign_().clamp_(min=0), members)


def _saturation(activation: str, act, h: torch.Tensor, slope: float, cut: float, members: int):
    """Fraction of units with |f'(s)| < cut, from h = f(s) (per member for an ensemble)."""
    if activation == "relu" and h.device.type == "cpu":
        # f' = 0 exactly where h = +-0.0. Read as integers, +0.0 is 0, h > 0 is positive and -0.0
        # negative, so two reads of h count the rest without writing f' out (a full-size write)
        bits = h.view(torch.int32 if h.element_size() == 4 else torch.int64)
        if int(bits.amin()) >= 0:  # no -0.0 (a Linear outputs one only if all its products are)
            active = torch.count_nonzero(bits.reshape(members, -1), dim=1) if members else torch.count_nonzero(bits)
            return 1 - active.to(h.dtype) / (h.numel() // (members or 1))
    deriv = act.derivative(h, slope)
    if deriv is None or (activation == "leaky_relu" and slope >= cut):
        return h.new_zeros((members,) if members else ())
    if activation in ("relu", "leaky_relu"):
        # f' takes two values, slope and 1, so its mean gives the fraction at slope: one reduction
        # (f' = sign(h) for ReLU: a float op; bool() and its integer sum would copy h twice)
        return (1 - _mean(deriv, members)) / (1 - slope)
    return _fraction_below(deriv, cut, members)  # every f' here is >= 0


def _singular_values(jac: torch.Tensor) -> torch.Tensor:
    """Singular values (descending) of a batch of matrices, as square roots of the eigenvalues of the
    smaller Gram matrix, in the run's precision: several times faster than an SVD at width 1000, and
    accurate to sqrt(machine epsilon) times the largest singular value (3e-4 in float32)."""
    gram = jac @ jac.transpose(-1, -2) if jac.shape[-2] <= jac.shape[-1] else jac.transpose(-1, -2) @ jac
    return torch.linalg.eigvalsh(gram).clamp_(min=0).sqrt_().flip(-1).to(torch.float64)


def _jacobian(deriv, weight: torch.Tensor, examples: int, members: int) -> dict:
    """J^l = diag(f'(s^l)) W^l for the first ``examples`` examples: its singular values for the
    first example and their mean over all of them (per member for an ensemble)."""
    w = weight.detach() if members else weight.detach()[None]
    if deriv is None:
        d = w.new_ones(w.shape[0], examples, w.shape[1])
    else:
        d = deriv[:, :examples] if members else deriv[None, :examples]
    sv = _singular_values(d[..., None] * w[:, None])  # (members, examples, min(n_out, n_in))
    first, average = sv[:, 0], sv.mean((1, 2))
    return {
        "jacobian_singular_values": first if members else first[0],
        "jacobian_mean_singular_value": average if members else average[0],
    }


# --- the result ----------------------------------------------------------------------------------


@dataclasses.dataclass
class LayerStats:
    """Statistics of layer ``layer`` (1-based), over every unit and example of the batch.

    ``pre_var``/``pre_mean``: of ``s^l``; ``act_var``/``act_mean``: of ``h^l``; ``grad_var``:
    Var[dC/ds^l]; ``weight_grad_var``: Var of the entries of dC/dW^l (cost averaged over the
    batch); ``weight_var``: E[W^2] of the drawn weights. ``saturation``: the fraction of units
    with |f'(s)| < 0.1 sup|f'| -- for ReLU the zeros, for leaky ReLU with slope < 0.1 the negative
    side, for tanh |h| > 0.949, for sigmoid h < 0.026 or h > 0.974, for softsign |h| > 0.684, for
    SELU s < ln 0.1, never for linear. ``act_hist``/``grad_hist`` (None without ``histograms``):
    counts of h^l and dC/ds^l over the first ``histograms.examples`` examples, in the fixed bins
    [e_k, e_(k+1)) of :attr:`Propagation.act_edges` / :attr:`Propagation.grad_edges` (values
    outside are not counted). Variances are population variances (divided by the count).
    ``jacobian_singular_values``: singular values (descending) of
    J^l = dh^l/dh^(l-1) = diag(f'(s^l)) W^l for the first example, and
    ``jacobian_mean_singular_value`` their mean over the examples asked for (Glorot & Bengio
    eq. 17) -- None unless requested. ``theory_*``: :mod:`initlib.theory`'s predictions
    (:func:`initlib.theory.attach`; None until attached).
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
    theory_pre_var: float | None = None
    theory_grad_var: float | None = None
    theory_weight_grad_var: float | None = None


FIELDS = tuple(f.name for f in dataclasses.fields(LayerStats))


@dataclasses.dataclass
class Propagation(Record):
    """What :func:`propagate` measured: the settings, and one :class:`LayerStats` per layer (the
    rows of this :class:`initlib.measure.record.Record`; its columns are :data:`FIELDS`)."""

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
    hist_examples: int = 0

    def columns(self) -> tuple[str, ...]:
        return FIELDS

    def _column(self, name: str) -> list:
        return [getattr(layer, name) for layer in self.layers]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return (
            f"Propagation({self.activation}, init={self.init!r}, widths={self.widths[0]}->...->{self.widths[-1]} "
            f"({len(self.layers)} layers), batch={self.batch}, seed={self.seed}, device={self.device!r})"
        )

    def _payload(self) -> dict:
        out = {
            k: getattr(self, k)
            for k in (
                "device",
                "widths",
                "activation",
                "init",
                "batch",
                "seed",
                "dtype",
                "bias",
                "negative_slope",
                "hist_examples",
            )
        }
        out["init_kwargs"] = {
            k: (v if isinstance(v, (int, float, str, bool)) else repr(v)) for k, v in self.init_kwargs.items()
        }
        out["act_edges"], out["grad_edges"] = self.act_edges, self.grad_edges
        out["layers"] = self.layers
        return out


# --- argument checks, draw, build ---------------------------------------------------------------


@dataclasses.dataclass
class _Settings:
    """propagate's arguments, checked."""

    net: MLP
    batch: int
    device: torch.device
    dtype: str
    jac_examples: int
    hist_bins: int
    hist_rows: int
    act_range: tuple[float, float]
    grad_range: tuple[float, float]

    @property
    def widths(self) -> list:
        return list(self.net.widths)

    @property
    def activation(self) -> str:
        return self.net.activation

    @property
    def slope(self) -> float:
        return self.net.slope

    @property
    def bias(self):
        return self.net.bias


_OLD_HISTOGRAM_KEYWORDS = ("hist_bins", "hist_examples", "act_range", "grad_range")


def _net(net: tuple, options: dict) -> MLP:
    """The :class:`MLP` of ``propagate(MLP(...))`` or of ``propagate(widths, activation, init, **options)``."""
    old = sorted(set(options) & set(_OLD_HISTOGRAM_KEYWORDS))
    if old:
        raise TypeError(
            f"{', '.join(old)}: histograms are now one argument, "
            f"histograms=initlib.Histograms(bins, examples, act_range, grad_range)"
        )
    if len(net) == 1 and isinstance(net[0], MLP):
        if options:
            raise TypeError(f"keywords {sorted(options)} belong in the MLP(...) given, not in propagate's call")
        return net[0]
    if len(net) > 3:
        raise TypeError(f"propagate takes an MLP, or widths[, activation[, init]], got {len(net)} positional arguments")
    return MLP.of(*net, **options)


def _check(net: MLP, batch, device, jacobian, histograms, dtype) -> _Settings:
    batch = check_int(batch, "batch", 1)
    if isinstance(jacobian, bool):
        jac_examples = 1 if jacobian else 0
    else:
        jac_examples = min(check_int(jacobian, "jacobian", 0), batch)
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).replace("torch.", "")
    hist = Histograms.get(histograms)
    act_range, grad_range = hist.ranges(net.activation)
    return _Settings(
        net=net,
        batch=batch,
        device=resolve_device(device),
        dtype=check_choice(dtype, "dtype", tuple(DTYPES)),
        jac_examples=jac_examples,
        hist_bins=hist.bins,
        hist_rows=min(hist.examples, batch),
        act_range=act_range,
        grad_range=grad_range,
    )


def draw(
    st: _Settings, seed: int, init_kwargs: dict
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor | None], torch.Tensor, list[torch.Tensor]]:
    """``(x, weights, biases, top_grad, weight_vars)`` from one ``torch.Generator`` on the device
    seeded with ``seed``, in this order: x, then layer by layer the weight and the bias
    (:meth:`initlib.MLP.draw`), then the gradient injected at the top. Drawing everything first
    makes a bad init keyword fail before any work. ``weight_vars`` are the E[W^2] of the drawn
    weights."""
    dev, tdtype = st.device, DTYPES[st.dtype]
    gen = torch.Generator(device=dev).manual_seed(seed)
    x = torch.randn(st.batch, st.net.widths[0], generator=gen, device=dev, dtype=tdtype)
    weights, biases = st.net.draw(gen, init_kwargs, device=dev, dtype=tdtype)
    top_grad = torch.randn(st.batch, st.net.widths[-1], generator=gen, device=dev, dtype=tdtype)
    return x, weights, biases, top_grad, [second_moment(w) for w in weights]


def build(st: _Settings, weights: list, biases: list) -> nn.Sequential:
    """``Linear, f, Linear, f, ...`` holding the drawn weights (stacked ones make an ensemble).
    h^l overwrites s^l, as autograd allows (a Linear saves its input, not its output): one
    allocation less per layer; the Linear's hooks have seen s^l before it is overwritten."""
    return st.net.assemble(st.net.linears(weights, biases), inplace=True)


def _pre_stats(weight_var, members: int):
    """The Linear's forward statistics: Var and mean of s^l, beside the layer's E[W^2]."""

    def stats(s):
        var, mu = var_mean(s, members)
        return {"pre_var": var, "pre_mean": mu, "weight_var": weight_var}

    return stats


def _sites(model: nn.Sequential, st: _Settings, members: int, bar, weight_vars: list, x) -> list[Site]:
    """Per layer: the Linear (s^l, dC/ds^l, dC/dW^l) and the activation (h^l, saturation, Jacobian);
    ``weight_vars``: each layer's E[W^2], taken when it was drawn; ``x``: the input."""
    act = activations.get(st.activation)
    cut = SATURATION_THRESHOLD * act.sup_derivative(st.slope)
    rows = (lambda t: t[:, : st.hist_rows]) if members else (lambda t: t[: st.hist_rows])
    # Per-example sums of each layer's input (h^(l-1)) and of dC/ds^l: they give the means of h and
    # of dC/ds, and the mean of dC/dW^l = sum_b (dC/ds_b . 1)(h_b . 1) without a read of dC/dW
    input_sums, grad_sums = {0: x.sum(-1)}, {}

    def moments(t, total):  # Var and mean of t (per member), given the sum of its entries
        return var_mean(t, members, mu=total / (t.numel() // (members or 1)))

    def grad(l):
        def stats(g):
            grad_sums[l] = g.sum(-1)
            out = {"grad_var": moments(g, grad_sums[l].sum(-1))[0]}
            if st.hist_bins:
                out["grad_hist"] = histogram(rows(g), st.hist_bins, *st.grad_range, members)
            if bar is not None:
                bar.update()
            return out

        return stats

    def weight_grad(l):
        def stats(g):  # autograd's dC/dW is for the summed cost: divide by batch^2 for the mean
            total = (grad_sums.pop(l) * input_sums.pop(l)).sum(-1)
            return {"weight_grad_var": moments(g, total)[0] / st.batch**2}

        return stats

    def post(linear, l):
        def stats(h):
            input_sums[l + 1] = h.sum(-1)
            var, mu = moments(h, input_sums[l + 1].sum(-1))
            out = {
                "act_var": var,
                "act_mean": mu,
                "saturation": _saturation(st.activation, act, h, st.slope, cut, members),
            }
            if st.hist_bins:
                out["act_hist"] = histogram(rows(h), st.hist_bins, *st.act_range, members)
            if st.jac_examples:
                out |= _jacobian(act.derivative(h, st.slope), linear.weight, st.jac_examples, members)
            if bar is not None:
                bar.update()
            return out

        return stats

    sites = []
    for l in range(0, len(model), 2):
        linear = model[l]
        pre = _pre_stats(weight_vars[l // 2], members)
        sites.append(Site(f"{l}", linear, pre, grad(l // 2), [linear.weight], weight_grad(l // 2)))
        sites.append(Site(f"{l + 1}", model[l + 1], post(linear, l // 2), None))
    return sites


def _layers(rows: list[dict], st: _Settings, member: int | None) -> list[LayerStats]:
    """Pair the Linear and activation rows of each layer into :class:`LayerStats` (member ``member``
    of an ensemble, or the single run when None)."""

    def pick(v: Any) -> Any:  # a statistic, or the member's entry of it
        return v if member is None or v is None else v[member]

    layers = []
    for l in range(len(st.widths) - 1):
        lin, act = rows[2 * l], rows[2 * l + 1]
        values = {k: pick(v) for k, v in (lin | act).items() if k not in ("name", "type")}
        layers.append(
            LayerStats(
                layer=l + 1,
                fan_in=st.widths[l],
                fan_out=st.widths[l + 1],
                weight_var=values["weight_var"],
                pre_var=values["pre_var"],
                pre_mean=values["pre_mean"],
                act_var=values["act_var"],
                act_mean=values["act_mean"],
                grad_var=values["grad_var"],
                weight_grad_var=values["weight_grad_var"],
                saturation=values["saturation"],
                act_hist=_counts(values.get("act_hist")),
                grad_hist=_counts(values.get("grad_hist")),
                jacobian_singular_values=values.get("jacobian_singular_values"),
                jacobian_mean_singular_value=values.get("jacobian_mean_singular_value"),
            )
        )
    return layers


def _counts(hist):
    return None if hist is None else [int(c) for c in hist]


def _result(st: _Settings, seed: int, init_kwargs: dict, layers: list) -> Propagation:
    return Propagation(
        device=st.device.type,
        widths=st.widths,
        activation=st.activation,
        init=st.net.init_name,
        batch=st.batch,
        seed=seed,
        dtype=st.dtype,
        bias=st.bias,
        negative_slope=st.slope if st.activation == "leaky_relu" else None,
        init_kwargs=dict(init_kwargs),
        act_edges=edges(st.hist_bins, st.act_range),
        grad_edges=edges(st.hist_bins, st.grad_range),
        layers=layers,
        hist_examples=st.hist_rows,
    )


def measure_mlp(st: _Settings, runs: list[tuple[int, dict]], ensemble: bool, progress: bool = False) -> list:
    """Draw every run's net, stack them if ``ensemble``, measure once, and split the statistics per run."""
    drawn = [draw(st, seed, kwargs) for seed, kwargs in runs]
    if ensemble:
        x, top = (torch.stack(parts) for parts in zip(*[(d[0], d[3]) for d in drawn]))
        weights, weight_vars = ([torch.stack(ts) for ts in zip(*[d[k] for d in drawn])] for k in (1, 4))
        biases = [None if bs[0] is None else torch.stack(bs) for bs in zip(*[d[2] for d in drawn])]
    else:
        ((x, weights, biases, top, weight_vars),) = drawn
    members = len(runs) if ensemble else 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=2 * len(weights), desc="propagate", unit="layer", leave=False)
    model = build(st, weights, biases)
    rows, _ = measure(model, (x,), _sites(model, st, members, bar, weight_vars, x), grad_output=top)
    if bar is not None:
        bar.close()
    if not ensemble:
        return [_result(st, runs[0][0], runs[0][1], _layers(rows, st, None))]
    return [_result(st, seed, kwargs, _layers(rows, st, e)) for e, (seed, kwargs) in enumerate(runs)]


def propagate(
    *net: MLP | Sequence[int] | str | Callable,
    batch: int = BATCH,
    seed: int | list[int] | tuple[int, ...] = 0,
    device: str | torch.device | None = None,
    jacobian: bool | int = False,
    histograms: int | Histograms | None = None,
    dtype: str | torch.dtype = "float32",
    theory_method: str | None = "paper",
    progress: bool = False,
    **net_options: Any,
) -> Propagation | list[Propagation]:
    """Measure one forward and one backward pass through a fresh net, layer by layer.

    Parameters
    ----------
    net : an :class:`initlib.MLP` (widths, activation -- applied after every layer, the last one
        too --, init scheme and its keywords, biases, leaky ReLU's slope); or, for short,
        ``widths[, activation[, init]]`` with ``net_options`` (``bias=``, ``negative_slope=``
        and the init keywords: ``std=``, ``nonlinearity=``, ``mode=``...), which make
        ``MLP.of(widths, activation, init, **net_options)``.
    batch : examples (default :data:`BATCH`, 512).
    seed : seeds one ``torch.Generator`` on the device that draws x, the weights (layer 1 first)
        and the injected gradient, in that order: a run is a function of its arguments. A list of
        E seeds measures E nets at once and returns a list of E results, each equal (to float32
        rounding) to the single run with that seed; an init keyword given as a list gives each
        member its own value (``std=[...]`` sweeps sigma_w), see :func:`initlib.measure.ensembles.members`.
    device : ``None``/``"auto"`` (:func:`initlib.device`), ``"cpu"``, ``"cuda"``...
    jacobian : ``False``; ``True`` or k: singular values of J^l = dh^l/dh^(l-1) for the first k
        examples (one eigendecomposition per example and layer: costly at width 1000).
    histograms : None (no histograms, the default: they cost about a tenth of a CPU pass), a
        number of bins, or an :class:`initlib.Histograms` (bins, examples, act_range, grad_range)
        for the fixed-range histograms ``act_hist``/``grad_hist``.
    dtype : ``"float32"`` or ``"float64"`` (float64 keeps very deep vanishing/exploding nets finite).
    theory_method : ``"paper"`` or ``"mean_field"``: attach :mod:`initlib.theory`'s predictions
        (:func:`initlib.theory.attach`); None: measurements only.
    progress : show a tqdm bar over the 2L layer passes.

    Returns a :class:`Propagation` (a list of them for an ensemble).
    """
    from ..theory import variance as theory

    if theory_method is not None:
        check_choice(theory_method, "theory_method", theory.METHODS)
    mlp = _net(net, net_options)
    st = _check(mlp, batch, device, jacobian, histograms, dtype)
    runs, ensemble = mlp.runs(seed)
    results = measure_mlp(st, runs, ensemble, progress=bool(progress))
    if theory_method is not None:
        for result in results:
            theory.attach(result, theory_method)
    return results if ensemble else results[0]
