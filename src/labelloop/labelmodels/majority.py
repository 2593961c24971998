"""Majority vote."""

from __future__ import annotations

from labelloop.labelmodels._base import BaseLabelModel, TieBreak, majority_proba
from labelloop.labelmodels._votes import FloatArray, Votes


class MajorityVoter(BaseLabelModel):
    """Each source's vote counts once; the posterior is the share of votes per class.

    Abstains carry no vote; a row where every source abstains gets uniform probabilities.

    Parameters
    ----------
    n_classes:
        Number of classes; inferred from ``L`` (at least 2) when ``None``.
    tie_break:
        How ``predict`` resolves ties, including rows where every source abstains: see
        :mod:`labelloop.labelmodels` (default ``"random"``, Snorkel's and WRENCH's SHA-1 rule,
        so published WRENCH majority-vote numbers reproduce exactly).

    Attributes
    ----------
    n_classes_, n_sources_:
        Set by ``fit``.
    """

    def __init__(self, n_classes: int | None = None, *, tie_break: TieBreak = "random") -> None:
        self.n_classes = n_classes
        self.tie_break = tie_break

    def fit(self, L: object, y: object = None) -> MajorityVoter:
        """Record the number of classes and sources; majority vote learns nothing else.

        ``y`` (gold per row, -1 unknown) is validated; pass it to ``predict_proba`` to clamp.
        """
        self._check_fit(L, y)
        return self

    def _proba(self, votes: Votes) -> FloatArray:
        return majority_proba(votes, self.n_classes_)
