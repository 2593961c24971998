"""The label matrix and the long annotation table, and converters between them.

The label matrix ``L`` has shape ``(n_items, n_sources)``, integer class indices ``0..k-1``
and ``ABSTAIN = -1`` (Snorkel's convention). The long table holds rows
``(item_id, source_id, label)`` (crowd-kit's convention).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from labelloop.errors import ValidationError

ABSTAIN: int = -1


@dataclass(frozen=True)
class LabelMatrix:
    """A label matrix with the ids of its rows (items) and columns (sources)."""

    L: npt.NDArray[np.int64]
    item_ids: list[Hashable]
    source_ids: list[Hashable]


def check_label_matrix(L: object, *, k: int | None = None) -> npt.NDArray[np.int64]:
    """Validate a label matrix and return it as a 2-D ``int64`` array.

    Raises
    ------
    ValidationError
        If it is not 2-D, holds non-integers, or labels outside ``-1..k-1``.
    """
    arr = np.asarray(L)
    if arr.ndim != 2:
        raise ValidationError(
            f"label matrix must be 2-D (n_items, n_sources), got shape {arr.shape}"
        )
    integral = np.issubdtype(arr.dtype, np.integer) or np.all(np.equal(np.mod(arr, 1), 0))
    if arr.size and not integral:
        raise ValidationError("label matrix must hold integer class indices or -1 (ABSTAIN)")
    out = arr.astype(np.int64, copy=False)
    if out.size and out.min() < ABSTAIN:
        raise ValidationError(
            f"label matrix holds {out.min()}; labels are 0..k-1 or -1 (ABSTAIN)"
        )
    if k is not None and out.size and out.max() >= k:
        raise ValidationError(
            f"label matrix holds class {out.max()} but k={k} (classes 0..{k - 1})"
        )
    return out


def long_to_matrix(
    item_ids: Sequence[Hashable],
    source_ids: Sequence[Hashable],
    labels: Sequence[int],
    *,
    items: Sequence[Hashable] | None = None,
    sources: Sequence[Hashable] | None = None,
) -> LabelMatrix:
    """Pivot a long annotation table into a label matrix.

    Parameters
    ----------
    item_ids, source_ids, labels:
        Parallel columns of the long table.
    items, sources:
        Row and column order; by default the order of first appearance.
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
    L = np.full((len(row_order), len(col_order)), ABSTAIN, dtype=np.int64)
    for it, src, lab in zip(item_ids, source_ids, labels, strict=True):
        if it in rows and src in cols:
            L[rows[it], cols[src]] = int(lab)
    return LabelMatrix(L, row_order, col_order)


def matrix_to_long(
    L: npt.ArrayLike,
    *,
    item_ids: Sequence[Hashable] | None = None,
    source_ids: Sequence[Hashable] | None = None,
) -> list[tuple[Hashable, Hashable, int]]:
    """Turn a label matrix into long rows ``(item_id, source_id, label)``, skipping abstains."""
    M = check_label_matrix(L)
    rows = list(range(M.shape[0])) if item_ids is None else list(item_ids)
    cols = list(range(M.shape[1])) if source_ids is None else list(source_ids)
    ii, jj = np.nonzero(M != ABSTAIN)
    return [(rows[i], cols[j], int(M[i, j])) for i, j in zip(ii, jj, strict=True)]
