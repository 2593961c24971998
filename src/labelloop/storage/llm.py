"""LLM answers and runs: the cache that makes a repeated LLM request free, and what each
run spent (migration 0011).

``llm_answers`` holds one answer per cache key (a SHA-256 of the model, the prompt
template's hash, the prompt's content and the sampling options: the caller computes it),
never a credential. ``llm_runs`` holds one row per pre-labeling or LF run: requests sent,
answers from the cache, tokens, cost and whether the budget stopped it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from labelloop.storage.base import SqlBase, aware, chunks, insert
from labelloop.storage.models import Base, utcnow

RUN_COUNTERS = ("requests", "cached", "unsent", "errors", "prompt_tokens", "completion_tokens")


@dataclass(frozen=True)
class LLMRun:
    """One recorded run of an LLM source: what it sent, what the cache answered, its cost."""

    id: int
    project_id: int
    kind: str
    name: str
    model: str
    started_at: datetime
    finished_at: datetime
    requests: int
    cached: int
    unsent: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    budget_stop: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``labelloop status --json``)."""
        d = dict(self.__dict__)
        d["started_at"] = self.started_at.isoformat()
        d["finished_at"] = self.finished_at.isoformat()
        return d


class LLMAnswerRow(Base):
    """One cached answer (see the module docstring)."""

    __tablename__ = "llm_answers"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    answer: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LLMRunRow(Base):
    """One run of an LLM source (see the module docstring)."""

    __tablename__ = "llm_runs"
    __table_args__ = (Index("ix_llm_runs_project", "project_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requests: Mapped[int] = mapped_column(Integer)
    cached: Mapped[int] = mapped_column(Integer)
    unsent: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cost: Mapped[float] = mapped_column(Float)
    budget_stop: Mapped[str | None] = mapped_column(String(200), nullable=True)


class SqlLLM(SqlBase):
    """:class:`~labelloop.storage.protocol.LLMRepository` over SQL."""

    def llm_answers(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The cached answers of those keys that have one."""
        out: dict[str, dict[str, Any]] = {}
        with self.snapshot() as s:
            for part in chunks(list(dict.fromkeys(keys))):
                q = select(LLMAnswerRow.key, LLMAnswerRow.answer).where(
                    LLMAnswerRow.key.in_(list(part)))
                out.update({k: dict(a) for k, a in s.execute(q)})
        return out

    def put_llm_answers(self, model: str, answers: Mapping[str, Mapping[str, Any]]) -> None:
        """Cache answers under their keys (a key already cached keeps its first answer)."""
        if not answers:
            return
        now = utcnow()
        rows = [{"key": k, "model": model[:200], "answer": dict(a), "created_at": now}
                for k, a in answers.items()]
        with self.write() as s:
            for part in chunks(rows):
                s.execute(insert(s, LLMAnswerRow).on_conflict_do_nothing(
                    index_elements=["key"]), list(part))

    def record_llm_run(self, project_id: int, *, kind: str, name: str, model: str,
                       started_at: datetime, counts: Mapping[str, Any]) -> LLMRun:
        """Record what one run sent and spent (``counts``: :data:`RUN_COUNTERS`, ``cost``,
        ``budget_stop``)."""
        row = LLMRunRow(
            project_id=project_id, kind=kind[:40], name=name[:200], model=model[:200],
            started_at=started_at, finished_at=utcnow(),
            **{c: int(counts.get(c, 0)) for c in RUN_COUNTERS},
            cost=float(counts.get("cost", 0.0)),
            budget_stop=(counts.get("budget_stop") or None),
        )
        with self.write() as s:
            s.add(row)
            s.flush()
            return _run(row)

    def llm_runs(self, project_id: int, *, limit: int | None = None) -> list[LLMRun]:
        """Recorded LLM runs of a project, newest first."""
        q = (select(LLMRunRow).where(LLMRunRow.project_id == project_id)
             .order_by(LLMRunRow.id.desc()).limit(limit))
        with self.snapshot() as s:
            return [_run(r) for r in s.scalars(q)]


def _run(r: LLMRunRow) -> LLMRun:
    return LLMRun(
        id=int(r.id), project_id=int(r.project_id), kind=r.kind, name=r.name, model=r.model,
        started_at=aware(r.started_at), finished_at=aware(r.finished_at),
        **{c: int(getattr(r, c)) for c in RUN_COUNTERS}, cost=float(r.cost),
        budget_stop=r.budget_stop,
    )
