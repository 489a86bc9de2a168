"""initlib.train on any module: the same trainer as for widths, the module passed in left alone."""

import pytest
import torch
from torch import nn

import initlib
from initlib import demos, training


def _data(n=200, features=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    return x, y, x[:100], y[:100]


def test_a_module_trains_exactly_as_the_same_widths():
    widths, data = [8, 16, 16, 3], _data()
    kwargs = dict(data=data, steps=30, lr=0.05, batch=10, seed=3, record_every=10, device="cpu")
    from_widths = initlib.train(widths, "relu", "kaiming_normal", **kwargs)
    from_module = initlib.train(training.mlp(widths, "relu"), init="kaiming_normal", **kwargs)
    assert from_module.widths == widths and from_module.init == "kaiming_normal"
    for key in ("train_loss", "test_error", "grad_var", "weight_grad_var", "pre_var", "bias_var"):
        assert getattr(from_module, key) == getattr(from_widths, key)


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
    with pytest.raises(ValueError, match="need an init"):
        initlib.train(nn.Linear(8, 3), data=_data(), steps=1, gain=2.0)
    with pytest.raises(ValueError, match="widths\\[0\\] = 5 must equal"):
        initlib.train(nn.Linear(5, 3), data=_data(), steps=1)
