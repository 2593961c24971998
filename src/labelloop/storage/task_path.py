"""The annotator's hot path: claim the next task and read it, or store an answer, each in
ONE transaction of a few statements built once at import (SQLAlchemy Core, no ORM).

The guarantees are those of :mod:`labelloop.storage.queue`, written with fewer round trips:

* the expiry sweep, the user's open claim, the candidate from ``ix_claim_queue_next`` and
  the claim itself run in one write transaction (``BEGIN IMMEDIATE`` on SQLite; on
  PostgreSQL the candidate row is locked with ``FOR UPDATE SKIP LOCKED``);
* the claim is one ``INSERT ... SELECT ... WHERE`` whose condition re-counts the item from
  the annotations and open claims (the guard): a stale queue row can delay an item but
  never over-assign it; the user's sources are a subquery, so every statement is the same
  compiled SQL whatever the user;
* the item and its votes are read in the same transaction;
* a submit checks the item, the user's claim, earlier answer and honeypot state in one
  ``SELECT``, then closes the claim and upserts the answer (re-counting the queue row
  only when the item's count changed); on SQLite answers arriving together share one
  commit (:mod:`labelloop.storage.group_commit`).

Rare paths (claims expired by the sweep, a stale queue row, the user's first answer, an
overlap that changed) fall back to the session-based helpers of
:mod:`labelloop.storage.claim_queue`, inside the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    Connection,
    Integer,
    String,
    Table,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from labelloop.core.records import AnnotationRecord, ItemRecord
from labelloop.core.tasks import Answer
from labelloop.errors import ConflictError, NotFoundError
from labelloop.storage import claim_queue as cq
from labelloop.storage.base import aware, unavailable_on_overload
from labelloop.storage.group_commit import group_commit
from labelloop.storage.models import (
    AnnotationRow,
    AssignmentRow,
    ItemRow,
    SourceRow,
    utcnow,
)
from labelloop.storage.records import Claim, Vote
from labelloop.storage.server_models import ClaimQueueProjectRow, ClaimQueueRow

if TYPE_CHECKING:
    from labelloop.storage.base import SqlBase


def cast_table(model: Any) -> Table:
    """The table of a mapped class, typed as one."""
    table: Table = model.__table__
    return table


Route = Literal["any", "expert", "regular"]
"""Which queue rows a claim may take, by the routing flag ``hard``: ``"any"`` (routing
off: plain rows, then hard ones), ``"expert"`` (hard rows first) or ``"regular"`` (never a
hard row)."""
ROUTES: dict[str, tuple[bool, ...]] = {
    "any": (False, True), "expert": (True, False), "regular": (False,)}

T_ASSIGN = cast_table(AssignmentRow)
T_SOURCES = cast_table(SourceRow)
A = T_ASSIGN.c
N = AnnotationRow.__table__.c
S = T_SOURCES.c
ITEMS = ItemRow.__table__.c
QC = cast_table(ClaimQueueRow).c
_RETRIES = 20
SHOWN_KINDS = ("model", "label_model", "human", "gold")
"""Vote kinds read with a task: suggestions, the user's own answer, gold (honeypots)."""

_pid: Any = bindparam("pid")
_uid: Any = bindparam("uid")
_item: Any = bindparam("item")
_now = bindparam("now", type_=AssignmentRow.__table__.c.claimed_at.type)

# -- statements (built once; SQLAlchemy caches their compiled SQL per dialect) -------------
_EXPIRE = (update(T_ASSIGN)
           .where(A.project_id == _pid, A.state == "claimed", A.expires_at < _now)
           .values(state="expired").returning(A.item_id))

_OPEN = (select(A.id, A.item_id, A.claimed_at, A.expires_at, func.coalesce(QC.gold, False))
         .select_from(AssignmentRow.__table__.outerjoin(
             ClaimQueueRow.__table__, QC.item_id == A.item_id))
         .where(A.project_id == _pid, A.user_id == _uid, A.state == "claimed")
         .order_by(A.id.desc()).limit(1))

_OVERLAP = select(ClaimQueueProjectRow.__table__.c.overlap).where(
    ClaimQueueProjectRow.__table__.c.project_id == _pid)

_MY_SOURCES = select(S.id).where(S.project_id == _pid, S.user_id == _uid, S.kind == "human")


