"""Weight initializers: ``torch.nn.init``'s functions, its defaults and its laws, plus the general
variance-scaling rule that Keras and JAX use, with stricter input checks.

Every function fills ``tensor`` in place under ``torch.no_grad()`` and returns it. Shared rules:

* Bad input raises ``TypeError``/``ValueError`` naming the parameter and the valid choices, and
  the tensor is left exactly as it was (all checks run before the first write).
* A zero-element tensor is returned unchanged once the arguments are checked: there is nothing
  to fill, and no fan to divide by.
* float16 and bfloat16 tensors are sampled in float32 and then cast, so they reach the target
  variance; float32 and float64 tensors are sampled directly, with the same calls as
  ``torch.nn.init``, so a shared ``generator`` state gives the same numbers as torch.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ._checks import check_choice, check_ndim, check_positive, check_real, check_tensor
from .fans import FAN_MODES, _fan, fan_in_and_fan_out
from .gains import calculate_gain

DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")
KAIMING_MODES = ("fan_in", "fan_out")
TRUNCATION = 2.0  # Keras/JAX truncate their normal laws at two standard deviations


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def _fill(tensor: torch.Tensor, draw: Callable[[torch.Tensor], None]) -> torch.Tensor:
    """Apply ``draw`` (which writes a whole float tensor in place) to ``tensor``.

    Half-precision tensors get a float32 buffer first: sampling in 16 bits loses the tails of
    the law (bfloat16 keeps 8 bits of mantissa), and the variance with them.
    """
    with torch.no_grad():
        if tensor.numel() == 0:
            return tensor
        if tensor.dtype in (torch.float32, torch.float64):
            draw(tensor)
        else:
            buffer = torch.empty(tensor.shape, dtype=torch.float32, device=tensor.device)
            draw(buffer)
            tensor.copy_(buffer)
    return tensor


def truncated_normal_std(k: float = TRUNCATION) -> float:
    """Standard deviation of N(0, 1) truncated to [-k, k], from its closed form.

    Var = 1 - 2 k phi(k) / (2 Phi(k) - 1) with phi, Phi the standard normal density and CDF;
    :func:`initlib.symbolic.truncated_normal_std` derives the same expression by integration.

    >>> round(truncated_normal_std(2.0), 12)
    0.879625661034
    """
    k = check_positive(k, "k")
    density = math.exp(-k * k / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(k / math.sqrt(2))  # = 2 Phi(k) - 1
    return math.sqrt(1 - 2 * k * density / mass)


def _standard_normal_cdf(x: float) -> float:
    # erfc keeps full relative precision in the lower tail, where 1 + erf(x) would round to 0.
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _draw_trunc_normal(buffer: torch.Tensor, mean: float, std: float, a: float, b: float, generator) -> None:
    """Inverse-CDF sampling of N(mean, std^2) cut to [a, b], computed in float64.

    One uniform draw p in [Phi(alpha), Phi(beta)] per entry and z = Phi^-1(p): the simplest exact
    sampler, with no rejection loop. An interval that lies above the mean is sampled as its mirror
    image below it, where the CDF values are small numbers that float64 holds exactly rather than
    numbers near 1 that it rounds; so even an interval far out in a tail gets its true law.
    torch 2.13 draws the same law by rejection, so the numbers differ from torch's for a shared
    generator state, but the law does not.
    """
    alpha, beta = (a - mean) / std, (b - mean) / std
    mirrored = alpha > 0
    if mirrored:
        alpha, beta = -beta, -alpha
    low, high = _standard_normal_cdf(alpha), _standard_normal_cdf(beta)
    if not high > low:
        raise ValueError(
            f"the interval [a, b] = [{a}, {b}] holds no probability that float64 can represent for "
            f"mean={mean}, std={std} (it lies about {min(abs(alpha), abs(beta)):.0f} standard deviations out)"
        )
    draws = torch.empty(buffer.shape, dtype=torch.float64, device=buffer.device)
    draws.uniform_(low, high, generator=generator)
    z = torch.special.ndtri(draws)
    if mirrored:
        z.neg_()
    buffer.copy_(z.mul_(std).add_(mean).clamp_(min=a, max=b))


# --- the basic laws ---------------------------------------------------------------------------


def uniform_(tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> torch.Tensor:
    """Fill with U[a, b]; variance (b - a)^2 / 12.

    >>> w = uniform_(torch.empty(2, 3), -1.0, 1.0, generator=torch.Generator().manual_seed(0))
    >>> bool(w.abs().max() <= 1)
    True
    """
    check_tensor(tensor)
    a, b = check_real(a, "a"), check_real(b, "b")
    if a > b:
        raise ValueError(f"a must not exceed b (the law is U[a, b]), got a={a}, b={b}")
    _check_generator(generator)
    return _fill(tensor, lambda t: t.uniform_(a, b, generator=generator))


def normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> torch.Tensor:
    """Fill with N(mean, std^2); variance std^2. ``std`` must be positive (use ``constant_`` for 0).

    >>> w = normal_(torch.empty(1000, 1000), std=0.1, generator=torch.Generator().manual_seed(0))
    >>> round(float(w.std()), 2)
    0.1
    """
    check_tensor(tensor)
    mean, std = check_real(mean, "mean"), check_positive(std, "std")
    _check_generator(generator)
    return _fill(tensor, lambda t: t.normal_(mean, std, generator=generator))


def trunc_normal_(
    tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None
) -> torch.Tensor:
    """Fill with N(mean, std^2) truncated to the ABSOLUTE interval [a, b] (torch's convention).

    The realised variance is *not* std^2: with the defaults (std=1, a=-2, b=2) the realised
    standard deviation is :func:`truncated_normal_std` (2) = 0.8796..., and with std=0.02 the
    bounds are 100 standard deviations away and truncate nothing. Use
    ``variance_scaling_(..., distribution="truncated_normal")`` when the variance must be exact.

    >>> w = trunc_normal_(torch.empty(1000, 1000), generator=torch.Generator().manual_seed(0))
    >>> round(float(w.std()), 2)
    0.88
    """
    check_tensor(tensor)
    mean, std = check_real(mean, "mean"), check_positive(std, "std")
    a, b = check_real(a, "a"), check_real(b, "b")
    if a >= b:
        raise ValueError(f"a must be less than b (the interval [a, b] the law is cut to), got a={a}, b={b}")
    _check_generator(generator)
    return _fill(tensor, lambda t: _draw_trunc_normal(t, mean, std, a, b, generator))


def constant_(tensor: torch.Tensor, val: float) -> torch.Tensor:
    """Fill with ``val``; variance 0.

    >>> constant_(torch.empty(2), 0.5)
    tensor([0.5000, 0.5000])
    """
    check_tensor(tensor)
    val = check_real(val, "val")
    return _fill(tensor, lambda t: t.fill_(val))


def zeros_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill with 0 (biases, in Glorot & Bengio 2010 and He et al. 2015)."""
    return constant_(tensor, 0.0)


def ones_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill with 1."""
    return constant_(tensor, 1.0)


# --- the variance-preserving rules -------------------------------------------------------------


def variance_scaling_(
    tensor: torch.Tensor,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    generator=None,
) -> torch.Tensor:
    """The general rule behind every scheme here: Var[W] = scale / n.

    ``n`` is ``fan_in``, ``fan_out``, ``fan_avg = (fan_in + fan_out) / 2`` or
    ``fan_geo_avg = sqrt(fan_in * fan_out)``. The law with that variance is

    * ``"uniform"``: U[-a, a] with a = sqrt(3 * scale / n), since Var U[-a, a] = a^2 / 3;
    * ``"normal"``: N(0, scale / n);
    * ``"truncated_normal"``: N(0, s^2) cut at +-2 s, with s = sqrt(scale / n) / 0.8796...
      (:func:`truncated_normal_std`), so the realised variance is exactly scale / n.

    Presets: Glorot & Bengio (2010) eq. (12) is ``scale=1, mode="fan_avg"``; He et al. (2015)
    eq. (10) is ``scale=2, mode="fan_in"``; LeCun is ``scale=1, mode="fan_in"``. ``scale``
    multiplies the *variance* (Keras/JAX); torch's ``gain`` multiplies the standard deviation,
    so gain g is scale g^2.

    >>> w = variance_scaling_(torch.empty(512, 384), generator=torch.Generator().manual_seed(0))
    >>> abs(float(w.var()) * 384 - 1) < 0.03
    True
    """
    check_tensor(tensor)
    scale = check_positive(scale, "scale")
    check_choice(mode, "mode", FAN_MODES)
    check_choice(distribution, "distribution", DISTRIBUTIONS)
    check_ndim(tensor, 2, f"mode={mode!r}")
    _check_generator(generator)
    if tensor.numel() == 0:
        return tensor
    std = math.sqrt(scale / _fan(tensor, mode))
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return _fill(tensor, lambda t: t.uniform_(-bound, bound, generator=generator))
    if distribution == "normal":
        return _fill(tensor, lambda t: t.normal_(0.0, std, generator=generator))
    s = std / truncated_normal_std(TRUNCATION)
    return _fill(tensor, lambda t: _draw_trunc_normal(t, 0.0, s, -TRUNCATION * s, TRUNCATION * s, generator))


def _check_gain(gain) -> float:
    return check_positive(gain, "gain")


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0, generator=None) -> torch.Tensor:
    """Glorot & Bengio (2010) eq. (16), the "normalized initialization".

    W ~ U[-a, a] with a = gain * sqrt(6 / (fan_in + fan_out)), so
    Var[W] = gain^2 * 2 / (fan_in + fan_out): their compromise (12) between the forward
    condition (10) fan_in Var[W] = 1 and the backward condition (11) fan_out Var[W] = 1.
    The 6 is 3 * 2: Var U[-a, a] = a^2 / 3.

    >>> w = xavier_uniform_(torch.empty(300, 200), generator=torch.Generator().manual_seed(0))
    >>> round(float(w.var()) * 500 / 2, 1)
    1.0
    """
    check_tensor(tensor)
    gain = _check_gain(gain)
    check_ndim(tensor, 2, "xavier_uniform_")
    _check_generator(generator)
    if tensor.numel() == 0:
        return tensor
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(tensor, lambda t: t.uniform_(-bound, bound, generator=generator))


def xavier_normal_(tensor: torch.Tensor, gain: float = 1.0, generator=None) -> torch.Tensor:
    """Glorot & Bengio (2010) eq. (12) with a normal law (untruncated, as in torch).

    W ~ N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)): the same variance as
    :func:`xavier_uniform_`, not a different recipe.
    """
    check_tensor(tensor)
    gain = _check_gain(gain)
    check_ndim(tensor, 2, "xavier_normal_")
    _check_generator(generator)
    if tensor.numel() == 0:
        return tensor
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(tensor, lambda t: t.normal_(0.0, std, generator=generator))


def _kaiming_std(tensor, a, mode, nonlinearity) -> float:
    """Check kaiming's arguments (before any write) and return gain / sqrt(fan)."""
    check_tensor(tensor)
    if not isinstance(mode, str):
        raise ValueError(f"mode must be one of 'fan_in', 'fan_out'; got {mode!r}")
    mode = check_choice(mode.lower(), "mode", KAIMING_MODES)  # torch lower-cases mode too
    gain = calculate_gain(nonlinearity, a)
    check_ndim(tensor, 2, "kaiming initialization")
    if tensor.numel() == 0:
        return math.nan
    return gain / math.sqrt(_fan(tensor, mode))


