"""The default label model: chosen from the data, never worse than majority vote by design.

:class:`AutoLabelModel` (registry name ``"auto"``, the default of
``services.weak.fit_label_model`` and ``quality.aggregate``) picks one model of the family and,
for two classes and an F1 metric, a decision threshold.

**Without gold** the votes choose the model: when most votes come from sources that only ever
vote one class (labeling functions, where an abstain says something), :class:`LabelModel`;
otherwise (crowd answers, where an abstain means "not asked") :class:`DawidSkene` with
``abstain="missing"``. A guard then compares the fitted model with majority vote on the rows
where majority vote is confident (at least ``confident_share`` of at least two votes): if they
disagree on more than ``max_disagreement`` of those rows, the model has drifted away from what
the sources plainly say, and majority vote is used instead. For two classes and ``metric="f1"``
the threshold maximises the F1 *expected* under the model's own posterior (the plug-in rule of
Lipton, Elkan and Naryanaswamy, 2014), which needs no labels.

**With gold** (at least ``min_gold`` rows with a known label ``y``) that label-free choice,
fitted without the gold, is the baseline, and gold may overrule it: by another model, or by the
same one anchored on the gold rows (anchoring usually helps, but not always: on three crowd
sets it cost 0.2-0.5 points). Every candidate is scored by ``n_folds``-fold
cross-validation over the labelled rows: it is fitted on all of ``L`` with one fold's labels
hidden and predicts that fold, under the decision rule for ``metric`` (the family's tie rule;
for two classes and an F1 metric also the threshold that maximises the metric on the pooled
out-of-fold posteriors). A candidate replaces the baseline only when it scores higher *and*
beats the baseline in at least ``confidence`` of ``n_bootstrap`` paired bootstrap resamples of
the gold rows: with a few hundred gold rows, differences of a point or two are noise, and
picking the best-looking model on them chose worse models on held-out rows. The winner is
refitted on every label.

These rules and their constants were set on the benchmark data of ``benchmarks/`` (WRENCH
youtube, sms and trec; the crowd sets), see ``benchmarks/results/label_model_selection.md``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Self, get_args

import numpy as np

from labelloop.core.matrix import ABSTAIN
from labelloop.errors import ValidationError
from labelloop.labelmodels._base import (
    BaseLabelModel,
    Metric,
    TieBreak,
    break_ties,
    majority_proba,
    score_predictions,
)
from labelloop.labelmodels._votes import FloatArray, IntArray, Votes
from labelloop.labelmodels.confusion import DawidSkene, HoneypotWeightedVote, OneCoin
from labelloop.labelmodels.label_model import LabelModel
from labelloop.labelmodels.majority import MajorityVoter

CANDIDATES: dict[str, tuple[type[BaseLabelModel], dict[str, Any]]] = {
    "majority": (MajorityVoter, {}),
    "label-model": (LabelModel, {"guardrail": False}),
    "dawid-skene": (DawidSkene, {"abstain": "evidence"}),
    "dawid-skene/missing": (DawidSkene, {"abstain": "missing"}),
    "one-coin": (OneCoin, {}),
    "honeypot": (HoneypotWeightedVote, {}),
}
"""The models :class:`AutoLabelModel` chooses from, in order of preference on a tie."""


def expected_f1_threshold(p1: FloatArray) -> float:
    """The threshold on ``P(class 1)`` that maximises F1 expected under these probabilities.

    Predicting the ``r`` most probable rows positive has expected F1 about
    ``2 * sum(top r) / (r + sum(all))``; the threshold is the smallest probability of the best
    ``r``.
    """
    if p1.size == 0:
        return 0.5
    ranked = np.sort(p1)[::-1]
    f1 = 2 * np.cumsum(ranked) / (np.arange(1, ranked.size + 1) + ranked.sum())
    return float(ranked[int(np.argmax(f1))])


def best_threshold(p1: FloatArray, y: IntArray, metric: Metric) -> tuple[float, float]:
    """The threshold on ``P(class 1)`` that maximises ``metric`` on labelled rows, and its score.

    Among equally good thresholds the middle one is taken.
    """
    cands = np.unique(np.concatenate([p1, [1.0 + 1e-9]]))
    scores = np.array([score_predictions(y, (p1 >= t).astype(np.int64), metric, 2) for t in cands])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    i = int(best[len(best) // 2])
    return float(cands[i]), float(scores[i])


def one_class_share(votes: Votes) -> float:
    """Share of the votes cast by sources that only ever vote one class (labeling functions)."""
    if votes.label.size == 0:
        return 0.0
    pairs = np.unique(votes.col * (int(votes.label.max()) + 1) + votes.label)
    per_source = np.bincount(pairs // (int(votes.label.max()) + 1), minlength=votes.n_sources)
    single = per_source[votes.col] <= 1
    return float(single.mean())


def _subset(votes: Votes, rows: IntArray) -> Votes:
    """The votes of ``rows`` (sorted), renumbered ``0..len(rows)-1``."""
    new = np.full(votes.n_rows, -1, dtype=np.int64)
    new[rows] = np.arange(rows.size)
    keep = new[votes.row] >= 0
    return Votes(
        new[votes.row[keep]],
        votes.col[keep],
        votes.label[keep],
        int(rows.size),
        votes.n_sources,
        votes.n_classes_hint,
    )


def _bootstrap_weights(n: int, n_boot: int, rng: np.random.Generator) -> FloatArray:
    """Poisson bootstrap weights ``(n_boot, n)`` over at most 20,000 rows (others weigh 0)."""
    weights = rng.poisson(1.0, size=(n_boot, min(n, 20_000))).astype(np.float64)
    if n > weights.shape[1]:
        keep = rng.choice(n, weights.shape[1], replace=False)
        full = np.zeros((n_boot, n))
        full[:, keep] = weights
        return full
    return weights


def _bootstrap_scores(
    truth: IntArray, pred: IntArray, metric: Metric, k: int, weights: FloatArray
) -> FloatArray:
    """``metric`` of ``pred`` under each row of bootstrap ``weights``."""
    if metric == "accuracy":
        out: FloatArray = weights @ (pred == truth) / np.maximum(weights.sum(axis=1), 1e-12)
        return out
    classes = [1] if metric == "f1" else list(range(k))
    f1 = np.zeros(weights.shape[0])
    for c in classes:
        tp = weights @ ((pred == c) & (truth == c))
        wrong = weights @ ((pred == c) != (truth == c))
        f1 += np.where(tp + wrong > 0, 2 * tp / np.maximum(2 * tp + wrong, 1e-12), 0.0)
    return f1 / len(classes)


class _Pick(NamedTuple):
    """One decision rule tried in cross-validation."""

    label: str
    name: str
    threshold: float | None
    expected_f1: bool
    anchored: bool
    why: str = ""


class AutoLabelModel(BaseLabelModel):
    """The family's default: cross-validation on gold, else a label-free rule (module docstring).

    Parameters
    ----------
    n_classes:
        Number of classes; inferred when ``None``.
    metric:
        What the choice maximises: ``"accuracy"`` (default), ``"f1"`` (binary F1 of class 1;
        two classes only) or ``"f1_macro"``.
    candidates:
        Names of :data:`CANDIDATES` tried with gold, in order of preference on a tie.
        ``"honeypot"`` is skipped when a fold leaves it no gold.
    n_folds:
        Cross-validation folds over the labelled rows.
    min_gold:
        Fewer labelled rows than this and the label-free rule applies.
    max_cv_rows:
        Cross-validation fits on the labelled rows plus at most this many others (a random
        sample), so choosing stays cheap on millions of rows; the final fit uses every row.
    n_bootstrap, confidence:
        A candidate replaces the label-free choice only when it scores higher in
        cross-validation *and* beats it in at least ``confidence`` of ``n_bootstrap`` paired
        bootstrap resamples of the gold rows.
    label_free_model:
        The candidate used without gold; ``None`` (default) lets the votes choose between
        ``"label-model"`` and ``"dawid-skene/missing"`` (module docstring).
    confident_share, max_disagreement:
        The label-free guard against majority vote (module docstring).
    tie_break:
        Tie policy of ``predict`` (the family's rule).
    random_state:
        Seed of the folds and of the row sample.

    Attributes
    ----------
    model_ : BaseLabelModel
        The chosen model, fitted on every row and label.
    chosen_ : str
        Its name in :data:`CANDIDATES`.
    threshold_ : float or None
        Decision threshold on ``P(class 1)``, or None for the most probable class.
    scores_ : dict
        Score on the gold rows of each decision rule tried: the baseline fitted without gold
        (``"name without gold"``, ``"...@expected-F1"`` for binary F1), and every candidate
        anchored on gold in cross-validation (``"name"``, ``"name@threshold"``). Empty
        without enough gold.
    rule_ : str
        How the choice was made, in words (shown to users).
    """

    def __init__(
        self,
        n_classes: int | None = None,
        *,
        metric: Metric = "accuracy",
        candidates: tuple[str, ...] = (
            "majority",
            "label-model",
            "dawid-skene/missing",
            "dawid-skene",
            "one-coin",
            "honeypot",
        ),
        n_folds: int = 5,
        min_gold: int = 20,
        max_cv_rows: int = 100_000,
        label_free_model: str | None = None,
        n_bootstrap: int = 200,
        confidence: float = 0.95,
        confident_share: float = 0.75,
        max_disagreement: float = 0.15,
        tie_break: TieBreak = "random",
        random_state: int = 0,
    ) -> None:
        self.n_classes = n_classes
        self.metric = metric
        self.candidates = candidates
        self.n_folds = n_folds
        self.min_gold = min_gold
        self.max_cv_rows = max_cv_rows
        self.label_free_model = label_free_model
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.confident_share = confident_share
        self.max_disagreement = max_disagreement
        self.tie_break = tie_break
        self.random_state = random_state

    # ------------------------------------------------------------------ public
    def fit(self, L: object, y: object = None) -> Self:
        """Choose a model on ``L`` (and gold ``y``, -1 unknown), then fit it on everything."""
        votes, k, yy = self._check_fit(L, y)
        self._check_params(k)
        self.scores_: dict[str, float] = {}
        n_gold = 0 if yy is None else int(np.sum(yy != ABSTAIN))
        enough = yy is not None and n_gold >= self.min_gold
        # with enough gold the baseline ignores it: gold has to prove that it helps
        base, base_model, self.rule_ = self._label_free(votes, None if enough else yy, k)
        name, threshold, model = base, None, base_model
        use_expected_f1 = k == 2 and self.metric == "f1"
        if enough and yy is not None:
            pick = self._cross_validate(votes, yy, k, base, base_model)
            name, threshold, use_expected_f1 = pick.name, pick.threshold, pick.expected_f1
            self.rule_ += f"; {pick.why}"
            if pick.anchored:
                model = self._build(name, k).fit(votes, yy)
        if use_expected_f1:
            threshold = expected_f1_threshold(model._proba(votes)[:, 1])
        self.model_ = model
        self.chosen_ = name
        self.threshold_ = threshold
        return self

    def predict(
        self,
        L: object,
        y: object = None,
        *,
        tie_break: TieBreak | None = None,
        threshold: float | None = None,
    ) -> IntArray:
        """Predicted class per row: the chosen threshold if any, else the most probable class."""
        if threshold is None and tie_break is None:
            threshold = getattr(self, "threshold_", None)
        return super().predict(L, y, tie_break=tie_break, threshold=threshold)

    @property
    def class_balance_(self) -> FloatArray:
        """Class balance of the chosen model (vote shares for majority vote)."""
        balance = getattr(self.model_, "class_balance_", None)
        if balance is None:
            return np.full(self.n_classes_, 1.0 / self.n_classes_)
        return np.asarray(balance, dtype=np.float64)

    # ----------------------------------------------------------------- private
    def _proba(self, votes: Votes) -> FloatArray:
        return self.model_._proba(votes)

    def _check_params(self, k: int) -> None:
        if self.metric not in get_args(Metric):
            raise ValidationError(f"metric must be one of {get_args(Metric)}, got {self.metric!r}")
        if self.metric == "f1" and k != 2:
            raise ValidationError(
                f"metric 'f1' is the binary F1 of class 1; with {k} classes use 'f1_macro'"
            )
        named = [*self.candidates, *([self.label_free_model] if self.label_free_model else [])]
        unknown = [c for c in named if c not in CANDIDATES]
        if unknown or not self.candidates:
            raise ValidationError(
                f"candidates and label_free_model must be names of {', '.join(CANDIDATES)}, "
                f"got {unknown or self.candidates!r}"
            )
        if not 0.5 <= self.confidence <= 1.0 or self.n_bootstrap < 1:
            raise ValidationError(
                f"need confidence in [0.5, 1] and n_bootstrap >= 1, got {self.confidence}, "
                f"{self.n_bootstrap}"
            )
        if self.n_folds < 2 or self.min_gold < self.n_folds:
            raise ValidationError(
                f"need n_folds >= 2 and min_gold >= n_folds, got {self.n_folds}, {self.min_gold}"
            )
        if not 0.0 <= self.max_disagreement <= 1.0:
            raise ValidationError(
                f"max_disagreement must be in [0, 1], got {self.max_disagreement}"
            )

    def _build(self, name: str, k: int) -> BaseLabelModel:
        cls, params = CANDIDATES[name]
        return cls(k, tie_break=self.tie_break, **params)  # type: ignore[call-arg]

    def _cross_validate(
        self, votes: Votes, y: IntArray, k: int, base: str, base_model: BaseLabelModel
    ) -> _Pick:
        """Out-of-fold decisions of every candidate; one replaces ``base`` only if clearly better.

        The baseline is ``base_model``, fitted without gold (its decisions on the gold rows need
        no folds); every candidate, ``base`` included, is also tried anchored on gold.
        """
        rng = np.random.default_rng(self.random_state)
        labelled = np.flatnonzero(y != ABSTAIN)
        others = np.flatnonzero(y == ABSTAIN)
        if others.size > self.max_cv_rows:
            others = np.sort(rng.choice(others, self.max_cv_rows, replace=False))
        rows = np.union1d(labelled, others)
        sub, y_sub = _subset(votes, rows), y[rows]
        lab = np.flatnonzero(y_sub != ABSTAIN)
        folds = rng.permutation(lab.size) % self.n_folds
        truth = y_sub[lab]
        expected = k == 2 and self.metric == "f1"
        options: dict[_Pick, IntArray] = {}

        def decide(P: FloatArray, name: str, anchored: bool) -> None:
            tag = "" if anchored else " without gold"
            if expected and not anchored:
                cut = expected_f1_threshold(P[:, 1])
                options[_Pick(f"{name}{tag}@expected-F1", name, None, True, anchored)] = (
                    P[:, 1] >= cut
                ).astype(np.int64)
            else:
                options[_Pick(f"{name}{tag}", name, None, False, anchored)] = break_ties(
                    P, self.tie_break
                )
            if anchored and k == 2 and self.metric != "accuracy":
                cut, _ = best_threshold(P[:, 1], truth, self.metric)
                options[_Pick(f"{name}@{cut:.3f}", name, cut, False, anchored)] = (
                    P[:, 1] >= cut
                ).astype(np.int64)

        decide(base_model._proba(_subset(votes, labelled)), base, anchored=False)
        base_key = next(iter(options))
        for name in dict.fromkeys([base, *self.candidates]):
            P = np.zeros((lab.size, k))
            try:
                for f in range(self.n_folds):
                    held = lab[folds == f]
                    y_f = y_sub.copy()
                    y_f[held] = ABSTAIN
                    P[folds == f] = self._build(name, k).fit(sub, y_f)._proba(_subset(sub, held))
            except ValidationError:  # e.g. honeypot weights with no gold left in a fold
                continue
            decide(P, name, anchored=True)
        boot = _bootstrap_weights(lab.size, self.n_bootstrap, rng)
        base_boot = _bootstrap_scores(truth, options[base_key], self.metric, k, boot)
        chosen, best = base_key, score_predictions(truth, options[base_key], self.metric, k)
        base_score = best
        for key, pred in options.items():
            score = score_predictions(truth, pred, self.metric, k)
            self.scores_[key.label] = score
            if key == base_key or score <= best:
                continue
            wins = float(np.mean(_bootstrap_scores(truth, pred, self.metric, k, boot) > base_boot))
            if wins >= self.confidence:
                chosen, best = key, score
        if chosen == base_key:
            why = (
                f"cross-validation on {lab.size} gold rows found nothing clearly better "
                f"({self.metric} {base_score:.3f})"
            )
        else:
            why = (
                f"cross-validation on {lab.size} gold rows chose {chosen.label} "
                f"({self.metric} {best:.3f} vs {base_score:.3f})"
            )
        return chosen._replace(why=why)

    def _label_free(
        self, votes: Votes, y: IntArray | None, k: int
    ) -> tuple[str, BaseLabelModel, str]:
        share = one_class_share(votes)
        name = self.label_free_model or ("label-model" if share >= 0.5 else "dawid-skene/missing")
        model = self._build(name, k).fit(votes, y)
        mv = majority_proba(votes, k)
        n_votes = np.bincount(votes.row, minlength=votes.n_rows)
        confident = (mv.max(axis=1) >= self.confident_share) & (n_votes >= 2)
        why = (
            f"{name} as configured"
            if self.label_free_model
            else f"{100 * share:.0f}% of votes from one-class sources: {name}"
        )
        if confident.any():
            ours = break_ties(model._proba(votes)[confident], "lowest")
            theirs = break_ties(mv[confident], "lowest")
            disagree = float(np.mean(ours != theirs))
            if disagree > self.max_disagreement:
                fallback = self._build("majority", k).fit(votes, y)
                return (
                    "majority",
                    fallback,
                    f"{why}, which contradicted majority vote on {100 * disagree:.0f}% of its "
                    "confident rows: majority vote used instead",
                )
        return name, model, why
