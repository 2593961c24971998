"""Labeling functions: Snorkel's calling convention, plus keyword, regex and model builders.

A labeling function (LF) takes one item -- an object with attribute access to its
fields, such as ``x.text`` -- and returns a class index or ``ABSTAIN`` (-1). Functions
written for Snorkel run unchanged: ``@labeling_function()`` accepts the same
``name``, ``resources`` and ``pre`` arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import ABSTAIN
from labelloop.errors import ValidationError

Preprocessor = Callable[[Any], Any]


class LabelingFunction:
    """A named heuristic that votes a class index or ``ABSTAIN`` for one item.

    Parameters
    ----------
    name:
        Unique name; it becomes the source id of the LF's column.
    f:
        ``f(x, **resources) -> int``.
    resources:
        Keyword arguments passed to every call (lexicons, models, thresholds).
    pre:
        Preprocessors applied in order before ``f``; each maps an item to an item
        (for example, one that adds ``x.tokens``).
    """

    def __init__(
        self,
        name: str,
        f: Callable[..., int],
        *,
        resources: Mapping[str, Any] | None = None,
        pre: Sequence[Preprocessor] | None = None,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValidationError(
                f"a labeling function needs a non-empty string name, got {name!r}"
            )
        self.name = name
        self.f = f
        self.resources = dict(resources or {})
        self.pre = list(pre or [])

    def prepare(self, x: Any) -> Any:
        """Run the preprocessors on ``x``."""
        for p in self.pre:
            x = p(x)
        return x

    def label(self, x: Any) -> int:
        """Vote on an item that has already been through ``prepare``."""
        return self.f(x, **self.resources)

    def __call__(self, x: Any) -> int:
        return self.label(self.prepare(x))

    def __repr__(self) -> str:
        pre = f", pre={[getattr(p, '__name__', repr(p)) for p in self.pre]}" if self.pre else ""
        return f"{type(self).__name__}({self.name!r}{pre})"


@overload
def labeling_function(
    f: Callable[..., int],
    *,
    name: str | None = None,
    resources: Mapping[str, Any] | None = None,
    pre: Sequence[Preprocessor] | None = None,
) -> LabelingFunction: ...


@overload
def labeling_function(
    f: None = None,
    *,
    name: str | None = None,
    resources: Mapping[str, Any] | None = None,
    pre: Sequence[Preprocessor] | None = None,
) -> Callable[[Callable[..., int]], LabelingFunction]: ...


def labeling_function(
    f: Callable[..., int] | None = None,
    *,
    name: str | None = None,
    resources: Mapping[str, Any] | None = None,
    pre: Sequence[Preprocessor] | None = None,
) -> LabelingFunction | Callable[[Callable[..., int]], LabelingFunction]:
    """Decorator turning ``f(x, **resources) -> int`` into a ``LabelingFunction``.

    Works with and without parentheses (``@labeling_function`` and
    ``@labeling_function(name="spam_link")``); the name defaults to ``f.__name__``.
    """

    def wrap(func: Callable[..., int]) -> LabelingFunction:
        return LabelingFunction(name or func.__name__, func, resources=resources, pre=pre)

    return wrap(f) if f is not None else wrap


def _field_getter(field: str) -> Callable[[Any], Any]:
    def get(x: Any) -> Any:
        if isinstance(x, str):
            return x
        if isinstance(x, Mapping):
            return x[field]
        return getattr(x, field)

    return get


def keyword_lf(
    keywords: Iterable[str],
    label: int,
    *,
    name: str | None = None,
    field: str = "text",
    case_sensitive: bool = False,
    whole_word: bool = True,
) -> LabelingFunction:
    """LF voting ``label`` when ``x.<field>`` contains any of ``keywords``, else abstaining.

    ``whole_word`` matches at word boundaries (``"sub"`` does not fire on ``"subscribe"``).
    """
    words = [w for w in keywords if w]
    if not words:
        raise ValidationError("keyword_lf needs at least one non-empty keyword")
    body = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    pattern = rf"(?<!\w)(?:{body})(?!\w)" if whole_word else body
    lf_name = name or f"keyword_{'_'.join(words[:3])}"
    return regex_lf(
        pattern, label, name=lf_name, field=field, flags=0 if case_sensitive else re.IGNORECASE
    )


def regex_lf(
    pattern: str,
    label: int,
    *,
    name: str | None = None,
    field: str = "text",
    flags: int = re.IGNORECASE,
) -> LabelingFunction:
    """LF voting ``label`` when ``pattern`` is found in ``x.<field>``, else abstaining."""
    if label < 0:
        raise ValidationError(f"label must be a class index >= 0, got {label}")
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise ValidationError(f"invalid regular expression {pattern!r}: {exc}") from exc
    get = _field_getter(field)
    search = compiled.search

    def vote(x: Any) -> int:
        text = get(x)
        return label if text is not None and search(str(text)) else ABSTAIN

    return LabelingFunction(name or f"regex_{pattern[:30]}", vote)


class ModelLabelingFunction(LabelingFunction):
    """An LF that votes a model's most probable class when it is confident enough.

    ``apply_lfs`` calls ``apply_batch`` on whole chunks, so a model sees batches, not
    single items.
    """

    def __init__(
        self,
        name: str,
        predict_proba: Callable[[list[Any]], npt.ArrayLike],
        *,
        field: str | None = "text",
        min_confidence: float = 0.0,
        labels: Sequence[int] | None = None,
    ) -> None:
        super().__init__(name, self._single)
        self.predict_proba = predict_proba
        self.field = field
        self.min_confidence = min_confidence
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)

    def _single(self, x: Any) -> int:
        return int(self.apply_batch([x])[0])

    def apply_batch(self, items: Sequence[Any]) -> npt.NDArray[np.int64]:
        """Votes for a batch of items: argmax class, or ABSTAIN below ``min_confidence``."""
        get = _field_getter(self.field) if self.field else (lambda x: x)
        probs = np.asarray(self.predict_proba([get(x) for x in items]), dtype=float)
        if probs.ndim != 2 or probs.shape[0] != len(items):
            raise ValidationError(
                f"model {self.name!r} returned shape {probs.shape}, expected ({len(items)}, k)"
            )
        best = probs.argmax(axis=1)
        votes = best if self.labels is None else self.labels[best]
        return np.where(probs.max(axis=1) >= self.min_confidence, votes, ABSTAIN).astype(np.int64)


def model_lf(
    model: Any,
    *,
    name: str,
    field: str | None = "text",
    min_confidence: float = 0.0,
    labels: Sequence[int] | None = None,
) -> ModelLabelingFunction:
    """Wrap a model as an LF: a pre-labeler becomes one more source.

    Parameters
    ----------
    model:
        An object with ``predict_proba(list_of_inputs) -> (n, k)`` (a scikit-learn
        classifier or pipeline) or such a callable itself.
    name:
        The LF's name.
    field:
        The item field fed to the model (``None``: the whole item).
    min_confidence:
        Abstain when the top probability is below this.
    labels:
        Class index for each model output column (default: the column index).
    """
    fn = getattr(model, "predict_proba", model)
    if not callable(fn):
        raise ValidationError("model_lf needs a callable or an object with predict_proba")
    return ModelLabelingFunction(
        name, fn, field=field, min_confidence=min_confidence, labels=labels
    )
