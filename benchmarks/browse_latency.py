"""Latency of the data browser's reads (storage and service, no HTTP) at N items.

Usage: ``python benchmarks/browse_latency.py --items 100000 [--url postgresql+psycopg://...]``
(on PostgreSQL give an empty scratch schema, e.g. ``...?options=-csearch_path%3Dbench``;
the tables are ANALYZEd after the import, as autovacuum would).
Builds a project of N text items with a label-model vote on 90% of them and a priority on
half, then times (median of 5) the first and a later page of every sort order, a search
for a rare and a common word, a filtered page and the filter's count.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labelloop.core.records import ItemRecord, PendingAnnotation
from labelloop.core.schema import LabelSchema
from labelloop.services.browse import Browse
from labelloop.storage import Store

WORDS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "sloe"]


def _build(url: str, n: int) -> Browse:
    store = Store(url)
    p = store.create_project("browse", LabelSchema.from_labels("text-classification",
                                                               ["neg", "pos"]))
    rng = random.Random(0)

    def batches() -> Any:
        for start in range(0, n, 20_000):
            items = [ItemRecord(data={"text": f"row {i} {rng.choice(WORDS)} "
                                              f"{rng.choice(WORDS)}" + (" rare" if i % 9973 == 0
                                                                        else "")},
                                meta={"batch": str(i % 10)})
                     for i in range(start, min(n, start + 20_000))]
            votes = [PendingAnnotation(content_hash=it.content_hash, kind="label_model",
                                       name="lm", label=i % 2, confidence=rng.random())
                     for i, it in enumerate(items) if i % 10]
            yield items, votes

    ids = store.import_batches(p.id, batches()).item_ids
    store.set_priorities(p.id, {i: rng.random() for i in ids[::2]})
    if store.dialect == "postgresql":  # what autovacuum does soon after a large import
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return Browse(store, store.project(p.id))


def _ms(fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--url")
    args = ap.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'browse.db'}"
    t0 = time.perf_counter()
    b = _build(url, args.items)
    print(f"{args.items:,} items on {url.split(':')[0]}: built in "
          f"{time.perf_counter() - t0:.0f} s")
    rows: list[tuple[str, float]] = []
    for sort in ("id", "priority", "confidence", "date"):
        for desc in (False, True):
            f = b.filter()
            first = b.page(f, sort=sort, desc=desc)  # type: ignore[arg-type]
            rows.append((f"sort {sort}{' desc' if desc else ''}: first page",
                         _ms(lambda f=f, s=sort, d=desc: b.page(f, sort=s, desc=d))))
            rows.append((f"sort {sort}{' desc' if desc else ''}: next page",
                         _ms(lambda f=f, s=sort, d=desc, c=first.next: b.page(
                             f, sort=s, desc=d, cursor=c))))
    for name, f in (("search rare word", b.filter(search="rare")),
                    ("search common word", b.filter(search="apple")),
                    ("filter state+meta", b.filter(states=["auto"], meta="batch=3")),
                    ("filter confidence 0.4-0.5", b.filter(min_confidence=0.4,
                                                           max_confidence=0.5))):
        rows.append((f"{name}: page", _ms(lambda f=f: b.page(f))))
        rows.append((f"{name}: count (to 100k)", _ms(lambda f=f: b.count(f))))
    print("| read | ms (median of 5) |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
