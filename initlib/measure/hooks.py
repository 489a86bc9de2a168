"""Hooks: the one place where initlib registers and removes torch hooks (as fastai's ``Hooks``).

Every measurement in the library (:func:`initlib.probe`, :func:`initlib.lsuv_`, the width
checks, the failure locator) attaches functions to modules or parameters for the length of one
pass and must take every one of them off again, even when the pass raises. :func:`hooks` is a
context manager that collects the handles and removes them all on exit:

>>> import torch
>>> from torch import nn
>>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
>>> shapes = []
>>> with hooks() as h:
...     for layer in (model[0], model[2]):
...         _ = h.forward(layer, lambda m, args, out: shapes.append(tuple(out.shape)))
...     _ = model(torch.randn(5, 4))
>>> shapes, len(h), len(model[0]._forward_hooks)
([(5, 3), (5, 2)], 0, 0)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Callable

import torch
from torch import nn


class Hooks:
    """The handles of the hooks registered through it; :meth:`remove` takes them all off."""

    def __init__(self):
        self.handles: list = []

    def forward(self, module: nn.Module, fn: Callable, *, prepend: bool = False, with_kwargs: bool = False):
        """``fn(module, args, output)`` after every call of ``module`` (``torch``'s forward hook;
        ``fn(module, args, kwargs, output)`` with ``with_kwargs``); what ``fn`` returns, if not
        None, replaces the output."""
        return self._keep(module.register_forward_hook(fn, prepend=prepend, with_kwargs=with_kwargs))

    def pre(self, module: nn.Module, fn: Callable):
        """``fn(module, args)`` before every call of ``module``."""
        return self._keep(module.register_forward_pre_hook(fn))

    def accumulated(self, param: torch.Tensor, fn: Callable):
        """``fn(param)`` once the parameter's gradient has been accumulated into ``param.grad``.

        A parameter used at several places (a tied embedding and read-out) gets its gradient
        once, summed over every use: register one function per parameter, not one per use."""
        return self._keep(param.register_post_accumulate_grad_hook(fn))

    def tensor(self, tensor: torch.Tensor, fn: Callable):
        """``fn(grad)`` when the gradient with respect to ``tensor`` is computed (removed with the rest)."""
        return self._keep(tensor.register_hook(fn))

    def _keep(self, handle):
        self.handles.append(handle)
        return handle

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def __len__(self) -> int:
        return len(self.handles)


@contextlib.contextmanager
def hooks() -> Iterator[Hooks]:
    """A :class:`Hooks` whose every hook is removed when the block ends, normally or not."""
    h = Hooks()
    try:
        yield h
    finally:
        h.remove()
