"""Benchmark of LLM pre-labeling: the plumbing always, quality when an endpoint is given.

Plumbing (always): an OpenAI-compatible endpoint answering after ``--latency`` seconds
(default 0.2 s) -- the fake one in a separate process unless ``--endpoint`` names a real
one -- is asked ``--n`` texts with ``--concurrency`` requests in flight (default 32).
Reported: items/s; the client's CPU time per item (this process: prompts, the SDK, the
thread pool, parsing; the fake server runs in another process) and the wall-clock
overhead per request beyond the simulated latency; then the same items again from the
answer cache, in memory and in a SQLite project store (no request sent).

Quality (only with a real endpoint: ``LABELLOOP_LLM_BASE_URL`` and ``--model``): on
``--quality-n`` random items of AG News (4 topics) and SMS Spam, beside MiniLM zero-shot
on the same items: accuracy and macro-F1; calibration -- thresholds at ``--target``
precision from a random half of the items ("human-checked"), then precision and coverage
of the auto-accepted drafts on the other half; and cost per 1,000 items at
``--price-in``/``--price-out`` US dollars per million tokens.

Usage::

    python benchmarks/llm.py                                   # plumbing, fake endpoint
    LABELLOOP_LLM_BASE_URL=http://localhost:8000/v1 python benchmarks/llm.py --model NAME
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.prelabel import ZeroShotTextClassifier, calibrate_thresholds
from labelloop.prelabel.llm import LLMClassifier, LLMConfig, MemoryCache

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prelabel import DESCRIPTIONS, load

OUT = Path(__file__).resolve().parent / "results"


def fake_endpoint(latency: float) -> tuple[subprocess.Popen[str], str]:
    """The fake endpoint in another process, and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "labelloop.prelabel.llm.fake_server", "--latency", str(latency),
         "--logprob", "-0.05"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def plumbing(base_url: str, model: str, n: int, concurrency: int, latency: float,
             server_pid: int | None = None) -> dict[str, Any]:
    texts = [f"Item {i}: the team won the match and shares rose." for i in range(n)]
    classes = DESCRIPTIONS["ag-news"]
    config = LLMConfig(model=model, base_url=base_url, concurrency=concurrency)
    LLMClassifier(classes, config).predict(texts[:concurrency])  # warm the connections
    cache = MemoryCache()
    clf = LLMClassifier(classes, config, cache=cache)
    server0 = _cpu_of(server_pid)
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = clf.predict(texts)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    server_cpu = _cpu_of(server_pid) - server0
    assert result.n_ok == n, result.errors[:3]
    rounds = math.ceil(n / concurrency)
    row = {"n": n, "concurrency": concurrency, "latency": latency, "wall": wall,
           "items_per_s": n / wall, "ideal_items_per_s": n / (rounds * latency),
           "cpu_ms_per_item": 1000 * cpu / n,
           "server_cpu_ms_per_item": 1000 * server_cpu / n if server_pid else float("nan"),
           "wall_overhead_ms_per_request": 1000 * (wall / rounds - latency),
           "requests": clf.client.usage.requests}
    t0 = time.perf_counter()
    again = LLMClassifier(classes, config, cache=cache)
    again.predict(texts)
    row["memory_cache_items_per_s"] = n / (time.perf_counter() - t0)
    assert again.client.usage.requests == 0
    row["store_cache_items_per_s"] = _store_cache_rate(classes, config, texts, cache)
    return row


def _cpu_of(pid: int | None) -> float:
    """CPU seconds (user + system) of another process so far (0 without one)."""
    if pid is None:
        return 0.0
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _store_cache_rate(classes: dict[str, str], config: LLMConfig, texts: list[str],
                      warm: MemoryCache) -> float:
    """Items/s of a re-run answered by a SQLite project store (written from ``warm``)."""
    from labelloop.services.llm import StoreCache
    from labelloop.storage import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/labelloop.db")
        cache = StoreCache(store, config.model)
        cache.put_answers(warm.answers)
        clf = LLMClassifier(classes, config, cache=cache)
        t0 = time.perf_counter()
        clf.predict(texts)
        rate = len(texts) / (time.perf_counter() - t0)
        assert clf.client.usage.requests == 0
        store.close()
    return rate


