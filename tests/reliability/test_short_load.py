"""A few seconds of annotators claiming and submitting at once through the queue service:
every acknowledged answer is stored, no request fails, no item is over-assigned."""

from __future__ import annotations

import threading
import time

from helpers import make_project, make_users, repeated_assignments, taken_per_item
from sqlalchemy import select

from labelloop.core.records import UserRecord
from labelloop.services.queue import LabelingQueue
from labelloop.storage import Store
from labelloop.storage.models import AnnotationRow, SourceRow

ANNOTATORS, SECONDS, MAX_LOOPS = 6, 4.0, 2_000


def test_short_load_acknowledged_is_stored(db_url: str) -> None:
    setup = Store(db_url)
    pid, _ = make_project(setup, "load", 400, 2)
    users = make_users(setup, "loader", ANNOTATORS)
    project = setup.project(pid)
    acked: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def annotator(uid: int) -> None:
        own = Store(db_url, migrate=False)
        queue = LabelingQueue(own, project)
        user = UserRecord(id=uid, name=f"loader{users.index(uid)}", role="annotator")
        try:
            for _ in range(MAX_LOOPS):
                if time.monotonic() >= deadline:
                    break
                task = queue.next(user)
                if task is None:
                    break
                result = queue.submit(user, task.item.id, {"label": "a"})
                with lock:
                    acked.append((uid, result.annotation.item_id))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=annotator, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SECONDS + 60)
    assert not errors, errors
    with setup.snapshot() as s:
        stored = {(int(u), int(i)) for u, i in s.execute(
            select(SourceRow.user_id, AnnotationRow.item_id)
            .join(AnnotationRow, AnnotationRow.source_id == SourceRow.id)
            .where(SourceRow.project_id == pid, SourceRow.kind == "human"))}
    assert len(acked) >= ANNOTATORS and len(set(acked)) == len(acked)
    assert set(acked) == stored  # acknowledged = stored
    assert max(taken_per_item(setup, pid).values()) <= 2
    assert repeated_assignments(setup, pid) == []
    setup.close()
