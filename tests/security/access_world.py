"""A server world for the security suite, cheap to clone per test case.

:func:`build_base` builds the world of ``tests/integration/server/server_world.py`` once,
makes project A single-overlap, and leaves every user (``annotator``, ``reviewer``,
``admin``) holding a claim in both projects, while OTHER has answered one item of each
project and holds another. :func:`clone` copies the SQLite file so that each case starts
from the same state.
"""

from __future__ import annotations

import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "server"))

from server_world import OTHER, SECRET, build_world, cheap_users, png

from labelloop.core.records import ItemRecord
from labelloop.services.members import Members
from labelloop.services.project import Project
from labelloop.services.queue import LabelingQueue
from labelloop.storage import Store

ROLES = ("annotator", "reviewer", "admin")


@dataclass
class Base:
    """A built world on disk and what the cases need to know about it."""

    db: Path
    media: Path
    a: int
    b: int
    ids: dict[str, int]
    tokens: dict[str, str]
    sessions: dict[str, str]
    own_a: dict[str, int] = field(default_factory=dict)
    own_b: dict[str, int] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)  # by OTHER, per project
    held: dict[str, int] = field(default_factory=dict)  # claimed by OTHER, per project


def restrict(store: Store, project_id: int, member_id: int) -> None:
    """Make a project members-only (the explicit setting) with one member."""
    members = Members(store)
    members.grant(project_id, member_id)
    members.set_members_only(project_id, True)


def build_base(tmp: Path, *, restricted: bool = False) -> Base:
    """Build the world; with ``restricted`` both projects admit only OTHER."""
    w = build_world(tmp)
    Project(w.store, w.a).update_settings(overlap=1)
    w.store.import_records(w.b.id, [  # one image each for OTHER and three roles
        ItemRecord(data={"image": png(w.media / f"img{i}.png").name}, width=320, height=240)
        for i in range(2, 6)])
    a, b = w.store.project(w.a.id), w.store.project(w.b.id)
    base = Base(db=tmp / "labelloop.db", media=w.media, a=a.id, b=b.id, ids=dict(w.ids),
                tokens=dict(w.tokens), sessions={})
    rng = random.Random(0)
    other = w.users.get(w.ids[OTHER])
    qa, qb = LabelingQueue(w.store, a, rng), LabelingQueue(w.store, b, rng)
    answers = {"a": {"label": "ham"},
               "b": {"boxes": [{"x": 40, "y": 50, "w": 80, "h": 90, "label": "red"}]}}
    for key, queue in (("a", qa), ("b", qb)):
        for kind in ("answered", "held"):
            task = queue.next(other)
            # the queue gives the other annotator a task, and never the item they answered
            assert task is not None and task.item.id is not None
            assert kind == "answered" or task.item.id != base.answered[key]
            getattr(base, kind)[key] = task.item.id
            if kind == "answered":
                queue.submit(other, task.item.id or 0, answers[key])
    for role in ROLES:
        user = w.users.get(w.ids[role])
        for key, queue, own in (("a", qa, base.own_a), ("b", qb, base.own_b)):
            task = queue.next(user)
            # each role gets its own claim: an item no one answered or held before
            assert task is not None and task.item.id is not None
            assert task.item.id not in (base.answered[key], base.held[key])
            own[role] = task.item.id
        base.sessions[role] = w.users.create_session(w.ids[role])
    if restricted:
        for pid in (a.id, b.id):
            restrict(w.store, pid, w.ids[OTHER])
    w.store.close()
    return base


def clone(base: Base, tmp: Path) -> Any:
    """A fresh app over a copy of the base database."""
    from labelloop.server import create_app

    db = tmp / "case.db"
    shutil.copyfile(base.db, db)
    store = Store(f"sqlite:///{db}")
    app = create_app(store, secret=SECRET, media_root=base.media, users=cheap_users(store),
                     rng=random.Random(0))
    return app, store
