"""SQLite group commit: writes queued while the write lock is taken share one transaction;
a piece that fails is rolled back alone and only its caller sees the error."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, text

from labelloop.storage import Store
from labelloop.storage.group_commit import group_commit


def test_queued_writes_share_one_commit_and_fail_alone(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'labelloop.db'}")
    with store.write() as s:
        s.execute(text("CREATE TABLE gc_probe (n INTEGER PRIMARY KEY)"))
    commits = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    queue = group_commit(store)
    results: dict[int, Any] = {}

    def job(n: int) -> Any:
        def write(conn: Connection) -> int:
            conn.execute(text("INSERT INTO gc_probe (n) VALUES (:n)"), {"n": n})
            if n == 3:
                raise ValueError("piece 3 fails")
            return n * 10
        return write

    def caller(n: int) -> None:
        try:
            results[n] = queue.run(job(n))
        except ValueError as exc:
            results[n] = exc

    assert store._write_lock is not None
    store._write_lock.acquire()  # a commit under way: the callers queue behind it
    threads = [threading.Thread(target=caller, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(queue._pending) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(queue._pending) == 6
    store._write_lock.release()
    for t in threads:
        t.join(30)
    assert len(commits) == 1  # six callers, one transaction
    assert {n: r for n, r in results.items() if n != 3} == {0: 0, 1: 10, 2: 20, 4: 40, 5: 50}
    assert isinstance(results[3], ValueError)
    with store.snapshot() as s:
        stored = sorted(s.scalars(text("SELECT n FROM gc_probe")))
    assert stored == [0, 1, 2, 4, 5]  # the failed piece left nothing
    store.close()


def test_a_failed_commit_fails_every_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    from labelloop.errors import UnavailableError

    store = Store(f"sqlite:///{tmp_path / 'labelloop.db'}")
    with store.write() as s:
        s.execute(text("CREATE TABLE gc_probe (n INTEGER PRIMARY KEY)"))

    def refuse_commit(conn: Any) -> None:
        raise RuntimeError("disk full")

    event.listen(store.engine, "commit", refuse_commit)
    with pytest.raises(UnavailableError, match="could not be stored"):
        group_commit(store).run(
            lambda conn: conn.execute(text("INSERT INTO gc_probe (n) VALUES (1)")))
    event.remove(store.engine, "commit", refuse_commit)
    with store.snapshot() as s:
        assert list(s.scalars(text("SELECT n FROM gc_probe"))) == []
    store.close()
