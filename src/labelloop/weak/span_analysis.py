"""Per-LF statistics of span labeling functions: coverage, overlaps, conflicts, and
precision/recall/F1 against gold spans (exact match of start, end and class)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.core.spans import span_prf
from labelloop.errors import ValidationError
from labelloop.weak.spans import SpanApplyResult, SpanTuple

SpanVotes = Sequence[Sequence[Sequence[SpanTuple]]]
"""``votes[i][j]``: the spans of source ``j`` on item ``i``."""


class SpanLFAnalysis:
    """Statistics of span LFs over the same items.

    Parameters
    ----------
    votes:
        A :class:`~labelloop.weak.spans.SpanApplyResult`, or ``votes[i][j]``: the spans
        ``(start, end, class)`` of LF ``j`` on item ``i``.
    names:
        LF names (default: the result's, else ``lf_0 ..``).
    """

    def __init__(self, votes: SpanApplyResult | SpanVotes,
                 names: Sequence[str] | None = None) -> None:
        if isinstance(votes, SpanApplyResult):
            names = names or votes.lf_names
            votes = votes.spans
        self.votes = votes
        m = len(votes[0]) if len(votes) else len(names or ())
        if any(len(row) != m for row in votes):
            raise ValidationError("every item needs one list of spans per LF")
        self.names = list(names) if names is not None else [f"lf_{j}" for j in range(m)]
        if len(self.names) != m:
            raise ValidationError(f"got {len(self.names)} names for {m} LFs")

    @property
    def m(self) -> int:
        """Number of LFs."""
        return len(self.names)

    def lf_coverages(self) -> npt.NDArray[np.float64]:
        """Share of items on which each LF returns at least one span."""
        if not len(self.votes):
            return np.zeros(self.m)
        has = np.array([[bool(s) for s in row] for row in self.votes], dtype=np.float64)
        return np.asarray(has.mean(axis=0), dtype=np.float64)

    def lf_span_counts(self) -> npt.NDArray[np.int64]:
        """Number of spans each LF returns in all."""
        out = np.zeros(self.m, dtype=np.int64)
        for row in self.votes:
            out += [len(s) for s in row]
        return out

    def _clashes(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Per LF: spans overlapping another LF's span; those with a different class."""
        overlaps = np.zeros(self.m, dtype=np.int64)
        conflicts = np.zeros(self.m, dtype=np.int64)
        for row in self.votes:
            flat = sorted((a, b, c, j) for j, spans in enumerate(row) for a, b, c in spans)
            hit = [False] * len(flat)
            clash = [False] * len(flat)
            for x, (_, b, c, j) in enumerate(flat):
                for y in range(x + 1, len(flat)):
                    a2, _, c2, j2 = flat[y]
                    if a2 >= b:
                        break
                    if j2 != j:
                        hit[x] = hit[y] = True
                        if c2 != c:
                            clash[x] = clash[y] = True
            for (_, _, _, j), h, cl in zip(flat, hit, clash, strict=True):
                overlaps[j] += h
                conflicts[j] += cl
        return overlaps, conflicts

    def lf_overlaps(self) -> npt.NDArray[np.float64]:
        """Share of each LF's spans that share a character with another LF's span."""
        return self._share(self._clashes()[0])

    def lf_conflicts(self) -> npt.NDArray[np.float64]:
        """Share of each LF's spans overlapping another LF's span of a different class."""
        return self._share(self._clashes()[1])

    def _share(self, counts: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        total = self.lf_span_counts()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, counts / np.maximum(total, 1), 0.0)

    def lf_precision_recall(self, gold: Sequence[Sequence[SpanTuple] | None]
                            ) -> npt.NDArray[np.float64]:
        """``(m, 3)``: each LF's precision, recall and F1 against gold spans, exact match,
        over the items with gold (``None`` where an item has none).

        Raises
        ------
        ValidationError
            If ``gold`` does not have one entry per item.
        """
        if len(gold) != len(self.votes):
            raise ValidationError(f"got gold for {len(gold)} items, votes for {len(self.votes)}")
        known = [i for i, g in enumerate(gold) if g is not None]
        out = np.zeros((self.m, 3))
        for j in range(self.m):
            out[j] = span_prf([self.votes[i][j] for i in known],
                              [gold[i] or [] for i in known])
        return out

    def summary(self, gold: Sequence[Sequence[SpanTuple] | None] | None = None) -> Any:
        """One row per LF: spans, coverage, overlaps, conflicts; with gold also
        precision, recall and F1 (exact span match). A pandas DataFrame (``labelloop[ml]``)."""
        pd = require("ml", "pandas", feature="SpanLFAnalysis.summary")
        overlaps, conflicts = self._clashes()
        data: dict[str, Any] = {
            "spans": self.lf_span_counts(),
            "coverage": self.lf_coverages(),
            "overlaps": self._share(overlaps),
            "conflicts": self._share(conflicts),
        }
        if gold is not None:
            prf = self.lf_precision_recall(gold)
            data["precision"], data["recall"], data["f1"] = prf[:, 0], prf[:, 1], prf[:, 2]
        return pd.DataFrame(data, index=pd.Index(self.names, name="lf"))


__all__ = ["SpanLFAnalysis", "SpanVotes", "span_prf"]
