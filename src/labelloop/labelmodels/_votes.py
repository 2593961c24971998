"""The votes of a label matrix as sorted triplets, and identical rows collapsed.

Every label model reads its input through :func:`as_votes`: a dense matrix, a SciPy sparse
matrix (storing ``label + 1``, 0 = abstain) or a :class:`~labelloop.core.longtable.LongTable`
(the long form of the same matrix: items are rows, annotators are columns) all become the
non-abstain entries ``(row, col, label)``, sorted by row. Models compute on those entries only,
so a crowd table with thousands of annotators is never made dense.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from labelloop.core.longtable import LongTable
from labelloop.core.matrix import ABSTAIN, check_label_matrix
from labelloop.errors import ValidationError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Votes:
    """Non-abstain entries of an ``(n_rows, n_sources)`` label matrix, sorted by row.

    ``n_classes_hint`` is the class count a :class:`LongTable` declares (it may list classes
    nobody voted), else ``None``.
    """

    row: IntArray
    col: IntArray
    label: IntArray
    n_rows: int
    n_sources: int
    n_classes_hint: int | None = None

    def class_counts(self, k: int) -> FloatArray:
        """Votes per row and class, shape ``(n_rows, k)``."""
        flat = np.bincount(self.row * k + self.label, minlength=self.n_rows * k)
        return flat.reshape(self.n_rows, k).astype(np.float64)

    def row_sums(self, contrib: FloatArray) -> FloatArray:
        """Sum of ``contrib`` (one ``(k,)`` row per entry) over each row's entries."""
        k = contrib.shape[1]
        out = np.empty((self.n_rows, k))
        for c in range(k):
            out[:, c] = np.bincount(self.row, weights=contrib[:, c], minlength=self.n_rows)
        return out

    def dense(self) -> IntArray:
        """The label matrix, ``ABSTAIN`` where no vote."""
        L = np.full((self.n_rows, self.n_sources), ABSTAIN, dtype=np.int64)
        L[self.row, self.col] = self.label
        return L

    def only_sources(self, keep: npt.NDArray[np.bool_]) -> Votes:
        """The votes of the sources where ``keep`` is true (others abstain)."""
        sel = keep[self.col]
        return Votes(
            self.row[sel],
            self.col[sel],
            self.label[sel],
            self.n_rows,
            self.n_sources,
            self.n_classes_hint,
        )

    def transpose(self) -> Votes:
        """Sources as rows and rows as sources."""
        order = np.lexsort((self.row, self.col))
        return Votes(
            self.col[order],
            self.row[order],
            self.label[order],
            self.n_sources,
            self.n_rows,
            self.n_classes_hint,
        )

    def compress(self, y: IntArray | None = None) -> tuple[Votes, IntArray, FloatArray, IntArray]:
        """Collapse identical rows (together with their label in ``y``, -1 = unknown).

        Returns the distinct rows (in order of first appearance), their labels, how many rows
        each stands for, and for each original row the index of its distinct row. Rows are
        grouped by a 64-bit random linear hash, then the grouping is verified and, in the
        unlikely event of a collision, recomputed exactly.
        """
        yy = np.full(self.n_rows, ABSTAIN, dtype=np.int64) if y is None else y
        first, inverse = self._group_rows(yy)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        first, inverse = first[order], rank[inverse]
        remap = np.full(self.n_rows, -1, dtype=np.int64)
        remap[first] = np.arange(first.size)
        sel = remap[self.row] >= 0
        unique = Votes(
            remap[self.row[sel]],
            self.col[sel],
            self.label[sel],
            int(first.size),
            self.n_sources,
            self.n_classes_hint,
        )
        weights = np.bincount(inverse, minlength=first.size).astype(np.float64)
        return unique, yy[first], weights, inverse

    def _group_rows(self, y: IntArray) -> tuple[IntArray, IntArray]:
        n = self.n_rows
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        rng = np.random.default_rng(12345)
        coef = rng.integers(1, 2**62, size=self.n_sources + 1, dtype=np.uint64) | np.uint64(1)
        with np.errstate(over="ignore"):
            h = coef[-1] * (y.astype(np.uint64) + np.uint64(2))
            vals = coef[self.col] * (self.label.astype(np.uint64) + np.uint64(1))
            starts = _row_starts(self.row)
            if starts.size:
                h[self.row[starts]] += np.add.reduceat(vals, starts)
        _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
        first, inverse = first.astype(np.int64), inverse.reshape(-1).astype(np.int64)
        if not self._same_rows(first[inverse], y):
            key = np.concatenate([self.dense(), y[:, None]], axis=1)
            _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
            first, inverse = first.astype(np.int64), inverse.reshape(-1).astype(np.int64)
        return first, inverse

    def _same_rows(self, rep: IntArray, y: IntArray) -> bool:
        """Whether every row equals row ``rep[i]`` (votes and label)."""
        length = np.bincount(self.row, minlength=self.n_rows)
        if not (np.array_equal(length[rep], length) and np.array_equal(y[rep], y)):
            return False
        indptr = np.concatenate([[0], np.cumsum(length)])
        offset = np.arange(self.row.size) - indptr[self.row]
        other = indptr[rep[self.row]] + offset
        return bool(
            np.array_equal(self.col[other], self.col)
            and np.array_equal(self.label[other], self.label)
        )


def _row_starts(row: IntArray) -> IntArray:
    """Positions where a new row begins in a sorted ``row`` array."""
    if row.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate([[True], row[1:] != row[:-1]])).astype(np.int64)


def as_votes(L: object) -> Votes:
    """Validate a label matrix in any accepted form and return its votes.

    Raises
    ------
    ValidationError
        If it is not 2-D, holds non-integers, or labels below -1.
    """
    if isinstance(L, Votes):
        return L
    if isinstance(L, LongTable):  # a long table may hold an annotator's label twice: both count
        order = np.lexsort((L.label, L.annotator, L.item))
        return Votes(
            L.item[order],
            L.annotator[order],
            L.label[order],
            L.n_items,
            L.n_annotators,
            L.n_classes,
        )
    if hasattr(L, "tocsr") and hasattr(L, "nnz"):  # SciPy sparse: label + 1, 0 = abstain
        csr = L.tocsr()
        csr.sum_duplicates()
        data = np.asarray(csr.data)
        if data.size and not np.all(np.equal(np.mod(data, 1), 0)):
            raise ValidationError("label matrix must hold integer class indices or -1 (ABSTAIN)")
        labels = data.astype(np.int64) - 1
        if labels.size and labels.min() < ABSTAIN:
            raise ValidationError(
                f"sparse label matrix holds {labels.min() + 1}; it stores label + 1 (0 = abstain)"
            )
        n, m = csr.shape
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(csr.indptr))
        keep = labels != ABSTAIN
        cols = np.asarray(csr.indices, dtype=np.int64)
        return Votes(rows[keep], cols[keep], labels[keep], int(n), int(m))
    M = np.ascontiguousarray(check_label_matrix(L))
    flat = np.flatnonzero(M != ABSTAIN)
    m = max(M.shape[1], 1)
    return Votes(flat // m, flat % m, M.reshape(-1)[flat], M.shape[0], M.shape[1])


def to_dense(L: object) -> IntArray:
    """Validate a label matrix in any form :func:`as_votes` accepts and return it dense."""
    if isinstance(L, LongTable) or (hasattr(L, "tocsr") and hasattr(L, "nnz")):
        return as_votes(L).dense()
    return check_label_matrix(L)
