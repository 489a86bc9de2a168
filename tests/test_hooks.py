"""initlib.hooks: the one place hooks are registered; every one is removed, even on an error."""

import pytest
import torch
from torch import nn

import initlib
from initlib.measure.hooks import hooks


def _count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()) + sum(
        len(p._post_accumulate_grad_hooks or {}) for p in model.parameters()
    )


def test_every_kind_is_removed_on_error():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="boom"):
        with hooks() as h:
            h.forward(model[0], lambda m, a, o: None)
            h.pre(model[1], lambda m, a: None)
            h.accumulated(model[0].weight, lambda p: None)
            assert len(h) == 3 and _count(model) == 3
            raise RuntimeError("boom")
    assert len(h) == 0 and _count(model) == 0


def test_probe_lsuv_and_the_failure_locator_leave_no_hook():
    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    x = torch.randn(16, 8)
    initlib.probe(model, x)
    initlib.lsuv_(model, x)
    with pytest.raises(ValueError):
        initlib.probe(model, torch.randn(16, 3))
    assert _count(model) == 0


def test_gradient_hook_sees_the_gradient():
    model = nn.Linear(4, 2)
    seen = []
    with hooks() as h:
        h.accumulated(model.weight, lambda p: seen.append(p.grad.clone()))
        model(torch.ones(3, 4)).sum().backward()
    assert torch.allclose(seen[0], torch.full((2, 4), 3.0))
