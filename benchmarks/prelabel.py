"""Benchmark of zero-shot pre-labeling and calibrated auto-accept thresholds.

Datasets (``../shared/data``): AG News test (4 topics), SMS Spam Collection, YouTube Spam
Collection. Each is split deterministically: rows with ``index % 5 == 0`` are the *dev*
part (used to write the class descriptions below), the rest is the *report* part; all
headline numbers are on the report part. Nothing is fitted on report labels except where
a row says "labels".

Rows per dataset:

- ``zero-shot``: cosine similarity to the class description (no fit).
- ``adapted``: ``fit`` on the report texts without labels (neighbour smoothing +
  self-training); still no human label.
- ``8 labels/class``: ``fit`` with 8 random human labels per class (mean of 5 draws).

Throughput: embedding ``--speed-n`` texts per dataset from scratch, wall clock and per
CPU-second (this machine is shared, so the CPU-second rate is the steadier number).
Calibration: ``--resamples`` times, ``--checked`` random report items are "human checked",
thresholds are calibrated on them and applied to the other report items ("held-out":
precision and coverage measured there, which adds the sampling noise of a small held-out
set) and to the whole report pool ("pool": the population the checked items were drawn
from, which is what the Clopper-Pearson guarantee is about).

Usage::

    nice python benchmarks/prelabel.py [--resamples 200] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import time
from pathlib import Path

import numpy as np

from labelloop.prelabel import TextEmbedder, ZeroShotTextClassifier, calibrate_thresholds

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CACHE = Path(__file__).resolve().parent / "cache"

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "ag-news": {
        "World": "World news: international politics, governments, elections, war, conflict "
        "and diplomacy",
        "Sports": "Sports news: games, matches, teams, players, coaches, tournaments and "
        "championships",
        "Business": "Business news: companies, markets, stocks, oil prices, the economy, "
        "earnings and trade",
        "Sci/Tech": "Science and technology news: computers, software, the internet, space, "
        "research and gadgets",
    },
    "sms-spam": {
        "ham": "A personal text message between friends or family: everyday chat, plans, "
        "jokes and greetings",
        "spam": "Spam advertising text message: you have won a prize, free offer, call now, "
        "claim cash, txt to subscribe",
    },
    "youtube-spam": {
        "ham": "A comment about the music video, the song, the singer or the dance",
        "spam": "Check out my channel and subscribe, visit my website http, follow me",
    },
}


def load(name: str) -> tuple[list[str], np.ndarray]:
    """Texts and integer labels of one dataset."""
    texts: list[str] = []
    labels: list[int] = []
    if name == "ag-news":
        with open(DATA / "ag-news-test" / "test.csv", encoding="utf-8") as fh:
            for cls, title, desc in csv.reader(fh):
                texts.append(f"{title}. {desc}".replace("\\n", " ").replace("\\", " "))
                labels.append(int(cls) - 1)
    elif name == "sms-spam":
        path = DATA / "sms-spam-collection" / "SMSSpamCollection"
        for line in path.read_text(encoding="utf-8").splitlines():
            tag, text = line.split("\t", 1)
            texts.append(text)
            labels.append(int(tag == "spam"))
    else:
        for f in sorted(glob.glob(str(DATA / "youtube-spam-collection" / "*.csv"))):
            with open(f, encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    texts.append(row["CONTENT"])
                    labels.append(int(row["CLASS"]))
    return texts, np.array(labels)


def embeddings(name: str, texts: list[str], embedder: TextEmbedder) -> np.ndarray:
    """Embeddings of a dataset, cached under the embedder's version."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"prelabel-{name}-{embedder.version}.npy"
    if path.exists():
        return np.load(path)
    X = embedder.embed(texts, progress=True)
    np.save(path, X)
    return X


