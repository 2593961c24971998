"""Server read latency on a large project: every page and API read, p50/p95 per route.

The first call of a route is reported apart: whole-project quality results (scorecards,
checks, the review count) are computed on it and kept until the votes change.

``--build`` creates a project of ``--items`` text items in ``--folder`` (SQLite) or in a
PostgreSQL schema (``--pg-schema``): a labeling-function and a label-model vote on every
item, four annotators who answered ``--human-share`` of the items twice (some
disagreements, some needs-review drafts) and a reviewer's gold answer on a few. Without
``--build`` it times the reads in process (FastAPI ``TestClient``) against the stored
project, so the same database can be timed under two source trees (``PYTHONPATH``).

Examples
--------
    PYTHONPATH=src python benchmarks/reads.py --build --folder /tmp/reads100k --items 100000
    PYTHONPATH=src python benchmarks/reads.py --folder /tmp/reads100k --reps 5
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "reads-benchmark-secret-" + "x" * 32


def _url(args: argparse.Namespace) -> str | None:
    if not args.pg_schema:
        return None
    return f"{PG_URL}?options=-csearch_path%3D{args.pg_schema}"


def build(args: argparse.Namespace) -> None:
    """Create the project, its votes, annotators and tokens (tokens go to tokens.json)."""
    from labelloop.core.records import AnnotationRecord, ItemRecord, PendingAnnotation
    from labelloop.services.project import Project
    from labelloop.services.users import Users

    folder = Path(args.folder)
    url = _url(args)
    if url is not None:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{args.pg_schema}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{args.pg_schema}"')
    rng = random.Random(0)
    p = Project.create(folder, task="text-classification", labels=["a", "b", "c"], db=url,
                       name="reads", settings={"overlap": 2, "honeypot_rate": 0.0})
    t0 = time.perf_counter()
    batch = 50_000
    ids: list[int] = []
    for start in range(0, args.items, batch):
        recs = [ItemRecord(data={"text": f"item {i} of the reads benchmark"})
                for i in range(start, min(args.items, start + batch))]
        votes = []
        for n, r in enumerate(recs):
            lab = (start + n) % 3
            conf = 0.5 + 0.5 * rng.random()
            votes.append(PendingAnnotation(content_hash=r.content_hash, kind="labeling_function",
                                           name="lf1", label=lab))
            votes.append(PendingAnnotation(content_hash=r.content_hash, kind="label_model",
                                           name="lm", label=lab, confidence=conf,
                                           needs_review=conf < 0.6))
        ids += p.store.import_records(p.id, recs, votes).item_ids
    users = Users(p.store)
    admin = users.ensure_admin()
    assert admin is not None
    tokens = {"admin": users.create_token(admin[0].id or 0, "reads")}
    annotators = []
    for i in range(4):
        u, _ = users.add(f"annotator{i}", "annotator", "reads-benchmark-password")
        annotators.append(u)
        tokens[u.name] = users.create_token(u.id or 0, "reads")
    rev, _ = users.add("reviewer", "reviewer", "reads-benchmark-password")
    tokens["reviewer"] = users.create_token(rev.id or 0, "reads")
    src = {u.id: p.store.ensure_source(p.id, "human", u.name, user_id=u.id).id
           for u in annotators}
    gold = p.store.ensure_source(p.id, "gold", "review:reviewer", user_id=rev.id).id
    human = rng.sample(ids, int(len(ids) * args.human_share))
    t = datetime(2026, 1, 1, tzinfo=UTC)
    anns = []
    for n, item in enumerate(sorted(human)):
        pair = rng.sample(annotators, 2)
        truth = item % 3
        for u in pair:
            lab = truth if rng.random() < 0.85 else (truth + 1) % 3
            anns.append(AnnotationRecord(item_id=item, source_id=src[u.id], label=lab,
                                         seconds=2 + 10 * rng.random(),
                                         created_at=t + timedelta(seconds=n)))
        if n % 50 == 0:
            anns.append(AnnotationRecord(item_id=item, source_id=gold, label=truth,
                                         confidence=1.0,
                                         created_at=t + timedelta(seconds=n + 1)))
    for start in range(0, len(anns), 20_000):
        p.store.upsert_annotations(p.id, anns[start:start + 20_000])
    tokens["_build_s"] = f"{time.perf_counter() - t0:.1f}"
    tokens["_item"] = str(sorted(human)[len(human) // 2])
    (folder / "tokens.json").write_text(json.dumps(tokens))
    p.close()
    print(json.dumps({"build_s": tokens["_build_s"], "items": len(ids),
                      "human_items": len(human)}))


def measure(args: argparse.Namespace) -> None:
    """Time every read route; print a markdown table of p50/p95 (ms)."""
    from fastapi.testclient import TestClient

    from labelloop.server import create_app
    from labelloop.services.project import Project

    folder = Path(args.folder)
    tokens = json.loads((folder / "tokens.json").read_text())
    p = Project.open(folder)
    pid = p.id
    app = create_app(p.store, secret=SECRET)
    item = int(tokens["_item"])
    routes: list[tuple[str, str, str]] = [
        ("item list (first page)", "admin", f"/api/v1/projects/{pid}/items?limit=100"),
        ("item list (deep page)", "admin", f"/api/v1/projects/{pid}/items?offset="
         f"{args.items - 200}&limit=100"),
        ("item list (deep page, after)", "admin", f"/api/v1/projects/{pid}/items?after="
         f"{args.items - 200}&limit=100"),
        ("item detail", "admin", f"/api/v1/projects/{pid}/items/{item}"),
        ("review queue", "admin", f"/api/v1/projects/{pid}/review?limit=50"),
        ("review queue (disagreement)", "admin",
         f"/api/v1/projects/{pid}/review?reason=disagreement&limit=50"),
        ("scorecards", "admin", f"/api/v1/projects/{pid}/scorecards"),
        ("own scorecard (annotator)", "annotator0", f"/api/v1/projects/{pid}/scorecard"),
        ("dashboard", "admin", f"/api/v1/projects/{pid}/dashboard"),
        ("page: review list", "reviewer", f"/p/{pid}/review"),
        ("page: review item", "reviewer", f"/p/{pid}/review/{item}"),
        ("page: dashboard", "admin", f"/p/{pid}/dashboard"),
        ("page: home (annotator)", "annotator1", "/"),
    ]
    if args.only:
        routes = [r for r in routes if any(o in r[0] for o in args.only.split(","))]
    out: dict[str, Any] = {}
    with TestClient(app) as c:
        print("| read | first ms | p50 ms | p95 ms | n |")
        print("|---|---:|---:|---:|---:|")
        for name, who, path in routes:
            headers = {"Authorization": f"Bearer {tokens[who]}"}
            lat = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                r = c.get(path, headers=headers)
                lat.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    raise SystemExit(f"{name}: {r.status_code} {r.text[:300]}")
                if lat[-1] > args.slow_ms:
                    break
            first = lat[0]
            lat.sort()
            p50 = statistics.median(lat)
            p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
            out[name] = {"first": first, "p50": p50, "p95": p95, "n": len(lat)}
            print(f"| {name} | {first:.0f} | {p50:.0f} | {p95:.0f} | {len(lat)} |", flush=True)
    p.close()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folder", required=True)
    ap.add_argument("--build", action="store_true")
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--human-share", type=float, default=0.05)
    ap.add_argument("--pg-schema", default="")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--slow-ms", type=float, default=3000.0,
                    help="stop repeating a read after one this slow")
    ap.add_argument("--only", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    build(args) if args.build else measure(args)


if __name__ == "__main__":
    main()