def quality(dataset: str, config: LLMConfig, n: int, target: float, seed: int
            ) -> list[dict[str, Any]]:
    texts, y = load(dataset)
    classes = DESCRIPTIONS[dataset]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(texts), size=min(n, len(texts)), replace=False)
    texts, y = [texts[i] for i in pick], y[pick]
    checked = np.zeros(len(y), dtype=bool)
    checked[rng.permutation(len(y))[: len(y) // 2]] = True
    rows = []
    clf = LLMClassifier(classes, config)
    t0 = time.perf_counter()
    result = clf.predict(texts, progress=True)
    seconds = time.perf_counter() - t0
    proba = np.array([d.probs if d is not None else [np.nan] * len(classes)
                      for d in result.drafts])
    usage = clf.client.usage
    rows.append(_scores(f"LLM {config.model}", proba, y, checked, target) | {
        "failed": len(result.errors), "seconds": seconds,
        "tokens_per_item": usage.tokens / len(texts),
        "cost_per_1000": 1000 * usage.cost / len(texts)})
    minilm = ZeroShotTextClassifier(classes, model="minilm")
    t0 = time.perf_counter()
    proba = minilm.predict_proba(texts)
    rows.append(_scores("MiniLM zero-shot", proba, y, checked, target) | {
        "failed": 0, "seconds": time.perf_counter() - t0, "tokens_per_item": 0.0,
        "cost_per_1000": 0.0})
    return [{"dataset": dataset, **r} for r in rows]


def _scores(name: str, proba: np.ndarray, y: np.ndarray, checked: np.ndarray,
            target: float) -> dict[str, Any]:
    ok = ~np.isnan(proba).any(axis=1)
    pred = np.where(ok, np.nan_to_num(proba).argmax(axis=1), -1)
    score = np.where(ok, np.nan_to_num(proba).max(axis=1), 0.0)
    k = proba.shape[1]
    f1 = []
    for c in range(k):
        tp = ((pred == c) & (y == c)).sum()
        denom = (pred == c).sum() + (y == c).sum()
        f1.append(2 * tp / denom if denom else 0.0)
    cal = calibrate_thresholds(score[checked & ok], pred[checked & ok], y[checked & ok],
                               n_classes=k, target_precision=target)
    held = ~checked & ok
    accepted = held & cal.accept(score, np.maximum(pred, 0))
    return {"model": name, "accuracy": float((pred == y).mean()),
            "macro_f1": float(np.mean(f1)),
            "precision_auto": float((pred[accepted] == y[accepted]).mean())
            if accepted.any() else float("nan"),
            "coverage_auto": float(accepted.sum() / max(held.sum(), 1))}


def write(rows: dict[str, Any], quality_rows: list[dict[str, Any]], endpoint: str,
          out: Path) -> None:
    p = rows
    lines = [
        "# LLM pre-labeling: plumbing" + (" and quality" if quality_rows else ""), "",
        f"Produced by `python benchmarks/llm.py` ({time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} CPU cores shared with other jobs: load average "
        f"{os.getloadavg()[0]:.1f} at the end). Endpoint: {endpoint}.", "",
        "## Plumbing", "",
        f"{p['n']} items, {p['concurrency']} requests in flight, {p['latency'] * 1000:.0f} ms "
        "simulated latency per answer. The client's CPU time is this process's (prompts, "
        "SDK, thread pool, parsing); the fake server runs in another process.", "",
        "| measure | value | target |", "|---|---|---|",
        f"| throughput | {p['items_per_s']:.1f} items/s (ideal {p['ideal_items_per_s']:.0f}) "
        "| >= 100 items/s |",
        f"| client CPU per item | {p['cpu_ms_per_item']:.2f} ms | < 5 ms |",
        f"| fake server CPU per item (its process) | {p['server_cpu_ms_per_item']:.2f} ms | |",
        f"| wall overhead per request beyond the latency | "
        f"{p['wall_overhead_ms_per_request']:.1f} ms | |",
        f"| re-run from the in-memory cache | {p['memory_cache_items_per_s']:.0f} items/s, "
        "0 requests | |",
        f"| re-run from a SQLite project store | {p['store_cache_items_per_s']:.0f} items/s, "
        "0 requests | |", "",
        "Not measured apart, but the likely cause of the gap to the ideal rate is CPU "
        "contention: each answer costs the client and the fake server the CPU times above, "
        "on cores shared with other jobs (load average above).", "",
    ]
    if quality_rows:
        lines += ["## Quality", "", "| dataset | model | accuracy | macro-F1 | precision "
                  "auto-accepted | coverage | tokens/item | $ per 1,000 | failed |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['dataset']} | {r['model']} | {r['accuracy']:.3f} | "
                  f"{r['macro_f1']:.3f} | {r['precision_auto']:.3f} | {r['coverage_auto']:.2f} "
                  f"| {r['tokens_per_item']:.0f} | {r['cost_per_1000']:.3f} | {r['failed']} |"
                  for r in quality_rows]
    else:
        lines += [
            "## Quality: not measured", "",
            "No real LLM endpoint was reachable on this machine (no network, no local LLM "
            "server), so accuracy, calibration (precision at the calibrated threshold) and "
            "cost per 1,000 items on AG News and SMS Spam are **not measured**. The fake "
            "endpoint answers a fixed class, so its 'accuracy' would mean nothing. To "
            "measure them: `LABELLOOP_LLM_BASE_URL=http://HOST:PORT/v1 python "
            "benchmarks/llm.py --model NAME [--price-in USD --price-out USD]` (key in "
            "`LABELLOOP_LLM_API_KEY`); the script then adds a table with MiniLM zero-shot on "
            "the same items beside the LLM.",
        ]
    (out / "llm.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", default=os.environ.get("LABELLOOP_LLM_BASE_URL"),
                    help="OpenAI-compatible base URL (default: $LABELLOOP_LLM_BASE_URL, else "
                         "the fake endpoint in another process)")
    ap.add_argument("--model", default=os.environ.get("LABELLOOP_LLM_MODEL", "fake-1"))
    ap.add_argument("--n", type=int, default=640)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--quality-n", type=int, default=500)
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--price-in", type=float, default=0.0)
    ap.add_argument("--price-out", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    proc = None
    endpoint = args.endpoint
    if endpoint is None:
        proc, endpoint = fake_endpoint(args.latency)
    try:
        row = plumbing(endpoint, args.model, args.n, args.concurrency, args.latency,
                       proc.pid if proc is not None else None)
        print(row)
        quality_rows: list[dict[str, Any]] = []
        if proc is None:  # a real endpoint
            config = LLMConfig(model=args.model, base_url=endpoint,
                               concurrency=args.concurrency, price_in=args.price_in,
                               price_out=args.price_out)
            for dataset in ("ag-news", "sms-spam"):
                quality_rows += quality(dataset, config, args.quality_n, args.target,
                                        args.seed)
                print(quality_rows[-2:])
        described = ("the fake endpoint (`labelloop.prelabel.llm.fake_server`, another process)"
                     if proc is not None else f"`{args.model}` at a real endpoint")
        write(row, quality_rows, described, args.out)
    finally:
        if proc is not None:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
