"""The long annotation table, encoded once, and its conversion to and from the label matrix.

This is the one converter between the two canonical shapes: :func:`as_long_table` reads a long
table or a label matrix (matrix -> long), :meth:`LongTable.to_matrix` gives the label matrix
(long -> matrix); :func:`encode_gold` turns ``{item: label}`` gold into one class code per row
of that matrix. :func:`long_to_matrix` and :func:`matrix_to_long` are the same conversion for
columns of integer class indices, keeping the ids' order of first appearance. Numpy only, no
I/O.

A long table has one row per judgement: ``(item, annotator, label)``. It may be given as

- a pandas DataFrame (or any mapping of columns) with columns ``item``, ``annotator`` and
  ``label`` (the aliases ``item_id``/``source_id``/``worker``/``task``/``value`` are accepted),
- a sequence of ``(item, annotator, label)`` rows,
- a :class:`~labelloop.core.matrix.LabelMatrix` or a 2-D array of shape
  ``(n_items, n_sources)``: the weak-supervision view, where annotators are sources. Missing
  cells are ``ABSTAIN`` (-1) in an integer array and ``NaN`` in a float array.

:func:`as_long_table` validates it once and returns a :class:`LongTable` whose columns are
integer codes into ``items``, ``annotators`` and ``classes``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import ABSTAIN, LabelMatrix, check_label_matrix
from labelloop.errors import ValidationError

_ALIASES = {
    "item": ("item", "item_id", "task", "question"),
    "annotator": ("annotator", "source_id", "source", "worker", "annotator_id"),
    "label": ("label", "value", "answer"),
}


@dataclass(frozen=True)
class LongTable:
    """A validated long annotation table, encoded as integer codes.

    Attributes
    ----------
    item, annotator, label:
        Parallel ``int64`` arrays: codes into ``items``, ``annotators`` and ``classes``.
    items, annotators, classes:
        The distinct item ids, annotator ids and label values, in code order.
    """

    item: npt.NDArray[np.int64]
    annotator: npt.NDArray[np.int64]
    label: npt.NDArray[np.int64]
    items: list[Hashable]
    annotators: list[Hashable]
    classes: list[Hashable]

    @property
    def n_items(self) -> int:
        """Number of distinct items."""
        return len(self.items)

    @property
    def n_annotators(self) -> int:
        """Number of distinct annotators."""
        return len(self.annotators)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def __len__(self) -> int:
        return int(self.label.size)

    def to_matrix(self) -> LabelMatrix:
        """The label matrix ``(n_items, n_annotators)`` of class codes (``ABSTAIN``: no label).

        Rows follow ``items``, columns ``annotators``. Where an annotator labelled an item more
        than once, the last row of the table wins (a label matrix holds one vote per cell).
        """
        L = np.full((self.n_items, self.n_annotators), ABSTAIN, dtype=np.int64)
        L[self.item, self.annotator] = self.label
        return LabelMatrix(L, list(self.items), list(self.annotators))

    def counts(self) -> npt.NDArray[np.int64]:
        """Votes per item and class, shape ``(n_items, n_classes)``."""
        flat = self.item * self.n_classes + self.label
        out = np.bincount(flat, minlength=self.n_items * self.n_classes)
        return out.reshape(self.n_items, self.n_classes)


Column = Sequence[Any] | npt.NDArray[Any]


def _encode(
    values: Column, order: Sequence[Hashable] | None, what: str
) -> tuple[npt.NDArray[np.int64], list[Hashable]]:
    """Codes of ``values`` into ``order`` (default: sorted distinct values, else first seen)."""
    arr = np.asarray(values)
    mixed = arr.dtype.kind == "U" and not isinstance(values, np.ndarray)
    if mixed and not all(isinstance(v, str) for v in values):  # keep ids as they are
        arr = np.asarray(values, dtype=object)
    if arr.dtype.kind in "iu" and arr.size and arr.min() >= 0 and arr.max() < 4 * arr.size:
        present = np.zeros(int(arr.max()) + 1, dtype=bool)
        present[arr] = True
        uniq_vals = np.flatnonzero(present).tolist()
        inverse = (np.cumsum(present) - 1)[arr]
    elif arr.dtype != object:
        uniq_arr, inverse = np.unique(arr, return_inverse=True)
        uniq_vals, inverse = uniq_arr.tolist(), inverse.ravel()
    else:
        uniq_vals = list(dict.fromkeys(arr.tolist()))
        first = {v: i for i, v in enumerate(uniq_vals)}
        inverse = np.fromiter((first[v] for v in arr.tolist()), np.int64, count=arr.size)
        with contextlib.suppress(TypeError):
            ranked = sorted(range(len(uniq_vals)), key=uniq_vals.__getitem__)
            uniq_vals = [uniq_vals[i] for i in ranked]
            inverse = np.argsort(ranked)[inverse]
    if order is None:
        return inverse.astype(np.int64), uniq_vals
    wanted = list(order)
    index = {v: i for i, v in enumerate(wanted)}
    if len(index) != len(wanted):
        raise ValidationError(f"{what} must be distinct, got {wanted!r}")
    missing = [v for v in uniq_vals if v not in index]
    if missing:
        raise ValidationError(
            f"{what[:-1]} {missing[0]!r} is not one of the given {what}: {wanted!r}"
        )
    mapping = np.array([index[v] for v in uniq_vals], dtype=np.int64)
    return mapping[inverse] if mapping.size else inverse.astype(np.int64), wanted


def _columns(table: object) -> tuple[Column, Column, Column]:
    if isinstance(table, Mapping) or hasattr(table, "columns"):
        # a DataFrame or a mapping of columns: both look columns up by name
        frame = cast(Any, table)
        keys = list(frame.columns) if hasattr(frame, "columns") else list(frame.keys())
        cols: list[npt.NDArray[Any]] = []
        for name, aliases in _ALIASES.items():
            found = next((a for a in aliases if a in keys), None)
            if found is None:
                raise ValidationError(
                    f"the annotation table needs a {name!r} column (or one of {aliases[1:]}), "
                    f"got columns {keys!r}"
                )
            cols.append(np.asarray(frame[found]))
        return cols[0], cols[1], cols[2]
    rows = list(table)  # type: ignore[call-overload]
    bad = next((r for r in rows if len(r) < 3), None)
    if bad is not None:
        raise ValidationError(f"each row must be (item, annotator, label), got {bad!r}")
    if not rows:
        return [], [], []
    items, annotators, labels = zip(*((r[0], r[1], r[2]) for r in rows), strict=True)
    return items, annotators, labels


def _from_matrix(M: npt.NDArray[Any], classes: Sequence[Hashable] | None) -> LongTable:
    if M.ndim != 2:
        raise ValidationError(f"a label matrix must be 2-D (n_items, n_sources), got {M.shape}")
    present = ~np.isnan(M) if np.issubdtype(M.dtype, np.floating) else M != ABSTAIN
    ii, jj = np.nonzero(present)
    values = M[ii, jj]
    if np.issubdtype(M.dtype, np.integer) and classes is None:
        classes = list(range(int(values.max()) + 1 if values.size else 0))
    codes, cls = _encode(values, classes, "classes")
    return LongTable(
        ii.astype(np.int64),
        jj.astype(np.int64),
        codes,
        list(range(M.shape[0])),
        list(range(M.shape[1])),
        cls,
    )


def as_long_table(
    table: object,
    *,
    classes: Sequence[Hashable] | None = None,
    annotators: Sequence[Hashable] | None = None,
) -> LongTable:
    """Validate an annotation table in any accepted form and encode it.

    Parameters
    ----------
    table:
        A DataFrame or mapping of columns, a sequence of ``(item, annotator, label)`` rows, a
        :class:`LongTable`, a :class:`~labelloop.core.matrix.LabelMatrix`, or a 2-D array
        ``(n_items, n_sources)`` (missing: ``-1`` in integer arrays, ``NaN`` in float arrays).
    classes:
        The label values in class order. By default the sorted distinct labels (integer label
        matrices: ``0..max``). Give it to fix the order or to include unseen classes.
    annotators:
        The annotator ids in column order (default: sorted distinct ids). Give the annotators
        of a fitted label model to score a new table with it; an id not listed raises.

    Returns
    -------
    LongTable
    """
    if isinstance(table, LongTable):
        if annotators is not None and list(annotators) != table.annotators:
            ids = np.empty(table.n_annotators, dtype=object)
            ids[:] = table.annotators
            ann, ann_ids = _encode(ids[table.annotator], annotators, "annotators")
            table = LongTable(table.item, ann, table.label, table.items, ann_ids, table.classes)
        if classes is None or list(classes) == table.classes:
            return table
        old = np.empty(table.n_classes, dtype=object)
        old[:] = table.classes
        codes, cls = _encode(old[table.label], classes, "classes")
        return LongTable(table.item, table.annotator, codes, table.items, table.annotators, cls)
    if isinstance(table, LabelMatrix):
        out = _from_matrix(np.asarray(table.L), classes)
        out = LongTable(
            out.item,
            out.annotator,
            out.label,
            list(table.item_ids),
            list(table.source_ids),
            out.classes,
        )
        return out if annotators is None else as_long_table(out, annotators=annotators)
    if isinstance(table, np.ndarray):
        out = _from_matrix(table, classes)
        return out if annotators is None else as_long_table(out, annotators=annotators)
    items, annotator_column, label_column = _columns(table)
    labels = np.asarray(label_column)
    if labels.dtype == object:
        missing = any(v is None or (isinstance(v, float) and np.isnan(v)) for v in labels)
    else:
        missing = np.issubdtype(labels.dtype, np.floating) and bool(np.isnan(labels).any())
    if missing:
        raise ValidationError("labels must not be missing (None/NaN): drop those rows first")
    item_codes, item_ids = _encode(items, None, "items")
    ann_codes, ann_ids = _encode(annotator_column, annotators, "annotators")
    lab_codes, cls = _encode(labels, classes, "classes")
    return LongTable(item_codes, ann_codes, lab_codes, item_ids, ann_ids, cls)


def encode_gold(gold: Mapping[Any, Any] | None, table: LongTable) -> npt.NDArray[np.int64]:
    """Gold labels as class codes per item of ``table`` (``-1`` where an item has no gold).

    Gold for items not in the table is ignored; a gold value that is not a class raises.
    """
    out = np.full(table.n_items, -1, dtype=np.int64)
    if not gold:
        return out
    item_index = {v: i for i, v in enumerate(table.items)}
    class_index = {v: i for i, v in enumerate(table.classes)}
    for item, value in gold.items():
        if item not in item_index:
            continue
        if value not in class_index:
            raise ValidationError(
                f"gold label {value!r} of item {item!r} is not a class; classes are "
                f"{table.classes!r} (pass classes=... to include it)"
            )
        out[item_index[item]] = class_index[value]
    return out


def long_to_matrix(
    item_ids: Sequence[Hashable],
    source_ids: Sequence[Hashable],
    labels: Sequence[int],
    *,
    items: Sequence[Hashable] | None = None,
    sources: Sequence[Hashable] | None = None,
) -> LabelMatrix:
    """Pivot long columns of integer class indices into a label matrix.

    Parameters
    ----------
    item_ids, source_ids, labels:
        Parallel columns of the long table.
    items, sources:
        Row and column order; by default the order of first appearance. Rows of the table
        whose item or source is not listed are left out.
    """
    if not (len(item_ids) == len(source_ids) == len(labels)):
        raise ValidationError(
            "item_ids, source_ids and labels must have the same length, got "
            f"{len(item_ids)}, {len(source_ids)}, {len(labels)}"
        )
    row_order = list(dict.fromkeys(item_ids)) if items is None else list(items)
    col_order = list(dict.fromkeys(source_ids)) if sources is None else list(sources)
    rows = {v: i for i, v in enumerate(row_order)}
    cols = {v: j for j, v in enumerate(col_order)}
    keep = [
        r
        for r, (it, src) in enumerate(zip(item_ids, source_ids, strict=True))
        if it in rows and src in cols
    ]
    lab = np.asarray([int(labels[r]) for r in keep], dtype=np.int64)
    table = LongTable(
        np.asarray([rows[item_ids[r]] for r in keep], dtype=np.int64),
        np.asarray([cols[source_ids[r]] for r in keep], dtype=np.int64),
        lab,
        row_order,
        col_order,
        list(range(int(lab.max()) + 1 if lab.size else 0)),
    )
    return table.to_matrix()


def matrix_to_long(
    L: npt.ArrayLike,
    *,
    item_ids: Sequence[Hashable] | None = None,
    source_ids: Sequence[Hashable] | None = None,
) -> list[tuple[Hashable, Hashable, int]]:
    """Turn a label matrix into long rows ``(item_id, source_id, label)``, skipping abstains."""
    table = _from_matrix(check_label_matrix(L), None)
    rows = table.items if item_ids is None else list(item_ids)
    cols = table.annotators if source_ids is None else list(source_ids)
    return [
        (rows[i], cols[j], int(table.classes[c]))
        for i, j, c in zip(table.item, table.annotator, table.label, strict=True)
    ]
