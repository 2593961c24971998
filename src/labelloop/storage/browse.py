"""The data browser's reads and bulk writes: filtered keyset pages, counts, bulk actions.

A page walks one index from its cursor and stops after ``limit`` rows, whatever the
project's size: sort by id (``ix_items_project_id``), priority
(``ix_items_project_priority_id``), date (``ix_items_project_created``) or confidence
(``ix_item_stats_sure``), each with the item id as tie-break, so a cursor ``(key, id)``
names the next page exactly. Rows whose key is NULL (no priority, no votes) come after
the others, walked by id. A filter narrows the walk (a search reads the text index first,
see :mod:`labelloop.storage.search`); the bulk actions write set-based in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    Table,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from labelloop.core.records import ItemRecord, SourceKind
from labelloop.errors import ValidationError
from labelloop.storage.annotations import ensure_source_id
from labelloop.storage.base import SqlBase, chunks
from labelloop.storage.comments import CommentRow, ReviewRequestRow
from labelloop.storage.item_stats import ItemStatsRow, bulk_votes
from labelloop.storage.models import (
    AnnotationRow,
    AssignmentRow,
    EmbeddingRow,
    FailureRow,
    ItemRow,
    SourceRow,
    utcnow,
)
from labelloop.storage.records import item_record
from labelloop.storage.search import matches
from labelloop.storage.server_models import ClaimQueueRow, ItemQueueRow, ReviewDecisionRow
from labelloop.storage.vote_rows import upsert_annotation_rows

Sort = Literal["id", "priority", "confidence", "date"]
SORTS: tuple[str, ...] = get_args(Sort)
STATES = ("gold", "human", "needs_review", "auto", "unlabeled")
MAX_PAGE = 1000
_PRECEDENCE = {SourceKind.GOLD: 0, SourceKind.HUMAN: 1, SourceKind.LABEL_MODEL: 2,
               SourceKind.MODEL: 3}

# the indexes the sort orders walk (migration 0016 creates them)
Index("ix_items_project_priority_id", ItemRow.project_id, ItemRow.priority, ItemRow.id)
Index("ix_items_project_created", ItemRow.project_id, ItemRow.created_at, ItemRow.id)
Index("ix_item_stats_sure", ItemStatsRow.project_id, ItemStatsRow.sure, ItemStatsRow.item_id)
# what the foreign-key checks of a bulk delete look up per item (migration 0018)
Index("ix_failures_item", FailureRow.item_id)


@dataclass(frozen=True)
class BrowseFilter:
    """Which items of a project a page, a count or a bulk action covers (all: every item).

    Attributes
    ----------
    ids:
        Only these items (the rows a user checked).
    search:
        Words that must all occur in the item text.
    states:
        Item states (``gold``, ``human``, ``needs_review``, ``auto``, ``unlabeled``).
    label:
        Class index of the final label (gold, else the first person's answer, else the
        newest label model, else the newest model).
    source_ids:
        Items with a vote from one of these sources.
    min_confidence, max_confidence:
        Range of the model's confidence (``item_stats.sure``: the highest confidence of a
        label model's or model's vote not flagged for review, -1 when none).
    disagreement:
        Only items on which people disagree (no gold).
    split:
        Only this split.
    meta_key, meta_value:
        Only items whose metadata has this key with this value (compared as text).
    has_comments:
        Only items with at least one comment.
    """

    ids: tuple[int, ...] | None = None
    search: str | None = None
    states: tuple[str, ...] = ()
    label: int | None = None
    source_ids: tuple[int, ...] | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    disagreement: bool = False
    split: str | None = None
    meta_key: str | None = None
    meta_value: str | None = None
    has_comments: bool = False


@dataclass(frozen=True)
class BrowseRow:
    """An item of a page with its summary (``state`` ``unlabeled`` without votes)."""

    item: ItemRecord
    state: str
    flags: int
    confidence: float | None


@dataclass(frozen=True)
class BulkResult:
    """What a bulk action did: items it covered and items it changed."""

    matched: int
    changed: int


def _key(sort: str) -> Any:
    return {"id": ItemRow.id, "priority": ItemRow.priority, "date": ItemRow.created_at,
            "confidence": ItemStatsRow.sure}[sort]


def encode_cursor(sort: str, key: Any, item_id: int) -> str:
    """The cursor after a row: ``key|id`` (key empty when NULL)."""
    if sort == "id":
        return str(item_id)
    if key is None:
        return f"|{item_id}"
    return f"{key.isoformat() if isinstance(key, datetime) else repr(float(key))}|{item_id}"


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    """The ``(key, id)`` a cursor names.

    Raises
    ------
    ValidationError
        If the cursor was not made by :func:`encode_cursor` for this sort.
    """
    try:
        if sort == "id":
            return int(cursor), int(cursor)
        key, _, item = cursor.rpartition("|")
        if not _:
            raise ValueError(cursor)
        if key == "":
            return None, int(item)
        return (datetime.fromisoformat(key) if sort == "date" else float(key)), int(item)
    except ValueError:
        raise ValidationError(f"cursor {cursor!r} is not one of a page sorted by {sort!r}; "
                              "take the 'next' value of the previous page") from None


def _final_label() -> Any:
    """The final label of ``items.id`` (correlated): gold (earliest source), else the
    first person's answer, else the newest label model's, else the newest model's."""
    a, src = AnnotationRow, SourceRow
    rank = case(*((src.kind == k, v) for k, v in _PRECEDENCE.items()), else_=9)
    return (select(a.label).join(src, src.id == a.source_id)
            .where(a.item_id == ItemRow.id, src.kind.in_(list(_PRECEDENCE)))
            .order_by(rank, case((rank >= 2, -src.id), else_=0),
                      case((rank == 0, src.id), else_=a.id))
            .limit(1).scalar_subquery())


