"""Turn user data into items that LFs can read with attribute access (``x.text``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from labelloop.errors import ValidationError


class Row(SimpleNamespace):
    """One item: fields by attribute (``x.text``), by key (``x["text"]``) and ``x.get``, as
    on the pandas rows Snorkel passes; mutable, so preprocessors may add fields."""

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        """The field ``key``, or ``default`` when the item has no such field."""
        return self.__dict__.get(key, default)


def _rows_of_columns(columns: list[str], values: list[list[Any]]) -> list[Row]:
    rows = []
    for vals in zip(*values, strict=True):
        r = Row()
        r.__dict__.update(zip(columns, vals, strict=True))
        rows.append(r)
    return rows


def as_rows(items: Any) -> Sequence[Any]:
    """Items as a sequence of objects with attribute access.

    A pandas DataFrame becomes one ``Row`` per row (column names as fields), a dict
    becomes a ``Row``, a string ``Row(text=...)``; other objects are used as they are.
    """
    if hasattr(items, "columns") and hasattr(items, "index") and hasattr(items, "iloc"):
        columns = [str(c) for c in items.columns]
        return _rows_of_columns(columns, [items[c].tolist() for c in items.columns])
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise ValidationError(
            f"items must be a DataFrame or a sequence of items, got {type(items).__name__}"
        )
    out: list[Any] = []
    for it in items:
        if isinstance(it, Mapping):
            r = Row()
            r.__dict__.update(it)
            out.append(r)
        elif isinstance(it, str):
            out.append(Row(text=it))
        else:
            out.append(it)
    return out
