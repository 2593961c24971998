"""Weak-supervision benchmark: labelloop's label models and LF applier vs Snorkel and crowd-kit.

Runs in the peer environment (see ``benchmarks/requirements-weak.txt``)::

    /work/benchenv-weak/bin/python benchmarks/weak_supervision.py

Part 1, label models, on the WRENCH files in ``../shared/data/wrench-{youtube,sms,trec}``:
every model is fitted on ``train`` and scored on ``test`` (accuracy; binary F1 of *spam*
for sms), side by side in one run, with fit seconds and ratios to Snorkel's LabelModel.
Hyperparameters are library defaults; the only choice made on data is the decision
threshold of the ``thr`` rows, picked on ``valid``. ``+dev`` rows also get the labels of
WRENCH's labelled dev rows that ``train.json`` ends with (``labeled_ids.json``).
crowd-kit's DawidSkene cannot predict unseen rows, so it is fitted on train+test together
and read on test. Ties everywhere use Snorkel's/WRENCH's SHA-1 rule.

Part 1b, the product path: each dataset becomes a labelloop project (SQLite) holding the
test, valid and train texts in that order (so a test row's index, which the SHA-1 tie rule
reads, is WRENCH's), every LF's votes stored as a ``labeling_function`` source, and
``services.weak.fit_label_model`` fits and stores the posterior; predictions are read back
from the store. It runs twice: without gold, and with the valid labels imported as gold (as
a project's honeypots would be). The default ``"auto"`` chooses on those gold rows only;
nothing is tuned on test.

Part 2, LF application throughput on a large frame built from the UCI YouTube comments:
the same LF bodies through Snorkel's ``PandasLFApplier`` and labelloop's ``apply_lfs``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import re
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from labelloop.labelmodels import (
    DawidSkene,
    LabelModel,
    MajorityVoter,
    break_ties,
    score_predictions,
)
from labelloop.weak import apply_lfs, labeling_function

PRODUCT_MODELS = ("auto", "majority", "label-model", "dawid-skene", "one-coin")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
DATASETS = {"youtube": ("accuracy", 2), "sms": ("f1", 2), "trec": ("accuracy", 6)}
REFERENCE = {  # from the issue: measured Snorkel, WRENCH MV, best published label model
    "youtube": {"snorkel": 84.00, "mv": 84.00, "published": 84.0},
    "sms": {"snorkel": 25.37, "mv": 23.97, "published": 23.97},
    "trec": {"snorkel": 47.00, "mv": 60.80, "published": 64.2},
}


def load_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    rows = json.loads((DATA / f"wrench-{name}" / f"{split}.json").read_text())
    keys = sorted(rows, key=int)
    L = np.array([rows[k]["weak_labels"] for k in keys], dtype=np.int64)
    y = np.array([rows[k]["label"] for k in keys], dtype=np.int64)
    return L, y


def dev_labels(name: str, y_train: np.ndarray) -> np.ndarray:
    ids = json.loads((DATA / f"wrench-{name}" / "labeled_ids.json").read_text())["labeled_ids"]
    y_dev = np.full(len(y_train), -1, dtype=np.int64)
    idx = np.array([int(i) for i in ids])
    y_dev[idx] = y_train[idx]
    return y_dev


def timed(fit: Callable[[], object], repeats: int) -> tuple[object, float]:
    """Run ``fit`` ``repeats`` times; return the last result and the median seconds."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fit()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def best_threshold(p1: np.ndarray, y: np.ndarray, metric: str) -> float:
    """Threshold on P(class 1) maximising ``metric`` on (valid) data; ties -> higher threshold."""
    cands = np.unique(np.concatenate([p1, [1.0 + 1e-9]]))
    scores = [score_predictions(y, (p1 >= t).astype(np.int64), metric, 2) for t in cands]
    best = max(scores)
    return float(cands[[i for i, s in enumerate(scores) if s == best][-1]])


