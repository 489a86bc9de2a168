"""One interface for every result initlib returns: :class:`Record`.

A result is a table: rows (a layer of :class:`initlib.Propagation`, a measured call of
:class:`initlib.ProbeResult` or :class:`initlib.LSUVReport`, a record of
:class:`initlib.TrainResult`, a parameter of :class:`initlib.Audit`) and named columns. Every
result answers the same three calls, with the same meaning:

* ``column(name)``: the column ``name``, one entry per row, first row first; a name that is
  not a column raises a ValueError listing the columns (:meth:`Record.columns`);
* ``to_dict()``: the settings and rows as plain dicts, lists, strings and numbers, where a
  statistic that overflowed (inf or NaN, which JSON cannot hold) becomes None, so that
  ``json.dumps(result.to_dict(), allow_nan=False)`` always succeeds;
* ``to_json(**kwargs)``: ``json.dumps(result.to_dict(), **kwargs)``.

>>> class Table(Record):
...     def __init__(self, rows): self.rows = rows
...     def columns(self): return ("x",)
...     def _payload(self): return {"rows": self.rows}
>>> t = Table([{"x": 1.0}, {"x": float("inf")}])
>>> t.column("x"), t.to_json()
([1.0, inf], '{"rows": [{"x": 1.0}, {"x": null}]}')
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from .._checks import check_choice


def json_ready(value: Any) -> Any:
    """``value`` with every inf/NaN float replaced by None, through dicts, lists, tuples and
    dataclasses (which become dicts); anything else comes back as it is."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_ready(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


class Record:
    """The base of initlib's results. A subclass names its columns (:meth:`columns`), says what a
    column holds (:meth:`_column`; by default the key ``name`` of each item of ``self.rows``) and
    what its dict holds (:meth:`_payload`, cleaned by :func:`json_ready`)."""

    rows: list  # the table's rows, set by a subclass that keeps the default :meth:`_column`

    def columns(self) -> tuple[str, ...]:
        """The names :meth:`column` accepts."""
        raise NotImplementedError(f"{type(self).__name__} must name its columns")

    def _column(self, name: str) -> list:
        return [row[name] if isinstance(row, Mapping) else getattr(row, name) for row in self.rows]

    def _payload(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must say what its dict holds")

    def column(self, name: str) -> list:
        """One column, one entry per row, first row first: ``result.column("pre_var")``."""
        check_choice(name, "name", tuple(self.columns()))
        return self._column(name)

    def to_dict(self) -> dict:
        """A JSON-ready dict; statistics that overflowed (inf/NaN) become None."""
        return json_ready(self._payload())

    def to_json(self, **kwargs) -> str:
        """``json.dumps(self.to_dict(), **kwargs)``."""
        return json.dumps(self.to_dict(), **kwargs)
