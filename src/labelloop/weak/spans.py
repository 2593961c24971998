"""Span labeling functions: heuristics that return labelled spans of an item's text.

A span LF takes one item (``x.text``, as a labeling function does) and returns a list of
``(start, end, label)`` on character offsets, ``end`` exclusive; ``label`` is a class index
(or a class name when :func:`apply_span_lfs` is given ``labels``). An empty list means the
LF found nothing. :func:`apply_span_lfs` runs them chunk by chunk on any
:mod:`labelloop.exec` executor with the appliers' fault policy: an LF that raises on an
item, or returns something that is not a list of spans inside the text, loses that item
(one :class:`~labelloop.weak.LFFailure` records it) and the run goes on.

Examples
--------
>>> from labelloop.weak.spans import apply_span_lfs, dictionary_span_lf
>>> lf = dictionary_span_lf(["New York", "Paris"], 0, name="cities")
>>> apply_span_lfs([lf], ["I flew from Paris to New York."], k=1).spans
[[[(12, 17, 0), (21, 29, 0)]]]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from labelloop.errors import ValidationError
from labelloop.exec import ExecutorSpec, executor_for
from labelloop.exec import ProcessExecutor as ProcessChunks
from labelloop.weak._runner import LFFailure, _lf_raised, _safe_str
from labelloop.weak.items import as_rows
from labelloop.weak.lf import LabelingFunction, Preprocessor, _field_getter

SpanTuple = tuple[int, int, int]
"""``(start, end, class)``: a span in characters, ``end`` exclusive."""


class SpanLabelingFunction(LabelingFunction):
    """A named heuristic returning labelled spans of one item's text.

    Parameters are those of :class:`~labelloop.weak.LabelingFunction`; ``f(x, **resources)``
    returns a list of ``(start, end, label)``.
    """

    def __init__(self, name: str, f: Callable[..., Any], *,
                 resources: Mapping[str, Any] | None = None,
                 pre: Sequence[Preprocessor] | None = None) -> None:
        super().__init__(name, f, resources=resources, pre=pre)


@overload
def span_labeling_function(
    f: Callable[..., Any], *, name: str | None = None,
    resources: Mapping[str, Any] | None = None, pre: Sequence[Preprocessor] | None = None,
) -> SpanLabelingFunction: ...


@overload
def span_labeling_function(
    f: None = None, *, name: str | None = None,
    resources: Mapping[str, Any] | None = None, pre: Sequence[Preprocessor] | None = None,
) -> Callable[[Callable[..., Any]], SpanLabelingFunction]: ...


def span_labeling_function(
    f: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    resources: Mapping[str, Any] | None = None,
    pre: Sequence[Preprocessor] | None = None,
) -> SpanLabelingFunction | Callable[[Callable[..., Any]], SpanLabelingFunction]:
    """Decorator turning ``f(x, **resources) -> [(start, end, label), ...]`` into a
    :class:`SpanLabelingFunction` (with or without parentheses; named ``f.__name__``)."""

    def wrap(func: Callable[..., Any]) -> SpanLabelingFunction:
        return SpanLabelingFunction(name or func.__name__, func, resources=resources, pre=pre)

    return wrap(f) if f is not None else wrap


def regex_span_lf(
    pattern: str,
    label: int | str,
    *,
    name: str | None = None,
    field: str = "text",
    flags: int = 0,
    group: int | str = 0,
) -> SpanLabelingFunction:
    """Span LF labelling every match of ``pattern`` (its ``group``) in ``x.<field>``."""
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise ValidationError(f"invalid regular expression {pattern!r}: {exc}") from exc
    get = _field_getter(field)

    def spans(x: Any) -> list[tuple[int, int, int | str]]:
        text = get(x)
        if text is None:
            return []
        found = ((m.start(group), m.end(group)) for m in compiled.finditer(str(text)))
        return [(a, b, label) for a, b in found if b > a]

    return SpanLabelingFunction(name or f"regex_{pattern[:30]}", spans)


def dictionary_span_lf(
    terms: Iterable[str],
    label: int | str,
    *,
    name: str | None = None,
    field: str = "text",
    case_sensitive: bool = False,
) -> SpanLabelingFunction:
    """Span LF labelling whole-word occurrences of ``terms`` (longest match first)."""
    words = sorted({t.strip() for t in terms if t and t.strip()}, key=len, reverse=True)
    if not words:
        raise ValidationError("dictionary_span_lf needs at least one non-empty term")
    body = "|".join(re.escape(w) for w in words)
    return regex_span_lf(rf"(?<!\w)(?:{body})(?!\w)", label,
                         name=name or f"dict_{'_'.join(words[:3])}", field=field,
                         flags=0 if case_sensitive else re.IGNORECASE)


@dataclass
class SpanApplyResult:
    """Every LF's spans on every item, and what went wrong.

    ``spans[i][j]`` is the sorted list of ``(start, end, class)`` LF ``j`` found on item
    ``i`` (empty where it found none or failed).
    """

    spans: list[list[list[SpanTuple]]]
    lf_names: list[str]
    failures: list[LFFailure] = field(default_factory=list)

    def failure_counts(self) -> dict[str, int]:
        """Number of failed items per LF name."""
        return dict(Counter(f.lf for f in self.failures))


@dataclass
class SpanChunk:
    """Applies span LFs to one chunk ``(start, rows)``: the chunk function of every
    executor; returns the chunk's spans and failures (items numbered from ``start``)."""

    lfs: list[Any]
    names: list[str]
    k: int | None = None
    labels: list[str] | None = None
    fault_tolerant: bool = True
    field: str = "text"

    def __call__(self, payload: tuple[int, Any]
                 ) -> tuple[list[list[list[SpanTuple]]], list[LFFailure]]:
        start, items = payload
        rows = as_rows(items)
        get = _field_getter(self.field)
        failures: list[LFFailure] = []
        out: list[list[list[SpanTuple]]] = []
        task = _Faults(self.names, self.fault_tolerant)
        for r, x in enumerate(rows):
            i = start + r
            try:
                text = get(x)
            except (KeyError, AttributeError):
                text = None
            row: list[list[SpanTuple]] = []
            for j, lf in enumerate(self.lfs):
                try:
                    value = lf(x)
                except BaseException as exc:
                    failures.append(_lf_raised(task, j, i, exc))  # type: ignore[arg-type]
                    row.append([])
                    continue
                try:
                    row.append(self._check(value, None if text is None else len(str(text))))
                except ValidationError as exc:
                    if not self.fault_tolerant:
                        raise ValidationError(f"span LF {self.names[j]!r} on item {i}: "
                                              f"{exc}") from None
                    failures.append(LFFailure(i, self.names[j], "invalid", str(exc)))
                    row.append([])
            out.append(row)
        return out, failures

    def _check(self, value: Any, length: int | None) -> list[SpanTuple]:
        if value is None:
            return []
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            raise ValidationError(f"returned {_safe_str(value, repr)[:200]}; a span LF "
                                  "returns a list of (start, end, label)")
        found = set()
        for span in value:
            try:
                a, b, label = span
            except (TypeError, ValueError):
                raise ValidationError(f"returned the span {_safe_str(span, repr)[:100]}; "
                                      "expected (start, end, label)") from None
            c = self._class(label)
            if not (isinstance(a, int) and isinstance(b, int)) or not 0 <= a < b or (
                    length is not None and b > length):
                raise ValidationError(f"returned the span ({a!r}, {b!r}); spans need "
                                      f"0 <= start < end <= {length} (the text's length)")
            found.add((int(a), int(b), c))
        return sorted(found)

    def _class(self, label: Any) -> int:
        if isinstance(label, str) and self.labels is not None:
            if label in self.labels:
                return self.labels.index(label)
            raise ValidationError(f"returned the label {label!r}; expected one of "
                                  f"{self.labels}")
        upper = self.k if self.k is not None else None
        if isinstance(label, bool) or not isinstance(label, int) or label < 0 or (
                upper is not None and label >= upper):
            what = f"0..{upper - 1}" if upper is not None else ">= 0"
            raise ValidationError(f"returned the label {label!r}; expected a class index "
                                  f"{what}" + (" or a class name" if self.labels else ""))
        return int(label)


