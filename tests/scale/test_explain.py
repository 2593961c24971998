"""Every read of the server and the CLI walks an index, never a whole table.

A project of 8,000 items (a labeling-function and a label-model vote on each, two
annotators on a few hundred, gold answers, review decisions, a second project beside it)
is read through the API routes, the pages and the CLI's service calls while the engine
records every statement issued. Each ``SELECT`` is then explained: on SQLite no plan step
may be ``SCAN items``/``SCAN annotations``/``SCAN claim_queue`` (nor of the comments and review
requests); on PostgreSQL (fresh
``ANALYZE``; sequential scans, hash and merge joins off, so that a missing index shows
as a sequential scan or a walk of a whole index)
no node may be a ``Seq Scan`` of those tables, nor an index scan of them without an
index condition (a walk of the whole index).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from labelloop.core.records import AnnotationRecord, ItemRecord, PendingAnnotation
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.server import create_app
from labelloop.services.project import Project
from labelloop.services.review import Review
from labelloop.services.users import Users
from labelloop.storage import Store
from labelloop.storage.browse import BrowseFilter

N_ITEMS = 8000
BIG = {"items", "annotations", "claim_queue", "item_comments", "review_requests"}
SECRET = "explain-test-secret-" + "k3Jd8sLq2Wm5Xn7Vb4Zc9Rt6Yh1Gf0Pa"
SCHEMA = LabelSchema.from_labels("text-classification", ["a", "b", "c"])


@dataclass
class World:
    store: Store
    project: int
    item: int
    tokens: dict[str, str]


def _users(store: Store) -> Users:
    from argon2 import PasswordHasher

    return Users(store, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture(scope="module", params=["sqlite",
                                        pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[str]:
    """One database per backend for the whole module (building the project takes a while)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('explain') / 'labelloop.db'}"
        return
    yield str(request.getfixturevalue("module_postgres_url"))


