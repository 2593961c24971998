"""A submit at the instant a claim expires is checked and written in one transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from server_world import OTHER, World

from labelloop.errors import ConflictError
from labelloop.services.queue import LabelingQueue
from labelloop.storage.models import utcnow


def test_a_claim_expiring_mid_submit_never_exceeds_the_overlap(world: World,
                                                               monkeypatch: Any) -> None:
    import random

    one = world.store.project(world.a.id)
    world.store.update_settings(one.id, one.settings.model_copy(update={"overlap": 1}))
    one = world.store.project(one.id)
    ann = world.users.by_name("annotator")
    other = world.users.by_name(OTHER)
    queue = LabelingQueue(world.store, one, random.Random(0))
    task = queue.next(ann)
    assert task is not None and task.item.id is not None
    item = task.item.id
    real_submit = world.store.submit_task
    skew = [timedelta(0)]  # the store's clock runs this much ahead once the claim is seen
    later = timedelta(minutes=one.settings.claim_minutes + 1)

    def expire_then_submit(*args: Any, **kw: Any) -> Any:
        """The annotator still sees a live claim when they submit; at that instant the
        claim expires and the item goes to the other annotator."""
        claim = world.store.open_claim(one.id, ann.id or 0)
        assert claim is not None and claim.item_id == item
        skew[0] = later
        taken = world.store.claim_item(one.id, other.id or 0, item, overlap=1, minutes=30)
        assert taken is not None and taken.item_id == item and taken.user_id == other.id
        return real_submit(*args, **kw)

    import labelloop.storage.queue as storage_queue

    monkeypatch.setattr(world.store, "submit_task", expire_then_submit)
    monkeypatch.setattr(storage_queue, "utcnow", lambda: utcnow() + skew[0])
    with pytest.raises(ConflictError):
        queue.submit(ann, item, {"label": "ham"})
    humans = [v for v in world.store.votes(one.id, item_ids=[item]) if v.kind == "human"]
    assert humans == []  # nothing stored: the other annotator holds the only place
