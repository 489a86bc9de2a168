"""Weight initializers: ``torch.nn.init``'s functions, its defaults and its laws, plus the general
variance-scaling rule that Keras and JAX use, with stricter input checks.

Every function fills ``tensor`` in place under ``torch.no_grad()`` and returns it. Shared rules:

* Bad input raises an error naming the parameter and the valid choices, and the tensor is left
  exactly as it was (all checks run before the first write). A bad value is a ``ValueError``; a
  value of the wrong type is an :class:`~initlib._checks.InitTypeError`, which is both a
  ``ValueError`` (what torch raises, and what torch code catches) and a ``TypeError``.
* A mean, std, bound, gain or value whose law would put values beyond the tensor's dtype
  (``1e300`` on float32, ``1e5`` on float16) is a ``ValueError``; nothing is written.
* A zero-element tensor is returned unchanged once the arguments are checked, with torch's
  ``UserWarning: Initializing zero-element tensors is a no-op``: there is nothing to fill, and
  no fan to divide by.
* Any float tensor works: non-contiguous views and ``nn.Parameter`` s included.
* float16 and bfloat16 tensors are sampled in float32 and then cast, so they reach the target
  variance; float32 and float64 tensors are sampled directly, with the same calls as
  ``torch.nn.init``, so a shared ``generator`` state gives the same numbers as torch.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from types import FrameType
from typing import Callable

import torch

from .._checks import (
    ZERO_ELEMENT_WARNING,
    check_choice,
    check_fits,
    check_generator,
    check_int,
    check_ndim,
    check_positive,
    check_real,
    check_tensor,
)
from .fans import FAN_MODES, _fan, fan_in_and_fan_out
from .gains import calculate_gain

DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")
KAIMING_MODES = ("fan_in", "fan_out")
TRUNCATION = 2.0  # Keras/JAX truncate their normal laws at two standard deviations
# No normal draw of torch's lands farther out than ~8.6 std (Box-Muller on 53-bit uniforms), so a
# law whose mean +- 10 std fits the dtype never overflows it.
NORMAL_REACH = 10.0
# ndtri of the smallest float64 uniform is ~-38: trunc_normal_ never lands farther out than 40 std.
TRUNC_REACH = 40.0


def _check_generator(generator) -> None:
    check_generator(generator)


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # initlib/, not laws/


def _is_empty(tensor: torch.Tensor) -> bool:
    """True (with torch's warning) for a zero-element tensor: the caller returns it unchanged.

    The warning points at the first line outside initlib, however deep the call (lecun_uniform_
    calls variance_scaling_, init_module calls the schemes).
    """
    if tensor.numel() == 0:
        warnings.warn(ZERO_ELEMENT_WARNING, UserWarning, stacklevel=_caller_level())
        return True
    return False


def _caller_level() -> int:
    """warnings' stacklevel of the first frame outside initlib (3.12's skip_file_prefixes, by hand)."""
    frame: FrameType | None = sys._getframe(2)  # 1 is the frame calling warnings.warn
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def _fill(tensor: torch.Tensor, draw: Callable[[torch.Tensor], object]) -> torch.Tensor:
    """Apply ``draw`` (which writes a whole float tensor in place) to ``tensor``.

    Half-precision tensors get a float32 buffer first: sampling in 16 bits loses the tails of
    the law (bfloat16 keeps 8 bits of mantissa), and the variance with them.
    """
    with torch.no_grad():
        if _is_empty(tensor):
            return tensor
        if tensor.dtype in (torch.float32, torch.float64):
            draw(tensor)
        else:
            buffer = torch.empty(tensor.shape, dtype=torch.float32, device=tensor.device)
            draw(buffer)
            tensor.copy_(buffer)
    return tensor


def _check_normal_fits(tensor: torch.Tensor, mean: float, std: float, what: str) -> None:
    check_fits(tensor, mean - NORMAL_REACH * std, mean + NORMAL_REACH * std, what)


def truncated_normal_variance(k: float = TRUNCATION) -> float:
    """Variance of N(0, 1) truncated to [-k, k], from its closed form; initlib's one copy of it.

    Var = 1 - 2 k phi(k) / (2 Phi(k) - 1) with phi, Phi the standard normal density and CDF;
    :func:`initlib.theory.symbolic.truncated_normal_variance` derives the same expression by integration.

    >>> round(truncated_normal_variance(2.0), 12)
    0.77374130355
    """
    k = check_positive(k, "k")
    density = math.exp(-k * k / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(k / math.sqrt(2))  # = 2 Phi(k) - 1
    return 1 - 2 * k * density / mass


def truncated_normal_std(k: float = TRUNCATION) -> float:
    """Standard deviation of N(0, 1) truncated to [-k, k]: ``sqrt(truncated_normal_variance(k))``.

    >>> round(truncated_normal_std(2.0), 12)
    0.879625661034
    """
    return math.sqrt(truncated_normal_variance(k))


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
    alpha, beta, mirrored = _trunc_interval(mean, std, a, b)
    low, high = _standard_normal_cdf(alpha), _standard_normal_cdf(beta)
    draws = torch.empty(buffer.shape, dtype=torch.float64, device=buffer.device)
    draws.uniform_(low, high, generator=generator)
    z = torch.special.ndtri(draws)
    if mirrored:
        z.neg_()
    buffer.copy_(z.mul_(std).add_(mean).clamp_(min=a, max=b))


def _trunc_interval(mean: float, std: float, a: float, b: float) -> tuple[float, float, bool]:
    """The standardised interval, mirrored below the mean if it lies above it; refuse an empty one."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    mirrored = alpha > 0
    if mirrored:
        alpha, beta = -beta, -alpha
    if not _standard_normal_cdf(beta) > _standard_normal_cdf(alpha):
        raise ValueError(
            f"the interval [a, b] = [{a}, {b}] holds no probability that float64 can represent for "
            f"mean={mean}, std={std} (it lies about {min(abs(alpha), abs(beta)):.0f} standard deviations out)"
        )
    return alpha, beta, mirrored