def macro_f1(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Unweighted mean of per-class F1."""
    f1s = []
    for c in range(k):
        tp = np.sum((pred == c) & (y == c))
        denom = np.sum(pred == c) + np.sum(y == c)
        f1s.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1s))


def speed(texts: list[str], embedder: TextEmbedder) -> tuple[float, float]:
    """Texts per wall second and per CPU second of embedding ``texts`` from scratch."""
    wall, cpu = time.perf_counter(), time.process_time()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - wall), len(texts) / (time.process_time() - cpu)


def evaluate(
    name: str, args: argparse.Namespace, embedder: TextEmbedder
) -> tuple[dict[str, object], list[dict[str, object]]]:
    texts, y = load(name)
    classes = DESCRIPTIONS[name]
    k = len(classes)
    X = embeddings(name, texts, embedder)
    report = np.arange(len(y)) % 5 != 0
    Xr, yr = X[report], y[report]
    rng = np.random.default_rng(0)
    row: dict[str, object] = {"dataset": name, "n_report": int(report.sum()), "k": k}

    clf = ZeroShotTextClassifier(classes)
    pred = clf.predict_proba(Xr).argmax(1)
    row["zero-shot acc"], row["zero-shot F1"] = float((pred == yr).mean()), macro_f1(yr, pred, k)

    start = time.perf_counter()
    clf.fit(Xr)
    proba = clf.predict_proba(Xr)
    row["fit+draft s"] = time.perf_counter() - start
    pred = proba.argmax(1)
    row["adapted acc"], row["adapted F1"] = float((pred == yr).mean()), macro_f1(yr, pred, k)

    accs, f1s = [], []
    for _ in range(5):
        labels = np.full(len(yr), -1)
        for c in range(k):
            pick = rng.choice(np.flatnonzero(yr == c), 8, replace=False)
            labels[pick] = c
        p = ZeroShotTextClassifier(classes).fit(Xr, labels).predict_proba(Xr).argmax(1)
        accs.append((p == yr).mean())
        f1s.append(macro_f1(yr, p, k))
    row["8 labels acc"], row["8 labels F1"] = float(np.mean(accs)), float(np.mean(f1s))

    sample = [texts[i] for i in rng.choice(len(texts), min(args.speed_n, len(texts)), False)]
    row["texts/s"], row["texts/cpu-s"] = speed(sample, embedder)

    calibration = [
        calibration_row(name, proba, yr, target, per_class, args, rng)
        for target in args.targets
        for per_class in (True, False)
    ]
    return row, calibration


def calibration_row(
    name: str,
    proba: np.ndarray,
    y: np.ndarray,
    target: float,
    per_class: bool,
    args: argparse.Namespace,
    rng: np.random.Generator,
) -> dict[str, object]:
    """Resampled check of calibrated auto-accept thresholds at one target."""
    scores, predicted = proba.max(1), proba.argmax(1)
    right = predicted == y
    met, met_pool, met_classes, precisions, coverages = 0, 0, 0, [], []
    for _ in range(args.resamples):
        checked = np.zeros(len(y), dtype=bool)
        checked[rng.choice(len(y), min(args.checked, len(y) // 2), replace=False)] = True
        cal = calibrate_thresholds(
            scores[checked], predicted[checked], y[checked], n_classes=proba.shape[1],
            target_precision=target, per_class=per_class,
        )
        rest = ~checked
        accepted = cal.accept(scores[rest], predicted[rest])
        coverages.append(accepted.mean())
        achieved = right[rest][accepted].mean() if accepted.any() else 1.0
        precisions.append(achieved)
        met += achieved >= target
        pool = cal.accept(scores, predicted)
        met_pool += not pool.any() or right[pool].mean() >= target
        met_classes += all(
            right[pool & (predicted == c)].mean() >= target
            for c in range(proba.shape[1]) if (pool & (predicted == c)).any()
        )
    n = args.resamples
    return {
        "dataset": name,
        "target": target,
        "thresholds": "per class" if per_class else "one for all",
        "met (held-out)": met / n,
        "met (pool)": met_pool / n,
        "every class met (pool)": met_classes / n,
        "precision (held-out)": float(np.mean(precisions)),
        "coverage (held-out)": float(np.mean(coverages)),
    }


def length_sweep(lengths: list[int]) -> list[dict[str, object]]:
    """Speed and accuracy against the token limit, on the AG News dev part (no labels)."""
    texts, y = load("ag-news")
    dev = np.arange(len(y)) % 5 == 0
    dev_texts = [t for t, keep in zip(texts, dev, strict=True) if keep]
    rows = []
    for length in lengths:
        embedder = TextEmbedder("minilm", max_length=length)
        wall, cpu = time.perf_counter(), time.process_time()
        X = embedder.embed(dev_texts)
        row: dict[str, object] = {
            "max_length": length,
            "texts/s": len(dev_texts) / (time.perf_counter() - wall),
            "texts/cpu-s": len(dev_texts) / (time.process_time() - cpu),
        }
        clf = ZeroShotTextClassifier(DESCRIPTIONS["ag-news"], max_length=length)
        row["zero-shot acc"] = float((clf.predict_proba(X).argmax(1) == y[dev]).mean())
        row["adapted acc"] = float((clf.fit(X).predict_proba(X).argmax(1) == y[dev]).mean())
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--checked", type=int, default=1000, help="checked items per resample")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.9, 0.95])
    parser.add_argument("--speed-n", type=int, default=1000)
    parser.add_argument("--datasets", nargs="+", default=list(DESCRIPTIONS))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--lengths", type=int, nargs="*", default=[128, 64, 32, 24],
                        help="token limits for the speed/accuracy sweep (none: skip it)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.lengths:
        sweep = length_sweep(args.lengths)
        _write_table(args.out / "prelabel_lengths.md", sweep,
                     "# Token limit vs speed and accuracy (AG News dev part, 1,520 texts, "
                     "no labels)\n\n")
    embedder = TextEmbedder("minilm")
    rows, calibration = [], []
    for name in args.datasets:
        row, cal = evaluate(name, args, embedder)
        print(row, *cal, sep="\n", flush=True)
        rows.append(row)
        calibration += cal
    write(rows, calibration, args)


def write(
    rows: list[dict[str, object]], calibration: list[dict[str, object]], args: argparse.Namespace
) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0])
    with open(args.out / "prelabel.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, keys)
        w.writeheader()
        w.writerows(rows)
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    header = (
        f"# Pre-labeling benchmark (minilm int8 ONNX, {os.cpu_count()} CPU cores, "
        f"load average at the end {load_avg})\n\n"
        f"Report split = rows with index % 5 != 0; class descriptions were written on the "
        f"dev split (index % 5 == 0). Calibration: {args.resamples} resamples of "
        f"{args.checked} checked items: see prelabel_calibration.md. "
        f"texts/s: embedding from scratch (wall clock on a "
        f"shared machine; texts/cpu-s is the steadier rate); fit+draft s: adapting to the "
        f"pool and drafting it from cached embeddings.\n\n"
    )
    _write_table(args.out / "prelabel.md", rows, header)
    _write_table(
        args.out / "prelabel_calibration.md", calibration,
        f"# Calibrated auto-accept thresholds ({args.resamples} resamples of "
        f"{args.checked} checked report items, at most half the pool)\n\n"
        "'met' = share of resamples whose auto-accepted drafts reached the target: on the "
        "held-out report items (adds the sampling noise of a small held-out set), on the "
        "whole report pool (the population the checks were drawn from; what the "
        "Clopper-Pearson guarantee, delta = 0.05, is about) and for every class on the "
        "pool. Precision and coverage (share of items auto-accepted) are held-out means.\n\n",
    )


def _write_table(path: Path, rows: list[dict[str, object]], header: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0])
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r[key]) for key in keys) + " |" for r in rows]
    path.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
