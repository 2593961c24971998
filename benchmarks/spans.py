"""Span benchmark: labelloop's span label model vs majority vote and skweak's HMM on WRENCH.

Run from the repository root (``skweak`` lives in its own environment, which this script
calls for its part)::

    PYTHONPATH=src /work/main/.venv/bin/python benchmarks/spans.py \\
        --skweak-python /work/benchenv-spans/bin/python

Data: the WRENCH sequence-tagging sets staged in ``../shared/data/wrench-laptopreview`` and
``wrench-bc5cdr`` (span form: gold and LF outputs as ``[start, end_exclusive, type]`` token
spans; WRENCH's native one-BIO-tag-per-token layout is read too). Only the LFs WRENCH uses
(``meta.json``'s ``lf_rec``) take part. Metric: exact-match span P/R/F1 (micro), which is
seqeval's strict IOB2 score on well-formed tags.

Protocol: every model is fitted on ``train`` votes without labels. The span label model's
setting (base model: Dawid-Skene, or majority vote as the guardrail; scheme; what a silent
LF says; decode; O bias: :data:`GRID`) is chosen by span F1 on ``valid``; test is read once
for the chosen setting. The ``+dev`` row also gives the model
the valid gold as a gold source (as a project's reviewed items would be): its setting is
chosen by 2-fold cross-fitting on valid (fit with one half's gold, score the other half),
then it is fitted with all the valid gold. skweak's HMM (``skweak.aggregation.HMM``, its
defaults, BIO) is fitted on the same train votes in the same run, in a subprocess of the
skweak environment; its fit time is measured inside that process.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
DATASETS = ("laptopreview", "bc5cdr")
PUBLISHED = {  # WRENCH (arXiv v1 figure), test span F1: MV (BIO-level), HMM, CHMM
    "laptopreview": {"mv": 67.43, "hmm": 73.26, "chmm": 73.34},
    "bc5cdr": {"mv": 81.71, "hmm": 81.67, "chmm": 83.70},
}
Spans = list[tuple[int, int, int]]


# ----------------------------------------------------------------------------- data
def _spans_of_tags(tags: Sequence[Any], types: list[str]) -> Spans:
    """Token spans of one BIO tag sequence (ids: 0 = O, 2c+1 = B, 2c+2 = I; or strings)."""
    out: Spans = []
    start, cls = -1, -1
    for t, tag in enumerate([*tags, "O"]):
        if isinstance(tag, str):
            kind, _, name = tag.partition("-")
            c = types.index(name) if kind in ("B", "I") else -1
            begin = kind == "B"
        else:
            c = (int(tag) - 1) // 2 if int(tag) > 0 else -1
            begin = int(tag) % 2 == 1
        if cls >= 0 and (c != cls or begin):
            out.append((start, t, cls))
            cls = -1
        if c >= 0 and cls < 0:
            start, cls = t, c
    return out


def _is_tag_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, list) for v in value)


def load(name: str, split: str, *, data: Path = DATA
         ) -> tuple[list[int], list[Spans], list[list[Spans]], list[str], list[list[str]]]:
    """Token counts, gold spans, votes of WRENCH's LFs, the LF names and the tokens.

    Takes the span form (``label``: ``[[start, end, type], ...]``, ``weak_labels``: one
    such list per LF) and WRENCH's native form (``label``: one tag per token,
    ``weak_labels``: one row of tags per token, a tag per LF).
    """
    root = data / f"wrench-{name}"
    meta = json.loads((root / "meta.json").read_text())
    types = list(meta["entity_types"])
    raw = json.loads((root / f"{split}.json").read_text())
    keep = [meta["lf"].index(x) for x in meta.get("lf_rec", meta["lf"])]
    lengths, gold, votes, tokens = [], [], [], []
    for key in sorted(raw, key=int):
        row = raw[key]
        words = row["data"]["text"]
        n = len(words)
        tokens.append(words)
        lengths.append(n)
        if _is_tag_list(row["label"]) and len(row["label"]) == n and n and not (
                isinstance(row["label"][0], list)):
            gold.append(_spans_of_tags(row["label"], types))
            per_token = row["weak_labels"]  # n rows, one tag per LF
            cols = list(zip(*per_token, strict=True)) if per_token else [()] * len(meta["lf"])
            votes.append([_spans_of_tags(cols[j], types) for j in keep])
        else:
            gold.append([(a, b, types.index(t)) for a, b, t in row["label"]])
            votes.append([[(a, b, types.index(t)) for a, b, t in row["weak_labels"][j]]
                          for j in keep])
    return lengths, gold, votes, [meta["lf"][j] for j in keep], tokens


def prf(pred: Sequence[Spans], gold: Sequence[Spans]) -> tuple[float, float, float]:
    """Micro span precision, recall, F1 (x100), exact match."""
    tp = sum(len(set(p) & set(g)) for p, g in zip(pred, gold, strict=True))
    n_pred = sum(len(set(p)) for p in pred)
    n_gold = sum(len(set(g)) for g in gold)
    p = 100 * tp / n_pred if n_pred else 0.0
    r = 100 * tp / n_gold if n_gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


# ----------------------------------------------------------------------------- skweak
def skweak_part(name: str) -> dict[str, Any]:
    """Runs inside the skweak environment: fit skweak's HMM on train, score test."""
    import spacy.tokens
    import spacy.vocab
    from skweak.aggregation import HMM

    root = DATA / f"wrench-{name}"
    types = json.loads((root / "meta.json").read_text())["entity_types"]
    vocab = spacy.vocab.Vocab()

    def docs(split: str) -> tuple[list[Any], list[Spans]]:
        _, gold, votes, lfs, tokens = load(name, split)
        out = []
        for words, row in zip(tokens, votes, strict=True):
            doc = spacy.tokens.Doc(vocab, words=[w or "_" for w in words])
            for lf, spans in zip(lfs, row, strict=True):
                doc.spans[lf] = [spacy.tokens.Span(doc, a, b, label=types[c])
                                 for a, b, c in spans]
            out.append(doc)
        return out, gold

    train, _ = docs("train")
    test, gold = docs("test")
    hmm = HMM("hmm", types)
    start = time.perf_counter()
    hmm.fit(train)
    fit_s = time.perf_counter() - start
    pred = []
    for doc in test:
        doc = hmm(doc)
        pred.append([(s.start, s.end, types.index(s.label_)) for s in doc.spans["hmm"]])
    p, r, f = prf(pred, gold)
    import skweak

    return {"fit_s": fit_s, "p": p, "r": r, "f1": f,
            "version": getattr(skweak, "__version__", "0.3.3")}


