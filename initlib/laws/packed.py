"""Packed projections: one weight matrix that holds several maps (q, k and v) side by side.

``nn.MultiheadAttention`` says it packs q/k/v (``in_proj_weight``), but most models write the
same thing as a plain layer: timm's ViT and Swin ``qkv = nn.Linear(E, 3E)``, GPT-2's
``c_attn = Conv1D(3E, E)``, GPT-NeoX's and Bloom's ``query_key_value``, MosaicML's ``Wqkv``.
Read off the shape, such a weight has fans (E, 3E), and Glorot's Var = 2/(fan_in + fan_out)
gives each block 1/(2E) where a q, k or v map of its own gets 1/E (Glorot & Bengio 2010,
eq. 12, per map). Each block is a map of its own, so each gets its own fans.

A layer is packed when its name is one of :data:`PACKED_NAMES` *and* its output is that many
times its input (a name alone is not enough: a ``qkv`` of another shape is left whole). The
caller can add or override: ``packed={"*.attn.proj_qkv": 3}`` (equal blocks), or the block
sizes along the output, ``{"*.qkv_proj": (512, 128, 128)}`` for grouped-query attention whose
k and v are narrower than q; ``{"*.qkv": 1}`` turns detection off. Patterns are matched
(``fnmatch``) against the module's full name and against its last component.

>>> blocks("blocks.0.attn.qkv", 192, 576)
(192, 192, 192)
>>> blocks("blocks.0.attn.qkv", 192, 384) is None  # not 3 x 192: left whole
True
>>> blocks("layers.0.attn.qkv_proj", 512, 768, {"*.qkv_proj": (512, 128, 128)})
(512, 128, 128)
"""

from __future__ import annotations

import fnmatch

from .._checks import InitTypeError

# The names models give a packed q/k/v projection, with its number of blocks.
PACKED_NAMES = {
    "in_proj": 3,
    "qkv": 3,
    "c_attn": 3,
    "query_key_value": 3,
    "Wqkv": 3,
    "qkv_proj": 3,
    "to_qkv": 3,
    "W_pack": 3,
}


def check_packed(packed: object) -> dict:
    """``packed`` as a dict {pattern: a block count >= 1, or a tuple of block sizes >= 1}."""
    if packed is None:
        return {}
    if not isinstance(packed, dict):
        raise InitTypeError(
            f"packed must be a dict {{module-name pattern: blocks}} or None, got {type(packed).__name__}"
        )
    for pattern, spec in packed.items():
        ok_count = isinstance(spec, int) and not isinstance(spec, bool) and spec >= 1
        ok_sizes = (
            isinstance(spec, (tuple, list))
            and len(spec) >= 1
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in spec)
        )
        if not isinstance(pattern, str) or not (ok_count or ok_sizes):
            raise InitTypeError(
                f"packed[{pattern!r}] must be a block count >= 1 or a tuple of block sizes "
                f"(e.g. 3, or (512, 128, 128)), got {spec!r}"
            )
    return dict(packed)


def blocks(name: str, in_features: int, out_features: int, packed: dict | None = None) -> tuple | None:
    """The output sizes of the blocks of the layer ``name`` (in -> out), or None when it is one map."""
    last = name.rsplit(".", 1)[-1]
    for pattern, spec in (packed or {}).items():
        if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(last, pattern):
            return _sizes(spec, out_features, name, pattern)
    k = PACKED_NAMES.get(last)
    if k is not None and out_features == k * in_features:
        return (in_features,) * k
    return None


def _sizes(spec, out_features: int, name: str, pattern: str) -> tuple | None:
    if isinstance(spec, int):
        if spec == 1:
            return None
        if out_features % spec:
            raise ValueError(
                f"packed[{pattern!r}]: layer {name!r} has {out_features} outputs, not a multiple of {spec} blocks"
            )
        return (out_features // spec,) * spec
    if sum(spec) != out_features:
        raise ValueError(
            f"packed[{pattern!r}]: block sizes {tuple(spec)} add up to {sum(spec)}, but layer "
            f"{name!r} has {out_features} outputs"
        )
    return tuple(spec) if len(spec) > 1 else None
