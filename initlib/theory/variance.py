"""What the variance analysis predicts, layer by layer, before anything is measured.

A fully connected net with widths ``[n_0, n_1, ..., n_L]`` computes ``s^l = W^l h^(l-1)`` and
``h^l = f(s^l)``, with ``W^l`` of shape ``(n_l, n_(l-1))``, zero-mean entries of variance
``Var[W^l]``, and input ``h^0 = x`` of second moment ``E[x^2]``. Assuming independent weights and
zero-mean weights, each layer multiplies the pre-activation variance and the back-propagated
gradient variance by a factor:

* forward (Glorot & Bengio eq. 5, He et al. eq. 7-9)::

      Var[s^l] = n_(l-1) Var[W^l] E[f(s^(l-1))^2]          (+ Var[b^l] with biases)

* backward (Glorot & Bengio eq. 6, He et al. eq. 12-13), from a gradient of variance
  ``grad_var_top`` injected at ``h^L``::

      Var[dC/ds^L] = grad_var_top E[f'(s^L)^2]
      Var[dC/ds^(l-1)] = n_l Var[W^l] Var[dC/ds^l] E[f'(s^(l-1))^2]

Everything an activation contributes is two Gaussian moments at the current variance
``q = Var[s]``: ``E[f(s)^2]`` (:func:`second_moment`) and ``E[f'(s)^2]``
(:func:`derivative_moment`), with ``s ~ N(0, q)``. Two ways to get them:

* ``method="paper"`` (the default): the papers' own arithmetic. Exact closed forms where they
  exist -- linear (1, 1), ReLU (q/2, 1/2; He eq. 8), leaky ReLU with slope a ((1+a^2) q/2,
  (1+a^2)/2; He eq. 15), SELU (closed form with erfc, see :func:`second_moment`) -- and
  Glorot & Bengio's linear regime (their eq. 4, f'(s) ~ f'(0)) for the smooth squashing
  functions: tanh and softsign give (q, 1); sigmoid, linearised as 1/2 + s/4, gives
  (1/4 + q/16, 1/16). The linear regime is good while q is small (tanh: within 10% for
  q up to about 0.05, 25% at q = 0.2) and poor for sigmoid, whose mean of 1/2 it keeps but whose curvature it
  drops.
* ``method="mean_field"``: the same recursion with the Gaussian moments computed exactly for
  every activation (for tanh, softsign and sigmoid, :func:`initlib.theory.meanfield.gaussian_mean`'s
  Gauss rule, within a relative 2e-15 for q from 1e-6 to 1e8; the closed forms otherwise) --
  the q-map of Poole et al. (2016). It still assumes that pre-activations are
  Gaussian and independent of the weights of the next layer, which wide layers make true.

>>> pre, grad = predict([256] * 4, [2 / 256] * 3, "relu")
>>> [round(v, 6) for v in pre], [round(v, 6) for v in grad]
([2.0, 2.0, 2.0], [0.5, 0.5, 0.5])
>>> pre, _ = predict([256] * 4, [1 / 256] * 3, "relu")   # LeCun/"Xavier" with ReLU: halves
>>> [round(v, 6) for v in pre]
[1.0, 0.5, 0.25]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._checks import check_choice, check_positive, check_real, check_widths  # noqa: F401 (theory.check_widths)
from ..laws import activations
from ..laws.schemes import variance as init_variance

# Mean-field theory (Poole et al. 2016, Schoenholz et al. 2017): the q- and c-maps, their fixed
# points, chi_1, the critical line and the depth scales, computed by quadrature in meanfield.py.
from .meanfield import (  # noqa: F401
    chi_1,
    correlation_fixed_point,
    correlation_map,
    critical_sigma_w2,
    depth_scales,
    fixed_point,
    gaussian_mean,
    layer_curves,
    numpy_functions,
    q_map,
)

if TYPE_CHECKING:  # the measure layer imports this module (propagate attaches the predictions)
    from ..measure.propagation import Propagation

METHODS = ("paper", "mean_field")


def _moments(activation: str, q, method: str, negative_slope):
    """(the activation, its slope, the checked q, its closed-form moments or None)."""
    act = activations.get(activation)
    check_choice(method, "method", METHODS)
    q = _check_q(q)
    a = activations.slope(activation, negative_slope)
    return act, a, q, act.moments(q, a)


def _check_q(q) -> float:
    q = check_real(q, "q (the pre-activation variance)")
    if q < 0:
        raise ValueError(f"q (the pre-activation variance) must be >= 0, got {q}")
    return q


def second_moment(activation: str, q: float, method: str = "paper", negative_slope: float | None = None) -> float:
    """E[f(s)^2] for s ~ N(0, q): what one layer passes on to the next one's variance.

    ========== ================================= ===========================================
    activation ``method="paper"``                exact (``"mean_field"``)
    ========== ================================= ===========================================
    linear     q                                 same
    relu       q / 2  (He et al. eq. 8)          same
    leaky_relu (1 + a^2) q / 2  (He eq. 15)      same
    selu       closed form below                 same
    tanh       q  (Glorot & Bengio eq. 4)        quadrature (meanfield's Gauss rule)
    softsign   q  (linear regime)                quadrature (meanfield's Gauss rule)
    sigmoid    1/4 + q/16  (1/2 + s/4; poor)     quadrature (meanfield's Gauss rule)
    ========== ================================= ===========================================

    SELU with scale lambda and alpha: lambda^2 [q/2 + alpha^2 (E[e^(2s)1{s<0}] - 2 E[e^s 1{s<0}] + 1/2)],
    with E[e^(ts) 1{s<0}] = e^(t^2 q/2) Phi(-t sqrt q); it equals 1 at q = 1.

    >>> second_moment("relu", 2.0)
    1.0
    >>> round(second_moment("selu", 1.0), 6)
    1.0
    >>> round(second_moment("tanh", 1.0, method="mean_field"), 4)
    0.3943
    """
    act, a, q, closed = _moments(activation, q, method, negative_slope)
    if closed is not None:
        return closed[0]
    if method == "paper":  # Glorot & Bengio eq. (4): f(s) ~ f(0) + f'(0) s
        f0, slope0 = act.linear_regime
        return f0 * f0 + slope0 * slope0 * q
    f, _ = numpy_functions(activation, negative_slope)
    return gaussian_mean(lambda s: f(s) ** 2, q)


def derivative_moment(activation: str, q: float, method: str = "paper", negative_slope: float | None = None) -> float:
    """E[f'(s)^2] for s ~ N(0, q): what one layer does to the back-propagated gradient's variance.

    ``method="paper"``: linear 1, ReLU 1/2, leaky ReLU (1 + a^2)/2, SELU
    lambda^2 (1/2 + alpha^2 e^(2q) Phi(-2 sqrt q)) (exact); tanh and softsign 1 and sigmoid
    1/16 (linear regime, f'(s) ~ f'(0)). ``"mean_field"`` integrates tanh, softsign and sigmoid
    exactly over N(0, q).

    >>> derivative_moment("leaky_relu", 1.0, negative_slope=0.5)
    0.625
    >>> derivative_moment("sigmoid", 1.0)
    0.0625
    """
    act, a, q, closed = _moments(activation, q, method, negative_slope)
    if closed is not None:
        return closed[1]
    if method == "paper":  # the linear regime: f'(s) ~ f'(0)
        return act.linear_regime[1] ** 2
    if q == 0:
        return act.scalar_derivative(0.0, a) ** 2
    _, fprime = numpy_functions(activation, negative_slope)
    return gaussian_mean(lambda s: fprime(s) ** 2, q)


def _check_sequence(values, name: str, length: int) -> list[float]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a sequence of {length} numbers, got {type(values).__name__}")
    if len(values) != length:
        raise ValueError(f"{name} must have {length} entries (one per weight matrix), got {len(values)}")
    out = [check_real(v, f"{name}[{i}]") for i, v in enumerate(values)]
    if any(v < 0 for v in out):
        raise ValueError(f"{name} must be >= 0 (they are variances), got {out}")
    return out


def predict(
    widths: Sequence[int],
    weight_vars: Sequence[float],
    activation: str,
    input_var: float = 1.0,
    grad_var_top: float = 1.0,
    bias_vars: Sequence[float] | None = None,
    method: str = "paper",
    negative_slope: float | None = None,
) -> tuple[list[float], list[float]]:
    """Predicted ``Var[s^l]`` and ``Var[dC/ds^l]`` for every layer l = 1..L.

    ``widths = [n_0, ..., n_L]``; ``weight_vars[l-1] = Var[W^l]`` (zero-mean weights);
    ``input_var = E[x^2]``; ``grad_var_top`` the variance of the gradient injected at ``h^L``;
    ``bias_vars`` (optional) the biases' variances. Returns two lists of length L, the same
    quantities that :func:`initlib.propagate` measures as ``pre_var`` and ``grad_var``.

    With equal widths and ``Var[W] = 2/n`` for ReLU (He et al. eq. 10) both lists are flat;
    with ``Var[W] = 1/n`` the forward one halves per layer, (1/2)^(l-1) (He et al. eq. 9).

    >>> pre, grad = predict([100, 100, 100], [1 / 300, 1 / 300], "tanh")  # Glorot's eq. (1)
    >>> [round(v, 4) for v in pre], [round(v, 4) for v in grad]
    ([0.3333, 0.1111], [0.3333, 1.0])
    """
    widths = check_widths(widths)
    depth = len(widths) - 1
    activations.get(activation)
    check_choice(method, "method", METHODS)
    weight_vars = _check_sequence(weight_vars, "weight_vars", depth)
    bias_vars = [0.0] * depth if bias_vars is None else _check_sequence(bias_vars, "bias_vars", depth)
    input_var = _check_q(check_positive(input_var, "input_var"))
    grad_var_top = check_positive(grad_var_top, "grad_var_top")
    moments: dict[str, Any] = dict(method=method, negative_slope=negative_slope)

    pre_vars = []
    incoming = input_var  # E[h^(l-1)^2]
    for l in range(depth):
        q = widths[l] * weight_vars[l] * incoming + bias_vars[l]
        pre_vars.append(q)
        incoming = second_moment(activation, q, **moments) if math.isfinite(q) else math.inf

    grad_vars = [0.0] * depth
    grad_vars[-1] = grad_var_top * derivative_moment(activation, pre_vars[-1], **moments)
    for l in range(depth - 1, 0, -1):
        # W^(l+1) has shape (n_(l+1), n_l): the gradient reaching h^l sums n_(l+1) terms.
        through_weights = widths[l + 1] * weight_vars[l] * grad_vars[l]
        grad_vars[l - 1] = through_weights * derivative_moment(activation, _finite(pre_vars[l - 1]), **moments)
    return pre_vars, grad_vars


def _finite(q: float) -> float:
    return q if math.isfinite(q) else 1e300


def weight_grad_vars(
    widths: Sequence[int],
    pre_vars: Sequence[float],
    grad_vars: Sequence[float],
    activation: str,
    batch: int,
    input_var: float = 1.0,
    method: str = "paper",
    negative_slope: float | None = None,
) -> list[float]:
    """Predicted variance of the entries of ``dC/dW^l`` for a cost averaged over ``batch`` examples.

    One example contributes ``dC/ds^l_i * h^(l-1)_j``, of variance ``Var[dC/ds^l] E[h^(l-1)^2]``
    (Glorot & Bengio eq. 7: the forward factor times the backward factor); averaging ``batch``
    independent examples divides it by ``batch``. With Glorot's compromise and equal widths it is
    the same for every layer (their eq. 14).

    >>> weight_grad_vars([10, 10, 10], [1.0, 1.0], [1.0, 1.0], "linear", batch=4)
    [0.25, 0.25]
    """
    widths = check_widths(widths)
    depth = len(widths) - 1
    if len(pre_vars) != depth or len(grad_vars) != depth:
        raise ValueError(f"pre_vars and grad_vars must have {depth} entries (one per layer)")
    if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    incoming = [input_var] + [second_moment(activation, _finite(q), method, negative_slope) for q in pre_vars[:-1]]
    return [g * m / batch for g, m in zip(grad_vars, incoming)]


def unit_kurtosis(activation: str, negative_slope: float | None = None) -> float:
    """``E[f(z)^4] / E[f(z)^2]^2 - 1`` for ``z ~ N(0, 1)``: the relative variance of one unit's ``f(s)^2``.

    A layer's ``Var[s]`` is ``Var[W]`` times a sum of ``n`` such terms, so one network's value
    differs from the expectation by a relative standard deviation of about ``sqrt(kappa / n)``.
    Closed forms: linear 2 (a Gaussian), ReLU 5 (``(3/2) / (1/2)^2 - 1``), leaky ReLU with slope a
    ``6 (1 + a^4) / (1 + a^2)^2 - 1``; quadrature for the others, at unit variance.

    >>> unit_kurtosis("relu"), unit_kurtosis("linear")
    (5.0, 2.0)
    """
    activations.get(activation)
    a = activations.slope(activation, negative_slope)
    if activation == "linear":
        return 2.0
    if activation in ("relu", "leaky_relu"):
        return 6 * (1 + a**4) / (1 + a * a) ** 2 - 1
    f, _ = numpy_functions(activation, negative_slope)
    return gaussian_mean(lambda s: f(s) ** 4, 1.0) / gaussian_mean(lambda s: f(s) ** 2, 1.0) ** 2 - 1


def log_variance_wander(widths: Sequence[int], activation: str = "relu", negative_slope: float | None = None) -> float:
    """About how far one random net's ``log Var[s^L]`` lies from :func:`predict`'s, which is an
    expectation over nets: ``sqrt(kappa * sum_(l<L) 1/n_l)``, ``kappa`` = :func:`unit_kurtosis`.

    Every layer multiplies ``Var[s]`` by an average over its ``n_(l-1)`` inputs, so the log of the
    variance takes a random step of standard deviation about ``sqrt(kappa / n)`` per layer; the
    steps add up like a random walk (Hanin 2018 proves the gradient version: fluctuations grow
    with ``sum 1/n_l``, not with depth alone). The value is an upper estimate for a batch whose
    examples are fully correlated, as deep ReLU nets make them; with equal widths and ReLU it is
    ``sqrt(5 L / n)``.

    >>> round(log_variance_wander([256] * 51, "relu"), 4) == round(math.sqrt(5 * 50 / 256), 4)
    True
    """
    widths = check_widths(widths)
    return math.sqrt(unit_kurtosis(activation, negative_slope) * sum(1 / n for n in widths[:-1]))


def attach(result: Propagation, method: str = "paper") -> Propagation:
    """Fill the ``theory_*`` columns of an :func:`initlib.propagate` result with :func:`predict`'s
    ``Var[s^l]``, ``Var[dC/ds^l]`` and :func:`weight_grad_vars`, and return it.

    ``Var[W^l]`` is read from the scheme's law (:func:`initlib.schemes.variance`); a callable has
    none, so its drawn ``E[W^2]`` stands in. Biases add ``1/(3 n_in)`` (nn.Linear's law) or
    ``bias^2``. A law with a nonzero mean (NaN variance) gives NaN predictions.

    >>> from initlib import propagate
    >>> r = propagate([256] * 4, "relu", "xavier_normal", batch=64, device="cpu", theory_method=None)
    >>> r.layers[0].theory_pre_var is None
    True
    >>> attach(r).column("theory_pre_var")
    [1.0, 0.5, 0.25]
    """
    check_choice(method, "method", METHODS)
    widths, depth = result.widths, len(result.widths) - 1
    weight_vars = []
    for l, layer in enumerate(result.layers):
        try:
            weight_vars.append(init_variance(result.init, widths[l], widths[l + 1], **result.init_kwargs))
        except KeyError:
            weight_vars.append(layer.weight_var)
    if result.bias is False:
        bias_vars = None
    elif result.bias is True:
        bias_vars = [1 / (3 * n) for n in widths[:-1]]
    else:
        bias_vars = [result.bias**2] * depth
    moments: dict[str, Any] = dict(method=method, negative_slope=result.negative_slope)
    if all(math.isfinite(v) for v in weight_vars):
        pre, grad = predict(widths, weight_vars, result.activation, bias_vars=bias_vars, **moments)
        wgrad = weight_grad_vars(widths, pre, grad, result.activation, result.batch, **moments)
    else:
        pre = grad = wgrad = [math.nan] * depth
    for layer, p, g, w in zip(result.layers, pre, grad, wgrad):
        layer.theory_pre_var, layer.theory_grad_var, layer.theory_weight_grad_var = p, g, w
    return result