def kaiming_uniform_(
    tensor: torch.Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
) -> torch.Tensor:
    """He et al. (2015), eq. (10) (``mode="fan_in"``) or eq. (14) (``mode="fan_out"``), uniform law.

    W ~ U[-b, b] with b = gain * sqrt(3 / fan), so Var[W] = gain^2 / fan; for ReLU gain^2 = 2,
    the forward condition 1/2 n_l Var[w_l] = 1. ``a`` is the leaky ReLU's negative slope: with
    the default ``nonlinearity="leaky_relu"`` and ``a=0`` the gain is sqrt(2), eq. (15).
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    _check_generator(generator)
    bound = math.sqrt(3.0) * std
    return _fill(tensor, lambda t: t.uniform_(-bound, bound, generator=generator))


def kaiming_normal_(
    tensor: torch.Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
) -> torch.Tensor:
    """He et al. (2015), eq. (10) (``mode="fan_in"``) or eq. (14) (``mode="fan_out"``), normal law.

    W ~ N(0, gain^2 / fan): std sqrt(2 / n_l) for ReLU. Untruncated, as in torch (Keras's
    ``he_normal`` is a corrected truncated normal: ``variance_scaling_(t, 2.0)``).

    >>> w = kaiming_normal_(torch.empty(256, 512), generator=torch.Generator().manual_seed(0))
    >>> round(float(w.var()) * 512 / 2, 1)
    1.0
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    _check_generator(generator)
    return _fill(tensor, lambda t: t.normal_(0.0, std, generator=generator))


