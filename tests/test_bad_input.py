"""Bad input gets a clear error that names the parameter and the valid choices, and changes nothing."""

import math
import warnings

import numpy as np
import pytest
import torch

import initlib

FAN_BASED = [
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "lecun_uniform_",
    "lecun_normal_",
    "standard_uniform_",
    "pytorch_default_",
    "orthogonal_",
    "variance_scaling_",
]
ALL = FAN_BASED + ["uniform_", "normal_", "trunc_normal_", "zeros_", "ones_"]


def sentinel(shape=(6, 5), dtype=torch.float32):
    """A tensor whose contents any write would change."""
    return torch.arange(math.prod(shape), dtype=dtype).reshape(shape) / 7


def call(name, tensor, **kwargs):
    return getattr(initlib, name)(tensor, **kwargs)


def assert_rejected(exc, match, fn, tensor, *args, **kwargs):
    before = tensor.clone()
    with pytest.raises(exc, match=match):
        fn(tensor, *args, **kwargs)
    assert torch.equal(tensor, before), "a rejected call wrote to the tensor"


@pytest.mark.parametrize("name", FAN_BASED)
@pytest.mark.parametrize("shape", [(7,), ()])
def test_fewer_than_two_dims(name, shape):
    assert_rejected(
        ValueError, r"tensor must have at least 2 dimensions.*got shape", getattr(initlib, name), sentinel(shape)
    )


def test_fans_of_a_vector():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        initlib.fan_in_and_fan_out(torch.empty(5))