def _conditions(s: Session, project_id: int, f: BrowseFilter) -> list[Any]:
    i, st = ItemRow, ItemStatsRow
    out: list[Any] = [i.project_id == project_id]
    if f.ids is not None:
        out.append(i.id.in_(sorted(set(f.ids))) if f.ids else literal_column("1") == 0)
    if f.search:
        out.append(matches(s, project_id, f.search))
    if f.states:
        bad = set(f.states) - set(STATES)
        if bad:
            raise ValidationError(f"unknown item state {sorted(bad)}; expected {STATES}")
        named = [x for x in f.states if x != "unlabeled"]
        either = [st.state.in_(named)] if named else []
        if "unlabeled" in f.states:
            either.append(st.item_id.is_(None))
        out.append(or_(*either))
    if f.label is not None:
        out.append(_final_label() == f.label)
    if f.source_ids is not None:
        a = AnnotationRow
        out.append(exists().where(a.item_id == i.id, a.source_id.in_(list(f.source_ids)))
                   if f.source_ids else literal_column("1") == 0)
    if f.min_confidence is not None:
        out.append(st.sure >= f.min_confidence)
    if f.max_confidence is not None:
        out.append(st.sure <= f.max_confidence)
    if f.disagreement:
        out.append(st.flags.op("&")(2) != 0)
    if f.split is not None:
        out.append(i.split == f.split)
    if f.meta_key:
        out.append(i.meta[f.meta_key].as_string() == (f.meta_value or ""))
    if f.has_comments:
        out.append(exists().where(CommentRow.item_id == i.id))
    return out


def _matching(s: Session, project_id: int, f: BrowseFilter, *cols: Any) -> Any:
    return (select(*cols).select_from(ItemRow)
            .outerjoin(ItemStatsRow, ItemStatsRow.item_id == ItemRow.id)
            .where(*_conditions(s, project_id, f)))


def _check(sort: str, limit: int) -> None:
    if sort not in SORTS:
        raise ValidationError(f"unknown sort {sort!r}; expected one of {SORTS}")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"expected 1 <= limit <= {MAX_PAGE}, got {limit}")