def _candidate(gold: bool, *, lock: bool) -> Any:
    """The first free item of one kind the user never claimed, skipped or answered."""
    q = select(QC.item_id).where(
        QC.project_id == _pid, QC.gold == gold,
        ~exists().where(A.item_id == QC.item_id, A.user_id == _uid, A.state != "expired"),
        ~exists().where(N.item_id == QC.item_id, N.source_id.in_(_MY_SOURCES)))
    if gold:
        q = q.order_by(func.random())
    else:  # one value of the routing flag: the index's order within it
        q = q.where(QC.has_room == True, QC.hard == bindparam("hard")).order_by(  # noqa: E712
            QC.unranked, QC.sort_key, QC.item_id)
    q = q.limit(1)
    if lock:
        q = q.with_for_update(skip_locked=True, of=ClaimQueueRow.__table__)
    return q


_CANDIDATES = {(g, lock): _candidate(g, lock=lock) for g in (False, True) for lock in (False, True)}


def _claim_insert(guarded: bool) -> Any:
    """Write a claim; ``guarded``: only while the item has room, re-counted from the
    annotations, open claims and send-backs (one ``INSERT ... SELECT ... WHERE``)."""
    values = select(cast(_pid, Integer), cast(_item, Integer), cast(_uid, Integer),
                    _now, bindparam("expires", type_=AssignmentRow.__table__.c.expires_at.type),
                    cast(literal_column("'claimed'"), String))
    if guarded:
        taken = cq.humans(_item) + cq.open_claims(_item)
        values = values.where(taken < cast(bindparam("overlap"), Integer)
                              + cq.extra_overlap(_item))
    return (insert(T_ASSIGN)
            .from_select(["project_id", "item_id", "user_id", "claimed_at", "expires_at",
                          "state"], values)
            .returning(A.id))


_INSERT_GUARDED, _INSERT_FREE = _claim_insert(True), _claim_insert(False)

_LOCK_ROW = select(QC.gold).where(QC.project_id == _pid, QC.item_id == _item)


def _recount() -> Any:
    taken = cq.humans(QC.item_id) + cq.open_claims(QC.item_id)
    extra = cq.extra_overlap(QC.item_id)
    overlap = func.coalesce(
        select(ClaimQueueProjectRow.__table__.c.overlap)
        .where(ClaimQueueProjectRow.__table__.c.project_id == QC.project_id)
        .scalar_subquery(), 1)
    gold = exists().where(N.item_id == QC.item_id, N.source_id == S.id, S.kind == "gold")
    return update(cast_table(ClaimQueueRow)).where(QC.item_id == _item).values(
        taken=taken, extra=extra, gold=gold, has_room=taken < overlap + extra)


_RECOUNT = _recount()

_VOTES = (select(S.kind, S.name, S.user_id, N.id, N.item_id, N.source_id, N.label, N.value,
                 N.confidence, N.needs_review, N.seconds, N.created_at)
          .join(AnnotationRow.__table__, N.source_id == S.id)
          .where(N.item_id == _item, S.project_id == _pid, S.kind.in_(SHOWN_KINDS))
          .order_by(S.id))
_SHOWN = _VOTES.subquery()
# the item, and its shown votes joined beside it (one row per vote, or one without any)
_ITEM_VOTES = (select(ITEMS.id.label("item_id_"), ITEMS.data, ITEMS.meta, ITEMS.split,
                      ITEMS.external_id, ITEMS.content_hash, ITEMS.width, ITEMS.height,
                      *_SHOWN.c)
               .select_from(ItemRow.__table__.outerjoin(_SHOWN, _SHOWN.c.item_id == ITEMS.id))
               .where(ITEMS.id == _item, ITEMS.project_id == _pid)
               .order_by(_SHOWN.c.source_id))


def _first(q: Any) -> Any:
    return q.order_by(A.id.desc()).limit(1).scalar_subquery()


_held = (A.project_id == _pid, A.user_id == _uid, A.item_id == ITEMS.id, A.state == "claimed")
# everything a submit decides on, in one row (no row: the item is not in the project)
_SUBMIT_STATE = select(
    ITEMS.width, ITEMS.height, func.coalesce(QC.gold, False),
    select(S.id).where(S.project_id == _pid, S.user_id == _uid, S.kind == "human")
    .order_by(S.id).limit(1).scalar_subquery(),
    _first(select(A.id).where(*_held)),
    _first(select(A.claimed_at).where(*_held)),
    select(N.id).where(N.item_id == ITEMS.id, N.source_id.in_(_MY_SOURCES)).limit(1)
    .scalar_subquery(),
).select_from(ItemRow.__table__.outerjoin(ClaimQueueRow.__table__, QC.item_id == ITEMS.id)
              ).where(ITEMS.id == _item, ITEMS.project_id == _pid)

