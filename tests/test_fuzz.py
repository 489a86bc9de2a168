"""A property-based fuzz of every initializer (hypothesis): shapes (empty ones included), dtypes,
non-contiguous views, Parameters, non-tensors and odd numbers (NaN, inf, 1e300, 10**400, bools,
strings, 0-d tensors).

The property: a call either fills the very tensor it was given with finite values, or raises a
ValueError (a wrong type is an InitTypeError, also a ValueError) whose message names one of the
function's parameters, and leaves the tensor exactly as it was. Nothing else: no OverflowError,
no RuntimeError from a kernel, no inf or NaN written.
"""

import inspect
import math
import warnings
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import initlib
from initlib.laws import gains

FUNCTIONS = [
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "zeros_",
    "ones_",
    "eye_",
    "dirac_",
    "sparse_",
    "variance_scaling_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "lecun_uniform_",
    "lecun_normal_",
    "standard_uniform_",
    "pytorch_default_",
    "orthogonal_",
]
# 19 functions: 760 examples in all. At 20, dirac_ (which fills only 3- to 5-d tensors, about 1 draw in 6)
# was seen only refusing for 2 seeds in 10; at 40, for none of 30.
EXAMPLES_PER_FUNCTION = 40
# A fixed seed, not `derandomize`: that one seeds from a digest of the test's source, so reformatting
# the code changed which calls were drawn.
SEED = 0

ODD = [
    math.nan,
    math.inf,
    -math.inf,
    1e300,
    -1e300,
    1e39,
    7e4,
    -7e4,
    0,
    -1,
    10**400,
    True,
    "1",
    None,
    1j,
    torch.tensor(2.0),
    torch.tensor([1.0, 2.0]),
    [0.5],
]
SENSIBLE = {
    "a": st.floats(-3, 3),
    "b": st.floats(-3, 3),
    "mean": st.floats(-3, 3),
    "val": st.floats(-10, 10),
    "std": st.floats(0.001, 3),
    "gain": st.floats(0.001, 3),
    "scale": st.floats(0.001, 3),
    "sparsity": st.floats(0, 1),
    "groups": st.integers(1, 3),
    "mode": st.sampled_from(["fan_in", "fan_out", "fan_avg", "fan_geo_avg", "FAN_IN"]),
    "nonlinearity": st.sampled_from(gains.NONLINEARITIES),
    "distribution": st.sampled_from(["truncated_normal", "normal", "uniform"]),
    "generator": st.sampled_from([None, "generator"]),
}
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64]


@st.composite
def tensors(draw):
    """A tensor in one of the forms a caller may hand over, filled with finite sentinel values."""
    ndim = draw(st.sampled_from([2, 3, 2, 4, 5, 1, 0]))  # mostly shapes a weight has
    shape = draw(st.lists(st.sampled_from([3, 1, 4, 2, 5, 0]), min_size=ndim, max_size=ndim))
    dtype = draw(st.sampled_from(DTYPES))
    form = draw(st.sampled_from(["plain", "transposed", "strided", "parameter"]))
    base = (torch.arange(math.prod(shape) * 2) % 7).to(dtype)
    if form == "strided":  # every other element of a buffer twice as long: a non-contiguous view
        t = base[::2].view(shape)
    else:
        t = base[: math.prod(shape)].reshape(shape)
    if form == "transposed" and t.dim() >= 2:
        t = t.transpose(0, -1)
    if form == "parameter" and dtype.is_floating_point:
        t = torch.nn.Parameter(t.clone())
    return t


def _arguments(draw, name):
    """Keyword arguments: each parameter left out, given a sensible value, or given an odd one."""
    kwargs = {}
    for param in list(inspect.signature(getattr(initlib, name)).parameters)[1:]:
        choice = draw(st.sampled_from(["default", "sensible", "sensible", "odd"]))
        required = inspect.signature(getattr(initlib, name)).parameters[param].default is inspect.Parameter.empty
        if choice == "default" and not required:
            continue
        value = draw(st.sampled_from(ODD)) if choice == "odd" else draw(SENSIBLE.get(param, st.just(0.5)))
        kwargs[param] = torch.Generator().manual_seed(0) if value == "generator" and param == "generator" else value
    return kwargs


