"""Aggregation benchmark: labelloop's aggregators side by side with crowd-kit's, same run.

Every categorical crowd set in ``../shared/data/crowd-spectral-em``,
``../shared/data/crowd-zheng2017-truth-inference`` (``f201_Emotion_FULL`` is numeric ratings,
not classification, and is skipped) and ``../shared/data/crowd-snow2008`` (rte, temp, wsd; the
affect and wordsim files are numeric ratings). Everything runs through the product path,
``labelloop.quality.aggregate``.

The gold items of each set are split once (seed 0) into a *valid* fifth and a *test* rest;
accuracy is reported on the test items only. ``ll-default`` is ``aggregate`` with its default
method (``"auto"``) and no gold; ``ll-default+gold`` gives it the valid gold answers, as a
project with honeypots would. crowd-kit's aggregators take no gold. Seconds are wall-clock of
``fit`` + prediction, best of ``--repeat`` runs (GLAD and MACE: one run, they take minutes).
A crowd-kit aggregator that raises is recorded as a crash with its error and the run goes on.

Run in the benchmark environment (see ``benchmarks/requirements-quality.txt``)::

    PYTHONPATH=src /work/benchenv-quality/bin/python benchmarks/aggregation.py
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from labelloop.quality import aggregate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT = "ll-default"
GOLD = "ll-default+gold"
VALID_SHARE = 0.2


def _spectral(name: str) -> tuple[pd.DataFrame, dict]:
    d = DATA / "crowd-spectral-em"
    crowd = pd.read_csv(
        d / f"{name}_crowd.txt", sep=r"\s+", header=None, names=["task", "worker", "label"]
    )
    truth = pd.read_csv(d / f"{name}_truth.txt", sep=r"\s+", header=None, names=["task", "label"])
    return crowd, dict(truth.drop_duplicates("task").itertuples(index=False))


def _zheng(name: str) -> tuple[pd.DataFrame, dict]:
    d = DATA / "crowd-zheng2017-truth-inference" / name
    crowd = pd.read_csv(d / "answer.csv").rename(
        columns={"question": "task", "worker": "worker", "answer": "label"}
    )
    truth = pd.read_csv(d / "truth.csv")
    return crowd, dict(truth.itertuples(index=False))


def _snow(name: str) -> tuple[pd.DataFrame, dict]:
    frame = pd.read_csv(
        DATA / "crowd-snow2008" / "all_collected_data" / f"{name}.standardized.tsv", sep="\t"
    )
    crowd = pd.DataFrame(
        {"task": frame["orig_id"], "worker": frame["!amt_worker_ids"], "label": frame["response"]}
    )
    truth = frame.drop_duplicates("orig_id")[["orig_id", "gold"]]
    return crowd, dict(truth.itertuples(index=False))


def datasets() -> dict[str, tuple[pd.DataFrame, dict]]:
    """Every categorical crowd set with gold, by name."""
    out = {f"spectral/{n}": _spectral(n) for n in ["bluebird", "dog", "rte", "trec", "web"]}
    for n in [
        "d_Duck_Identification",
        "d_jn-product",
        "s4_Dog_data",
        "s4_Face_Sentiment_Identification",
    ]:
        out[f"zheng/{n}"] = _zheng(n)
    for n in ["rte", "temp", "wsd"]:
        out[f"snow/{n}"] = _snow(n)
    return out


def split_gold(truth: dict) -> tuple[dict, dict]:
    """The gold answers split once (seed 0) into a valid fifth and the test rest."""
    keys = sorted(truth, key=str)
    order = np.random.default_rng(0).permutation(len(keys))
    n_valid = int(len(keys) * VALID_SHARE)
    valid = {keys[i]: truth[keys[i]] for i in order[:n_valid]}
    test = {keys[i]: truth[keys[i]] for i in order[n_valid:]}
    return valid, test


def labelloop_methods(valid: dict) -> dict[str, Callable[[pd.DataFrame], dict]]:
    """labelloop's aggregators through ``aggregate``; only ``GOLD`` sees the valid answers."""

    def run(method: str, gold: dict | None = None) -> Callable[[pd.DataFrame], dict]:
        def f(df: pd.DataFrame) -> dict:
            table = {
                "item": df["task"].to_numpy(),
                "annotator": df["worker"].to_numpy(),
                "label": df["label"].to_numpy(),
            }
            return aggregate(table, method=method, gold=gold).as_dict()

        return f

    return {
        DEFAULT: run("auto"),
        GOLD: run("auto", valid),
        "ll-DS": run("dawid-skene"),
        "ll-OneCoin": run("one-coin"),
        "ll-LabelModel": run("label-model"),
        "ll-MV": run("majority"),
    }


def crowdkit_methods() -> dict[str, Callable[[pd.DataFrame], dict]]:
    """crowd-kit's MajorityVote, DawidSkene, GLAD and MACE with their defaults."""
    from crowdkit.aggregation import GLAD, MACE, DawidSkene, MajorityVote

    def run(cls: type, **kw) -> Callable[[pd.DataFrame], dict]:
        return lambda df: cls(**kw).fit_predict(df).to_dict()

    return {
        "ck-MV": run(MajorityVote),
        "ck-DS": run(DawidSkene, n_iter=100),
        "ck-GLAD": run(GLAD),
        "ck-MACE": run(MACE),
    }