# the item had a gold answer when the user claimed it: a honeypot for them
_WAS_HONEYPOT = select(exists().where(
    A.project_id == _pid, A.user_id == _uid, A.item_id == _item,
    exists().where(N.item_id == A.item_id, N.source_id == S.id, S.project_id == _pid,
                   S.kind == "gold", N.created_at <= A.claimed_at)))

_CLOSE = (update(T_ASSIGN)
          .where(A.project_id == _pid, A.user_id == _uid, A.item_id == _item,
                 A.state == "claimed").values(state="submitted"))

_UPSERTED = ("label", "value", "confidence", "needs_review", "seconds", "created_at")


def _upsert(dialect: Any) -> Any:
    stmt = dialect.insert(AnnotationRow.__table__)
    return stmt.on_conflict_do_update(
        index_elements=["item_id", "source_id"],
        set_={c: getattr(stmt.excluded, c) for c in _UPSERTED})


_UPSERT = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}

_SOURCE_BY_NAME = select(S.id, S.user_id).where(
    S.project_id == _pid, S.kind == "human", S.name == bindparam("name"), S.version == "")


# -- results ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClaimedTask:
    """A claim with what the annotator is shown: the item and its votes of
    :data:`SHOWN_KINDS` in source order (the caller filters them)."""

    claim: Claim
    item: ItemRecord
    votes: list[Vote]


@dataclass(frozen=True)
class Submitted:
    """An answer stored durably, and whether the item was a honeypot for the user (then
    with the gold answer it is scored against)."""

    annotation: AnnotationRecord
    honeypot: bool
    gold: AnnotationRecord | None


Parse = Callable[[int | None, int | None, Callable[[], str | None]], Answer]
"""Checks a raw answer against the item's ``(width, height)`` and, for spans, its text
(read only when called); returns the answer or raises ValidationError."""


# -- transaction --------------------------------------------------------------------------
@contextmanager
def write_connection(base: SqlBase, *, claim: bool = False) -> Iterator[Connection]:
    """One write transaction on a plain connection (``BEGIN IMMEDIATE`` on SQLite).

    ``claim``: the transaction writes only a claim, whose loss in a power cut is harmless
    (the item returns to the queue; a submit without a claim claims on the spot). On
    SQLite it then commits with ``synchronous=NORMAL``: in WAL mode that survives a crash
    of the process, skips the ``fsync`` (about 4 ms a commit on a virtual disk), and the
    next ``synchronous=FULL`` commit, e.g. of an answer, makes it durable with its own.
    """
    with unavailable_on_overload(), base._writer(), base._write_engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        relax = claim and conn.dialect.name == "sqlite" and raw is not None
        if relax:
            raw.execute("PRAGMA synchronous=NORMAL")  # type: ignore[union-attr]
        try:
            with conn.begin():
                yield conn
        finally:
            if relax:
                raw.execute("PRAGMA synchronous=FULL")  # type: ignore[union-attr]


def _session(conn: Connection) -> Session:
    """A session inside ``conn``'s transaction, for the rare paths' session helpers."""
    return Session(bind=conn)


def _refresh(conn: Connection, item_ids: list[int], *, locked: bool = False) -> None:
    """Re-count queue rows; on PostgreSQL lock them first unless the caller holds them."""
    if not item_ids:
        return
    if len(item_ids) == 1 and (locked or conn.dialect.name != "postgresql"):
        conn.execute(_RECOUNT, {"item": item_ids[0]})
        return
    with _session(conn) as s:
        cq.refresh(s, item_ids)


def _expire(conn: Connection, project_id: int, now: datetime) -> None:
    _refresh(conn, list(conn.scalars(_EXPIRE, {"pid": project_id, "now": now})))


# -- claim --------------------------------------------------------------------------------
def _read_task(conn: Connection, project_id: int, claim: Claim) -> ClaimedTask:
    rows = conn.execute(_ITEM_VOTES, {"pid": project_id, "item": claim.item_id}).all()
    row = rows[0]
    item = ItemRecord.model_construct(
        id=row.item_id_, data=row.data, meta=row.meta or {}, split=row.split,
        external_id=row.external_id, content_hash=row.content_hash, width=row.width,
        height=row.height)
    votes = [Vote(r.kind, r.name, r.user_id, _annotation(r)) for r in rows if r.id is not None]
    return ClaimedTask(claim, item, votes)


def _item_text(conn: Connection, item_id: int) -> str | None:
    data = conn.scalar(select(ITEMS.data).where(ITEMS.id == item_id))
    text = (data or {}).get("text")
    return None if text is None else str(text)


