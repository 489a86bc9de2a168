"""Small models that stand for the architectures a practitioner initializes, and a loader for specs.

Each demo is built by a factory with PyTorch's own defaults (no re-initialization), together with a
batch of unit-variance inputs of the right shape, so that ``audit`` and ``probe`` (and their command
lines) can be tried on a convolutional net, a residual stack, a transformer or an LSTM without
writing one first:

>>> model, x = build("resnet")
>>> tuple(model(x).shape)
(8, 10)

A spec is a demo name or ``package.module:factory``; the factory is called with ``kwargs`` and
returns a module, or a ``(module, inputs)`` pair:

>>> model, x = build("torch.nn:Linear", {"in_features": 3, "out_features": 2})
>>> type(model).__name__, x is None
('Linear', True)
"""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

import torch
from torch import nn

BATCH = 8


class ResidualBlock(nn.Module):
    """x + branch(x), with a two-layer ReLU branch: the output of the block is the residual stream."""

    def __init__(self, width: int):
        super().__init__()
        self.branch = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class LastStep(nn.Module):
    """Keep the last time step of a ``(batch, time, features)`` tensor (after an LSTM or encoder)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1]


class FirstOutput(nn.Module):
    """Keep the first element of a tuple output (``nn.LSTM`` returns ``(output, (h, c))``)."""

    def forward(self, x) -> torch.Tensor:
        return x[0]


def mlp(width: int = 64, depth: int = 4, classes: int = 10) -> nn.Sequential:
    """A ReLU MLP with biases: ``depth`` hidden layers of ``width`` units (nn.Linear's default
    init), built as :func:`initlib.measure.training.mlp` builds every MLP."""
    from ..measure.training import mlp as _mlp

    return _mlp([width] * (depth + 1) + [classes], "relu")


def cnn(channels: int = 16, classes: int = 10) -> nn.Sequential:
    """Conv-BN-ReLU twice with pooling, a depthwise-separable block, then a linear classifier."""
    c = channels
    return nn.Sequential(
        nn.Conv2d(3, c, 3, padding=1),
        nn.BatchNorm2d(c),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c, 2 * c, 3, padding=1),
        nn.BatchNorm2d(2 * c),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c),
        nn.Conv2d(2 * c, 2 * c, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * c, classes),
    )


def resnet(width: int = 64, blocks: int = 8, classes: int = 10) -> nn.Sequential:
    """A normalization-free residual MLP: an input layer, ``blocks`` residual blocks, a classifier."""
    return nn.Sequential(
        nn.Linear(width, width), *[ResidualBlock(width) for _ in range(blocks)], nn.Linear(width, classes)
    )


def transformer(d_model: int = 64, heads: int = 4, layers: int = 2, vocab: int = 100) -> nn.Sequential:
    """Token embedding, an ``nn.TransformerEncoder`` (batch first) and a linear read-out."""
    layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=4 * d_model, batch_first=True)
    return nn.Sequential(
        nn.Embedding(vocab, d_model),
        nn.TransformerEncoder(layer, layers, enable_nested_tensor=False),
        LastStep(),
        nn.Linear(d_model, vocab),
    )


def lstm(features: int = 16, hidden: int = 32, layers: int = 2, classes: int = 10) -> nn.Sequential:
    """A stacked LSTM over ``(batch, time, features)`` and a classifier on the last step."""
    return nn.Sequential(
        nn.LSTM(features, hidden, layers, batch_first=True), FirstOutput(), LastStep(), nn.Linear(hidden, classes)
    )


def import_transformers():
    """``transformers``, imported without a torchvision that cannot load.

    PyPI's torchvision wheel is a CUDA build whose ops fail next to a CPU torch, and transformers
    imports torchvision whenever it is installed; its language and vision models need none of it.
    A torchvision whose import fails is therefore hidden (``sys.modules["torchvision"] = None``)."""
    import sys

    if "torchvision" not in sys.modules:
        try:
            importlib.import_module("torchvision")
        except Exception:  # noqa: BLE001 -- any failure: transformers must not try it again
            for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
                del sys.modules[name]
            # None in sys.modules makes `import torchvision` raise ImportError (the import system's
            # documented block); typeshed types sys.modules as dict[str, ModuleType], without it
            sys.modules["torchvision"] = None  # type: ignore[assignment]
    try:
        return importlib.import_module("transformers")
    except ImportError as error:
        raise ValueError(f"transformers is not installed ({error}); pip install transformers") from error


def transformers_model(model: str, config: dict | None = None) -> nn.Module:
    """A transformers model class by name, built from its config class with ``config`` (no
    download): ``transformers_model("GPT2LMHeadModel", {"n_layer": 12})``; in eval mode.

    For the command line: ``python -m initlib doctor initlib.course.demos:transformers_model --kwargs
    '{"model": "GPT2LMHeadModel", "config": {"n_layer": 4}}' --input-shape 2,32 --tokens 1000``.
    """
    T = import_transformers()
    cls = getattr(T, model, None) if isinstance(model, str) else None
    if cls is None or not hasattr(cls, "config_class"):
        raise ValueError(f"model must name a transformers model class, like 'GPT2LMHeadModel'; got {model!r}")
    if config is not None and not isinstance(config, dict):
        raise ValueError(f"config must be a dict of the config class's fields, got {type(config).__name__}")
    return cls(cls.config_class(**(config or {}))).eval()


Inputs = Callable[[dict, torch.Generator], torch.Tensor]

# name: (factory, its inputs from the factory's bound arguments and a generator)
DEMOS: dict[str, tuple[Callable[..., nn.Module], Inputs]] = {
    "mlp": (mlp, lambda a, g: torch.randn(BATCH, a["width"], generator=g)),
    "cnn": (cnn, lambda a, g: torch.randn(BATCH, 3, 16, 16, generator=g)),
    "resnet": (resnet, lambda a, g: torch.randn(BATCH, a["width"], generator=g)),
    "transformer": (transformer, lambda a, g: torch.randint(0, a["vocab"], (BATCH, 12), generator=g)),
    "lstm": (lstm, lambda a, g: torch.randn(BATCH, 12, a["features"], generator=g)),
}


def _import_factory(spec: str) -> Callable:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(
            f"spec must be one of {', '.join(repr(d) for d in DEMOS)} or 'package.module:factory'; got {spec!r}"
        )
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"spec {spec!r}: cannot load {attr!r} from {module_name!r} ({error})") from error
    if not callable(factory):
        raise ValueError(f"spec {spec!r}: {attr!r} is not callable")
    return factory


def random_inputs(shape, tokens: int | None = None, seed: int = 0) -> torch.Tensor:
    """A batch of the given shape: standard normal, or token ids in [0, tokens) when ``tokens``.

    >>> random_inputs((2, 3), tokens=10).dtype
    torch.int64
    """
    if (
        not isinstance(shape, (tuple, list))
        or not shape
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
    ):
        raise ValueError(f"input shape must be positive integers like 8,3,32,32; got {shape!r}")
    gen = torch.Generator().manual_seed(seed)
    if tokens is None:
        return torch.randn(*shape, generator=gen)
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        raise ValueError(f"tokens must be a positive integer (the vocabulary size), got {tokens!r}")
    return torch.randint(0, tokens, tuple(shape), generator=gen)


def build(spec: str, kwargs: dict | None = None, seed: int = 0) -> tuple[nn.Module, torch.Tensor | None]:
    """``(model, inputs)`` for a demo name or a ``package.module:factory`` spec.

    A demo comes with a batch of inputs (standard normal, or token ids for the transformer); a
    factory's inputs are None unless it returns a ``(module, inputs)`` pair. The weights are drawn
    under ``torch.manual_seed(seed)`` with the generator state restored afterwards, and the
    inputs from their own generator, so a spec and a seed always give the same model and batch.
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string, got {type(spec).__name__}")
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict):
        raise TypeError(f"kwargs must be a dict of keyword arguments, got {type(kwargs).__name__}")
    factory, inputs = DEMOS[spec] if spec in DEMOS else (_import_factory(spec), None)
    try:
        bound = inspect.signature(factory).bind(**kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"spec {spec!r}: the factory rejects kwargs {kwargs} ({error})") from error
    bound.apply_defaults()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            made = factory(*bound.args, **bound.kwargs)
        except Exception as error:  # noqa: BLE001 -- the factory's own failure, said as bad input
            raise ValueError(f"spec {spec!r}: the factory raised {type(error).__name__}: {error}") from error
    if isinstance(made, tuple) and len(made) == 2:
        made, inputs_tensor = made
    else:
        inputs_tensor = None if inputs is None else inputs(bound.arguments, torch.Generator().manual_seed(seed))
    if not isinstance(made, nn.Module):
        raise ValueError(f"spec {spec!r}: the factory returned {type(made).__name__}, not a torch.nn.Module")
    return made, inputs_tensor
