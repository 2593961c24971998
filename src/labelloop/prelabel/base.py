"""The ``Prelabeler`` protocol, the drafts it returns and fault-tolerant batching.

A pre-labeler turns items into *drafts*: a class (text) or boxes (images), a confidence
score, the class probabilities where there are any, and whether a human must review the
draft. One item that raises is recorded as an :class:`ItemError` and the batch goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar, runtime_checkable

from labelloop.core.records import Box, ItemRecord

T = TypeVar("T")

ItemLike = ItemRecord | str
"""An item, or a bare text (text models) or image path (detectors)."""


@dataclass(frozen=True)
class Draft:
    """One model's draft answer for one item.

    Attributes
    ----------
    index:
        Position of the item in the input sequence.
    item_id:
        The item's id when it came from the store, else ``None``.
    label:
        Class index (text classification); ``None`` for detection.
    boxes:
        Detected boxes (object detection); ``None`` for classification.
    score:
        Confidence of the draft in ``[0, 1]``: the probability of ``label``, or the lowest
        box score (0 when nothing was detected).
    probs:
        Class probabilities (sum to 1) for classification, else ``None``.
    needs_review:
        Whether a human must check this draft before it counts as accepted.
    model, version:
        Name and version of the model that drafted it (the source of the annotation).
    """

    index: int
    item_id: int | None
    label: int | None
    boxes: tuple[Box, ...] | None
    score: float
    probs: tuple[float, ...] | None
    needs_review: bool
    model: str
    version: str


@dataclass(frozen=True)
class ItemError:
    """An item a pre-labeler could not draft, and why."""

    index: int
    item_id: int | None
    error: str


@dataclass
class PrelabelResult:
    """Drafts for a sequence of items, aligned with the input, plus the failures.

    ``drafts[i]`` is ``None`` exactly when item ``i`` failed; its error is in ``errors``.
    """

    model: str
    version: str
    drafts: list[Draft | None] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)

    @property
    def n_ok(self) -> int:
        """Number of items that got a draft."""
        return sum(d is not None for d in self.drafts)

    def ok(self) -> list[Draft]:
        """The drafts that exist, in input order."""
        return [d for d in self.drafts if d is not None]


@runtime_checkable
class Prelabeler(Protocol):
    """Anything that drafts labels for items.

    Implementations carry a ``name`` and a ``version`` (stored with every draft so that a
    second run can skip items the same model version already drafted) and never let one
    bad item stop a batch.
    """

    name: str
    version: str

    def predict(self, items: Sequence[ItemLike], *, progress: bool = False) -> PrelabelResult:
        """Draft every item; failures are recorded in the result, not raised."""
        ...


def item_id(item: ItemLike) -> int | None:
    """Return the store id of an item, ``None`` for bare strings."""
    return item.id if isinstance(item, ItemRecord) else None


def item_text(item: ItemLike) -> str:
    """Return the text of a text item.

    Raises
    ------
    ValueError
        If the item has no ``text`` field.
    """
    if isinstance(item, str):
        return item
    text = item.text
    if text is None:
        raise ValueError(f"item has no 'text' field (fields: {sorted(item.data)})")
    return text


def item_image(item: ItemLike) -> str:
    """Return the image path of an image item.

    Raises
    ------
    ValueError
        If the item has no ``image`` field.
    """
    if isinstance(item, str):
        return item
    image = item.image
    if image is None:
        raise ValueError(f"item has no 'image' field (fields: {sorted(item.data)})")
    return image


def describe_error(exc: BaseException) -> str:
    """One line naming the exception type and its message."""
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def progress_bar(total: int, description: str, *, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws a rich progress bar when ``enabled``."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def run_batches(
    items: Sequence[T],
    fn: Callable[[Sequence[T]], Sequence[Draft | Exception]],
    *,
    batch_size: int,
    model: str,
    version: str,
    item_ids: Sequence[int | None],
    progress: bool,
) -> PrelabelResult:
    """Apply ``fn`` to batches of ``items``; isolate failures item by item.

    ``fn`` gets a batch and returns one ``Draft`` (with ``index`` relative to the batch)
    or one exception per item. When the whole batch raises, each of its items is retried
    alone, so one bad item costs only itself.
    """
    result = PrelabelResult(model=model, version=version, drafts=[None] * len(items))

    def record(offset: int, outs: Sequence[Draft | Exception]) -> None:
        for j, out in enumerate(outs):
            i = offset + j
            if isinstance(out, Exception):
                result.errors.append(ItemError(i, item_ids[i], describe_error(out)))
            else:
                result.drafts[i] = replace(out, index=i, item_id=item_ids[i])

    with progress_bar(len(items), f"pre-labeling with {model}", enabled=progress) as advance:
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            try:
                record(start, fn(batch))
            except Exception:
                for j in range(len(batch)):
                    try:
                        record(start + j, fn(batch[j : j + 1]))
                    except Exception as exc:
                        record(start + j, [exc])
            advance(len(batch))
    result.errors.sort(key=lambda e: e.index)
    return result