class SqlBrowse(SqlBase):
    """:class:`~labelloop.storage.protocol.BrowseRepository` over SQL."""

    def browse_page(self, project_id: int, f: BrowseFilter, *, sort: Sort = "id",
                    desc: bool = False, cursor: str | None = None, limit: int = 50
                    ) -> tuple[list[BrowseRow], str | None]:
        """A page of the items matching ``f`` in ``sort`` order, after ``cursor``, and
        the cursor of the next page (None after the last).

        Items without a key (no priority; for ``confidence``, no model vote) come last.
        """
        _check(sort, limit)
        key = _key(sort)
        after = decode_cursor(sort, cursor) if cursor else None
        rows: list[Any] = []
        with self.snapshot() as s:
            cols = (ItemRow, ItemStatsRow.state, ItemStatsRow.flags, ItemStatsRow.sure, key)
            base = _matching(s, project_id, f, *cols)
            if sort == "confidence":  # walk ix_item_stats_sure of the project
                base = base.where(ItemStatsRow.project_id == project_id)
            if after is None or after[0] is not None:
                q = base.where(key.is_not(None))
                if after is not None:
                    left = tuple_(key, ItemRow.id) if sort != "id" else ItemRow.id
                    right = (tuple_(bindparam(None, after[0], type_=key.type), after[1])
                             if sort != "id" else after[1])
                    q = q.where(left < right if desc else left > right)
                order = [key.desc(), ItemRow.id.desc()] if desc else [key, ItemRow.id]
                rows = list(s.execute(q.order_by(*order).limit(limit)))
            if len(rows) < limit and sort != "id":
                q = _matching(s, project_id, f, *cols)
                q = q.where(ItemStatsRow.item_id.is_(None) if sort == "confidence"
                            else key.is_(None))
                if after is not None and after[0] is None:
                    q = q.where(ItemRow.id < after[1] if desc else ItemRow.id > after[1])
                # all keys NULL here; ordered by (key, id) all the same, so that the
                # planner walks the sort's index from (project, NULL)
                walk = [ItemRow.id] if sort == "confidence" else [key, ItemRow.id]
                q = q.order_by(*(c.desc() if desc else c for c in walk))
                rows += list(s.execute(q.limit(limit - len(rows))))
        page = [BrowseRow(item_record(r[0]), r[1] or "unlabeled", int(r[2] or 0), r[3])
                for r in rows]
        nxt = encode_cursor(sort, rows[-1][4], rows[-1][0].id) if len(rows) == limit else None
        return page, nxt

    def browse_count(self, project_id: int, f: BrowseFilter, *, cap: int = 100_000) -> int:
        """How many items match ``f``, counted up to ``cap`` (then ``cap``)."""
        with self.snapshot() as s:
            sub = _matching(s, project_id, f, ItemRow.id).limit(cap).subquery()
            return int(s.scalar(select(func.count()).select_from(sub)) or 0)

    def browse_ids(self, project_id: int, f: BrowseFilter) -> Iterator[list[int]]:
        """The ids of the items matching ``f``, in id order, a page of ids at a time
        (each page read in its own snapshot, by keyset)."""
        after = 0
        while True:
            with self.snapshot() as s:
                q = (_matching(s, project_id, f, ItemRow.id).where(ItemRow.id > after)
                     .order_by(ItemRow.id).limit(MAX_PAGE * 10))
                ids = [int(r[0]) for r in s.execute(q)]
            if not ids:
                return
            yield ids
            after = ids[-1]

    def set_split_where(self, project_id: int, f: BrowseFilter, split: str) -> BulkResult:
        """Put the items matching ``f`` into ``split``, in one ``UPDATE``."""
        with self.write() as s:
            chosen = _matching(s, project_id, f, ItemRow.id).correlate(None)
            matched = int(s.scalar(select(func.count()).select_from(chosen.subquery())) or 0)
            done = s.execute(update(ItemRow).where(
                ItemRow.project_id == project_id, ItemRow.split != split,
                ItemRow.id.in_(chosen)).values(split=split).execution_options(
                    synchronize_session=False))
            return BulkResult(matched, int(done.rowcount or 0))  # type: ignore[attr-defined]

    def accept_suggestions(self, project_id: int, f: BrowseFilter, *, reviewer_id: int,
                           reviewer_name: str, note: str = "") -> BulkResult:
        """Store the suggestion on each item matching ``f`` (the newest label model's
        answer, else the newest model's) as the gold answer of the reviewer's
        ``review:<name>`` source, with an ``accept`` review decision, in one transaction.

        Items that already have a gold answer, or no suggestion, are left as they are.
        """
        now = utcnow()
        with self.write() as s:
            chosen = _matching(s, project_id, f, ItemRow.id, ItemStatsRow.state)
            found = [(int(i), st) for i, st in s.execute(chosen.order_by(ItemRow.id))]
            todo = [i for i, st in found if st not in ("gold", None)]
            picks = _suggestions(s, project_id, todo)
            if not picks:
                return BulkResult(len(found), 0)
            gold = ensure_source_id(s, project_id, SourceKind.GOLD, f"review:{reviewer_name}",
                                    "", reviewer_id)
            rows = [{"item_id": i, "source_id": gold, "label": label, "value": value,
                     "confidence": 1.0, "needs_review": False, "seconds": None,
                     "created_at": now} for i, (label, value) in picks.items()]
            with bulk_votes(s, list(picks), [gold], rows=len(rows)):
                upsert_annotation_rows(s, rows)
            s.execute(insert(ReviewDecisionRow), [
                {"project_id": project_id, "item_id": i, "reviewer_id": reviewer_id,
                 "decision": "accept",
                 "value": {"label": label, "labels": value.get("labels"),
                           "boxes": value.get("boxes"), **value},
                 "note": note[:2000], "created_at": now} for i, (label, value) in picks.items()])
            return BulkResult(len(found), len(rows))

    def request_review_where(self, project_id: int, f: BrowseFilter, *,
                             requested_by: int | None) -> BulkResult:
        """Send the items matching ``f`` to review (a review request each, kept until a
        reviewer decides on the item), in one ``INSERT ... SELECT``; items already sent
        are left as they are."""
        r = ReviewRequestRow
        with self.write() as s:
            chosen = _matching(s, project_id, f, ItemRow.id).correlate(None)
            matched = int(s.scalar(select(func.count()).select_from(chosen.subquery())) or 0)
            fresh = (select(ItemRow.id, literal(project_id), literal(requested_by,
                                                                     type_=Integer),
                            literal(utcnow(), type_=r.created_at.type))
                     .where(ItemRow.project_id == project_id, ItemRow.id.in_(chosen),
                            ~exists().where(r.project_id == project_id,
                                            r.item_id == ItemRow.id)))
            done = s.execute(insert(r).from_select(
                ["item_id", "project_id", "requested_by", "created_at"], fresh)
                .returning(r.item_id))
            return BulkResult(matched, len(done.all()))

    def delete_where(self, project_id: int, f: BrowseFilter) -> BulkResult:
        """Delete the items matching ``f`` and everything attached to them (votes, label
        model and model answers, claims, review decisions and requests, comments,
        embeddings, failures, search rows, summaries), in one transaction.

        The matching ids are kept in a temporary table first; then one ``DELETE`` per
        table removes the rows of those items. Vote summaries are brought up to date as
        for any bulk vote write (:func:`~labelloop.storage.item_stats.bulk_votes`).
        """
        with self.write() as s:
            doomed = _doomed_table()
            doomed.create(s.connection())  # a failure rolls its creation back too
            chosen = _matching(s, project_id, f, ItemRow.id)
            s.execute(insert(doomed).from_select(["id"], chosen))
            n = int(s.scalar(select(func.count()).select_from(doomed)) or 0)
            if n:
                _delete_items(s, doomed)
            doomed.drop(s.connection())
            return BulkResult(n, n)


