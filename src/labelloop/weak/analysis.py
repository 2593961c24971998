"""Per-LF statistics: polarity, coverage, overlaps, conflicts, and accuracy against gold.

Memory stays bounded for large projects: the matrix is held compact (``int8`` for up to 127
classes, whatever form it came in: dense, SciPy sparse or a long table) and every statistic
is computed over blocks of :data:`BLOCK` rows, so temporaries never grow with ``n``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.core.matrix import ABSTAIN, compact_dtype
from labelloop.core.stats import wilson_interval
from labelloop.errors import ValidationError
from labelloop.labelmodels import check_targets, to_dense

BLOCK = 65_536
"""Rows per block of every statistic."""


def _compact(L: object) -> npt.NDArray[np.signedinteger[Any]]:
    """The votes as a dense matrix of the smallest integer type that holds them.

    SciPy sparse input (``label + 1``, 0 = abstain) is filled in without an ``int64`` copy.
    """
    if hasattr(L, "tocoo") and hasattr(L, "nnz"):
        coo = L.tocoo()
        if coo.nnz and coo.data.min() < 0:
            raise ValidationError(
                f"sparse label matrix holds {coo.data.min()}; it stores label + 1 (0 = abstain)"
            )
        dtype = compact_dtype(int(coo.data.max()) if coo.nnz else 1)
        out = np.full(coo.shape, ABSTAIN, dtype=dtype)
        out[coo.row, coo.col] = coo.data - 1
        return out
    dense = to_dense(L)
    return dense.astype(compact_dtype(int(dense.max()) + 1 if dense.size else 1), copy=False)


class LFAnalysis:
    """Statistics of the columns of a label matrix.

    Parameters
    ----------
    L:
        ``(n, m)`` votes, -1 = abstain.
    lfs:
        The labeling functions (for their ``name``) or the column names; default
        ``lf_0 .. lf_{m-1}``.
    """

    def __init__(self, L: object, lfs: Sequence[Any] | None = None) -> None:
        self.L = _compact(L)
        m = self.L.shape[1]
        if lfs is None:
            self.names = [f"lf_{j}" for j in range(m)]
        else:
            self.names = [x if isinstance(x, str) else str(getattr(x, "name", x)) for x in lfs]
            if len(self.names) != m:
                raise ValidationError(f"got {len(self.names)} LFs for a matrix with {m} columns")
        self._voted = self.L != ABSTAIN

    # -------------------------------------------------------------- per LF
    def lf_polarities(self) -> list[list[int]]:
        """Sorted classes each LF ever votes."""
        k = self._k()
        seen = np.zeros((self.L.shape[1], k), dtype=bool)
        for block in self._blocks():
            for c in range(k):
                seen[:, c] |= (block == c).any(axis=0)
        return [np.flatnonzero(row).tolist() for row in seen]

    def lf_coverages(self) -> npt.NDArray[np.float64]:
        """Fraction of items each LF votes on."""
        return self._voted.mean(axis=0) if self.L.shape[0] else np.zeros(self.L.shape[1])

    def lf_overlaps(self) -> npt.NDArray[np.float64]:
        """Fraction of items where the LF votes and at least one other LF votes too."""
        total = np.zeros(self.L.shape[1])
        for block in self._blocks():
            voted = block != ABSTAIN
            others = voted.sum(axis=1, keepdims=True) - voted
            total += (voted & (others > 0)).sum(axis=0)
        return self._per_item(total)

    def lf_conflicts(self) -> npt.NDArray[np.float64]:
        """Fraction of items where the LF votes and another LF votes a different class."""
        k = self._k()
        total = np.zeros(self.L.shape[1])
        for block in self._blocks():
            per_class = np.zeros((len(block), max(k, 1)), dtype=np.int64)
            for c in range(k):
                per_class[:, c] = (block == c).sum(axis=1)
            voted = block >= 0
            n_votes = voted.sum(axis=1, keepdims=True)
            same = np.take_along_axis(per_class, np.maximum(block, 0).astype(np.intp), axis=1)
            total += (voted & (n_votes - same > 0)).sum(axis=0)
        return self._per_item(total)

    def lf_correct_incorrect(
        self, Y: object
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Counts of right and wrong votes per LF against gold ``Y`` (-1 = unknown)."""
        y = self._gold(Y)
        known = (y != ABSTAIN)[:, None] & self._voted
        right = known & (y[:, None] == self.L)
        return right.sum(axis=0), (known & ~right).sum(axis=0)

    def lf_empirical_accuracies(self, Y: object) -> npt.NDArray[np.float64]:
        """Share of each LF's votes (on items with gold) that are right; NaN without votes."""
        right, wrong = self.lf_correct_incorrect(Y)
        total = right + wrong
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, right / np.maximum(total, 1), np.nan)

    # -------------------------------------------------------------- whole matrix
    def label_coverage(self) -> float:
        """Fraction of items with at least one vote."""
        return float(self._voted.any(axis=1).mean()) if self.L.shape[0] else 0.0

    def label_overlap(self) -> float:
        """Fraction of items with at least two votes."""
        return float((self._voted.sum(axis=1) > 1).mean()) if self.L.shape[0] else 0.0

    def label_conflict(self) -> float:
        """Fraction of items whose votes disagree."""
        if not self.L.shape[0]:
            return 0.0
        top = np.iinfo(self.L.dtype).max
        n = 0
        for block in self._blocks():
            voted = block != ABSTAIN
            hi = np.where(voted, block, -1).max(axis=1)
            lo = np.where(voted, block, top).min(axis=1)
            n += int((voted.any(axis=1) & (hi != lo)).sum())
        return n / self.L.shape[0]

    def summary(self, Y: object = None, *, confidence: float = 0.95) -> Any:
        """One row per LF: polarity, coverage, overlaps, conflicts; with gold ``Y`` also
        correct, incorrect, empirical accuracy and its Wilson confidence interval.

        Returns a pandas DataFrame indexed by LF name (needs ``labelloop[ml]``).
        """
        pd = require("ml", "pandas", feature="LFAnalysis.summary")
        data: dict[str, Any] = {
            "j": list(range(self.L.shape[1])),
            "polarity": self.lf_polarities(),
            "coverage": self.lf_coverages(),
            "overlaps": self.lf_overlaps(),
            "conflicts": self.lf_conflicts(),
        }
        if Y is not None:
            right, wrong = self.lf_correct_incorrect(Y)
            ci = [
                wilson_interval(int(r), int(r + w), confidence=confidence)
                for r, w in zip(right, wrong, strict=True)
            ]
            data["correct"] = right
            data["incorrect"] = wrong
            data["emp_accuracy"] = self.lf_empirical_accuracies(Y)
            data["ci_low"] = [c[0] for c in ci]
            data["ci_high"] = [c[1] for c in ci]
        return pd.DataFrame(data, index=pd.Index(self.names, name="lf"))

    def plot(self, path: str | Path, Y: object = None) -> Path:
        """Save a PNG: coverage vs empirical accuracy (with CI bars) given ``Y``, else coverage."""
        require("ml", "matplotlib", feature="LFAnalysis.plot").use("Agg")
        plt = require("ml", "matplotlib.pyplot", feature="LFAnalysis.plot")
        out = Path(path)
        cov = self.lf_coverages()
        fig, ax = plt.subplots(figsize=(7, 5))
        if Y is None:
            order = np.argsort(cov)
            ax.barh([self.names[j] for j in order], cov[order])
            ax.set_xlabel("coverage")
        else:
            right, wrong = self.lf_correct_incorrect(Y)
            acc = self.lf_empirical_accuracies(Y)
            ci = np.array(
                [wilson_interval(int(r), int(r + w)) for r, w in zip(right, wrong, strict=True)]
            )
            err = np.abs(ci.T - acc[None, :])
            ax.errorbar(cov, acc, yerr=np.nan_to_num(err), fmt="o", alpha=0.8, capsize=2)
            for j, name in enumerate(self.names):
                ax.annotate(
                    name, (cov[j], acc[j]), fontsize=7, xytext=(3, 3), textcoords="offset points"
                )
            ax.set_xlabel("coverage")
            ax.set_ylabel("empirical accuracy (95% Wilson CI)")
            ax.set_ylim(0, 1.05)
        ax.set_title(
            f"{len(self.names)} labeling functions, label coverage {self.label_coverage():.1%}"
        )
        fig.tight_layout()
        fig.savefig(out, dpi=100)
        plt.close(fig)
        return out

    # -------------------------------------------------------------- helpers
    def _blocks(self) -> Iterator[npt.NDArray[np.signedinteger[Any]]]:
        for start in range(0, self.L.shape[0], BLOCK):
            yield self.L[start : start + BLOCK]

    def _k(self) -> int:
        return int(self.L.max()) + 1 if self.L.size else 0

    def _per_item(self, counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return counts / self.L.shape[0] if self.L.shape[0] else np.zeros(self.L.shape[1])

    def _gold(self, Y: object) -> npt.NDArray[np.int64]:
        yy = np.asarray(Y)
        k = max(int(self.L.max()) + 1 if self.L.size else 0, int(yy.max()) + 1 if yy.size else 0)
        return check_targets(yy, self.L.shape[0], max(k, 1), partial=True)
