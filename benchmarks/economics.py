"""Economics of the closed loop: human labels until the end model is as good as all-gold.

Datasets (``../shared/data``): YouTube spam (UCI, 1,956 comments, with the package's
example labeling functions), SMS spam (UCI, 5,574 messages), AG News (test file, 7,600).
Each is split by a fixed shuffle (seed 0) into a pool (75%) and a test set (25%): the
YouTube pool is 1,467 and the SMS pool 4,180 (the issue's reference figures use the same
sizes). Features: the packaged MiniLM (int8 ONNX) embeddings, computed once and cached in
``benchmarks/cache/``. End model: scikit-learn ``LogisticRegression(max_iter=1000)``.

Methods, same seeds, batch of 10 human answers:

- ``loop``: :func:`labelloop.services.loop_sim.simulate_loop`, i.e. ``labelloop loop`` rounds
  on a real (temporary SQLite) project, gold answering the queued batch; its end model trains
  on the exported labels (human where checked, else the posterior, weighted by confidence);
- ``margin`` and ``random``: the labeled set alone trains the end model.

Reported: human answers until the end model's test F1 (macro) first comes within 1 point of
the model trained on the whole pool with gold labels, and the exported-label accuracy there.

Usage::

    nice -n 10 .venv/bin/python benchmarks/economics.py --datasets youtube-spam sms-spam \\
        --seeds 5
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from prelabel import DESCRIPTIONS, embeddings, load  # noqa: E402  (loaders, cache)

BUDGET = {"youtube-spam": 400, "sms-spam": 400, "ag-news": 1000}


def run(name: str, seeds: int, batch: int, accuracies: tuple[float, ...], overlap: int,
        *, tune: bool = False, pseudo_weight: float = 1.0, expert: float | None = None,
        hard_below: float = 0.8, prices: tuple[float, float] | None = None,
        methods: tuple[str, ...] = ("loop", "margin", "random")) -> tuple[str, float]:
    """Simulate one dataset; returns its markdown section and the seconds it took.

    With ``tune`` the test set is never read: the pool is split again (80/20, seed 1) and
    the end model is scored on that validation part.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from labelloop.core.schema import LabelSchema
    from labelloop.prelabel import ZeroShotTextClassifier
    from labelloop.services.loop_sim import Annotators, simulate_loop
    from labelloop.services.weak import load_lfs

    texts, y = load(name)
    from labelloop.prelabel import TextEmbedder

    X = embeddings(name, texts, TextEmbedder("minilm"))  # cached as prelabel.py does
    order = np.random.default_rng(0).permutation(len(texts))
    n_test = round(0.25 * len(texts))
    test, pool = order[:n_test], order[n_test:]
    if tune:
        inner = np.random.default_rng(1).permutation(pool)
        n_valid = round(0.2 * len(inner))
        test, pool = inner[:n_valid], inner[n_valid:]
    schema = LabelSchema.parse({"task": "text-classification",
                                "classes": [{"name": c, "description": d}
                                            for c, d in DESCRIPTIONS[name].items()]})
    lfs = None
    if name == "youtube-spam":
        import labelloop.data

        lfs = load_lfs(Path(labelloop.data.__file__).parent / "youtube_spam_lfs.py")
    t0 = time.perf_counter()
    with threadpool_limits(1):  # small matrix products: threads only contend on 2 shared cores
        sim = simulate_loop(
            [texts[i] for i in pool], y[pool], X[pool], X_test=X[test], y_test=y[test],
            schema=schema, lfs=lfs, embedding_model="minilm",
            prelabeler=ZeroShotTextClassifier(schema, model="minilm"),
            batch_size=batch, budget=BUDGET[name], seeds=range(seeds),
            annotators=Annotators(accuracies, overlap, expert_accuracy=expert,
                                  hard_below=hard_below),
            stop_at_target=True, pseudo_weight=pseudo_weight, prices=prices,
            methods=["loop"] if tune else methods,
        )
    seconds = time.perf_counter() - t0
    who = (f"{len(accuracies)} simulated annotator(s) at {accuracies}, overlap {overlap}"
           if accuracies else "gold answers")
    if expert is not None:
        who += f"; an expert at {expert} for items below {hard_below} (loop-routed)"
    if prices is not None:
        who += f"; prices {prices[0]} per answer, {prices[1]} per expert answer"
    head = (f"## {name} (pool {len(pool)}, {'valid' if tune else 'test'} {len(test)}; "
            f"{seeds} seeds; {who}; {'with' if lfs else 'no'} labeling functions; "
            f"pseudo-label weight {pseudo_weight})\n\n")
    if not tune and expert is None:
        sim.plot(RESULTS / f"economics_{name}.png", title=name)
    return head + sim.to_markdown() + f"\n\n{seconds:.0f} s.\n", seconds


def main() -> None:
    """Parse arguments, run the datasets, print each section (the results file is edited
    by hand around them)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(BUDGET))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--accuracy", type=float, nargs="*", default=[])
    ap.add_argument("--overlap", type=int, default=1)
    ap.add_argument("--pseudo-weight", type=float, default=1.0)
    ap.add_argument("--tune", action="store_true",
                    help="score on a validation split of the pool; the test set is not read")
    ap.add_argument("--out", type=Path, default=None, help="append each section to this file")
    ap.add_argument("--expert-accuracy", type=float, default=None,
                    help="add an expert and the method loop-routed (routing by difficulty)")
    ap.add_argument("--hard-below", type=float, default=0.8)
    ap.add_argument("--prices", type=float, nargs=2, default=None,
                    metavar=("PER_ANSWER", "PER_EXPERT_ANSWER"))
    ap.add_argument("--methods", nargs="+", default=["loop", "loop-routed", "margin", "random"])
    args = ap.parse_args()
    for name in args.datasets:
        section, _ = run(name, args.seeds, args.batch, tuple(args.accuracy), args.overlap,
                         tune=args.tune, pseudo_weight=args.pseudo_weight,
                         expert=args.expert_accuracy, hard_below=args.hard_below,
                         prices=None if args.prices is None else tuple(args.prices),
                         methods=tuple(args.methods))
        print(section, flush=True)
        if args.out is not None:
            with args.out.open("a", encoding="utf-8") as f:
                f.write(section + "\n")


if __name__ == "__main__":
    main()