def lecun_uniform_(tensor: torch.Tensor, generator=None) -> torch.Tensor:
    """LeCun's rule, Var[W] = 1 / fan_in, uniform law: U[-a, a] with a = sqrt(3 / fan_in).

    Glorot & Bengio's forward condition (10) alone. Courses often call this "Xavier".
    """
    return variance_scaling_(tensor, 1.0, "fan_in", "uniform", generator)


def lecun_normal_(tensor: torch.Tensor, generator=None) -> torch.Tensor:
    """LeCun's rule, Var[W] = 1 / fan_in, as a corrected truncated normal (Keras/JAX ``lecun_normal``)."""
    return variance_scaling_(tensor, 1.0, "fan_in", "truncated_normal", generator)


def standard_uniform_(tensor: torch.Tensor, generator=None) -> torch.Tensor:
    """Glorot & Bengio (2010) eq. (1), the "standard" initialization they argue against.

    W ~ U[-1/sqrt(fan_in), 1/sqrt(fan_in)], so Var[W] = 1 / (3 fan_in) and fan_in Var[W] = 1/3
    (their eq. 15): each layer shrinks the signal's variance threefold. It is also what
    ``nn.Linear`` and ``nn.ConvNd`` use by default (``kaiming_uniform_(w, a=sqrt(5))``).
    """
    check_tensor(tensor)
    check_ndim(tensor, 2, "standard_uniform_")
    _check_generator(generator)
    if tensor.numel() == 0:
        return tensor
    bound = 1.0 / math.sqrt(fan_in_and_fan_out(tensor)[0])
    return _fill(tensor, lambda t: t.uniform_(-bound, bound, generator=generator))


