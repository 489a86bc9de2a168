"""initlib.train on any module: the same trainer as for widths, the module passed in left alone."""

import pytest
import torch
from torch import nn

import initlib
from initlib.course import demos
from initlib.measure import training


def _data(n=200, features=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    return x, y, x[:100], y[:100]


def test_a_module_starts_exactly_as_the_same_mlp():
    net, data = initlib.MLP([8, 16, 16, 3], "relu", "kaiming_normal"), _data()
    kwargs = dict(steps=0, lr=0.05, batch=10, seed=3, device="cpu")
    from_spec = initlib.train(net, data, **kwargs)
    # the same draw as train's: a CPU generator seeded with the seed, zero biases
    module = net.module(torch.Generator().manual_seed(3), logits=True, zero_bias=True)
    from_module = initlib.train(module, data, **kwargs)
    assert from_module.widths == from_spec.widths and from_module.init == "(the module's own)"
    for key in ("train_loss", "test_error", "grad_var", "weight_grad_var", "pre_var", "weight_var", "bias_var"):
        assert getattr(from_module, key) == getattr(from_spec, key)
    assert training.mlp([8, 16, 16, 3], "relu")[-1].out_features == 3  # the logits: no activation on top


def test_the_module_keeps_its_weights_and_is_not_changed():
    model = nn.Sequential(nn.Linear(8, 4), demos.ResidualBlock(4), nn.Linear(4, 3, bias=False))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    r = initlib.train(model, data=_data(), steps=20, lr=0.1, batch=10, record_every=10, device="cpu")
    assert r.init == "(the module's own)" and r.widths == [8, 4, 4, 4, 3]  # every Linear, nested too
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    expected = float(model[0].weight.detach().square().mean())
    assert r.weight_var[0][0] == pytest.approx(expected)  # step 0: the module's own weights
    assert r.bias_var[0][-1] == 0.0 and r.train_loss[-1] < r.train_loss[0]


def test_module_errors():
    with pytest.raises(ValueError, match="no nn.Linear layer"):
        initlib.train(nn.Sequential(nn.ReLU()), data=_data(), steps=1)
    with pytest.raises(ValueError, match="needs an MLP, not a module"):
        initlib.train(nn.Linear(8, 3), data=_data(), steps=1, seed=[0, 1])
    with pytest.raises(TypeError, match="net must be an initlib.MLP"):
        initlib.train([8, 16, 3], data=_data(), steps=1)
    with pytest.raises(ValueError, match="widths\\[0\\] = 5 must equal"):
        initlib.train(nn.Linear(5, 3), data=_data(), steps=1)
