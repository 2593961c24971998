"""The data browser: every item of a project, filtered, searched, sorted, a page at a
time, and bulk actions (accept the suggestion, set the split, send to review, delete,
export) on a selection.

Pages and counts cost one page whatever the project's size (keyset pagination in
:mod:`labelloop.storage.browse`); a bulk action on a filter writes set-based in one
transaction. Who may do what is decided by the caller (the server's policies: reviewers
and admins).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from labelloop.core.records import SPLITS, ItemRecord, SourceKind, UserRecord
from labelloop.errors import ValidationError
from labelloop.io.common import final_labels, label_names
from labelloop.storage import ProjectInfo, StoreProtocol
from labelloop.storage.browse import SORTS, STATES, BrowseFilter, BrowseRow, BulkResult, Sort
from labelloop.storage.search import words

__all__ = ["SORTS", "STATES", "Browse", "BrowseEntry", "BrowseFilter", "BrowsePage", "BulkResult",
           "Sort"]

SNIPPET = 200  # characters of item text shown in a row
MAX_IDS = 10_000  # checked rows one request may name


@dataclass(frozen=True)
class BrowseEntry:
    """A row of the browser: the item, its state, final label and confidence."""

    item: ItemRecord
    state: str
    flags: int
    label: str | list[str] | None
    label_source: str | None
    confidence: float | None
    comments: int = 0

    @property
    def snippet(self) -> str:
        """The item text, cut to :data:`SNIPPET` characters (empty for images)."""
        text = self.item.text or ""
        return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


@dataclass(frozen=True)
class BrowsePage:
    """A page of rows and the cursor of the next page (None after the last)."""

    rows: list[BrowseEntry]
    next: str | None


class Browse:
    """The data browser of one project."""

    def __init__(self, store: StoreProtocol, project: ProjectInfo) -> None:
        self.store = store
        self.project = project

    def filter(
        self, *, ids: Sequence[int] | None = None, search: str | None = None,
        states: Sequence[str] = (), label: str | None = None, source: str | None = None,
        annotator: str | None = None, min_confidence: float | None = None,
        max_confidence: float | None = None, disagreement: bool = False,
        split: str | None = None, meta: str | None = None, has_comments: bool = False,
    ) -> BrowseFilter:
        """A filter from names as a user types them (empty strings mean "any").

        ``label``: a class name (the final label); ``source``: a source name (items it
        voted on); ``annotator``: a user name (items they answered); ``meta``:
        ``key=value``; ``has_comments``: only items with a comment.

        Raises
        ------
        ValidationError
            For an unknown state, class or split, a bad range or metadata filter, or
            too many ids.
        """
        bad = sorted(set(states) - set(STATES))
        if bad:
            raise ValidationError(f"unknown item state {bad}; expected some of {STATES}")
        if ids is not None and len(ids) > MAX_IDS:
            raise ValidationError(f"{len(ids)} item ids given; at most {MAX_IDS} at once: "
                                  "act on the filter instead")
        if split and split not in SPLITS:
            raise ValidationError(f"unknown split {split!r}; expected one of {SPLITS}")
        for name, v in (("min_confidence", min_confidence), ("max_confidence", max_confidence)):
            if v is not None and not -1.0 <= v <= 1.0:
                raise ValidationError(f"{name} must lie in [-1, 1], got {v}")
        if search:
            words(search)  # refuses a search without a word
        key = value = None
        if meta:
            key, sep, value = meta.partition("=")
            if not sep or not key.strip():
                raise ValidationError(f"metadata filter {meta!r}: expected key=value")
            key = key.strip()
        source_ids = self._sources(source, annotator)
        return BrowseFilter(
            ids=tuple(int(i) for i in ids) if ids is not None else None,
            search=search or None, states=tuple(states),
            label=self.project.schema.index_of(label) if label else None,
            source_ids=source_ids, min_confidence=min_confidence,
            max_confidence=max_confidence, disagreement=disagreement, split=split or None,
            meta_key=key, meta_value=value, has_comments=has_comments)

    def _sources(self, source: str | None, annotator: str | None) -> tuple[int, ...] | None:
        if not source and not annotator:
            return None
        found = self.store.sources(self.project.id)
        ids = {s.id for s in found if not source or s.name == source}
        if annotator:
            ids &= {s.id for s in found if s.kind == SourceKind.HUMAN and s.name == annotator}
        return tuple(sorted(i for i in ids if i is not None))

    def page(self, f: BrowseFilter, *, sort: Sort = "id", desc: bool = False,
             cursor: str | None = None, limit: int = 50) -> BrowsePage:
        """A page of the items matching ``f``, with their final labels."""
        rows, nxt = self.store.browse_page(self.project.id, f, sort=sort, desc=desc,
                                           cursor=cursor, limit=limit)
        return BrowsePage(self._entries(rows), nxt)

    def count(self, f: BrowseFilter, *, cap: int = 100_000) -> int:
        """Items matching ``f`` (counted up to ``cap``)."""
        return self.store.browse_count(self.project.id, f, cap=cap)

    def accept(self, reviewer: UserRecord, f: BrowseFilter) -> BulkResult:
        """Keep the suggestion (label model's, else model's answer) of every item matching
        ``f`` as the reviewer's gold answer; items with a gold answer are left alone."""
        if reviewer.id is None:
            raise ValidationError("the reviewer has no id (not a stored user)")
        return self.store.accept_suggestions(self.project.id, f, reviewer_id=reviewer.id,
                                             reviewer_name=reviewer.name,
                                             note="accepted in the data browser")

    def send_to_review(self, user: UserRecord, f: BrowseFilter) -> BulkResult:
        """Send every item matching ``f`` to review: each waits in the review queue
        (reason ``requested``) until a reviewer decides on it."""
        return self.store.request_review_where(self.project.id, f, requested_by=user.id)

    def delete(self, f: BrowseFilter) -> BulkResult:
        """Delete every item matching ``f`` with everything attached (votes, claims,
        review decisions, comments, search rows), in one transaction."""
        return self.store.delete_where(self.project.id, f)

    def set_split(self, f: BrowseFilter, split: str) -> BulkResult:
        """Move every item matching ``f`` into ``split``."""
        if split not in SPLITS:
            raise ValidationError(f"unknown split {split!r}; expected one of {SPLITS}")
        return self.store.set_split_where(self.project.id, f, split)

    def export_lines(self, f: BrowseFilter) -> Iterator[str]:
        """The items matching ``f`` as JSON lines (id, external id, data, meta, split,
        state, final label, its source and confidence), in id order."""
        for ids in self.store.browse_ids(self.project.id, f):
            for n in range(0, len(ids), 1000):
                chunk = ids[n:n + 1000]
                rows, _ = self.store.browse_page(self.project.id, BrowseFilter(ids=tuple(chunk)),
                                                 limit=len(chunk))
                for e in self._entries(rows):
                    yield json.dumps({
                        "id": e.item.id, "external_id": e.item.external_id,
                        "data": e.item.data, "meta": e.item.meta, "split": e.item.split,
                        "state": e.state, "label": e.label, "label_source": e.label_source,
                        "confidence": e.confidence}, ensure_ascii=False) + "\n"

    def _entries(self, rows: list[BrowseRow]) -> list[BrowseEntry]:
        if not rows:
            return []
        votes = self.store.item_votes(self.project.id, [r.item.id for r in rows
                                                         if r.item.id is not None])
        sources = self.store.sources(self.project.id)
        counts = self.store.comment_counts(self.project.id, [r.item.id for r in rows
                                                             if r.item.id is not None])
        finals = final_labels([r.item for r in rows], sources,
                              [v.annotation for vs in votes.values() for v in vs])
        out = []
        for r in rows:
            fin = finals.get(r.item.id or 0)
            label: Any = label_names(fin.vote, self.project.schema) if fin else None
            conf = None
            if fin is not None:
                conf = fin.vote.confidence
                if conf is None and fin.source.kind == SourceKind.GOLD:
                    conf = 1.0
            out.append(BrowseEntry(r.item, r.state, r.flags, label,
                                   fin.source.name if fin else None, conf,
                                   counts.get(r.item.id or 0, 0)))
        return out
