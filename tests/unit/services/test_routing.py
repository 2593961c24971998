"""Routing by difficulty: the loop marks hard items, only experts claim them, first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from test_loop import EMB, answer, make_project

from labelloop.core.schema import ProjectSettings
from labelloop.errors import ValidationError
from labelloop.services.loop import LoopConfig, run_round
from labelloop.services.project import Project
from labelloop.services.queue import LabelingQueue, route_for
from labelloop.storage.server_models import ClaimQueueRow

CFG = LoopConfig(embedding_model=EMB, batch_size=10, calibration_share=0.0)


def hard_in_store(p: Project) -> set[int]:
    with p.store.snapshot() as s:
        return set(s.scalars(select(ClaimQueueRow.item_id).where(
            ClaimQueueRow.project_id == p.id, ClaimQueueRow.hard.is_(True))))


def routed(tmp_path: Path, **settings: object) -> tuple[Project, np.ndarray]:
    p, y = make_project(tmp_path / "p", settings={"loop_every": 10, **settings})
    answer(p, run_round(p, config=CFG).queue, y)  # a few labels: a posterior to route by
    return p, y


def test_difficulty_routing_needs_an_expert() -> None:
    with pytest.raises(ValueError, match="name at least one expert"):
        ProjectSettings(routing="difficulty")
    s = ProjectSettings(routing="difficulty", experts=[" ann ", "ann", "bo"])
    assert s.experts == ["ann", "bo"]
    assert route_for(s, "ann") == "expert" and route_for(s, "cy") == "regular"
    assert route_for(ProjectSettings(), "ann") == "any"


def test_a_round_marks_exactly_the_uncertain_open_items_hard(tmp_path: Path) -> None:
    p, _ = routed(tmp_path, routing="difficulty", experts=["ex"], hard_below=0.9)
    rep = run_round(p, config=CFG)
    expected = set(rep.item_ids[(rep.human < 0) & ~rep.accepted & (rep.confidence < 0.9)]
                   .tolist())
    assert expected, "the synthetic pool must leave some items uncertain"
    assert set(rep.item_ids[rep.hard].tolist()) == expected == hard_in_store(p)
    assert rep.changes["n_hard"] == len(expected) and rep.changes["routing"] == "difficulty"
    # routing off again: the next round clears every flag
    p.update_settings(routing="off")
    assert not run_round(p, config=CFG).hard.any()
    assert hard_in_store(p) == set()
    p.close()


def _claims(p: Project, name: str, n: int) -> list[int]:
    """Claim and answer ``n`` items as ``name``; the ids claimed, in order."""
    user = p.store.create_user(name, "annotator", "x")
    q = LabelingQueue(p.store, p.store.get_project(p.name))
    got = []
    for _ in range(n):
        task = q.next(user)
        if task is None:
            break
        got.append(int(task.item.id))
        q.submit(user, int(task.item.id), {"label": "a"})
    return got


def test_experts_take_hard_items_first_and_others_never(tmp_path: Path) -> None:
    p, _ = routed(tmp_path, routing="difficulty", experts=["ex"], hard_below=0.9)
    run_round(p, config=CFG)
    hard = hard_in_store(p)
    assert 3 < len(hard) < 100
    n_open = sum(1 for it in p.items()) - 10
    regular = _claims(p, "reg", n_open)
    assert regular and not set(regular) & hard
    assert len(regular) == n_open - len(hard), "the regular annotator got every easy item"
    expert = _claims(p, "ex", len(hard))
    assert set(expert) == hard
    p.close()


def test_experts_take_hard_items_before_easy_ones(tmp_path: Path) -> None:
    p, _ = routed(tmp_path, routing="difficulty", experts=["ex"], hard_below=0.9)
    run_round(p, config=CFG)
    hard = hard_in_store(p)
    first = _claims(p, "ex", len(hard) + 3)
    assert set(first[:len(hard)]) == hard and not set(first[len(hard):]) & hard
    p.close()


def test_without_routing_everyone_gets_every_item(tmp_path: Path) -> None:
    p, _ = routed(tmp_path)
    rep = run_round(p, config=CFG)
    assert not rep.hard.any() and rep.changes["n_hard"] == 0
    n_open = sum(1 for it in p.items()) - 10
    assert len(_claims(p, "reg", n_open + 5)) == n_open
    p.close()


def test_update_settings_rejects_routing_without_experts(tmp_path: Path) -> None:
    p, _ = make_project(tmp_path / "p")
    with pytest.raises(ValidationError, match="expert"):
        p.update_settings(routing="difficulty")
    assert p.settings.routing == "off"
    p.update_settings(routing="difficulty", experts=["ex"], price_per_label=0.1,
                      price_per_expert_label=1.5)
    assert p.settings.expert_price() == 1.5
    p.close()
