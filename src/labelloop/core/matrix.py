"""The label matrix and the long annotation table, and converters between them.

The label matrix ``L`` has shape ``(n_items, n_sources)``, integer class indices ``0..k-1``
and ``ABSTAIN = -1`` (Snorkel's convention). The long table holds rows
``(item_id, source_id, label)`` (crowd-kit's convention).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop.errors import ValidationError

ABSTAIN: int = -1


def compact_dtype(k: int) -> type[np.signedinteger[Any]]:
    """The smallest signed integer type that holds classes ``-1..k`` (and ``label + 1``).

    ``int8`` up to ``k = 127``, then ``int16``, then ``int32``: a 1M x 10 matrix of ``int8``
    takes 10 MB where ``int64`` takes 80 MB.

    Raises
    ------
    ValidationError
        If ``k`` is negative.
    """
    if k < 0:
        raise ValidationError(f"k must be >= 0, got {k}")
    if k <= np.iinfo(np.int8).max:
        return np.int8
    if k <= np.iinfo(np.int16).max:
        return np.int16
    return np.int32


@dataclass(frozen=True)
class LabelMatrix:
    """A label matrix with the ids of its rows (items) and columns (sources).

    ``L`` is a dense integer array (``-1`` = abstain; compact: see :func:`compact_dtype`) or,
    when read with ``sparse=True``, a SciPy CSR matrix holding ``label + 1`` (0 = abstain).
    """

    L: Any
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