@pytest.fixture(scope="module")
def world(db: str, analyze_own_tables: Any) -> Iterator[World]:
    store = Store(db)
    rng = random.Random(1)
    pid = 0
    for name in ("other", "big"):
        p = store.create_project(name, SCHEMA, ProjectSettings(overlap=2))
        pid = p.id
        items = [ItemRecord(data={"text": f"{name} item {i}"}) for i in range(N_ITEMS)]
        votes = []
        for i, it in enumerate(items):
            conf = rng.random()
            votes.append(PendingAnnotation(content_hash=it.content_hash,
                                           kind="labeling_function", name="lf", label=i % 3))
            votes.append(PendingAnnotation(content_hash=it.content_hash, kind="label_model",
                                           name="lm", label=i % 3, confidence=conf,
                                           needs_review=conf < 0.05))
        ids = store.import_records(p.id, items, votes).item_ids
    users = _users(store)
    admin, _ = users.add("admin1", "admin", "explain password")
    rev, _ = users.add("rev1", "reviewer", "explain password")
    anns = [users.add(f"ann{i}", "annotator", "explain password")[0] for i in range(3)]
    tokens = {u.name: users.create_token(u.id or 0, "t") for u in (admin, rev, *anns)}
    src = {u.id: store.ensure_source(pid, "human", u.name, user_id=u.id).id for u in anns}
    gold = store.ensure_source(pid, "gold", "review:rev1", user_id=rev.id).id
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    human = sorted(rng.sample(ids, 300))
    for n, item in enumerate(human):
        for u in rng.sample(anns, 2):
            rows.append(AnnotationRecord(item_id=item, source_id=src[u.id],
                                         label=rng.choice([0, 0, 1]), seconds=3.0 + n % 5,
                                         created_at=t0 + timedelta(seconds=n)))
        if n % 10 == 0:
            rows.append(AnnotationRecord(item_id=item, source_id=gold, label=0,
                                         created_at=t0 + timedelta(seconds=n)))
    store.upsert_annotations(pid, rows)
    info = store.project(pid)
    for item in human[:5]:
        store.record_decision(pid, item, rev.id or 0, "accept", {}, "", t0 + timedelta(days=1))
    Review(store, info)  # the service the routes build
    analyze_own_tables(store.engine)
    yield World(store, pid, human[len(human) // 2], tokens)
    store.close()


@pytest.fixture
def recorder(world: World) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and not executemany:
            seen.append((statement, parameters))

    event.listen(world.store.engine, "before_cursor_execute", record)
    yield seen
    event.remove(world.store.engine, "before_cursor_execute", record)


def _full_scans(store: Store, statement: str, parameters: Any,
                tables: set[str] = BIG) -> list[str]:
    """Plan steps that read a whole table of ``tables`` (empty when every read of them
    uses an index)."""
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            plan = [str(r[3]) for r in
                    conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            return [d for d in plan if d.startswith("SCAN ") and d.split()[1] in tables]
        for method in ("seqscan", "hashjoin", "mergejoin"):  # only an index lookup is left
            conn.exec_driver_sql(f"SET enable_{method} = off")
        raw = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()
    plan = json.loads(raw) if isinstance(raw, str) else raw
    bad, todo = [], [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        todo.extend(node.get("Plans", []))
        rel = node.get("Relation Name")
        if rel not in tables:
            continue
        if node["Node Type"] == "Seq Scan" or (
                "Index" in node["Node Type"] and "Index Cond" not in node):
            bad.append(f"{node['Node Type']} on {rel} ({node.get('Index Name', '')})")
    return bad


def _check(world: World, seen: list[tuple[str, Any]], what: str,
           tables: set[str] = BIG) -> None:
    assert seen, f"{what}: no SQL recorded"
    problems = []
    for statement, parameters in seen:
        bad = _full_scans(world.store, statement, parameters, tables)
        if bad:
            problems.append(f"{bad}\n  {statement[:400]}")
    assert not problems, f"{what} scans a whole table:\n" + "\n".join(problems)


def _route_reads(w: World) -> dict[str, tuple[str, str]]:
    p, i = w.project, w.item
    return {
        "item list": ("admin1", f"/api/v1/projects/{p}/items?limit=50"),
        "item list, next page": ("admin1", f"/api/v1/projects/{p}/items?after={i}&limit=50"),
        "item detail": ("admin1", f"/api/v1/projects/{p}/items/{i}"),
        "review queue": ("admin1", f"/api/v1/projects/{p}/review?limit=20"),
        "review queue by reason": ("admin1",
                                   f"/api/v1/projects/{p}/review?reason=disagreement&limit=20"),
        "scorecards": ("admin1", f"/api/v1/projects/{p}/scorecards"),
        "own scorecard": ("ann0", f"/api/v1/projects/{p}/scorecard"),
        "dashboard": ("admin1", f"/api/v1/projects/{p}/dashboard"),
        "members": ("admin1", f"/api/v1/projects/{p}/members"),
        "users": ("admin1", "/api/v1/users"),
        "projects": ("ann0", "/api/v1/projects"),
        "page: review list": ("rev1", f"/p/{p}/review"),
        "page: review item": ("rev1", f"/p/{p}/review/{i}"),
        "page: dashboard": ("admin1", f"/p/{p}/dashboard"),
        "page: home": ("rev1", "/"),
        "page: home (annotator)": ("ann0", "/"),
        "page: label (claims the next task)": ("ann1", f"/p/{p}/label"),
        "next task (claim)": ("ann2", f"/api/v1/projects/{p}/queue/next"),
    }


READS = ["item list", "item list, next page", "item detail", "review queue",
         "review queue by reason", "scorecards", "own scorecard", "dashboard", "members",
         "users", "projects", "page: review list", "page: review item", "page: dashboard",
         "page: home", "page: home (annotator)", "page: label (claims the next task)",
         "next task (claim)"]


@pytest.mark.parametrize("read", READS)
def test_server_reads_use_indexes(world: World, recorder: list[tuple[str, Any]],
                                  read: str) -> None:
    who, path = _route_reads(world)[read]
    app = create_app(world.store, secret=SECRET, users=_users(world.store))
    with TestClient(app) as c:
        headers = {"Authorization": f"Bearer {world.tokens[who]}"}
        recorder.clear()
        method = c.post if path.endswith("/queue/next") else c.get
        r = method(path, headers=headers)
        assert r.status_code == 200, r.text[:300]
    _check(world, recorder, read)


def test_reads_after_a_vote_use_indexes(world: World, recorder: list[tuple[str, Any]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after an annotator's answer the dashboard and the review queue read again
    only that annotator's votes (and the votes on an item answered for the first time):
    those reads walk indexes too."""
    p = world.project
    merged: list[list[int]] = []
    real = world.store.votes_of_sources

    def spy(project_id: int, source_ids: Any) -> Any:
        merged.append(list(source_ids))
        return real(project_id, source_ids)

    monkeypatch.setattr(world.store, "votes_of_sources", spy)
    app = create_app(world.store, secret=SECRET, users=_users(world.store))
    admin = {"Authorization": f"Bearer {world.tokens['admin1']}"}
    ann = {"Authorization": f"Bearer {world.tokens['ann0']}"}
    with TestClient(app) as c:
        for path in (f"/api/v1/projects/{p}/dashboard", f"/api/v1/projects/{p}/review"):
            assert c.get(path, headers=admin).status_code == 200  # votes read and kept
            task = c.post(f"/api/v1/projects/{p}/queue/next", headers=ann).json()["task"]
            r = c.put(f"/api/v1/projects/{p}/items/{task['item']['id']}/annotation",
                      json={"label": "a", "seconds": 1.0}, headers=ann)
            assert r.status_code == 200, r.text[:300]
            recorder.clear()
            merged.clear()
            assert c.get(path, headers=admin).status_code == 200
            assert merged  # the annotator's votes, merged into the kept ones
            _check(world, recorder, f"{path} after a vote")


def test_counts_after_a_vote_read_short_ranges(world: World, recorder: list[tuple[str, Any]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """After an annotator's answer, the dashboard's counts (status by state, the review
    count) and the label page's progress read ranges of ``item_stats`` (the answered items,
    the flagged drafts), never the whole table; the model-state counts kept from before are
    not read again. (``split_counts`` holds a row per project and split: a planner may
    rightly read it whole.)"""
    p = world.project
    app = create_app(world.store, secret=SECRET, users=_users(world.store))
    admin = {"Authorization": f"Bearer {world.tokens['admin1']}"}
    ann = {"Authorization": f"Bearer {world.tokens['ann1']}"}
    kept = world.store.model_counts
    counted: list[int] = []

    def spy(project_id: int, threshold: float) -> Any:
        counted.append(project_id)
        return kept(project_id, threshold)

    tables = BIG | {"item_stats"}
    with TestClient(app) as c:
        assert c.get(f"/api/v1/projects/{p}/dashboard", headers=admin).status_code == 200
        task = c.post(f"/api/v1/projects/{p}/queue/next", headers=ann).json()["task"]
        r = c.put(f"/api/v1/projects/{p}/items/{task['item']['id']}/annotation",
                  json={"label": "b", "seconds": 1.0}, headers=ann)
        assert r.status_code == 200, r.text[:300]
        monkeypatch.setattr(world.store, "model_counts", spy)
        for path, who in ((f"/api/v1/projects/{p}/dashboard", admin), (f"/p/{p}/label", ann)):
            recorder.clear()
            assert c.get(path, headers=who).status_code == 200
            _check(world, recorder, f"{path} after a vote", tables)
    assert counted == []  # kept under the models' votes, which an answer leaves alone


def test_cli_status_uses_indexes(world: World, recorder: list[tuple[str, Any]]) -> None:
    """``labelloop status`` (``Project.status``) counts through indexes and ``item_stats``.

    The export snapshot and the label matrix read every vote of a project by nature; they
    are not held to this rule (their plans walk a whole index in item order)."""
    project = Project(world.store, world.store.project(world.project))
    recorder.clear()
    st = project.status()
    assert st.items == N_ITEMS
    _check(world, recorder, "status")


def test_the_review_queue_page_is_found_from_candidates(world: World) -> None:
    """The queue reads flagged items from the candidates; every entry is flagged and the
    next page starts after the last item of this one."""
    review = Review(world.store, world.store.project(world.project))
    first = review.queue(limit=10)
    assert len(first) == 10
    assert all(e.reasons for e in first)
    ids = [e.item.id for e in first]
    assert ids == sorted(ids)
    rest = review.queue(limit=10, after=ids[-1])
    assert rest and rest[0].item.id > ids[-1]
    both = review.queue(limit=20)
    assert [e.item.id for e in both] == ids + [e.item.id for e in rest]


def _browse_reads(w: World) -> dict[str, str]:
    base = f"/api/v1/projects/{w.project}/browse?limit=50"
    return {
        "browse: first page": base,
        "browse: with the count": f"{base}&count=true",
        "browse: search": f"{base}&search=big%20item%2042",
        "browse: search by priority": f"{base}&search=item&sort=priority&desc=true",
        "browse: state and split": f"{base}&state=auto&state=unlabeled&split=unassigned",
        "browse: source, label, disagreement": f"{base}&source=lm&label=a&disagreement=true",
        **{f"browse: sort {s}{' desc' if d else ''}": f"{base}&sort={s}&desc={str(d).lower()}"
           for s in ("id", "priority", "confidence", "date") for d in (False, True)},
    }


def test_browser_pages_use_indexes(world: World, recorder: list[tuple[str, Any]],
                                   analyze_own_tables: Any) -> None:
    """The data browser's pages, their next pages (cursor), its search and its count walk
    indexes: the items index of each sort order, the text index, ``item_stats``.

    Half of the items get a priority first (this test runs last on the module's world),
    so the priority order walks both its keyed and its NULL part."""
    ids = [i for page in world.store.browse_ids(world.project, BrowseFilter()) for i in page]
    world.store.set_priorities(world.project, {i: float(i % 97) for i in ids[::2]})
    analyze_own_tables(world.store.engine)
    app = create_app(world.store, secret=SECRET, users=_users(world.store))
    headers = {"Authorization": f"Bearer {world.tokens['rev1']}"}
    with TestClient(app) as c:
        for what, path in _browse_reads(world).items():
            recorder.clear()
            r = c.get(path, headers=headers)
            assert r.status_code == 200, r.text[:300]
            assert r.json()["items"], what
            nxt = r.json()["next"]
            if nxt is not None:  # the next page, from its cursor
                r = c.get(f"{path}&cursor={quote(nxt)}", headers=headers)
                assert r.status_code == 200 and r.json()["items"], (what, r.text[:300])
            _check(world, recorder, what)


def test_comment_and_review_request_reads_use_indexes(
        world: World, recorder: list[tuple[str, Any]], analyze_own_tables: Any) -> None:
    """An item's comments are read through ``ix_item_comments_item``; the browser's comment
    counts and "has comments" filter, and the review queue's requested items, through
    their indexes too (after 2,000 comments and 500 review requests in the project)."""
    ids = [i for page in world.store.browse_ids(world.project, BrowseFilter()) for i in page]
    admin = _users(world.store).by_name("admin1")
    for n, i in enumerate(ids[:2000]):
        world.store.add_comment(world.project, i, admin.id or 0, f"comment {n}")
    world.store.request_review_where(world.project, BrowseFilter(ids=tuple(ids[1000:1500])),
                                     requested_by=admin.id)
    analyze_own_tables(world.store.engine)
    p, item = world.project, ids[10]
    reads = {
        "comments of an item": f"/api/v1/projects/{p}/items/{item}/comments",
        "page: review item with its comments": f"/p/{p}/review/{item}",
        "browse: has comments": f"/api/v1/projects/{p}/browse?limit=50&has_comments=true",
        "browse: page with comment counts": f"/api/v1/projects/{p}/browse?limit=50&count=true",
        "review queue: requested": f"/api/v1/projects/{p}/review?reason=requested&limit=20",
        "dashboard (counts requests)": f"/api/v1/projects/{p}/dashboard",
    }
    app = create_app(world.store, secret=SECRET, users=_users(world.store))
    headers = {"Authorization": f"Bearer {world.tokens['admin1']}"}
    with TestClient(app) as c:
        for what, path in reads.items():
            recorder.clear()
            r = c.get(path, headers=headers)
            assert r.status_code == 200, (what, r.text[:300])
            _check(world, recorder, what)
        assert [x["text"] for x in c.get(reads["comments of an item"], headers=headers).json()
                ] == ["comment 10"]
