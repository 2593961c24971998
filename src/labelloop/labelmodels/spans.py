"""The span label model: token-level aggregation of span sources, decoded into spans.

Every source (span LF, pre-labeler, person, gold) gives a list of token spans
``(first, last + 1, class)`` per item. Their votes become one token matrix (rows: tokens
of every item, columns: sources, tags of the IO or BIO scheme of
:mod:`labelloop.core.spans`; ``int8`` and only over *candidate* tokens, those at least one
source tags: a token nobody tags is O). A label model of the family
(:func:`~labelloop.labelmodels.make_label_model`: Dawid-Skene by default, majority vote as
the baseline) turns the matrix into token posteriors, and a span-consistent decode turns
those into spans: a constrained Viterbi pass for BIO (no I after O or after another
class), runs of one class for IO, optionally split where sources agree that a new span
starts.

Where a source does not tag a candidate token it says "O" (``silence="O"``: an O vote,
counted from the start), abstains (``"abstain"``: an outcome of its own whose rate per
class the model learns, starting from the votes of the sources that fire) or says nothing
(``"missing"``: only the sources that fire vote). The choice, the scheme, the decode and
the bias towards O are hyperparameters: choose them on labelled validation items
(``benchmarks/spans.py`` does).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import pairwise
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from labelloop.core.spans import Scheme, n_tags, span_prf, spans_to_tags, tags_to_spans
from labelloop.errors import NotFittedError, ValidationError
from labelloop.labelmodels._base import break_ties
from labelloop.labelmodels.label_model import GuardrailWarning

TokenSpan = tuple[int, int, int]
"""``(first, last + 1, class)``: a span in tokens."""
SpanVotes = Sequence[Sequence[Sequence[TokenSpan]]]
"""``votes[i][j]``: the token spans source ``j`` gives item ``i``."""
Silence = Literal["O", "abstain", "missing"]
Decode = Literal["viterbi", "runs", "split"]
FloatArray = npt.NDArray[np.float64]


def token_matrix(votes: SpanVotes, lengths: Sequence[int], *, scheme: Scheme = "IO",
                 silence: Silence = "missing") -> tuple[npt.NDArray[np.int8],
                                                        npt.NDArray[np.bool_]]:
    """The votes as a token matrix over candidate tokens, and the candidate mask.

    Returns ``(L, candidate)``: ``candidate`` (one flag per token of all items, in order)
    marks tokens some source tags; ``L`` has one row per candidate token and one column
    per source, holding the tag (``0`` = O), or -1 where the source is silent and
    ``silence`` is not ``"O"``.

    Raises
    ------
    ValidationError
        If items and lengths disagree, a span leaves its item, or sources differ in number.
    """
    if len(votes) != len(lengths):
        raise ValidationError(f"got votes for {len(votes)} items and {len(lengths)} lengths")
    m = len(votes[0]) if len(votes) else 0
    total = int(sum(lengths))
    dense = np.full((total, m), 0 if silence == "O" else -1, dtype=np.int8)
    off = 0
    for i, (row, n) in enumerate(zip(votes, lengths, strict=True)):
        if len(row) != m:
            raise ValidationError(f"item {i} has spans of {len(row)} sources, expected {m}")
        for j, spans in enumerate(row):
            for a, b, c in spans:
                if not 0 <= a < b <= n or c < 0:
                    raise ValidationError(f"item {i}, source {j}: span ({a}, {b}, {c}) is "
                                          f"not inside its {n} tokens")
            if spans:
                tags = spans_to_tags(spans, n, scheme=scheme, outside=-1)
                hit = tags >= 0
                dense[off:off + n][hit, j] = tags[hit]
        off += n
    candidate: npt.NDArray[np.bool_] = np.asarray((dense > 0).any(axis=1), dtype=bool)
    matrix: npt.NDArray[np.int8] = dense[candidate]
    return matrix, candidate


def _gold_tags(y: Sequence[Sequence[TokenSpan] | None], lengths: Sequence[int],
               scheme: Scheme) -> npt.NDArray[np.int64]:
    """Gold tag per token, -1 for tokens of items without gold."""
    parts = [np.full(n, -1, dtype=np.int64) if g is None else spans_to_tags(g, n, scheme=scheme)
             for g, n in zip(y, lengths, strict=True)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def viterbi_bio(log_p: FloatArray) -> npt.NDArray[np.int64]:
    """The most probable valid BIO tag sequence for one item's token log-posteriors.

    Tags: 0 = O, ``2c + 1`` = B-c, ``2c + 2`` = I-c. I-c may only follow B-c or I-c.
    """
    n, t = log_p.shape
    allowed = np.ones((t, t), dtype=bool)  # allowed[prev, cur]
    for cur in range(2, t, 2):  # I tags
        allowed[:, cur] = False
        allowed[cur - 1, cur] = allowed[cur, cur] = True
    trans = np.where(allowed, 0.0, -np.inf)
    start = np.array([0.0 if (tag == 0 or tag % 2 == 1) else -np.inf for tag in range(t)])
    score = start + log_p[0]
    back = np.zeros((n, t), dtype=np.int64)
    for r in range(1, n):
        cand = score[:, None] + trans
        back[r] = cand.argmax(axis=0)
        score = cand.max(axis=0) + log_p[r]
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for r in range(n - 1, 0, -1):
        path[r - 1] = back[r, path[r]]
    return path


class SpanLabelModel:
    """Aggregate span sources per token and decode consistent spans.

    Parameters
    ----------
    n_classes:
        Number of entity classes (O not counted); inferred from the votes when ``None``.
    base:
        The token-level label model, a name of :data:`~labelloop.labelmodels.LABEL_MODELS`
        (``"dawid-skene"``: a confusion matrix per source; ``"majority"``: WRENCH's
        token majority vote, the baseline).
    scheme:
        ``"IO"`` or ``"BIO"`` tags.
    silence:
        What a source that does not tag a candidate token says: ``"O"``, an abstain
        (``"abstain"``, evidence of its own) or nothing (``"missing"``).
    decode:
        ``"viterbi"`` (BIO: the best valid tag sequence), ``"runs"`` (IO: each run of one
        class is a span) or ``"split"`` (IO runs, split where a source's span starts and
        no source's span crosses). Default: ``"viterbi"`` for BIO, ``"runs"`` for IO.
    o_bias:
        Added to the log-posterior of O before decoding (> 0: fewer, surer spans).
    guardrail, guardrail_margin:
        With gold ``y`` on at least ``guardrail_min_items`` items, compare this model with
        majority vote by 2-fold cross-fitted span F1 on them and fall back to majority vote
        (a :class:`GuardrailWarning`) when worse by more than the margin.
    **params:
        Hyperparameters of the base model (e.g. ``smoothing``, ``shrinkage``).

    Attributes
    ----------
    model_ :
        The fitted token-level label model.
    fallback_ : bool
        Whether the guardrail replaced the model by majority vote.
    guardrail_ : dict or None
        The cross-fitted F1 of both, when the guardrail ran.
    """

    def __init__(self, n_classes: int | None = None, *, base: str = "dawid-skene",
                 scheme: Scheme = "BIO", silence: Silence = "missing",
                 decode: Decode | None = None, o_bias: float = 0.0, guardrail: bool = True,
                 guardrail_margin: float = 0.01, guardrail_min_items: int = 20,
                 **params: Any) -> None:
        self.n_classes = n_classes
        self.base = base
        self.scheme = scheme
        self.silence = silence
        self.decode = decode
        self.o_bias = o_bias
        self.guardrail = guardrail
        self.guardrail_margin = guardrail_margin
        self.guardrail_min_items = guardrail_min_items
        self.params = params

    # ------------------------------------------------------------------ checks
    def _decode_rule(self) -> Decode:
        rule = self.decode or ("viterbi" if self.scheme == "BIO" else "runs")
        if rule not in get_args(Decode):
            raise ValidationError(f"decode must be one of {get_args(Decode)}, got {rule!r}")
        if (rule == "viterbi") != (self.scheme == "BIO"):
            raise ValidationError(f"decode {rule!r} does not fit the {self.scheme} scheme; "
                                  "use 'viterbi' with BIO, 'runs' or 'split' with IO")
        return rule

    def _check(self, votes: SpanVotes, lengths: Sequence[int]) -> int:
        if self.scheme not in get_args(Scheme):
            raise ValidationError(f"scheme must be one of {get_args(Scheme)}, "
                                  f"got {self.scheme!r}")
        if self.silence not in get_args(Silence):
            raise ValidationError(f"silence must be one of {get_args(Silence)}, "
                                  f"got {self.silence!r}")
        self._decode_rule()
        seen = max((c + 1 for row in votes for spans in row for _, _, c in spans), default=1)
        k = self.n_classes or seen
        if seen > k:
            raise ValidationError(f"votes hold class {seen - 1} but n_classes={k}")
        if n_tags(k, self.scheme) > 127:
            raise ValidationError(f"{k} classes give more tags than int8 holds")
        return k

    # ------------------------------------------------------------------ fit
    def fit(self, votes: SpanVotes, lengths: Sequence[int],
            y: Sequence[Sequence[TokenSpan] | None] | None = None) -> SpanLabelModel:
        """Fit on the sources' token spans of items of ``lengths`` tokens.

        ``y`` gives gold token spans per item (``None`` for items without gold): gold
        tokens are clamped in the base model and enable the guardrail.
        """
        from labelloop.labelmodels.registry import make_label_model

        k = self._check(votes, lengths)
        self.n_classes_ = k
        self.n_sources_ = len(votes[0]) if len(votes) else 0
        L, cand = token_matrix(votes, lengths, scheme=self.scheme, silence=self.silence)
        yy = None if y is None else _gold_tags(y, lengths, self.scheme)[cand]
        if yy is not None and len(y or ()) != len(lengths):
            raise ValidationError(f"got gold for {len(y or ())} items, {len(lengths)} lengths")
        params = dict(self.params)
        if self.base in ("dawid-skene", "dawid_skene"):  # a silent source is not asked
            params.setdefault("abstain", "missing" if self.silence == "missing" else "evidence")
        self.model_ = make_label_model(self.base, n_tags(k, self.scheme), **params)
        self.model_.fit(L, yy)
        self.fallback_ = False
        self.guardrail_: dict[str, float] | None = None
        if self.guardrail and y is not None and self.base != "majority":
            self._run_guardrail(votes, lengths, y)
        return self

    def _run_guardrail(self, votes: SpanVotes, lengths: Sequence[int],
                       y: Sequence[Sequence[TokenSpan] | None]) -> None:
        labelled = [i for i, g in enumerate(y) if g is not None]
        if len(labelled) < self.guardrail_min_items:
            return
        folds = [labelled[0::2], labelled[1::2]]
        pred: dict[int, list[TokenSpan]] = {}
        for held in folds:
            hidden = set(held)
            y_f = [None if i in hidden else g for i, g in enumerate(y)]
            twin = self._twin(guardrail=False).fit(votes, lengths, y_f)
            got = twin.predict([votes[i] for i in held], [lengths[i] for i in held])
            pred.update(zip(held, got, strict=True))
        # WRENCH's token majority vote: IO, a silent source says nothing, no bias
        mv = self._twin(base="majority", guardrail=False, params={}, scheme="IO",
                        decode="runs", o_bias=0.0).fit(votes, lengths)
        mv_pred = mv.predict([votes[i] for i in labelled], [lengths[i] for i in labelled])
        gold = [y[i] or [] for i in labelled]
        lm_f1 = span_prf([pred[i] for i in labelled], gold)[2]
        mv_f1 = span_prf(mv_pred, gold)[2]
        self.guardrail_ = {"label_model": lm_f1, "majority_vote": mv_f1,
                           "n_items": float(len(labelled))}
        if lm_f1 < mv_f1 - self.guardrail_margin:
            self.fallback_ = True
            self._fallback = mv
            warnings.warn(f"SpanLabelModel scored span F1 {lm_f1:.3f} vs majority vote "
                          f"{mv_f1:.3f} cross-fitted on {len(labelled)} labelled items; "
                          "falling back to majority vote", GuardrailWarning, stacklevel=3)

    def _twin(self, **changes: Any) -> SpanLabelModel:
        params = changes.pop("params", self.params)
        kw = {"base": self.base, "scheme": self.scheme, "silence": self.silence,
              "decode": self.decode, "o_bias": self.o_bias, "guardrail": self.guardrail,
              "guardrail_margin": self.guardrail_margin,
              "guardrail_min_items": self.guardrail_min_items, **changes}
        if kw["base"] == "majority":
            kw.update(silence="missing")
        return SpanLabelModel(self.n_classes, **kw, **params)

    # ------------------------------------------------------------------ predict
    def predict_proba(self, votes: SpanVotes, lengths: Sequence[int]) -> FloatArray:
        """Tag posteriors per token of every item, ``(sum(lengths), n_tags)``; tokens no
        source tags get O with probability 1."""
        if not hasattr(self, "model_"):
            raise NotFittedError("this SpanLabelModel is not fitted yet: call fit first")
        if self.fallback_:
            return self._fallback.predict_proba(votes, lengths)
        L, cand = token_matrix(votes, lengths, scheme=self.scheme, silence=self.silence)
        t = n_tags(self.n_classes_, self.scheme)
        out = np.zeros((cand.size, t))
        out[:, 0] = 1.0
        if L.shape[0]:
            out[cand] = self.model_.predict_proba(L)
        return out

    def predict(self, votes: SpanVotes, lengths: Sequence[int]) -> list[list[TokenSpan]]:
        """Token spans ``(first, last + 1, class)`` per item."""
        if not hasattr(self, "model_"):
            raise NotFittedError("this SpanLabelModel is not fitted yet: call fit first")
        if self.fallback_:
            return self._fallback.predict(votes, lengths)
        P = self.predict_proba(votes, lengths)
        log_p = np.log(np.maximum(P, 1e-12))
        log_p[:, 0] += self.o_bias
        rule = self._decode_rule()
        if rule != "viterbi":
            # the token's best tag, ties by the family's rule (majority vote as WRENCH)
            shifted = np.exp(log_p - log_p.max(axis=1, keepdims=True))
            best = break_ties(shifted / shifted.sum(axis=1, keepdims=True), "random")
        out: list[list[TokenSpan]] = []
        off = 0
        for row, n in zip(votes, lengths, strict=True):
            if n == 0:
                out.append([])
                continue
            if rule == "viterbi":
                out.append(tags_to_spans(viterbi_bio(log_p[off:off + n]), scheme="BIO"))
            else:
                spans = tags_to_spans(best[off:off + n], scheme="IO")
                out.append(_split(spans, row, n) if rule == "split" else spans)
            off += n
        return out


def _split(spans: list[TokenSpan], sources: Sequence[Sequence[TokenSpan]],
           n: int) -> list[TokenSpan]:
    """Split IO spans where some source's span starts and no source's span crosses."""
    starts = np.zeros(n + 1, dtype=bool)
    crossed = np.zeros(n + 1, dtype=bool)
    for found in sources:
        for a, b, _ in found:
            starts[a] = True
            crossed[a + 1:b] = True
    cut = starts & ~crossed
    out: list[TokenSpan] = []
    for a, b, c in spans:
        edges = [a, *[t for t in range(a + 1, b) if cut[t]], b]
        out.extend((s, e, c) for s, e in pairwise(edges))
    return out


__all__ = ["SpanLabelModel", "SpanVotes", "TokenSpan", "token_matrix", "viterbi_bio"]
