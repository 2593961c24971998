"""Loop rounds repository: each round of the closed loop as a recorded run, applied atomically.

A round is begun (a ``running`` row with its inputs), computed outside any transaction,
then committed by :meth:`SqlLoopRounds.commit_round`: the pre-labeler's drafts, the
posterior, the queue priorities and the round's ``done`` status in ONE write transaction.
A round that fails is marked ``failed`` and wrote nothing else; a round whose process died
stays ``running`` until the next :meth:`SqlLoopRounds.begin_round` marks it ``interrupted``
(its writes never committed) and the new round, computed from scratch, records which one
it re-runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from labelloop.core.records import AnnotationRecord
from labelloop.errors import ConflictError, NotFoundError
from labelloop.storage.annotations import check_owned
from labelloop.storage.base import SqlBase, aware
from labelloop.storage.claim_queue import set_hard
from labelloop.storage.items import write_priorities
from labelloop.storage.models import Base, utcnow
from labelloop.storage.vote_rows import annotation_rows, upsert_annotation_rows

STATUSES = ("running", "done", "failed", "interrupted")


@dataclass(frozen=True)
class LoopRound:
    """A recorded round: status, what triggered it, its inputs' versions and what changed."""

    id: int
    project_id: int
    status: str
    trigger: str
    rerun_of: int | None
    started_at: datetime
    finished_at: datetime | None
    seconds: float | None
    inputs: dict[str, Any]
    changes: dict[str, Any]
    error: str | None


class LoopRoundRow(Base):
    """One round of the loop (see the module docstring)."""

    __tablename__ = "loop_rounds"
    __table_args__ = (Index("ix_loop_rounds_project", "project_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(40))
    rerun_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    inputs: Mapped[dict[str, Any]] = mapped_column()
    changes: Mapped[dict[str, Any]] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


def _record(r: LoopRoundRow) -> LoopRound:
    return LoopRound(
        id=int(r.id), project_id=int(r.project_id), status=r.status, trigger=r.trigger,
        rerun_of=r.rerun_of, started_at=aware(r.started_at),
        finished_at=None if r.finished_at is None else aware(r.finished_at),
        seconds=r.seconds, inputs=dict(r.inputs or {}), changes=dict(r.changes or {}),
        error=r.error,
    )


def _running(s: Session, project_id: int, round_id: int) -> LoopRoundRow:
    row = s.get(LoopRoundRow, round_id)
    if row is None or row.project_id != project_id:
        raise NotFoundError(f"loop round {round_id} not found in this project")
    if row.status != "running":
        raise ConflictError(
            f"loop round {round_id} is {row.status}, not running: another round took over"
        )
    return row


class SqlLoopRounds(SqlBase):
    """:class:`~labelloop.storage.protocol.LoopRoundRepository` over SQL."""

    def begin_round(self, project_id: int, *, trigger: str, inputs: dict[str, Any]) -> LoopRound:
        """Record a new ``running`` round; earlier ``running`` rounds become ``interrupted``.

        The new round's ``rerun_of`` names the newest round it found interrupted.
        """
        now = utcnow()
        with self.write() as s:
            stale = list(s.scalars(select(LoopRoundRow).where(
                LoopRoundRow.project_id == project_id, LoopRoundRow.status == "running"
            ).order_by(LoopRoundRow.id)))
            for r in stale:
                r.status, r.finished_at = "interrupted", now
                r.error = "the process stopped before the round committed; nothing was applied"
            row = LoopRoundRow(
                project_id=project_id, status="running", trigger=trigger[:40],
                rerun_of=stale[-1].id if stale else None, started_at=now, inputs=inputs,
                changes={},
            )
            s.add(row)
            s.flush()
            return _record(row)

    def commit_round(
        self, project_id: int, round_id: int, *, annotations: Sequence[AnnotationRecord],
        priorities: dict[int, float], changes: dict[str, Any], seconds: float,
        hard: Sequence[int] | None = None,
    ) -> LoopRound:
        """Apply a round's results and mark it ``done``, all in one transaction.

        ``annotations`` replace the same sources' earlier answers on their items;
        ``priorities`` reorder the queue; ``hard`` (when given) is the set of items routed
        to the project's experts from now on (the flag is cleared on every other item).

        Raises
        ------
        ConflictError
            If the round is no longer ``running`` (a newer round marked it interrupted):
            nothing is written.
        NotFoundError
            If the round, an item or a source is not in this project.
        """
        with self.write() as s:
            row = _running(s, project_id, round_id)
            if annotations:
                check_owned(s, project_id, sorted({a.item_id for a in annotations}),
                            sorted({a.source_id for a in annotations}))
                upsert_annotation_rows(s, annotation_rows(annotations))
            if priorities:  # set-based, as Store.set_priorities
                write_priorities(s, project_id, priorities)
            if hard is not None:
                set_hard(s, project_id, hard)
            row.status, row.finished_at, row.seconds = "done", utcnow(), float(seconds)
            row.changes = changes
            s.flush()
            return _record(row)

    def fail_round(self, project_id: int, round_id: int, error: str, *, seconds: float) -> None:
        """Mark a running round ``failed`` with its error (it applied nothing)."""
        with self.write() as s:
            row = s.get(LoopRoundRow, round_id)
            if row is None or row.project_id != project_id or row.status != "running":
                return
            row.status, row.finished_at, row.seconds = "failed", utcnow(), float(seconds)
            row.error = error[:2000]

    def loop_rounds(self, project_id: int, *, status: str | None = None,
                    limit: int | None = None) -> list[LoopRound]:
        """Rounds of a project, newest first, optionally of one status."""
        q = select(LoopRoundRow).where(LoopRoundRow.project_id == project_id)
        if status is not None:
            q = q.where(LoopRoundRow.status == status)
        q = q.order_by(LoopRoundRow.id.desc()).limit(limit)
        with self.snapshot() as s:
            return [_record(r) for r in s.scalars(q)]
