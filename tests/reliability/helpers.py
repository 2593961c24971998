"""Shared set-up of the reliability tests: a project, annotators with their sources."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from labelloop.core.records import ItemRecord
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.storage import Store
from labelloop.storage.models import AnnotationRow, AssignmentRow, SourceRow, UserRow, utcnow
from labelloop.storage.server_models import ClaimQueueRow

SCHEMA = LabelSchema.from_labels("text-classification", ["a", "b"])


def make_project(store: Store, name: str, n_items: int, overlap: int) -> tuple[int, list[int]]:
    """A project with ``n_items`` text items; returns its id and the item ids."""
    p = store.create_project(name, SCHEMA, ProjectSettings(overlap=overlap))
    items = [ItemRecord(data={"text": f"{name} item {i}"}) for i in range(n_items)]
    return p.id, store.import_records(p.id, items).item_ids


def make_users(store: Store, prefix: str, n: int) -> list[int]:
    """``n`` annotator accounts (no password: they only claim through the store)."""
    with store.write() as s:
        rows = [UserRow(name=f"{prefix}{i}", role="annotator", active=True, created_at=utcnow())
                for i in range(n)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def human_sources(store: Store, project_id: int, users: list[int]) -> dict[int, int]:
    """Each user's human source in the project (created here)."""
    return {u: int(store.ensure_source(project_id, "human", f"user{u}", user_id=u).id or 0)
            for u in users}


def taken_per_item(store: Store, project_id: int) -> Counter[int]:
    """Human answers plus open claims per item, counted from the source tables."""
    with store.snapshot() as s:
        answers = s.scalars(select(AnnotationRow.item_id)
                            .join(SourceRow, SourceRow.id == AnnotationRow.source_id)
                            .where(SourceRow.project_id == project_id, SourceRow.kind == "human"))
        taken = Counter(answers)
        taken.update(s.scalars(select(AssignmentRow.item_id).where(
            AssignmentRow.project_id == project_id, AssignmentRow.state == "claimed")))
    return taken


def repeated_assignments(store: Store, project_id: int) -> list[tuple[int, int]]:
    """(item, user) pairs given to the user more than once (expired claims aside)."""
    with store.snapshot() as s:
        pairs = Counter((int(i), int(u)) for i, u in s.execute(
            select(AssignmentRow.item_id, AssignmentRow.user_id).where(
                AssignmentRow.project_id == project_id, AssignmentRow.state != "expired")))
    return [p for p, n in pairs.items() if n > 1]


def queue_rows(store: Store, project_id: int) -> dict[int, tuple[int, bool, bool]]:
    """The claim queue's (taken, gold, has_room) per item."""
    with store.snapshot() as s:
        rows = s.scalars(select(ClaimQueueRow).where(ClaimQueueRow.project_id == project_id))
        return {r.item_id: (r.taken, r.gold, r.has_room) for r in rows}