def _suggestions(s: Session, project_id: int, item_ids: Sequence[int]
                 ) -> dict[int, tuple[int | None, dict[str, Any]]]:
    """Per item, the label and value (labels, boxes, spans) of its newest label model's
    vote, else its newest model's."""
    a, src = AnnotationRow, SourceRow
    q = (select(a.item_id, a.label, a.value, src.kind, src.id)
         .join(src, src.id == a.source_id)
         .where(src.project_id == project_id,
                src.kind.in_([SourceKind.LABEL_MODEL, SourceKind.MODEL])))
    best: dict[int, tuple[tuple[int, int], int | None, dict[str, Any]]] = {}
    for chunk in chunks(list(item_ids)):
        for item, label, value, kind, sid in s.execute(q.where(a.item_id.in_(list(chunk)))):
            rank = (_PRECEDENCE[kind], -sid)
            if item not in best or rank < best[item][0]:
                kept = {k: v for k, v in (value or {}).items() if k in ("labels", "boxes",
                                                                         "spans")}
                best[item] = (rank, label, kept)
    return {i: (label, value) for i, (_, label, value) in sorted(best.items())
            if label is not None or value}


_ATTACHED = (AnnotationRow, AssignmentRow, EmbeddingRow, FailureRow, ReviewDecisionRow,
             ItemQueueRow, ClaimQueueRow, ItemStatsRow, CommentRow, ReviewRequestRow)
"""Tables with rows of an item, deleted with it (votes first, the summaries after)."""


def _doomed_table() -> Table:
    """A temporary table of the item ids a bulk delete removes (created and dropped in the
    deleting transaction)."""
    return Table("browse_doomed", MetaData(), Column("id", Integer, primary_key=True),
                 prefixes=["TEMPORARY"])


def _delete_items(s: Session, doomed: Table) -> None:
    ids = select(doomed.c.id)
    votes = s.execute(select(AnnotationRow.source_id, func.count())
                      .where(AnnotationRow.item_id.in_(ids))
                      .group_by(AnnotationRow.source_id)).all()
    item_ids = list(s.scalars(ids))
    with bulk_votes(s, item_ids, [int(v[0]) for v in votes],
                    rows=sum(int(v[1]) for v in votes)):
        s.execute(delete(AnnotationRow).where(AnnotationRow.item_id.in_(ids))
                  .execution_options(synchronize_session=False))
    for table in _ATTACHED[1:]:
        s.execute(delete(table).where(table.item_id.in_(ids))
                  .execution_options(synchronize_session=False))
    # the search index follows: a trigger on items (SQLite FTS5), an index (PostgreSQL)
    s.execute(delete(ItemRow).where(ItemRow.id.in_(ids))
              .execution_options(synchronize_session=False))