@pytest.mark.parametrize("name", ALL + ["constant_"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
def test_integer_and_bool_dtypes(name, dtype):
    t = torch.ones(6, 5, dtype=dtype)
    args = (0.5,) if name == "constant_" else ()
    assert_rejected(
        TypeError,
        r"tensor must have a floating-point dtype \(float16, bfloat16, float32, float64\)",
        getattr(initlib, name),
        t,
        *args,
    )


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("thing", [[[0.0, 1.0], [2.0, 3.0]], np.zeros((4, 3)), 3.0, None])
def test_not_a_tensor(name, thing):
    with pytest.raises(TypeError, match=r"tensor must be a torch.Tensor, got"):
        call(name, thing)


def test_numpy_array_is_left_alone():
    a = np.arange(12.0).reshape(4, 3)
    with pytest.raises(TypeError, match="torch.as_tensor"):
        initlib.xavier_uniform_(a)
    assert np.array_equal(a, np.arange(12.0).reshape(4, 3))


@pytest.mark.parametrize("bad", ["Relu", "gelu", "", None, 3])
def test_unknown_nonlinearity(bad):
    with pytest.raises(ValueError, match=r"nonlinearity must be one of 'linear'.*'selu'; got"):
        initlib.calculate_gain(bad)
    for name in ("kaiming_uniform_", "kaiming_normal_"):
        assert_rejected(ValueError, "nonlinearity must be one of", getattr(initlib, name), sentinel(), nonlinearity=bad)


@pytest.mark.parametrize("bad", ["fan_avg", "in", "", 1, None])
def test_unknown_kaiming_mode(bad):
    for name in ("kaiming_uniform_", "kaiming_normal_"):
        assert_rejected(
            ValueError, r"mode must be one of 'fan_in', 'fan_out'; got", getattr(initlib, name), sentinel(), mode=bad
        )


@pytest.mark.parametrize("bad", ["FAN_IN", "fan_sum", "avg", None])
def test_unknown_variance_scaling_mode(bad):
    assert_rejected(
        ValueError,
        r"mode must be one of 'fan_in', 'fan_out', 'fan_avg', 'fan_geo_avg'; got",
        initlib.variance_scaling_,
        sentinel(),
        mode=bad,
    )


@pytest.mark.parametrize("bad", ["gaussian", "truncated", "Uniform", None])
def test_unknown_distribution(bad):
    assert_rejected(
        ValueError,
        r"distribution must be one of 'truncated_normal', 'normal', 'uniform'; got",
        initlib.variance_scaling_,
        sentinel(),
        distribution=bad,
    )


BAD_POSITIVE = [
    (-1.0, ValueError),
    (0.0, ValueError),
    (0, ValueError),
    (math.nan, ValueError),
    (math.inf, ValueError),
    (-math.inf, ValueError),
    ("2", TypeError),
    (True, TypeError),
    (None, TypeError),
    (1j, TypeError),
]


@pytest.mark.parametrize("bad,exc", BAD_POSITIVE)
@pytest.mark.parametrize(
    "name,param",
    [
        ("xavier_uniform_", "gain"),
        ("xavier_normal_", "gain"),
        ("orthogonal_", "gain"),
        ("variance_scaling_", "scale"),
        ("normal_", "std"),
        ("trunc_normal_", "std"),
    ],
)
def test_gain_scale_std_must_be_positive_and_finite(name, param, bad, exc):
    assert_rejected(exc, rf"^{param} must be", getattr(initlib, name), sentinel(), **{param: bad})


@pytest.mark.parametrize(
    "bad,exc",
    [
        (math.nan, ValueError),
        (math.inf, ValueError),
        ("0.1", TypeError),
        (True, TypeError),
        (1j, TypeError),
        ([0.1], TypeError),
    ],
)
def test_leaky_relu_slope_must_be_a_real_number(bad, exc):
    with pytest.raises(exc, match=r"param \(the leaky_relu negative slope\) must be"):
        initlib.calculate_gain("leaky_relu", bad)
    for name in ("kaiming_uniform_", "kaiming_normal_"):
        assert_rejected(exc, "negative slope", getattr(initlib, name), sentinel(), a=bad)


def test_a_greater_than_b():
    assert_rejected(ValueError, r"a must not exceed b .* got a=1.0, b=0.0", initlib.uniform_, sentinel(), a=1.0, b=0.0)
    assert_rejected(ValueError, r"a must be less than b", initlib.trunc_normal_, sentinel(), a=1.0, b=-1.0)
    assert_rejected(ValueError, r"a must be less than b", initlib.trunc_normal_, sentinel(), a=0.5, b=0.5)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("uniform_", {"a": math.nan}),
        ("uniform_", {"b": math.inf}),
        ("normal_", {"mean": math.nan}),
        ("constant_", {"val": math.inf}),
        ("trunc_normal_", {"a": -math.inf}),
    ],
)
def test_other_numbers_must_be_finite(name, kwargs):
    if name == "constant_":
        assert_rejected(ValueError, "val must be finite", initlib.constant_, sentinel(), kwargs["val"])
    else:
        assert_rejected(
            ValueError, f"{next(iter(kwargs))} must be finite", getattr(initlib, name), sentinel(), **kwargs
        )


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("zeros_", "ones_")])  # those two draw nothing
def test_generator_must_be_a_generator(name):
    assert_rejected(
        TypeError, "generator must be a torch.Generator or None", getattr(initlib, name), sentinel(), generator=0
    )


# --- zero-element tensors: returned unchanged once the arguments are checked, with torch's warning ---

EXTRA_ARGS = {"constant_": (0.5,), "sparse_": (0.5,)}


EMPTY_SHAPES = [(0, 5), (5, 0), (0, 0), (0, 3, 3, 3), (4, 0, 3)]
# eye_ and sparse_ take only 2-d tensors, dirac_ only 3-, 4- or 5-d ones: other shapes they refuse whatever
# their size (tested below), so those pairs are not generated here.
DIMS = {"eye_": (2,), "sparse_": (2,), "dirac_": (3, 4, 5)}
ZERO_ELEMENT_CASES = [
    (name, shape)
    for name in ALL + ["constant_", "eye_", "sparse_", "dirac_"]
    for shape in EMPTY_SHAPES
    if len(shape) in DIMS.get(name, (len(shape),))
]


@pytest.mark.parametrize("name,shape", ZERO_ELEMENT_CASES, ids=[f"{n}-{s}" for n, s in ZERO_ELEMENT_CASES])
def test_zero_element_tensors_warn_once_and_are_returned_unchanged(name, shape):
    t = torch.empty(shape)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = getattr(initlib, name)(t, *EXTRA_ARGS.get(name, ()))
    assert out is t and out.shape == shape
    messages = [str(w.message) for w in caught]
    assert messages == ["Initializing zero-element tensors is a no-op"]
    assert caught[0].category is UserWarning and caught[0].filename == __file__  # points at the caller