def _annotation(r: Any) -> AnnotationRecord:
    value = r.value or {}
    make = (AnnotationRecord if value.get("boxes") or value.get("spans")
            else AnnotationRecord.model_construct)
    return make(id=r.id, item_id=r.item_id, source_id=r.source_id, label=r.label,
                labels=value.get("labels"), boxes=value.get("boxes"), spans=value.get("spans"),
                probs=value.get("probs"),
                confidence=r.confidence, needs_review=bool(r.needs_review), seconds=r.seconds,
                created_at=r.created_at)


def _claim_from(conn: Connection, project_id: int, user_id: int, overlap: int, minutes: int,
                now: datetime, *, gold: bool, hard: bool = False) -> Claim | None:
    """Claim the first free item of one kind (and routing flag) for the user (retrying
    past stale rows)."""
    postgres = conn.dialect.name == "postgresql"
    p: dict[str, Any] = {"pid": project_id, "uid": user_id}
    if not gold:
        p["hard"] = hard
    expires = now + timedelta(minutes=minutes)
    for attempt in range(_RETRIES):
        item_id = conn.scalar(_CANDIDATES[gold, postgres], p)
        if item_id is None:
            if postgres and conn.scalar(_CANDIDATES[gold, False], p) is not None:
                time.sleep(0.01 * (attempt + 1))  # all free rows locked right now
                continue
            return None
        args = {**p, "item": item_id, "now": now, "expires": expires, "overlap": overlap}
        claim_id = conn.scalar(_INSERT_FREE if gold else _INSERT_GUARDED, args)
        _refresh(conn, [item_id], locked=True)  # a stale row is set right here, too
        if claim_id is not None:
            return Claim(int(claim_id), item_id, user_id, now, expires, gold)
    return None


def _claim(base: SqlBase, conn: Connection, project_id: int, user_id: int, *, overlap: int,
           minutes: int, honeypot: bool, now: datetime, route: Route = "any") -> Claim | None:
    _expire(conn, project_id, now)
    row = conn.execute(_OPEN, {"pid": project_id, "uid": user_id}).first()
    if row is not None:
        return Claim(row[0], row[1], user_id, aware(row[2]), aware(row[3]), bool(row[4]))
    # the overlap the queue's has_room flags were computed with is re-read only when the
    # caller's overlap or this store's project settings changed since it was last found
    # equal: the flags only find candidates (the guard counts with the caller's overlap),
    # and another process that changes the overlap rebases the flags itself
    seen = (base.config_version, overlap)
    if base.checked_overlap.get(project_id) != seen:
        if conn.scalar(_OVERLAP, {"pid": project_id}) != overlap:
            with _session(conn) as s:
                cq.rebase(s, project_id, overlap)  # found equal next time, after the commit
        else:
            base.checked_overlap[project_id] = seen
    kinds = [(True, False)] if honeypot else []
    kinds += [(False, hard) for hard in ROUTES[route]]
    for gold, hard in kinds:
        claim = _claim_from(conn, project_id, user_id, overlap, minutes, now, gold=gold,
                            hard=hard)
        if claim is not None:
            return claim
    return None


def claim(base: SqlBase, project_id: int, user_id: int, *, overlap: int, minutes: int,
          honeypot: bool, now: datetime, route: Route = "any") -> Claim | None:
    """The user's open claim, or a new one (one transaction); ``route`` says which
    items the user may take (:data:`ROUTES`)."""
    with write_connection(base, claim=True) as conn:
        return _claim(base, conn, project_id, user_id, overlap=overlap, minutes=minutes,
                      honeypot=honeypot, now=now, route=route)


def claim_task(base: SqlBase, project_id: int, user_id: int, *, overlap: int, minutes: int,
               honeypot: bool, now: datetime, route: Route = "any") -> ClaimedTask | None:
    """:func:`claim`, and the claimed item with its votes, in the same transaction."""
    with write_connection(base, claim=True) as conn:
        found = _claim(base, conn, project_id, user_id, overlap=overlap, minutes=minutes,
                       honeypot=honeypot, now=now, route=route)
        return None if found is None else _read_task(conn, project_id, found)


def candidate_query(dialect: str, project_id: int, user_id: int, *, gold: bool,
                    hard: bool = False) -> Any:
    """The statement that picks the next item for a user, with its values bound (for the
    EXPLAIN test)."""
    stmt = _CANDIDATES[gold, dialect == "postgresql"]
    if gold:
        return stmt.params(pid=project_id, uid=user_id)
    return stmt.params(pid=project_id, uid=user_id, hard=hard)