def accuracy(pred: dict, truth: dict) -> float:
    """Share of gold items whose predicted label equals the gold label."""
    keys = [k for k in truth if k in pred]
    return float(np.mean([pred[k] == truth[k] for k in keys]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best is kept)")
    ap.add_argument("--only", default="", help="substring filter on dataset names")
    ap.add_argument("--from-log", type=Path, help="only render the tables from a run's stdout")
    ap.add_argument(
        "--peers-from-log",
        type=Path,
        help="run labelloop's methods only; take crowd-kit's rows from an earlier run's stdout",
    )
    args = ap.parse_args()
    if args.from_log:
        write(read_log(args.from_log))
        return
    peers = read_log(args.peers_from_log) if args.peers_from_log else None
    rows = []
    for name, (df, all_truth) in datasets().items():
        if args.only not in name:
            continue
        valid, truth = split_gold(all_truth)
        methods = labelloop_methods(valid)
        if peers is None:
            methods |= crowdkit_methods()
        for mname, fn in methods.items():
            repeat = 1 if mname in ("ck-GLAD", "ck-MACE") else args.repeat
            try:
                best = np.inf
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    pred = fn(df)
                    best = min(best, time.perf_counter() - t0)
                rows.append(
                    {
                        "dataset": name,
                        "method": mname,
                        "acc": accuracy(pred, truth),
                        "seconds": best,
                        "error": "",
                    }
                )
            except Exception as exc:  # crowd-kit crashes are part of the result
                err = f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
                traceback.print_exc(limit=1, file=sys.stderr)
                rows.append(
                    {
                        "dataset": name,
                        "method": mname,
                        "acc": np.nan,
                        "seconds": np.nan,
                        "error": err,
                    }
                )
            r = rows[-1]
            print(
                f"{name:42s} {mname:16s} acc={r['acc']:.4f} s={r['seconds']:.3f} {r['error']}",
                flush=True,
            )
    res = pd.DataFrame(rows)
    if peers is not None:
        res = pd.concat([res, peers[peers.method.str.startswith("ck-")]], ignore_index=True)
    write(res, peers_note=peers is not None)


LOG_LINE = re.compile(r"^(\S+)\s+(\S+)\s+acc=(\S+) s=(\S+) ?(.*)$")


def read_log(path: Path) -> pd.DataFrame:
    """The result rows printed by a run (its stdout), for re-rendering the tables."""
    rows = []
    for line in path.read_text().splitlines():
        m = LOG_LINE.match(line)
        if m:
            rows.append(
                {
                    "dataset": m[1],
                    "method": m[2],
                    "acc": float(m[3]),
                    "seconds": float(m[4]),
                    "error": m[5],
                }
            )
    return pd.DataFrame(rows)


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("crowd-kit", "scikit-learn", "pandas", "numpy", "scipy"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg} missing")
    return ", ".join(out)


def write(res: pd.DataFrame, *, peers_note: bool = False) -> None:
    """Write the markdown table of accuracy and seconds, and the targets' verdicts."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    res.to_csv(RESULTS / "aggregation.csv", index=False)
    acc = res.pivot(index="dataset", columns="method", values="acc")
    sec = res.pivot(index="dataset", columns="method", values="seconds")
    ck = [c for c in acc.columns if c.startswith("ck-")]
    lines = [
        "# Aggregation benchmark",
        "",
        "Accuracy on the test gold items (80% of each set's gold, seed 0); only "
        f"`{GOLD}` is given the other 20% (valid) as gold. Seconds = fit + predict.",
        f"Environment: {_versions()}; 2 shared CPU cores (other jobs running).",
        *(
            [
                "crowd-kit's rows (accuracy and seconds) come from an earlier run on the same "
                "data, split and machine (`--peers-from-log`); labelloop's were rerun after a "
                "change to `auto`. Seconds of the two runs were measured under different load.",
            ]
            if peers_note
            else []
        ),
        "",
        "## Accuracy",
        "",
        acc.to_markdown(floatfmt=".4f"),
        "",
        "## Seconds",
        "",
        sec.to_markdown(floatfmt=".3f"),
        "",
        "## Targets",
        "",
    ]
    for ds in acc.index:
        best_ck = acc.loc[ds, ck].max()
        who = acc.loc[ds, ck].idxmax()
        mv = acc.loc[ds, "ll-MV"]
        free, gold = acc.loc[ds, DEFAULT], acc.loc[ds, GOLD]
        ratio = sec.loc[ds, "ck-DS"] / sec.loc[ds, DEFAULT]
        # compared at the 4 decimals the tables (and a --peers-from-log log) hold
        ok_gold = round(gold, 4) >= round(max(best_ck, mv), 4)
        ok_free = free >= mv - 0.01
        lines.append(
            f"- {ds}: with gold {gold:.4f} vs MV {mv:.4f} and crowd-kit best {best_ck:.4f} "
            f"({who}) -> {'OK' if ok_gold else 'MISSED'}; without gold {free:.4f} vs MV - 1 pt "
            f"-> {'OK' if ok_free else 'MISSED'}; speed-up vs ck-DS x{ratio:.1f}"
        )
    crashes = res[res.error != ""]
    if len(crashes):
        lines += ["", "## Crashes", ""]
        lines += [f"- {r.dataset} {r.method}: `{r.error}`" for r in crashes.itertuples()]
    (RESULTS / "aggregation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
