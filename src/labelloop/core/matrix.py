"""The label matrix and the long annotation table, and converters between them.

The label matrix ``L`` has shape ``(n_items, n_sources)``, integer class indices ``0..k-1``
and ``ABSTAIN = -1`` (Snorkel's convention). The long table holds rows
``(item_id, source_id, label)`` (crowd-kit's convention).
"""

from __future__ import annotations

from collections.abc import Hashable
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
