"""Tied parameters: one tensor used by several modules, as a language model's token embedding
and its read-out (``lm_head.weight = wte.weight``, Press & Wolf 2017).

Each module that uses the tensor has its own fans: the Embedding a lookup with fans (1, d), the
read-out a ``Linear(d, V)`` with fans (d, V). Drawn with the Embedding's fans, He's
Var = 2/fan_in is 2, and the read-out multiplies its input's variance by d * 2 (GPT-2 with
d = 256: the logits' variance goes from 0.1 to about 500). The tensor can only be drawn once,
so one user's rule has to be chosen, and it is said which.

>>> from torch import nn
>>> emb, head = nn.Embedding(100, 8), nn.Linear(8, 100, bias=False)
>>> head.weight = emb.weight
>>> model = nn.ModuleDict({"emb": emb, "head": head})
>>> [[full for full, _, _ in users] for users in tied_groups(model)]
[['emb.weight', 'head.weight']]
>>> chosen(tied_groups(model)[0], "readout")[0]
'head.weight'
"""

from __future__ import annotations

from torch import nn

from .._checks import InitTypeError

TIED_RULES = ("readout", "first")


def users(model: nn.Module) -> dict[int, list[tuple[str, nn.Module, str]]]:
    """``{id(parameter): [(full name, module, own name), ...]}``, every module that holds it."""
    found: dict[int, list] = {}
    for prefix, sub in model.named_modules():
        for name, p in sub.named_parameters(recurse=False):
            found.setdefault(id(p), []).append((f"{prefix}.{name}" if prefix else name, sub, name))
    return found


def tied_groups(model: nn.Module) -> list[list[tuple[str, nn.Module, str]]]:
    """The users of each parameter held by more than one module, in ``named_modules()`` order."""
    return [group for group in users(model).values() if len(group) > 1]


def check_tied(tied: object, model: nn.Module) -> str:
    """``tied``: a rule of :data:`TIED_RULES`, or the name of one user of a tied parameter of ``model``."""
    if not isinstance(tied, str):
        raise InitTypeError(
            f"tied must be one of {', '.join(map(repr, TIED_RULES))} or the name of a tied "
            f"parameter, got {type(tied).__name__}"
        )
    names = [full for group in tied_groups(model) for full, _, _ in group]
    if tied not in TIED_RULES and tied not in names:
        raise ValueError(
            f"tied must be one of {', '.join(map(repr, TIED_RULES))} or the name of a tied "
            f"parameter ({', '.join(names) or 'the model has none'}), got {tied!r}"
        )
    return tied


def chosen(group: list, tied: str) -> tuple[str, nn.Module, str]:
    """The user whose rule draws the tensor: the read-out (the last user that is a weight layer,
    which reads the stream out), the first user, or the user named by ``tied``."""
    from .modules import is_weight_layer

    names = [full for full, _, _ in group]
    if tied in names:
        return group[names.index(tied)]
    if tied == "readout":
        layers = [user for user in group if is_weight_layer(user[1])]
        return layers[-1] if layers else group[0]
    if tied == "first":
        return group[0]
    raise ValueError(
        f"tied must be one of {', '.join(map(repr, TIED_RULES))} or one of the tied parameters' "
        f"names ({', '.join(names)}), got {tied!r}"
    )


class TiedWeightWarning(UserWarning):
    """A tensor held by several modules was drawn once, by one user's rule; ``groups`` lists them."""

    def __init__(self, who: str, lines: list[str]):
        self.lines = lines
        super().__init__(f"{who}: {len(lines)} tied parameter(s), each drawn once: " + "; ".join(lines))