# --- the basic laws ---------------------------------------------------------------------------


def uniform_(
    tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
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
    check_fits(tensor, a, b, f"uniform_ with a={a}, b={b}")
    return _fill(tensor, lambda t: t.uniform_(a, b, generator=generator))


def normal_(
    tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Fill with N(mean, std^2); variance std^2. ``std`` must be positive (use ``constant_`` for 0).

    >>> w = normal_(torch.empty(1000, 1000), std=0.1, generator=torch.Generator().manual_seed(0))
    >>> round(float(w.std()), 2)
    0.1
    """
    check_tensor(tensor)
    mean, std = check_real(mean, "mean"), check_positive(std, "std")
    _check_generator(generator)
    _check_normal_fits(tensor, mean, std, f"normal_ with mean={mean}, std={std}")
    return _fill(tensor, lambda t: t.normal_(mean, std, generator=generator))


def trunc_normal_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: torch.Generator | None = None,
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
    _trunc_interval(mean, std, a, b)
    low, high = max(a, mean - TRUNC_REACH * std), min(b, mean + TRUNC_REACH * std)
    check_fits(tensor, *((low, high) if low <= high else (a, b)), f"trunc_normal_ with mean={mean}, std={std}")
    return _fill(tensor, lambda t: _draw_trunc_normal(t, mean, std, a, b, generator))


def constant_(tensor: torch.Tensor, val: float) -> torch.Tensor:
    """Fill with ``val``; variance 0.

    >>> constant_(torch.empty(2), 0.5)
    tensor([0.5000, 0.5000])
    """
    check_tensor(tensor)
    val = check_real(val, "val")
    check_fits(tensor, val, val, f"constant_ with val={val}")
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
    generator: torch.Generator | None = None,
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
    if _is_empty(tensor):
        return tensor
    std = math.sqrt(scale / _fan(tensor, mode))
    what = f"variance_scaling_ with scale={scale}"
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        check_fits(tensor, -bound, bound, what)
        return _fill(tensor, lambda t: t.uniform_(-bound, bound, generator=generator))
    if distribution == "normal":
        _check_normal_fits(tensor, 0.0, std, what)
        return _fill(tensor, lambda t: t.normal_(0.0, std, generator=generator))
    s = std / truncated_normal_std(TRUNCATION)
    check_fits(tensor, -TRUNCATION * s, TRUNCATION * s, what)
    return _fill(tensor, lambda t: _draw_trunc_normal(t, 0.0, s, -TRUNCATION * s, TRUNCATION * s, generator))


def _check_gain(gain) -> float:
    return check_positive(gain, "gain")


def _uniform_fill(tensor: torch.Tensor, bound: float, what: str, generator) -> torch.Tensor:
    check_fits(tensor, -bound, bound, what)
    return _fill(tensor, lambda t: t.uniform_(-bound, bound, generator=generator))


def _normal_fill(tensor: torch.Tensor, std: float, what: str, generator) -> torch.Tensor:
    _check_normal_fits(tensor, 0.0, std, what)
    return _fill(tensor, lambda t: t.normal_(0.0, std, generator=generator))


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
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
    if _is_empty(tensor):
        return tensor
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    # torch's order, sqrt(3) * (gain * sqrt(2 / n)): in float64 gain * sqrt(6 / n) can differ by an ulp
    bound = math.sqrt(3.0) * (gain * math.sqrt(2.0 / (fan_in + fan_out)))
    return _uniform_fill(tensor, bound, f"xavier_uniform_ with gain={gain}", generator)


def xavier_normal_(tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Glorot & Bengio (2010) eq. (12) with a normal law (untruncated, as in torch).

    W ~ N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)): the same variance as
    :func:`xavier_uniform_`, not a different recipe.

    >>> w = xavier_normal_(torch.empty(300, 200), generator=torch.Generator().manual_seed(0))
    >>> round(float(w.var()) * 500 / 2, 1)
    1.0
    """
    check_tensor(tensor)
    gain = _check_gain(gain)
    check_ndim(tensor, 2, "xavier_normal_")
    _check_generator(generator)
    if _is_empty(tensor):
        return tensor
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _normal_fill(tensor, std, f"xavier_normal_ with gain={gain}", generator)


def _kaiming_std(tensor, a, mode, nonlinearity) -> float:
    """Check kaiming's arguments (before any write) and return gain / sqrt(fan), NaN when empty."""
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
    tensor: torch.Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """He et al. (2015), eq. (10) (``mode="fan_in"``) or eq. (14) (``mode="fan_out"``), uniform law.

    W ~ U[-b, b] with b = gain * sqrt(3 / fan), so Var[W] = gain^2 / fan; for ReLU gain^2 = 2,
    the forward condition 1/2 n_l Var[w_l] = 1. ``a`` is the leaky ReLU's negative slope: with
    the default ``nonlinearity="leaky_relu"`` and ``a=0`` the gain is sqrt(2), eq. (15).

    >>> w = kaiming_uniform_(torch.empty(256, 512), generator=torch.Generator().manual_seed(0))
    >>> round(float(w.var()) * 512 / 2, 1)
    1.0
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    _check_generator(generator)
    if _is_empty(tensor):
        return tensor
    return _uniform_fill(tensor, math.sqrt(3.0) * std, "kaiming_uniform_", generator)


def kaiming_normal_(
    tensor: torch.Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
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
    if _is_empty(tensor):
        return tensor
    return _normal_fill(tensor, std, "kaiming_normal_", generator)


def lecun_uniform_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """LeCun's rule, Var[W] = 1 / fan_in, uniform law: U[-a, a] with a = sqrt(3 / fan_in).

    Glorot & Bengio's forward condition (10) alone. Courses often call this "Xavier".
    """
    return variance_scaling_(tensor, 1.0, "fan_in", "uniform", generator)


def lecun_normal_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """LeCun's rule, Var[W] = 1 / fan_in, as a corrected truncated normal (Keras/JAX ``lecun_normal``)."""
    return variance_scaling_(tensor, 1.0, "fan_in", "truncated_normal", generator)


def standard_uniform_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Glorot & Bengio (2010) eq. (1), the "standard" initialization they argue against.

    W ~ U[-1/sqrt(fan_in), 1/sqrt(fan_in)], so Var[W] = 1 / (3 fan_in) and fan_in Var[W] = 1/3
    (their eq. 15): each layer shrinks the signal's variance threefold. It is also what
    ``nn.Linear`` and ``nn.ConvNd`` use by default (``kaiming_uniform_(w, a=sqrt(5))``).
    """
    check_tensor(tensor)
    check_ndim(tensor, 2, "standard_uniform_")
    _check_generator(generator)
    if _is_empty(tensor):
        return tensor
    bound = 1.0 / math.sqrt(fan_in_and_fan_out(tensor)[0])
    return _uniform_fill(tensor, bound, "standard_uniform_", generator)


def pytorch_default_(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """What ``nn.Linear.reset_parameters`` does to its weight: ``kaiming_uniform_(w, a=sqrt(5))``.

    gain^2 = 2 / (1 + 5) = 1/3, so Var[W] = 1 / (3 fan_in): the same law as
    :func:`standard_uniform_`, reached by a different road.
    """
    return kaiming_uniform_(tensor, a=math.sqrt(5), generator=generator)


def orthogonal_(tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2014), as in torch.

    The tensor is viewed as ``(rows, numel / rows)``; a normal matrix of that shape is
    QR-factorised and the signs of diag(R) fixed, so Q is Haar-distributed. Every singular
    value equals ``gain``; each entry has variance gain^2 / max(rows, cols). Entries of an
    orthonormal frame are at most 1 in size, so the values lie in [-gain, gain].

    >>> w = orthogonal_(torch.empty(3, 6)[:, ::2], generator=torch.Generator().manual_seed(0))
    >>> torch.allclose(w @ w.T, torch.eye(3), atol=1e-5)  # a non-contiguous view works too
    True
    """
    check_tensor(tensor)
    gain = _check_gain(gain)
    check_ndim(tensor, 2, "orthogonal_")
    _check_generator(generator)
    if _is_empty(tensor):
        return tensor
    check_fits(tensor, -gain, gain, f"orthogonal_ with gain={gain}")
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
        t.copy_(q.reshape(t.shape))  # copy, not view_as: t may be a non-contiguous view
        t.mul_(gain)

    return _fill(tensor, draw)


# --- structured matrices: identity, Dirac delta, sparse ----------------------------------------


def _check_dims(tensor: torch.Tensor, allowed: tuple[int, ...], what: str) -> None:
    if tensor.dim() not in allowed:
        dims = " or ".join(map(str, allowed))
        raise ValueError(f"tensor must have {dims} dimensions for {what}, got shape {tuple(tensor.shape)}")


def eye_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill a 2-D tensor with the identity: W[i, i] = 1, every other entry 0 (as ``torch.nn.init``).

    A square identity preserves its input exactly; a rectangular one keeps the first
    ``min(rows, cols)`` coordinates and drops or zero-pads the rest (Le et al. 2015's IRNN
    starts its recurrent matrix here).

    >>> eye_(torch.empty(2, 3))
    tensor([[1., 0., 0.],
            [0., 1., 0.]])
    """
    check_tensor(tensor)
    _check_dims(tensor, (2,), "eye_")

    def draw(t: torch.Tensor) -> None:
        t.zero_()
        t.diagonal().fill_(1)

    return _fill(tensor, draw)


def dirac_(tensor: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """Fill a conv weight ``(out, in, *k)`` with the Dirac delta: the convolution is the identity.

    In each of ``groups`` blocks of ``out / groups`` output channels, output channel d gets a 1 at
    input channel d and the kernel's centre, for d < min(out / groups, in); every other entry is 0.
    So ``conv(x)`` copies the first ``in`` channels of ``x`` (``padding=k//2`` keeps the size).

    >>> w = dirac_(torch.empty(2, 2, 3))
    >>> torch.nn.functional.conv1d(torch.tensor([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]), w, padding=1)
    tensor([[[1., 2., 3.],
             [4., 5., 6.]]])
    """
    check_tensor(tensor)
    _check_dims(tensor, (3, 4, 5), "dirac_ (a Conv1d, Conv2d or Conv3d weight)")
    groups = check_int(groups, "groups", 1)
    if tensor.shape[0] % groups:
        raise ValueError(f"groups must divide the first dimension, got groups={groups} for shape {tuple(tensor.shape)}")
    per_group = tensor.shape[0] // groups
    channels = torch.arange(min(per_group, tensor.shape[1]))
    centre = tuple(k // 2 for k in tensor.shape[2:])

    def draw(t: torch.Tensor) -> None:
        t.zero_()
        for g in range(groups):
            index: tuple[torch.Tensor | int, ...] = (g * per_group + channels, channels, *centre)
            t[index] = 1

    return _fill(tensor, draw)


def delta_orthogonal_(
    tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Fill a conv weight ``(out, in, *k)`` with a delta-orthogonal kernel (Xiao et al. 2018, Alg. 2).

    Every tap is 0 except the kernel's centre, which holds a random orthogonal ``(out, in)``
    matrix (:func:`orthogonal_`: Haar, sign-fixed QR) times ``gain``; ``in <= out``, so the
    centre's columns are orthonormal. With ``padding=k//2`` the convolution then applies one
    orthogonal map at every position: ``||conv(x)|| = gain ||x||`` for every input, the
    convolutional form of dynamical isometry. Per entry ``E[W^2] = gain^2 / fan_out``.

    >>> w = delta_orthogonal_(torch.empty(4, 3, 3, 3), generator=torch.Generator().manual_seed(0))
    >>> c = w[:, :, 1, 1]; torch.allclose(c.T @ c, torch.eye(3), atol=1e-6), float(w.abs().sum() - c.abs().sum())
    (True, 0.0)
    """
    check_tensor(tensor)
    _check_dims(tensor, (3, 4, 5), "delta_orthogonal_ (a Conv1d, Conv2d or Conv3d weight)")
    gain = _check_gain(gain)
    _check_generator(generator)
    if tensor.shape[1] > tensor.shape[0]:
        raise ValueError(
            "delta_orthogonal_ needs in_channels <= out_channels (an orthogonal centre "
            f"keeps every input's norm), got shape {tuple(tensor.shape)}"
        )
    centre = tuple(k // 2 for k in tensor.shape[2:])

    def draw(t: torch.Tensor) -> None:
        t.zero_()
        index: tuple[slice | int, ...] = (slice(None), slice(None), *centre)
        orthogonal_(t[index], gain=gain, generator=generator)

    return _fill(tensor, draw)


def sparse_(
    tensor: torch.Tensor, sparsity: float, std: float = 0.01, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Martens (2010)'s sparse initialization: N(0, std^2) entries, a fraction of each column zero.

    In every column, ceil(sparsity * rows) entries chosen uniformly at random are 0 and the rest
    are drawn from N(0, std^2) (torch's law). Unlike torch, the ``generator`` draws the zero mask
    too, so one generator state gives one tensor (torch uses the global generator there).

    >>> w = sparse_(torch.empty(10, 4), sparsity=0.3, generator=torch.Generator().manual_seed(0))
    >>> (w == 0).sum(dim=0).tolist()
    [3, 3, 3, 3]
    """
    check_tensor(tensor)
    _check_dims(tensor, (2,), "sparse_")
    sparsity = check_real(sparsity, "sparsity")
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must lie in [0, 1] (the fraction of each column set to 0), got {sparsity}")
    std = check_positive(std, "std")
    _check_generator(generator)
    _check_normal_fits(tensor, 0.0, std, f"sparse_ with std={std}")
    rows, cols = tensor.shape
    zeros = math.ceil(sparsity * rows)

    def draw(t: torch.Tensor) -> None:
        t.normal_(0.0, std, generator=generator)
        # the first `zeros` rows of a uniformly random order of each column's rows
        order = torch.rand((rows, cols), dtype=torch.float64, generator=generator, device=t.device).argsort(0)
        mask = torch.zeros((rows, cols), dtype=torch.bool, device=t.device)
        t.masked_fill_(mask.scatter_(0, order[:zeros], True), 0.0)

    return _fill(tensor, draw)


# Aliases: the names Keras and most courses use. Note the laws are torch's (untruncated normal).
he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_
glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