def _check(name, subject, kwargs):
    before = subject.detach().clone() if isinstance(subject, torch.Tensor) else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the zero-element warning
            out = getattr(initlib, name)(subject, **kwargs)
    except ValueError as err:  # InitTypeError included
        named = [p for p in inspect.signature(getattr(initlib, name)).parameters] + ["param", "groups"]
        assert any(p in str(err) for p in named), f"{name}: message names no parameter: {err}"
        if before is not None:
            assert torch.equal(subject.detach(), before), f"{name}({kwargs}) raised after writing: {err}"
        return "error"
    assert out is subject
    assert subject.dtype.is_floating_point
    assert bool(torch.isfinite(subject.detach()).all()), f"{name}({kwargs}) wrote non-finite values"
    return "filled"


def _fuzz(name: str) -> Counter:
    """Run the property over EXAMPLES_PER_FUNCTION drawn calls of one function; count the outcomes."""
    outcomes: Counter = Counter()

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES_PER_FUNCTION,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(data=st.data())
    def one_call(data):
        not_tensors = st.sampled_from([[[0.0, 1.0]], np.zeros((3, 2)), 2.0, None])
        subject = data.draw(st.one_of(tensors(), not_tensors) if data.draw(st.integers(0, 5)) == 5 else tensors())
        outcomes[_check(name, subject, _arguments(data.draw, name))] += 1

    one_call()
    return outcomes


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_call_fills_finite_values_or_raises_a_clear_valueerror_and_writes_nothing(name):
    outcomes = _fuzz(name)
    # and the fuzz reached both outcomes: the function was seen both filling and refusing
    assert set(outcomes) == {"error", "filled"}, dict(outcomes)
    print(
        f"\nfuzz of {name}: {outcomes['filled']} calls filled with finite values, {outcomes['error']} refused "
        "with a ValueError and nothing written"
    )


def _overflowing(huge):
    """For each function with an argument whose size sets the values written: that argument, set to ``huge``."""
    return {
        "uniform_": {"b": huge},
        "normal_": {"mean": huge},
        "trunc_normal_": {"mean": huge, "b": 2 * huge},
        "constant_": {"val": huge},
        "sparse_": {"sparsity": 0.5, "std": huge},
        "variance_scaling_": {"scale": huge**2 * 1e4},
        "xavier_uniform_": {"gain": huge * 100},
        "xavier_normal_": {"gain": huge * 100},
        "orthogonal_": {"gain": huge * 100},
    }


SCALING_PARAMS = {"a", "b", "mean", "std", "val", "scale", "gain"}


def test_the_other_functions_take_no_argument_that_scales_their_values():
    # These write bounded values (kaiming's `a` is the leaky slope: its gain sqrt(2 / (1 + a^2)) is at most
    # sqrt(2)), so no overflow case is generated for them below.
    bounded = {
        "zeros_": set(),
        "ones_": set(),
        "eye_": set(),
        "dirac_": set(),
        "kaiming_uniform_": {"a"},
        "kaiming_normal_": {"a"},
        "lecun_uniform_": set(),
        "lecun_normal_": set(),
        "standard_uniform_": set(),
        "pytorch_default_": set(),
    }
    rest = {
        name: set(inspect.signature(getattr(initlib, name)).parameters) & SCALING_PARAMS
        for name in FUNCTIONS
        if name not in _overflowing(1.0)
    }
    assert rest == bounded


@pytest.mark.parametrize("name", list(_overflowing(1.0)))
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_values_that_overflow_the_dtype_are_refused(name, dtype):
    # 1e39 overflows float32, 1e5 float16
    kwargs = _overflowing(1e39 if dtype == torch.float32 else 1e5)[name]
    t = torch.full((6, 5) if name == "sparse_" else (6, 5, 3), 0.25, dtype=dtype)
    with pytest.raises(ValueError, match=r"overflows float(16|32) \(largest finite value .*Nothing was written"):
        getattr(initlib, name)(t, **kwargs)
    assert bool((t == 0.25).all())


@pytest.mark.parametrize("name", FUNCTIONS)
def test_non_contiguous_views_and_parameters_are_filled_in_place(name):
    kwargs = {"constant_": {"val": 0.5}, "sparse_": {"sparsity": 0.5}}.get(name, {})
    base = torch.zeros(8, 6, 3)
    view = base.transpose(0, 1) if name not in ("eye_", "sparse_") else base[:, :, 0].t()
    getattr(initlib, name)(view, **kwargs)
    assert bool(torch.isfinite(base).all())
    if name not in ("zeros_", "sparse_"):
        assert bool((view != 0).any())  # the writes reached the base tensor through the view
    param = torch.nn.Parameter(torch.zeros(6, 4, 3) if name not in ("eye_", "sparse_") else torch.zeros(6, 4))
    assert getattr(initlib, name)(param, **kwargs) is param and param.requires_grad
