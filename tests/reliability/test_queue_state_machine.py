"""A Hypothesis state machine over claim / submit / skip / expire / undo for three users.

After every step: no item holds more human answers plus open claims than its overlap
(plus send-backs), no user holds two live assignments of one item nor a claim on an item
they answered, and the claim queue table agrees with the rows it sums up.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import (
    human_sources,
    make_project,
    make_users,
    queue_rows,
    repeated_assignments,
    taken_per_item,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import select

from labelloop.core.records import AnnotationRecord
from labelloop.storage import Store
from labelloop.storage.models import AnnotationRow, AssignmentRow, utcnow

OVERLAP, MINUTES, N_ITEMS = 2, 5, 4
USERS = st.integers(0, 2)


class QueueMachine(RuleBasedStateMachine):
    """One small project; three annotators; a clock that only the ``expire`` rule moves."""

    store: Store
    counter = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        n = next(self.counter)
        self.pid, self.items = make_project(self.store, f"sm{n}", N_ITEMS, OVERLAP)
        self.users = make_users(self.store, f"sm{n}u", 3)
        self.sources = human_sources(self.store, self.pid, self.users)
        self.now = utcnow()
        gold = self.store.ensure_source(self.pid, "gold", "reference")
        self.store.upsert_annotations(self.pid, [AnnotationRecord(
            item_id=self.items[0], source_id=int(gold.id or 0), label=1)])

    def _answer(self, u: int, item_id: int, label: int) -> None:
        self.store.submit_answer(self.pid, u, AnnotationRecord(
            item_id=item_id, source_id=self.sources[u], label=label), overlap=OVERLAP,
            minutes=MINUTES, now=self.now)

    @rule(who=USERS, honeypot=st.booleans())
    def claim(self, who: int, honeypot: bool) -> None:
        self.store.claim_next(self.pid, self.users[who], overlap=OVERLAP, minutes=MINUTES,
                              honeypot=honeypot, now=self.now)

    @rule(who=USERS, label=st.integers(0, 1))
    def submit(self, who: int, label: int) -> None:
        u = self.users[who]
        claim = self.store.open_claim(self.pid, u, now=self.now)
        if claim is not None:
            self._answer(u, claim.item_id, label)

    @rule(who=USERS)
    def skip(self, who: int) -> None:
        u = self.users[who]
        claim = self.store.open_claim(self.pid, u, now=self.now)
        if claim is not None:
            self.store.finish_claim(self.pid, u, claim.item_id, "skipped", now=self.now)

    @rule()
    def expire(self) -> None:
        self.now += timedelta(minutes=MINUTES + 1)

    @rule(who=USERS, label=st.integers(0, 1))
    def undo(self, who: int, label: int) -> None:
        """Change the last answer (what the undo button leads to)."""
        u = self.users[who]
        last = self.store.last_submitted(self.pid, u)
        if last is not None:
            self._answer(u, last, label)

    @rule(item=st.integers(0, N_ITEMS - 1), who=USERS)
    def resubmit_after_expiry(self, item: int, who: int) -> None:
        """Answer an item without a live claim (as the submit service does for an item
        the user never answered): allowed only while it has room."""
        u = self.users[who]
        if self.store.user_annotation(self.pid, u, self.items[item]) is not None:
            return
        if self.store.claim_item(self.pid, u, self.items[item], overlap=OVERLAP,
                                 minutes=MINUTES, now=self.now) is not None:
            self._answer(u, self.items[item], 0)

    @invariant()
    def never_over_overlap(self) -> None:
        taken = taken_per_item(self.store, self.pid)
        regular = [i for i in self.items if i != self.items[0]]  # items[0] is a honeypot
        assert all(taken[i] <= OVERLAP for i in regular), taken

    @invariant()
    def never_twice(self) -> None:
        assert repeated_assignments(self.store, self.pid) == []
        with self.store.snapshot() as s:
            answered = {(int(i), u) for u, src in self.sources.items() for i in s.scalars(
                select(AnnotationRow.item_id).where(AnnotationRow.source_id == src))}
            claimed = {(int(i), int(u)) for i, u in s.execute(
                select(AssignmentRow.item_id, AssignmentRow.user_id).where(
                    AssignmentRow.project_id == self.pid, AssignmentRow.state == "claimed"))}
        assert not answered & claimed, answered & claimed

    @invariant()
    def queue_table_agrees(self) -> None:
        taken = taken_per_item(self.store, self.pid)
        rows = queue_rows(self.store, self.pid)
        assert set(rows) == set(self.items)
        for i, (n, gold, room) in rows.items():
            assert n == taken[i] and gold == (i == self.items[0])
            assert room == (n < OVERLAP), (i, n, room)


@pytest.fixture
def machine(tmp_path: Path) -> type[QueueMachine]:
    QueueMachine.store = Store(f"sqlite:///{tmp_path / 'sm.db'}")
    return QueueMachine


def test_queue_state_machine(machine: type[QueueMachine]) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=settings(
        max_examples=25, stateful_step_count=20, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow]))
    machine.store.close()
