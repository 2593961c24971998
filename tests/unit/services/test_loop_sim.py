"""``labelloop simulate --loop``: the loop replayed against random and margin sampling."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from labelloop.cli.app import app
from labelloop.core.schema import LabelSchema
from labelloop.errors import ValidationError
from labelloop.services.loop_sim import Annotators, simulate_loop


def _blobs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return (rng.normal(size=(n, 8)) + 1.5 * y[:, None]).astype(np.float32), y


def test_simulate_loop_command_writes_table_and_png(tmp_path: Path) -> None:
    n = 150
    X, y = _blobs(n)
    data = tmp_path / "data.csv"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "gold"])
        w.writerows([[f"text {i}", "spam" if y[i] else "ham"] for i in range(n)])
    np.save(tmp_path / "X.npy", X)
    lfs = tmp_path / "lfs.py"
    lfs.write_text(
        "from labelloop.weak import labeling_function\n"
        "@labeling_function()\n"
        "def even(x):\n"
        "    return 0 if int(x.text.split()[1]) % 4 == 0 else -1\n", encoding="utf-8")
    res = CliRunner().invoke(app, [
        "simulate", "--loop", "--data", str(data), "--gold-column", "gold",
        "--embeddings", str(tmp_path / "X.npy"), "--lfs", str(lfs), "--batch-size", "10",
        "--budget", "30", "--seeds", "2", "--out", str(tmp_path / "out"),
    ])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "out" / "loop.md").read_text()
    for method in ("loop", "margin", "random"):
        assert f"| {method} | 0 |" in md  # a row per round, from round 0
    assert "| loop | 3 | 30 |" in md  # 3 rounds of 10 answers spent
    assert (tmp_path / "out" / "loop.png").stat().st_size > 1000


def test_simulated_annotators_cost_overlap_answers_per_item() -> None:
    X, y = _blobs(100, seed=1)
    Xt, yt = _blobs(60, seed=2)
    schema = LabelSchema.from_labels("text-classification", ["a", "b"])
    sim = simulate_loop([f"t {i}" for i in range(100)], y, X, X_test=Xt, y_test=yt,
                        schema=schema, embedding_model="pre", methods=["loop"],
                        batch_size=10, budget=40, seeds=[0],
                        annotators=Annotators((0.85, 0.9), overlap=2))
    spent = [p.n_human for p in sim.points]
    assert spent == [0, 20, 40]  # 10 items per round, each answered twice
    assert sim.points[-1].export_accuracy > 0.8
    assert sim.full_f1 > 0.9
    with pytest.raises(ValidationError, match="overlap"):
        Annotators((0.9,), overlap=2).check()


def test_routed_loop_sends_hard_items_to_the_expert_and_costs_them() -> None:
    X, y = _blobs(120, seed=3)
    Xt, yt = _blobs(60, seed=4)
    schema = LabelSchema.from_labels("text-classification", ["a", "b"])
    people = Annotators((0.7,), expert_accuracy=1.0, hard_below=0.9)
    sim = simulate_loop([f"t {i}" for i in range(120)], y, X, X_test=Xt, y_test=yt,
                        schema=schema, embedding_model="pre", methods=["loop", "loop-routed"],
                        batch_size=10, budget=40, seeds=[0], annotators=people,
                        prices=(0.1, 2.0))
    plain = [p for p in sim.points if p.method == "loop"]
    routed = [p for p in sim.points if p.method == "loop-routed"]
    assert [p.n_human for p in plain] == [p.n_human for p in routed] == [0, 10, 20, 30, 40]
    assert all(p.n_expert == 0 for p in plain)
    assert 0 < routed[-1].n_expert <= routed[-1].n_human
    assert sim.cost(routed[-1]) == pytest.approx(
        0.1 * (routed[-1].n_human - routed[-1].n_expert) + 2.0 * routed[-1].n_expert)
    md = sim.to_markdown()
    assert "Routing by difficulty" in md and "| loop-routed |" in md
    # without an expert the routed method is left out
    sim = simulate_loop([f"t {i}" for i in range(120)], y, X, X_test=Xt, y_test=yt,
                        schema=schema, embedding_model="pre", methods=["loop", "loop-routed"],
                        batch_size=10, budget=10, seeds=[0], annotators=Annotators((0.7,)))
    assert {p.method for p in sim.points} == {"loop"}
    with pytest.raises(ValidationError, match="expert"):
        Annotators(expert_accuracy=1.5).check()
