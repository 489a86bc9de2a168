"""Where experiments run: the fastest device present, unless ``INITLIB_DEVICE`` says otherwise."""

from __future__ import annotations

import os

import torch

ENV_VAR = "INITLIB_DEVICE"


def device() -> torch.device:
    """``cuda`` if available, else ``mps``, else ``cpu``; ``INITLIB_DEVICE=cpu`` (or any torch
    device string) overrides it.

    >>> device().type in ("cuda", "mps", "cpu")
    True
    """
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return resolve_device(override)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(spec: str | torch.device | None = None) -> torch.device:
    """Turn ``None``/``"auto"`` into :func:`device`, and check that a named device exists."""
    if spec is None or (isinstance(spec, str) and spec == "auto"):
        return device()
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {spec!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} was asked for, but this torch build sees no CUDA GPU; use 'cpu' or 'auto'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {spec!r} was asked for, but MPS is not available; use 'cpu' or 'auto'")
    return dev