_INHERITED: dict[int, SpanChunk] = {}


@dataclass(frozen=True)
class _Inherited:
    """A chunk function a forked worker inherits rather than unpickles (a module-level
    LF replaced by its decorator cannot be pickled by reference)."""

    key: int

    def __call__(self, payload: tuple[int, Any]
                 ) -> tuple[list[list[list[SpanTuple]]], list[LFFailure]]:
        return _INHERITED[self.key](payload)


@dataclass
class _Faults:
    """What :func:`labelloop.weak._runner._lf_raised` reads of a task."""

    names: list[str]
    fault_tolerant: bool


def apply_span_lfs(
    lfs: Iterable[Callable[[Any], Any]],
    items: Any,
    *,
    k: int | None = None,
    labels: Sequence[str] | None = None,
    executor: ExecutorSpec = "local",
    n_jobs: int | None = None,
    chunk_size: int | None = None,
    fault_tolerant: bool = True,
    field: str = "text",
) -> SpanApplyResult:
    """Apply span labeling functions to items.

    Parameters
    ----------
    lfs:
        Span LFs (or any callables returning lists of ``(start, end, label)``).
    items:
        As :func:`~labelloop.weak.apply_lfs` takes them (dicts, strings, objects, a
        DataFrame); ``x.<field>`` is the text spans must lie in.
    k, labels:
        Number of classes, or their names (then LFs may return class names); a label
        outside them is an ``invalid`` failure.
    executor:
        ``"local"``, ``"processes"``, ``"dask"``, a scheduler address or an executor.
    fault_tolerant:
        Record failures and go on (default); when False the first one is raised.
    """
    lf_list = list(lfs)
    if not lf_list:
        raise ValidationError("apply_span_lfs needs at least one span labeling function")
    bad = [lf for lf in lf_list if not callable(lf)]
    if bad:
        raise ValidationError(f"span labeling functions must be callable, got {bad[0]!r}")
    names = [str(getattr(lf, "name", None) or getattr(lf, "__name__", f"lf_{j}"))
             for j, lf in enumerate(lf_list)]
    dupes = sorted(n for n, c in Counter(names).items() if c > 1)
    if dupes:
        raise ValidationError(f"labeling function names must be unique; repeated: {dupes}")
    names_list = None if labels is None else list(labels)
    if k is None and names_list is not None:
        k = len(names_list)
    rows = as_rows(items)
    n = len(rows)
    fn = SpanChunk(lf_list, names, k, names_list, fault_tolerant, field)
    out: list[list[list[SpanTuple]]] = []
    failures: list[LFFailure] = []
    with executor_for(executor, n_workers=n_jobs) as runner:
        size = chunk_size or max(1, -(-n // (1 if executor == "local" else
                                            4 * max(1, runner.n_workers))))
        bounds = [(a, min(a + size, n)) for a in range(0, n, size)]
        key = id(fn)
        _INHERITED[key] = fn  # forked workers find it here: decorated LFs need no pickling
        fresh = isinstance(runner, ProcessChunks) and runner is not executor  # forks after this
        call: Any = _Inherited(key) if fresh else fn
        try:
            done = dict(runner.map_chunks(call, ((c, (a, rows[a:b]))
                                                 for c, (a, b) in enumerate(bounds))))
        finally:
            _INHERITED.pop(key, None)
    for c in range(len(bounds)):
        spans, fails = done[c]
        out.extend(spans)
        failures.extend(fails)
    order = {name: j for j, name in enumerate(names)}
    failures.sort(key=lambda f: (f.item, order[f.lf]))
    return SpanApplyResult(out, names, failures)


__all__ = [
    "SpanApplyResult",
    "SpanChunk",
    "SpanLabelingFunction",
    "SpanTuple",
    "apply_span_lfs",
    "dictionary_span_lf",
    "regex_span_lf",
    "span_labeling_function",
]