def snorkel_fit(L: np.ndarray, k: int) -> object:
    from snorkel.labeling.model import LabelModel as SnorkelLabelModel

    model = SnorkelLabelModel(cardinality=k, verbose=False)
    model.fit(L, n_epochs=500, log_freq=500, seed=123, progress_bar=False)
    return model


def crowdkit_proba(L_train: np.ndarray, L_test: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene as CKDawidSkene

    L = np.concatenate([L_train, L_test])
    rows, cols = np.nonzero(L != -1)
    df = pd.DataFrame({"task": rows, "worker": cols, "label": L[rows, cols]})
    t = time.perf_counter()
    probs = CKDawidSkene(n_iter=100).fit_predict_proba(df)
    seconds = time.perf_counter() - t
    P = np.full((L.shape[0], k), 1.0 / k)
    for c in probs.columns:
        P[probs.index.to_numpy(), int(c)] = probs[c].to_numpy()
    return P[len(L_train) :], seconds


def threshold_row(model: LabelModel, label: str, data: dict, metric: str, secs: float) -> dict:
    """Score a binary model with a decision threshold chosen on valid."""
    p_va = model.predict_proba(data["L_va"])[:, 1]
    t = best_threshold(p_va, data["y_va"], metric)
    p_te = model.predict_proba(data["L_te"])[:, 1]
    return {
        "model": label + " thr",
        "test": 100 * score_predictions(data["y_te"], (p_te >= t).astype(np.int64), metric, 2),
        "valid": 100 * score_predictions(data["y_va"], (p_va >= t).astype(np.int64), metric, 2),
        "fit_s": secs,
        "note": f"threshold {t:.3f} from valid",
    }


def run_dataset(name: str, metric: str, k: int, repeats: int, peer_repeats: int) -> list[dict]:
    """Every model on one WRENCH dataset."""
    L_tr, y_tr = load_split(name, "train")
    L_va, y_va = load_split(name, "valid")
    L_te, y_te = load_split(name, "test")
    y_dev = dev_labels(name, y_tr)
    data = {"L_va": L_va, "y_va": y_va, "L_te": L_te, "y_te": y_te}

    def score(P: np.ndarray, y: np.ndarray) -> float:
        return 100 * score_predictions(y, break_ties(P, "random"), metric, k)

    ours = {
        "labelloop MajorityVoter": lambda: MajorityVoter(k).fit(L_tr),
        "labelloop DawidSkene": lambda: DawidSkene(k).fit(L_tr),
        "labelloop LabelModel": lambda: LabelModel(k).fit(L_tr),
        "labelloop LabelModel +dev": lambda: LabelModel(k).fit(L_tr, y_dev),
    }
    rows = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for label, fit in ours.items():
            model, secs = timed(fit, repeats)
            fell_back = getattr(model, "fallback_", False)
            rows.append(
                {
                    "model": label,
                    "test": score(model.predict_proba(L_te), y_te),
                    "valid": score(model.predict_proba(L_va), y_va),
                    "fit_s": secs,
                    "note": "guardrail fell back to MV" if fell_back else "",
                }
            )
            if k == 2 and isinstance(model, LabelModel):
                rows.append(threshold_row(model, label, data, metric, secs))
    for w in caught:
        print(f"[{name}] warning: {w.message}")
    snorkel, secs = timed(lambda: snorkel_fit(L_tr, k), peer_repeats)
    rows.append(
        {
            "model": "Snorkel LabelModel",
            "test": score(snorkel.predict_proba(L_te), y_te),
            "valid": score(snorkel.predict_proba(L_va), y_va),
            "fit_s": secs,
            "note": "n_epochs=500, seed=123",
        }
    )
    P_ck, ck_secs = crowdkit_proba(L_tr, L_te, k)
    rows.append(
        {
            "model": "crowd-kit DawidSkene",
            "test": score(P_ck, y_te),
            "valid": float("nan"),
            "fit_s": ck_secs,
            "note": "transductive: fit on train+test",
        }
    )
    base = rows[-2]
    for r in rows:
        r["dataset"] = name
        r["metric"] = "F1 (spam)" if metric == "f1" else "accuracy"
        r["vs_snorkel"] = r["test"] - base["test"]
        r["speedup"] = base["fit_s"] / r["fit_s"] if r["fit_s"] > 0 else float("inf")
    return rows


def run_label_models(repeats: int, peer_repeats: int) -> list[dict]:
    """All datasets, after one warm-up fit of Snorkel (torch start-up is not fit time)."""
    snorkel_fit(np.array([[0, 1, 1], [1, 0, -1], [0, -1, 0]]), 2)
    results = []
    for name, (metric, k) in DATASETS.items():
        results += run_dataset(name, metric, k, repeats, peer_repeats)
    return results


# ------------------------------------------------------------------------- product path
def _texts(name: str, split: str) -> list[str]:
    rows = json.loads((DATA / f"wrench-{name}" / f"{split}.json").read_text())
    return [rows[k]["data"]["text"] for k in sorted(rows, key=int)]


def build_project(name: str, folder: Path, *, gold: bool):
    """A project with WRENCH's test, valid and train rows, LF votes stored; test item ids."""
    import pandas as pd

    from labelloop import Project
    from labelloop.core.records import AnnotationRecord

    classes = json.loads((DATA / f"wrench-{name}" / "label.json").read_text())
    names = [classes[str(i)] for i in range(len(classes))]
    splits = ("test", "valid", "train")
    parts = [(s, _texts(name, s), *load_split(name, s)) for s in splits]
    frame = pd.DataFrame(
        {
            "text": [t for _, texts, _, _ in parts for t in texts],
            "label": [names[v] for _, _, _, y in parts for v in y],
            "split": [s for s, texts, _, _ in parts for _ in texts],
        }
    )
    project = Project.create(folder, task="text-classification", labels=names)
    options: dict = {"text_column": "text", "split_column": "split", "label_column": ""}
    if gold:
        options |= {"label_column": "label", "label_kind": "gold"}
        options["label_splits"] = frozenset({"valid"})
    project.import_dataframe(frame, **options)
    items = project.items()

    def norm(text: str) -> str:  # import trims whitespace and byte-order marks
        return " ".join(text.replace("\ufeff", "").split())

    if [norm(it.data["text"]) for it in items] != [norm(t) for t in frame["text"]]:
        raise RuntimeError("items came back in another order than imported")
    ids = [int(it.id) for it in items]
    L = np.concatenate([p[2] for p in parts])
    records = []
    for j in range(L.shape[1]):
        source = project.source("labeling_function", f"lf{j:02d}")
        records += [
            AnnotationRecord(item_id=ids[i], source_id=int(source.id), label=int(L[i, j]))
            for i in np.flatnonzero(L[:, j] != -1)
        ]
    project.add_annotations(records)
    return project, ids[: len(parts[0][1])]


def run_product(name: str, metric: str, *, gold: bool) -> list[dict]:
    """``fit_label_model`` with every model of ``PRODUCT_MODELS`` on one project."""
    import tempfile

    from labelloop.services.weak import fit_label_model

    _, y_te = load_split(name, "test")
    k = int(max(y_te.max(), load_split(name, "train")[0].max())) + 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project, test_ids = build_project(name, Path(tmp) / "project", gold=gold)
        for model in PRODUCT_MODELS:
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rep = fit_label_model(project, model=model, metric=metric, name=f"lm-{model}")
            secs = time.perf_counter() - t
            source = {
                s.id for s in project.sources(kinds=["label_model"]) if s.name == f"lm-{model}"
            }
            got = {
                a.item_id: a.label
                for a in project.annotations(kinds=["label_model"])
                if a.source_id in source
            }
            pred = np.array([got[i] for i in test_ids], dtype=np.int64)
            rows.append(
                {
                    "dataset": name,
                    "gold": "valid" if gold else "none",
                    "model": model,
                    "test": 100 * score_predictions(y_te, pred, metric, k),
                    "fit_s": secs,
                    "note": rep.rule if model == "auto" else "",
                }
            )
        project.close()
    return rows


def run_products() -> list[dict]:
    """The product path on every dataset, without and with gold."""
    out = []
    for name, (metric, _) in DATASETS.items():
        for gold in (False, True):
            out += run_product(name, metric, gold=gold)
    return out


# ---------------------------------------------------------------------------- throughput
LINK = re.compile(r"https?://|www\.|\.com\b", re.I)
PLEASE = re.compile(r"\b(please|plz|pls)\b", re.I)


def lf_check_out(x):
    t = x.text.lower()
    return 1 if "check" in t and "out" in t else -1


def lf_link(x):
    return 1 if LINK.search(x.text) else -1


def lf_subscribe(x):
    return 1 if "subscribe" in x.text.lower() else -1


def lf_my_channel(x):
    t = x.text.lower()
    return 1 if "my channel" in t or "my video" in t else -1


def lf_please(x):
    return 1 if PLEASE.search(x.text) else -1


def lf_short(x):
    return 0 if len(x.text) < 25 else -1


def lf_song(x):
    t = x.text.lower()
    return 0 if "song" in t or "love" in t else -1


def lf_views(x):
    return 0 if "views" in x.text.lower() or "billion" in x.text.lower() else -1


LF_BODIES = [
    lf_check_out,
    lf_link,
    lf_subscribe,
    lf_my_channel,
    lf_please,
    lf_short,
    lf_song,
    lf_views,
]


def youtube_frame(n_rows: int):
    import pandas as pd

    texts = []
    for path in sorted((DATA / "youtube-spam-collection").glob("Youtube0*.csv")):
        with path.open(encoding="utf-8") as fh:
            texts += [r["CONTENT"] for r in csv.DictReader(fh)]
    reps = -(-n_rows // len(texts))
    return pd.DataFrame({"text": (texts * reps)[:n_rows]})


def run_throughput(n_rows: int) -> dict:
    from snorkel.labeling import PandasLFApplier
    from snorkel.labeling import labeling_function as snorkel_lf

    df = youtube_frame(n_rows)
    snorkel_lfs = [snorkel_lf(name=f.__name__)(f) for f in LF_BODIES]
    our_lfs = [labeling_function(name=f.__name__)(f) for f in LF_BODIES]
    t = time.perf_counter()
    L_snorkel = PandasLFApplier(snorkel_lfs).apply(df, progress_bar=False)
    snorkel_s = time.perf_counter() - t
    t = time.perf_counter()
    local = apply_lfs(our_lfs, df)
    local_s = time.perf_counter() - t
    t = time.perf_counter()
    procs = apply_lfs(our_lfs, df, executor="processes", n_jobs=2)
    procs_s = time.perf_counter() - t
    t = time.perf_counter()
    timed_run = apply_lfs(our_lfs, df, timeout=5.0)
    timeout_s = time.perf_counter() - t
    same = all(np.array_equal(L_snorkel, r.L) for r in (local, procs, timed_run))
    return {
        "rows": n_rows,
        "lfs": len(LF_BODIES),
        "snorkel_s": snorkel_s,
        "local_s": local_s,
        "procs_s": procs_s,
        "timeout_s": timeout_s,
        "identical": same,
    }


def product_markdown(rows: list[dict], results: list[dict]) -> list[str]:
    """Part 1b's table and the issue's targets, beside part 1's Snorkel and crowd-kit rows."""
    out = [
        "",
        "## Product path: `fit_label_model` on a stored project (test rows)",
        "",
        "Gold `valid`: WRENCH's valid labels imported as gold; `none`: no gold. Seconds include "
        "reading the votes from and writing every posterior to SQLite.",
        "",
        "| dataset | gold | model | test | seconds | how auto chose |",
        "|---|---|---|---:|---:|---|",
    ]
    out += [
        f"| {r['dataset']} | {r['gold']} | {r['model']} | {r['test']:.2f} | {r['fit_s']:.2f} "
        f"| {r['note']} |"
        for r in rows
    ]
    out += ["", "Targets (issue: one label model, one storage layer):", ""]
    for name in DATASETS:

        def pick(gold: str, model: str, name: str = name) -> float:
            return next(
                r["test"]
                for r in rows
                if r["dataset"] == name and r["gold"] == gold and r["model"] == model
            )

        peers = {
            r["model"]: r["test"]
            for r in results
            if r["dataset"] == name and r["model"] in ("Snorkel LabelModel", "crowd-kit DawidSkene")
        }
        with_gold, mv_gold = pick("valid", "auto"), pick("valid", "majority")
        without, mv = pick("none", "auto"), pick("none", "majority")
        best = max([mv_gold, *peers.values()])
        out.append(
            f"- {name}: with gold auto {with_gold:.2f} vs max(MV {mv_gold:.2f}, "
            + ", ".join(f"{k} {v:.2f}" for k, v in peers.items())
            + f") -> {'OK' if with_gold >= best - 1e-9 else 'MISSED'}; without gold auto "
            f"{without:.2f} vs MV {mv:.2f} - 1 -> {'OK' if without >= mv - 1 else 'MISSED'}"
        )
    return out


def markdown(
    results: list[dict], tp: dict | None, repeats: int, product: list[dict] | None = None
) -> str:
    out = [
        "# Weak supervision benchmark",
        "",
        "Generated by `benchmarks/weak_supervision.py` on "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}; "
        f"fit seconds are the median of {repeats} runs of ours, one of Snorkel's "
        "(2 shared CPU cores: timings are indicative).",
        "",
        "## Label models (fit on train, scored on test)",
        "",
        "| dataset | metric | model | test | valid | vs Snorkel (pts) | fit s "
        "| fit speed-up vs Snorkel | note |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        out.append(
            f"| {r['dataset']} | {r['metric']} | {r['model']} | {r['test']:.2f} "
            f"| {r['valid']:.2f} | {r['vs_snorkel']:+.2f} | {r['fit_s']:.3f} "
            f"| {r['speedup']:.0f}x | {r['note']} |"
        )
    out += ["", "Reference numbers from the issue (test):", ""]
    out += [
        "| dataset | Snorkel (measured) | MV (WRENCH) | best published |",
        "|---|---:|---:|---:|",
    ]
    for name, ref in REFERENCE.items():
        out.append(f"| {name} | {ref['snorkel']:.2f} | {ref['mv']:.2f} | {ref['published']:.2f} |")
    if product:
        out += product_markdown(product, results)
    if tp:
        out += [
            "",
            f"## LF application throughput ({tp['rows']:,} rows, {tp['lfs']} LFs, "
            "YouTube comments)",
            "",
            "| applier | seconds | rows/s | speed-up vs Snorkel |",
            "|---|---:|---:|---:|",
        ]
        for label, key in [
            ("Snorkel PandasLFApplier", "snorkel_s"),
            ("labelloop apply_lfs (local)", "local_s"),
            ("labelloop apply_lfs (2 processes)", "procs_s"),
            ("labelloop apply_lfs (local, timeout=5 s per call)", "timeout_s"),
        ]:
            secs = tp[key]
            out.append(
                f"| {label} | {secs:.1f} | {tp['rows'] / secs:,.0f} "
                f"| {tp['snorkel_s'] / secs:.1f}x |"
            )
        out += ["", f"All appliers produced identical matrices: {tp['identical']}."]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed fits of our models")
    parser.add_argument("--peer-repeats", type=int, default=1, help="timed fits of Snorkel's")
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="rows for the throughput part (0: skip)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "weak_supervision.md"
    )
    args = parser.parse_args()
    results = run_label_models(args.repeats, args.peer_repeats)
    product = run_products()
    tp = run_throughput(args.rows) if args.rows else None
    text = markdown(results, tp, args.repeats, product)
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
