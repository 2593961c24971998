"""Priorities are refreshed in the background every ``requeue_every`` answers."""

from __future__ import annotations

import threading

from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.server.requeue import Requeuer
from labelloop.storage.store import ProjectInfo


def _project(pid: int, every: int) -> ProjectInfo:
    return ProjectInfo(pid, f"p{pid}", LabelSchema.from_labels("text-classification", ["a", "b"]),
                       ProjectSettings(requeue_every=every))


def test_refresh_runs_every_n_answers_per_project() -> None:
    done: list[int] = []
    r = Requeuer(lambda p: done.append(p.id))
    a, b = _project(1, 3), _project(2, 2)
    started = [r.labeled(a) for _ in range(7)] + [r.labeled(b) for _ in range(2)]
    for t in r.threads:
        t.join(5)
    assert started == [False, False, True, False, False, True, False, False, True]
    assert sorted(done) == [1, 1, 2]


def test_a_slow_or_failing_refresh_never_blocks_or_breaks_labeling() -> None:
    gate = threading.Event()
    calls: list[int] = []

    def refresh(p: ProjectInfo) -> None:
        calls.append(p.id)
        gate.wait(5)
        raise RuntimeError("boom")

    r = Requeuer(refresh)
    p = _project(1, 1)
    assert r.labeled(p) is True
    assert r.labeled(p) is False  # one refresh at a time per project
    gate.set()
    for t in r.threads:
        t.join(5)
    assert r.labeled(p) is True
    for t in r.threads:
        t.join(5)
    assert calls == [1, 1]
