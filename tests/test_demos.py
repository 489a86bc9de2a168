"""The demo models and the spec loader shared by ``audit`` and ``probe``."""

import pytest
import torch
from torch import nn

from initlib.course import demos


@pytest.mark.parametrize("name", sorted(demos.DEMOS))
def test_every_demo_runs_on_its_inputs(name):
    model, x = demos.build(name)
    assert isinstance(model, nn.Module) and x.shape[0] == demos.BATCH
    assert model(x).shape[0] == demos.BATCH


def test_a_seed_fixes_model_and_inputs_and_leaves_the_global_generator_alone():
    state = torch.random.get_rng_state()
    (m1, x1), (m2, x2) = demos.build("cnn", seed=3), demos.build("cnn", seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(x1, x2)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    m3, _ = demos.build("cnn", seed=4)
    assert not torch.equal(next(m1.parameters()), next(m3.parameters()))


def test_kwargs_reach_the_factory_and_shape_the_inputs():
    model, x = demos.build("mlp", {"width": 32, "depth": 2})
    assert x.shape == (demos.BATCH, 32) and len([m for m in model if isinstance(m, nn.Linear)]) == 3


def test_a_factory_spec_builds_without_inputs():
    model, x = demos.build("torch.nn:Linear", {"in_features": 3, "out_features": 2})
    assert isinstance(model, nn.Linear) and x is None


@pytest.mark.parametrize(
    "spec, kwargs, message",
    [
        ("nope", None, "spec must be one of 'mlp'"),
        ("no_such_package_xyz:f", None, "cannot load 'f'"),
        ("torch.nn:Linear", {"bogus": 1}, "rejects kwargs"),
        ("math:pi", None, "is not callable"),
        ("fractions:Fraction", {"numerator": 1}, "not a torch.nn.Module"),
    ],
)
def test_bad_specs_are_clear_errors(spec, kwargs, message):
    with pytest.raises(ValueError, match=message):
        demos.build(spec, kwargs)


def test_bad_types():
    with pytest.raises(TypeError, match="spec must be a string"):
        demos.build(3)
    with pytest.raises(TypeError, match="kwargs must be a dict"):
        demos.build("mlp", [1])