def run_skweak(python: str | None, name: str) -> dict[str, Any]:
    """skweak's result through its own interpreter, or the reason it could not run."""
    if not python:
        return {"error": "no --skweak-python given"}
    try:
        done = subprocess.run([python, __file__, "--skweak-part", name], capture_output=True,
                              text=True, timeout=3600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ----------------------------------------------------------------------------- labelloop
DECODES = (("IO", ("runs", "split")), ("BIO", ("viterbi",)))
GRID: list[dict[str, Any]] = [
    # majority vote is a candidate too: the guardrail, applied on valid
    *({"base": "majority", "scheme": scheme, "silence": "missing", "decode": decode}
      for scheme, decodes in DECODES for decode in decodes),
    *({"scheme": scheme, "silence": silence, "decode": decode, "o_bias": bias}
      for scheme, decodes in DECODES
      for silence in ("missing", "abstain", "O")
      for decode in decodes
      for bias in (-2.0, -1.0, 0.0, 1.0, 2.0)),
]
"""Settings tried on valid, in this order (the first of equal valid F1 wins)."""


def fit_time(make: Any, votes: Any, lengths: Any, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        make().fit(votes, lengths)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(name: str, skweak_python: str | None) -> list[dict[str, Any]]:
    from labelloop.labelmodels.spans import SpanLabelModel

    train, valid, test = (load(name, s) for s in ("train", "valid", "test"))
    k = len(json.loads((DATA / f"wrench-{name}" / "meta.json").read_text())["entity_types"])
    rows: list[dict[str, Any]] = []

    def model(**kw: Any) -> SpanLabelModel:
        return SpanLabelModel(k, **kw)

    def score(m: SpanLabelModel, data: Any) -> tuple[float, float, float]:
        return prf(m.predict(data[2], data[0]), data[1])

    # majority vote, WRENCH's token rule (IO; a silent LF says nothing), and BIO-level
    for label, kw in (("majority vote (IO)", {"scheme": "IO"}),
                      ("majority vote (BIO)", {"scheme": "BIO", "decode": "viterbi"})):
        mv = model(base="majority", silence="missing", **kw).fit(train[2], train[0])
        rows.append({"model": f"labelloop {label}", "valid": score(mv, valid)[2],
                     "test": score(mv, test), "fit_s": fit_time(
                         lambda kw=kw: model(base="majority", silence="missing", **kw),
                         train[2], train[0]), "setting": kw})
    # the span label model: setting chosen on valid
    best: tuple[float, dict[str, Any]] = (-1.0, {})
    for setting in GRID:
        m = model(**setting).fit(train[2], train[0])
        f = score(m, valid)[2]
        if f > best[0]:
            best = (f, setting)
    chosen = model(**best[1]).fit(train[2], train[0])
    rows.append({"model": "labelloop SpanLabelModel (chosen on valid)", "valid": best[0],
                 "test": score(chosen, test), "setting": best[1],
                 "fit_s": fit_time(lambda: model(**best[1]), train[2], train[0])})
    rows.append(dev_anchored(name, k, train, valid, test))
    sk = run_skweak(skweak_python, name)
    if "error" in sk:
        rows.append({"model": "skweak HMM", "error": sk["error"]})
    else:
        rows.append({"model": f"skweak {sk['version']} HMM", "valid": float("nan"),
                     "test": (sk["p"], sk["r"], sk["f1"]), "fit_s": sk["fit_s"],
                     "setting": {"defaults": "BIO, n_iter=4"}})
    return rows


def dev_anchored(name: str, k: int, train: Any, valid: Any, test: Any) -> dict[str, Any]:
    """The model given the valid gold too; its setting chosen by 2-fold cross-fitting."""
    from labelloop.labelmodels.spans import SpanLabelModel

    lengths = train[0] + valid[0]
    votes = train[2] + valid[2]
    n_train, n_valid = len(train[0]), len(valid[0])
    halves = [list(range(0, n_valid, 2)), list(range(1, n_valid, 2))]
    best: tuple[float, dict[str, Any]] = (-1.0, {})
    for setting in GRID:
        pred: dict[int, Spans] = {}
        for held in halves:
            hidden = set(held)
            y = [None] * n_train + [None if i in hidden else valid[1][i]
                                    for i in range(n_valid)]
            m = SpanLabelModel(k, guardrail=False, **setting).fit(votes, lengths, y)
            got = m.predict([valid[2][i] for i in held], [valid[0][i] for i in held])
            pred.update(zip(held, got, strict=True))
        f = prf([pred[i] for i in range(n_valid)], valid[1])[2]
        if f > best[0]:
            best = (f, setting)
    y_all: list[Spans | None] = [None] * n_train + list(valid[1])
    start = time.perf_counter()
    m = SpanLabelModel(k, guardrail=False, **best[1]).fit(votes, lengths, y_all)
    fit_s = time.perf_counter() - start
    return {"model": "labelloop SpanLabelModel +dev gold", "valid": best[0],
            "test": prf(m.predict(test[2], test[0]), test[1]), "setting": best[1],
            "fit_s": fit_s, "note": "valid F1 cross-fitted (2 folds)"}


def markdown(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "# Span label models on WRENCH sequence tagging",
        "",
        f"Generated by `benchmarks/spans.py` on {platform.machine()}, Python "
        f"{platform.python_version()} (2 shared CPU cores: timings are indicative). Fit on "
        "train votes (WRENCH's LF subset, `lf_rec`); settings chosen on valid; test read "
        "once. Span F1 = exact match (seqeval strict). Our fit seconds: median of 5.",
        "",
        "| dataset | model | test F1 | test P | test R | valid F1 | fit s | fit vs skweak | "
        "setting |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, rows in results.items():
        sk = next((r["fit_s"] for r in rows if r["model"].startswith("skweak") and
                   "fit_s" in r), None)
        for r in rows:
            if "error" in r:
                lines.append(f"| {name} | {r['model']} | - | - | - | - | - | - | "
                             f"could not run: {r['error']} |")
                continue
            p, rec, f = r["test"]
            speed = f"{sk / r['fit_s']:.0f}x faster" if sk and r["fit_s"] > 0 else "-"
            if r["model"].startswith("skweak"):
                speed = "1x"
            setting = ", ".join(f"{a}={b}" for a, b in r["setting"].items())
            if r.get("note"):
                setting += f" ({r['note']})"
            lines.append(f"| {name} | {r['model']} | {f:.2f} | {p:.2f} | {rec:.2f} | "
                         f"{r['valid']:.2f} | {r['fit_s']:.3f} | {speed} | {setting} |")
        pub = PUBLISHED[name]
        lines.append(f"| {name} | published (WRENCH): MV / HMM / CHMM | {pub['mv']:.2f} / "
                     f"{pub['hmm']:.2f} / {pub['chmm']:.2f} | | | | | | BIO-level MV |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skweak-python", default=None,
                        help="Python of an environment with skweak installed.")
    parser.add_argument("--skweak-part", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "spans.md"))
    args = parser.parse_args()
    if args.skweak_part:
        print(json.dumps(skweak_part(args.skweak_part)))
        return
    results = {}
    for name in args.datasets.split(","):
        results[name] = bench(name, args.skweak_python)
        for r in results[name]:
            print(name, json.dumps(r), flush=True)
    text = markdown(results)
    out = Path(args.out)
    old = out.read_text() if out.exists() else ""
    keep = "<!-- spacy-conll: begin -->"  # benchmarks/spans_spacy.py's section stays
    if keep in old:
        text = text.rstrip("\n") + "\n\n" + keep + old.split(keep, 1)[1]
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
