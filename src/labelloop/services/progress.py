"""What the label page tells an annotator besides the item: their progress and why the
queue chose the item.

Both cost a few index reads, whatever the project's size. A honeypot is never revealed:
its reason is the one a regular item waiting near the head of the queue would show (read
at a random position among the next :data:`STAND_IN_SPAN`), so the texts of honeypots and
regular items come from the same queue.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from labelloop.core.records import UserRecord
from labelloop.services.project import ProjectInfo, StoreProtocol

STAND_IN_SPAN = 20
"""A honeypot borrows the reason of one of this many regular items next in the queue."""


@dataclass(frozen=True)
class Progress:
    """An annotator's answers today (since midnight UTC) and the project's items that need
    no more annotators, of all its items."""

    today: int
    done: int
    total: int


def progress(store: StoreProtocol, project: ProjectInfo, user: UserRecord,
             now: datetime | None = None) -> Progress:
    """The user's answers since midnight UTC of ``now`` and the project's progress."""
    assert user.id is not None
    now = now or datetime.now(UTC)
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    done, total = store.queue_progress(project.id)
    return Progress(store.answers_since(project.id, user.id, midnight), done, total)


def reason(priority: float | None, *, spans: bool = False) -> str:
    """Why an item with this queue priority comes now (the priorities of
    :func:`labelloop.services.active.refresh_priorities` and the closed loop: the
    strategy's batch in ``(1, 2]``, otherwise the uncertainty ``1 - margin``)."""
    if priority is None:
        return "next in import order (the queue is not ranked yet)"
    if priority > 1.0:
        return "picked by active learning: informative for the model"
    if priority <= 0.0:
        return "next in queue order"
    if spans:
        return f"uncertain: {priority:.2f}"
    return f"uncertain: margin {1.0 - priority:.2f}"


def why_chosen(store: StoreProtocol, project: ProjectInfo, item_id: int,
               rng: random.Random | None = None) -> str:
    """Why the queue offers this item; for a gold item (a honeypot), the reason of a
    regular item near the head of the queue."""
    entry = store.queue_entry(item_id)
    gold, priority = entry if entry is not None else (False, None)
    if gold:
        position = (rng or random.Random()).randrange(STAND_IN_SPAN)
        priority = store.queued_priority(project.id, position)
        if priority is None and position:
            priority = store.queued_priority(project.id, 0)
    return reason(priority, spans=project.schema.task_type.has_spans)