# -- submit -------------------------------------------------------------------------------
def _source(conn: Connection, project_id: int, user_id: int, name: str) -> int:
    """The user's human source, created on their first answer (``name#id`` when an
    imported source already has the name)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for candidate in (name, f"{name}#{user_id}"):
        args = {"pid": project_id, "name": candidate}
        found = conn.execute(_SOURCE_BY_NAME, args).first()
        if found is None:  # (a concurrent first answer of the same user may win the race)
            conn.execute(dialect.insert(T_SOURCES).values(
                project_id=project_id, kind="human", name=candidate, version="",
                user_id=user_id, created_at=utcnow()).on_conflict_do_nothing())
            found = conn.execute(_SOURCE_BY_NAME, args).one()
        if found.user_id == user_id:
            return int(found.id)
    raise ConflictError(f"sources named {name!r} and {name}#{user_id} belong to others")


def _gold(conn: Connection, project_id: int, item_id: int) -> AnnotationRecord | None:
    rows = [r for r in conn.execute(_VOTES, {"pid": project_id, "item": item_id})
            if r.kind == "gold"]
    return _annotation(rows[-1]) if rows else None


def submit_task(base: SqlBase, project_id: int, user_id: int, user_name: str, item_id: int,
                parse: Parse, *, seconds: float | None, max_seconds: float, overlap: int,
                minutes: int, now: datetime) -> Submitted | None:
    """Store the user's answer and close their claim in one transaction.

    Returns None when the user's claim expired and the item went to others (nothing is
    stored).

    Raises
    ------
    NotFoundError
        If the item is not in the project.
    ConflictError
        If a honeypot is answered a second time.
    ValidationError
        From ``parse``, if the answer does not fit the item (nothing is stored).
    """
    def job(conn: Connection) -> Submitted | None:
        # no expiry sweep here: a claim past its time that nobody swept is one nobody
        # else took (every claim sweeps first), so storing the answer on it is what the
        # sweep and the guard would allow too; one that another claim swept is no longer
        # held, and the guard below decides
        p = {"pid": project_id, "uid": user_id, "item": item_id}
        state = conn.execute(_SUBMIT_STATE, p).first()
        if state is None:
            raise NotFoundError(f"item(s) [{item_id}] not found in this project")
        width, height, is_gold, source, held, held_at, own = state
        gold = _gold(conn, project_id, item_id) if is_gold else None
        honeypot = gold is not None and bool(conn.scalar(_WAS_HONEYPOT, p))
        if honeypot and own is not None:
            raise ConflictError("this answer was already scored and cannot be changed")
        got = parse(width, height, lambda: _item_text(conn, item_id))
        label, labels, boxes, spans = got.label, got.labels, got.boxes, got.spans
        spent = seconds
        if spent is None and held is not None:
            spent = (now - aware(held_at)).total_seconds()
        if held is None and own is None:  # no claim: claim on the spot while there is room
            if conn.dialect.name == "postgresql":
                is_gold = bool(conn.scalar(_LOCK_ROW.with_for_update(), p))
            args = {**p, "now": now, "expires": now + timedelta(minutes=minutes),
                    "overlap": overlap}
            if conn.scalar(_INSERT_FREE if is_gold else _INSERT_GUARDED, args) is None:
                return None
        if source is None:
            source = _source(conn, project_id, user_id, user_name)
        conn.execute(_CLOSE, p)
        record = AnnotationRecord.model_construct(
            item_id=item_id, source_id=int(source), label=label, labels=labels, boxes=boxes,
            spans=spans, probs=None, confidence=None, needs_review=False,
            seconds=None if spent is None else min(max(float(spent), 0.0), max_seconds),
            created_at=now, id=None)
        value: dict[str, Any] = {}
        if labels is not None:
            value["labels"] = labels
        if boxes is not None:
            value["boxes"] = [b.model_dump() for b in boxes]
        if spans is not None:
            value["spans"] = [sp.model_dump(exclude_none=True) for sp in spans]
        conn.execute(_UPSERT[conn.dialect.name], {
            "item_id": item_id, "source_id": int(source), "label": label, "value": value,
            "confidence": None, "needs_review": False, "seconds": record.seconds,
            "created_at": now})
        if (held is None) == (own is None):
            # a new claim became an answer, or a held claim closed beside an earlier
            # answer: the item's count changed. (A held claim that became the first
            # answer, or a changed answer, leaves it as it was.)
            _refresh(conn, [item_id])
        return Submitted(record, honeypot, gold)

    if base.dialect == "sqlite":  # answers arriving together share one commit
        return group_commit(base).run(job)
    with write_connection(base) as conn:
        return job(conn)


