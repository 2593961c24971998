"""Per-LF statistics: polarity, coverage, overlaps, conflicts, and accuracy against gold."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.core.matrix import ABSTAIN
from labelloop.core.stats import wilson_interval
from labelloop.errors import ValidationError
from labelloop.labelmodels import check_targets, to_dense


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
        self.L = to_dense(L)
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
        return [sorted(set(np.unique(col[col != ABSTAIN]).tolist())) for col in self.L.T]

    def lf_coverages(self) -> npt.NDArray[np.float64]:
        """Fraction of items each LF votes on."""
        return self._voted.mean(axis=0) if self.L.shape[0] else np.zeros(self.L.shape[1])

    def lf_overlaps(self) -> npt.NDArray[np.float64]:
        """Fraction of items where the LF votes and at least one other LF votes too."""
        others = self._voted.sum(axis=1, keepdims=True) - self._voted
        return self._mean(self._voted & (others > 0))

    def lf_conflicts(self) -> npt.NDArray[np.float64]:
        """Fraction of items where the LF votes and another LF votes a different class."""
        k = int(self.L.max()) + 1 if self.L.size else 0
        per_class = np.stack([np.equal(self.L, c).sum(axis=1) for c in range(k)], axis=1)
        n_votes = self._voted.sum(axis=1)
        out = np.zeros(self.L.shape, dtype=bool)
        for j in range(self.L.shape[1]):
            lab = self.L[:, j]
            same = np.where(lab >= 0, per_class[np.arange(len(lab)), np.maximum(lab, 0)], 0)
            out[:, j] = (lab >= 0) & (n_votes - same > 0)
        return self._mean(out)

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
        hi = np.where(self._voted, self.L, -1).max(axis=1)
        lo = np.where(self._voted, self.L, np.iinfo(np.int64).max).min(axis=1)
        return float(np.mean(self._voted.any(axis=1) & (hi != lo)))

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
    def _mean(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        return mask.mean(axis=0) if self.L.shape[0] else np.zeros(self.L.shape[1])

    def _gold(self, Y: object) -> npt.NDArray[np.int64]:
        yy = np.asarray(Y)
        k = max(int(self.L.max()) + 1 if self.L.size else 0, int(yy.max()) + 1 if yy.size else 0)
        return check_targets(yy, self.L.shape[0], max(k, 1), partial=True)
