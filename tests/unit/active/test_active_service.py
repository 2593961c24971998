"""Queue priorities from the Project API, and the ``simulate``/``prioritize`` commands."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select as sql_select
from typer.testing import CliRunner

from labelloop.cli.app import app
from labelloop.core.records import AnnotationRecord
from labelloop.services.active import needs_refresh, refresh_priorities, training_labels
from labelloop.services.project import Project
from labelloop.storage.models import ItemRow

N = 40


def _blobs(n: int = N) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 8)) + 3.0 * y[:, None]
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), y


@pytest.fixture
def project(tmp_path: Path) -> Project:
    data = tmp_path / "items.csv"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text"])
        w.writerows([[f"item number {i}"] for i in range(N)])
    p = Project.create(
        tmp_path / "proj",
        task="text-classification",
        labels=["a", "b"],
        settings={"requeue_every": 4},
    )
    p.import_file(data, label_column="")
    X, _ = _blobs()
    p.cache_embeddings("fake", [it.id for it in p.items()], X)
    yield p
    p.close()


def _label(p: Project, kind: str, name: str, pairs, confidence=None) -> None:
    src = p.source(kind, name)
    p.add_annotations(
        [
            AnnotationRecord(item_id=i, source_id=src.id, label=lab, confidence=confidence)
            for i, lab in pairs
        ]
    )


def _priorities(p: Project) -> dict[int, float | None]:
    with p.store.engine.connect() as c:
        return dict(c.execute(sql_select(ItemRow.id, ItemRow.priority)).all())


def test_priorities_rank_the_strategy_batch_first(project: Project) -> None:
    ids = [it.id for it in project.items()]
    _, y = _blobs()
    _label(project, "human", "alice", [(ids[i], int(y[i])) for i in range(6)])
    rep = refresh_priorities(project, embedding_model="fake", batch_size=5)
    assert rep.model_fitted and rep.n_human_labeled == 6 and rep.n_scored == N - 6
    prio = _priorities(project)
    assert all(prio[i] is None for i in ids[:6])
    scored = sorted((v for v in prio.values() if v is not None), reverse=True)
    assert all(1 < v <= 2 for v in scored[:5]) and len(set(scored[:5])) == 5
    assert all(0 <= v <= 1 for v in scored[5:])


def test_no_labels_yet_means_cold_start(project: Project) -> None:
    rep = refresh_priorities(project, embedding_model="fake", batch_size=3)
    assert not rep.model_fitted and rep.n_scored == N
    values = list(_priorities(project).values())
    assert sum(v > 1 for v in values) == 3 and sum(v == 0 for v in values) == N - 3


def test_label_model_posteriors_feed_the_model(project: Project) -> None:
    ids = [it.id for it in project.items()]
    _, y = _blobs()
    _label(project, "human", "alice", [(ids[0], 1)])
    _label(project, "label_model", "lm", [(ids[i], int(y[i])) for i in range(10)], 0.8)
    human, weak = training_labels(project, weak_weight=0.5)
    assert human == {ids[0]: 1} and len(weak) == 9
    assert weak[ids[1]] == (int(y[1]), pytest.approx(0.4))
    rep = refresh_priorities(project, embedding_model="fake", batch_size=2)
    assert rep.model_fitted and rep.n_weak_labeled == 9


def test_needs_refresh_after_requeue_every_labels(project: Project) -> None:
    ids = [it.id for it in project.items()]
    rep = refresh_priorities(project, embedding_model="fake", batch_size=2)
    assert not needs_refresh(project, labels_at_last_refresh=rep.n_human_labels)
    _label(project, "human", "bob", [(i, 0) for i in ids[:4]])
    assert needs_refresh(project, labels_at_last_refresh=rep.n_human_labels)


def test_prioritize_command(project: Project) -> None:
    res = CliRunner().invoke(
        app,
        ["prioritize", "-p", str(project.folder), "--embedding-model", "fake", "--batch-size", "3"],
    )
    assert res.exit_code == 0, res.output
    assert f"scored {N} of {N} item(s) with hybrid" in res.output


@pytest.fixture
def sim_data(tmp_path: Path) -> tuple[Path, Path]:
    X, y = _blobs(120)
    data = tmp_path / "gold.csv"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "topic"])
        w.writerows([[f"t{i}", "ab"[c]] for i, c in enumerate(y)])
    np.save(tmp_path / "emb.npy", X)
    return data, tmp_path / "emb.npy"


def test_simulate_command_writes_table_and_plot(sim_data, tmp_path: Path) -> None:
    data, emb = sim_data
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "simulate",
            "--data",
            str(data),
            "--gold-column",
            "topic",
            "--embeddings",
            str(emb),
            "--strategy",
            "random",
            "--strategy",
            "margin",
            "--batch-size",
            "10",
            "--budget",
            "30",
            "--seeds",
            "2",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "96 pool / 24 test rows, 2 classes" in res.output
    table = (out / "learning_curve.md").read_text()
    assert "| random |" in table and "| margin |" in table
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gold-column", "label"], "no gold column 'label'; the columns are text, topic"),
        (["--gold-column", "topic", "--strategy", "badge"], "unknown strategy 'badge'"),
        (["--gold-column", "topic", "--test-size", "1.5"], "--test-size must be between 0 and 1"),
    ],
)
def test_simulate_command_bad_input_is_one_line_and_exit_2(sim_data, args, message) -> None:
    data, emb = sim_data
    res = CliRunner().invoke(
        app, ["simulate", "--data", str(data), "--embeddings", str(emb), *args]
    )
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_max_weak_caps_the_label_model_rows_that_train(project: Project) -> None:
    """Only human labels here: the one label-model label is the only class-1 evidence, so
    with max_weak=0 the classifier cannot be fitted, and with the default it can."""
    ids = [it.id for it in project.items()]
    _label(project, "human", "alice", [(ids[0], 0), (ids[2], 0)])
    _label(project, "label_model", "lm", [(ids[1], 1)], 0.9)
    assert not refresh_priorities(project, embedding_model="fake", batch_size=2,
                                  max_weak=0).model_fitted
    assert refresh_priorities(project, embedding_model="fake", batch_size=2).model_fitted
    with pytest.raises(Exception, match="max_weak"):
        refresh_priorities(project, embedding_model="fake", max_weak=-1)