def test_zero_element_tensors_still_get_their_arguments_checked():
    with pytest.raises(ValueError, match="gain must be positive"):
        initlib.xavier_uniform_(torch.empty(0, 5), gain=-1.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        initlib.variance_scaling_(torch.empty(0, 5), mode="fan")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        initlib.kaiming_normal_(torch.empty(0))


# --- device() and presets ----------------------------------------------------------------------------


def test_device_override_and_errors(monkeypatch):
    monkeypatch.setenv("INITLIB_DEVICE", "cpu")
    assert initlib.device() == torch.device("cpu")
    monkeypatch.setenv("INITLIB_DEVICE", "tpu-please")
    with pytest.raises(ValueError, match=r"device must be 'auto', 'cpu', 'cuda'"):
        initlib.device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("INITLIB_DEVICE", "cuda")
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            initlib.device()


def test_device_default(monkeypatch):
    monkeypatch.delenv("INITLIB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert initlib.device().type == expected


def test_presets(monkeypatch):
    from initlib.course.presets import preset

    monkeypatch.delenv("INITLIB_PRESET", raising=False)
    assert preset().name == ("paper" if torch.cuda.is_available() else "quick")
    assert preset("paper").glorot_width == 1000 and preset("paper").glorot_depth == 5
    assert preset("paper").he_depth == 30
    monkeypatch.setenv("INITLIB_PRESET", "paper")
    assert preset().name == "paper"
    with pytest.raises(ValueError, match=r"preset must be one of 'quick', 'paper'; got 'huge'"):
        preset("huge")


# --- one error class for wrong types: a TypeError that `except ValueError` (torch's) also catches -----


@pytest.mark.parametrize(
    "call",
    [
        lambda: initlib.xavier_uniform_([[1.0]]),
        lambda: initlib.normal_(torch.ones(3, 3, dtype=torch.int64)),
        lambda: initlib.uniform_(torch.empty(3), a="0"),
        lambda: initlib.kaiming_normal_(torch.empty(3, 3), generator=0),
        lambda: initlib.calculate_gain("leaky_relu", True),
        lambda: initlib.sparse_(torch.empty(3, 3), sparsity=None),
        lambda: initlib.module_fans("not a module"),
        lambda: initlib.init_module([nn_linear()], "xavier_uniform"),
    ],
    ids=["list", "int-dtype", "str-bound", "generator", "bool-slope", "none-sparsity", "module_fans", "init_module"],
)
def test_wrong_types_are_init_type_errors_caught_by_except_valueerror(call):
    with pytest.raises(initlib.InitTypeError) as caught:
        call()
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, TypeError)
    try:
        call()
    except ValueError:  # what a torch.nn.init user writes
        pass


def nn_linear():
    return torch.nn.Linear(2, 2)


def test_integers_beyond_float64_are_a_clear_valueerror():
    assert_rejected(
        ValueError, r"^std must be finite, got an integer of 401 digits", initlib.normal_, sentinel(), std=10**400
    )


# --- eye_, dirac_, sparse_ ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), ()])
def test_eye_needs_2_dims(shape):
    assert_rejected(ValueError, r"tensor must have 2 dimensions for eye_, got shape", initlib.eye_, sentinel(shape))


@pytest.mark.parametrize(
    "shape,groups,message",
    [
        ((4, 4), 1, r"tensor must have 3 or 4 or 5 dimensions for dirac_"),
        ((6, 2, 3), 4, r"groups must divide the first dimension, got groups=4 for shape \(6, 2, 3\)"),
        ((6, 2, 3), 0, r"groups must be an integer >= 1, got 0"),
        ((6, 2, 3), 1.5, r"groups must be an integer >= 1, got 1.5"),
    ],
)
def test_dirac_bad_input(shape, groups, message):
    assert_rejected(ValueError, message, initlib.dirac_, sentinel(shape), groups=groups)


@pytest.mark.parametrize(
    "sparsity,std,message",
    [
        (-0.1, 0.01, r"sparsity must lie in \[0, 1\]"),
        (1.5, 0.01, r"sparsity must lie in \[0, 1\]"),
        (math.nan, 0.01, "sparsity must be finite"),
        (0.5, 0.0, "std must be positive"),
        (0.5, -1.0, "std must be positive"),
    ],
)
def test_sparse_bad_input(sparsity, std, message):
    assert_rejected(ValueError, message, initlib.sparse_, sentinel(), sparsity, std=std)


def test_overflow_is_refused_before_any_write():
    assert_rejected(
        ValueError,
        r"normal_ with mean=1e\+300, std=1.0 puts values in .* overflows float32",
        initlib.normal_,
        sentinel(),
        mean=1e300,
    )
    assert_rejected(
        ValueError,
        r"xavier_uniform_ with gain=1e\+300 .* overflows float32",
        initlib.xavier_uniform_,
        sentinel(),
        gain=1e300,
    )
    assert_rejected(ValueError, "overflows float16", initlib.constant_, sentinel(dtype=torch.float16), 7e4)
    assert_rejected(ValueError, "overflows bfloat16", initlib.uniform_, sentinel(dtype=torch.bfloat16), a=-1e39, b=1e39)
    assert_rejected(ValueError, "overflows float32", initlib.uniform_, sentinel(), a=-3e38, b=3e38)  # b - a
    # just inside the range is fine, and float64 holds what float32 does not
    assert torch.isfinite(initlib.constant_(sentinel(dtype=torch.float16), 6e4)).all()
    assert torch.isfinite(initlib.normal_(sentinel(dtype=torch.float64), mean=1e300)).all()


# --- the module-level entry points: a clear error, never a raw AttributeError or KeyError, and the
# model unchanged (issue: initlib on real models, item 8) ----------------------------------------


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


ENTRY_POINTS = [
    (lambda m: initlib.init_module(m, packed="qkv"), initlib.InitTypeError, "packed must be a dict"),
    (lambda m: initlib.init_module(m, packed={"0": 0}), initlib.InitTypeError, r"packed\['0'\] must be a block"),
    (lambda m: initlib.init_module(m, packed={"0": (4, 3)}), ValueError, r"block sizes \(4, 3\) add up to 7"),
    (lambda m: initlib.init_module(m, tied=3), initlib.InitTypeError, "tied must be one of 'readout', 'first'"),
    (lambda m: initlib.init_module(m, tied="lm_head"), ValueError, "the model has none"),
    (lambda m: initlib.audit(m, packed=[3]), initlib.InitTypeError, "packed must be a dict"),
    (lambda m: initlib.module_fans(m, packed={"2": 3}), ValueError, "2 outputs, not a multiple of 3 blocks"),
    (lambda m: initlib.probe(m, {"x": torch.randn(2, 4)}), TypeError, "inputs must be a tensor or a tuple"),
    (lambda m: initlib.probe(m, torch.randn(2, 4), at="0"), TypeError, "at must be a list of module names"),
    (lambda m: initlib.probe(m, torch.randn(2, 3)), ValueError, r"module '0' \(Linear\) failed on input"),
    (lambda m: initlib.lsuv_(m, torch.randn(2, 3)), ValueError, r"module '0' \(Linear\) failed on input"),
    (lambda m: initlib.lsuv_(m, torch.randn(8, 4), tol=0), ValueError, "tol"),
    (lambda m: initlib.residual_init_([m], "rezero"), ValueError, "rule must be one of"),
    (lambda m: initlib.residual_init_(m, "fixup"), ValueError, "branches must be a non-empty list"),
    (lambda m: initlib.width.parametrize_(m, base=3), TypeError, "base must be an nn.Module or a dict"),
    (
        lambda m: initlib.width.parametrize_(m, base=m, parametrization="ntk"),
        ValueError,
        "parametrization must be one of",
    ),
    (lambda m: initlib.doctor(m, "x"), TypeError, "inputs must be a tensor"),
    (lambda m: initlib.doctor(m, torch.randn(2, 4), seed="0"), ValueError, "seed"),
]


@pytest.mark.parametrize("call, error, message", ENTRY_POINTS)
def test_module_entry_points_name_the_problem_and_change_nothing(call, error, message):
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=message) as caught:
        call(model)
    assert not isinstance(caught.value, (AttributeError, KeyError))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