def pytorch_default_(tensor: torch.Tensor, generator=None) -> torch.Tensor:
    """What ``nn.Linear.reset_parameters`` does to its weight: ``kaiming_uniform_(w, a=sqrt(5))``.

    gain^2 = 2 / (1 + 5) = 1/3, so Var[W] = 1 / (3 fan_in): the same law as
    :func:`standard_uniform_`, reached by a different road.
    """
    return kaiming_uniform_(tensor, a=math.sqrt(5), generator=generator)


def orthogonal_(tensor: torch.Tensor, gain: float = 1.0, generator=None) -> torch.Tensor:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2014), as in torch.

    The tensor is viewed as ``(rows, numel / rows)``; a normal matrix of that shape is
    QR-factorised and the signs of diag(R) fixed, so Q is Haar-distributed. Every singular
    value equals ``gain``; each entry has variance gain^2 / max(rows, cols).
    """
    check_tensor(tensor)
    gain = _check_gain(gain)
    check_ndim(tensor, 2, "orthogonal_")
    _check_generator(generator)
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows

    def draw(t: torch.Tensor) -> None:
        flat = t.new_empty((rows, cols)).normal_(0, 1, generator=generator)
        if rows < cols:
            flat.t_()
        q, r = torch.linalg.qr(flat)
        q *= torch.diag(r, 0).sign()
        if rows < cols:
            q.t_()
        t.view_as(q).copy_(q)
        t.mul_(gain)

    return _fill(tensor, draw)


# Aliases: the names Keras and most courses use. Note the laws are torch's (untruncated normal).
he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_
glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_


WEIGHTED_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)


def init_module(module: nn.Module, scheme="kaiming_normal", **kwargs) -> nn.Module:
    """Apply ``scheme`` to the weight of every Linear and Conv layer in ``module``; zero the biases.

    ``scheme`` is a name from :data:`initlib.schemes.SCHEMES` or a callable ``f(weight, **kwargs)``. The new
    weights are drawn into copies first, so an error in any layer leaves the module unchanged.

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> net = init_module(net, "xavier_uniform", gain=1.0)
    >>> float(net[0].bias.detach().abs().sum())
    0.0
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    from .schemes import get_scheme  # schemes imports this module's initializers

    init = get_scheme(scheme)
    layers = [m for m in module.modules() if isinstance(m, WEIGHTED_LAYERS)]
    new_weights = [init(layer.weight.detach().clone(), **kwargs) for layer in layers]
    with torch.no_grad():
        for layer, weight in zip(layers, new_weights):
            layer.weight.copy_(weight)
            if layer.bias is not None:
                layer.bias.zero_()
    return module
