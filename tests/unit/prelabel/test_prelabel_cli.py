"""``labelloop prelabel`` / ``labelloop models`` and the pre-labeling service on small projects."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from labelloop.cli.app import app
from labelloop.core.records import AnnotationRecord
from labelloop.prelabel import TextEmbedder
from labelloop.services.prelabel import prelabel_project
from labelloop.services.project import Project

pytest.importorskip("onnx")
pytestmark = pytest.mark.slow  # loads MiniLM, tiny NLI/YOLO models and OpenCV detectors
runner = CliRunner()

SCHEMA = {
    "task": "text-classification",
    "classes": [
        {"name": "sports", "description": "Sports news: games, teams, players"},
        {"name": "business", "description": "Business news: companies, markets, stocks"},
    ],
}
TEXTS = [
    "The team won the cup final.", "The goalkeeper saved a penalty.",
    "The runner broke the world record.", "The coach was sacked after the defeat.",
    "Shares rose after strong earnings.", "The bank cut interest rates.",
    "The company announced a merger.", "Oil prices fell on weak demand.",
]


def run(*args: str) -> tuple[int, str]:
    """Exit code and output with rich's line wrapping undone."""
    res = runner.invoke(app, list(args))
    out = res.output + (res.stderr if res.stderr_bytes else "")
    return res.exit_code, " ".join(out.split())


def _write_csv(path: Path, column: str, values: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([column])
        w.writerows([v] for v in values)
    return path


@pytest.fixture
def text_project(tmp_path: Path) -> Path:
    folder = tmp_path / "news"
    Project.create(folder, schema=SCHEMA).close()
    code, out = run("import", str(_write_csv(tmp_path / "news.csv", "text", TEXTS)),
                    "-p", str(folder))
    assert code == 0, out
    return folder


def test_prelabel_stores_drafts_then_skips_them(text_project: Path) -> None:
    code, out = run("prelabel", "-p", str(text_project))
    assert code == 0, out
    assert "drafted 8 of 8 item(s), 0 already drafted, 0 failed" in out
    assert "every draft needs review" in out
    with Project.open(text_project) as p:
        [source] = p.sources(kinds=("model",))
        drafts = p.annotations(source_ids=[source.id])
        assert len(drafts) == 8 and all(a.needs_review for a in drafts)
        assert [a.label for a in sorted(drafts, key=lambda a: a.item_id)] == [0] * 4 + [1] * 4
        assert all(a.confidence is not None and a.probs is not None for a in drafts)
        found, vectors = p.cached_embeddings("minilm", [it.id for it in p.items()])
        assert len(found) == 8 and vectors.shape == (8, 384)
    code, out = run("prelabel", "-p", str(text_project), "--one-threshold")
    assert code == 0 and "drafted 0 of 8 item(s), 8 already drafted" in out


@pytest.mark.parametrize("per_class", [True, False])
def test_calibrated_drafts_are_auto_accepted(tmp_path: Path, per_class: bool) -> None:
    """Cached (synthetic) embeddings near each class prototype; gold labels on most items."""
    rng = np.random.default_rng(0)
    n = 600
    truth = rng.integers(0, 2, n)
    with Project.create(tmp_path / "big", schema=SCHEMA) as p:
        p.import_file(_write_csv(tmp_path / "big.csv", "text", [f"item {i}" for i in range(n)]))
        ids = [it.id for it in p.items()]
        protos = TextEmbedder("minilm").embed([c["description"] for c in SCHEMA["classes"]])
        X = protos[truth] + rng.normal(0, 0.02, (n, 384))
        X[:20] = protos[1 - truth[:20]] + rng.normal(0, 0.02, (20, 384))  # 20 misleading items
        p.cache_embeddings("minilm", ids, X / np.linalg.norm(X, axis=1, keepdims=True))
        gold = p.source("gold", "truth")
        p.add_annotations([AnnotationRecord(item_id=i, source_id=gold.id, label=int(t))
                           for i, t in zip(ids[:500], truth[:500], strict=True)])
        rep = prelabel_project(p, target_precision=0.9, per_class=per_class)
        assert rep.n_drafted == n and rep.n_human_checked == 500 and rep.coverage > 0.5
        assert rep.n_auto_accepted > 0
        source = next(s for s in p.sources(kinds=("model",)))
        by_item = dict(zip(ids, truth, strict=True))
        accepted = [a for a in p.annotations(source_ids=[source.id]) if not a.needs_review]
        precision = np.mean([a.label == by_item[a.item_id] for a in accepted])
        assert precision >= 0.9


def test_detection_project_records_bad_images(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image")
    pytest.importorskip("cv2")
    pil.new("RGB", (48, 48), "gray").save(tmp_path / "ok.png")
    pil.new("RGB", (48, 48), "gray").save(tmp_path / "bad.png")
    folder = tmp_path / "boxes"
    code, out = run("init", str(folder), "--task", "object-detection", "--labels", "face")
    assert code == 0, out
    csv_path = _write_csv(tmp_path / "images.csv", "image",
                          [str(tmp_path / "ok.png"), str(tmp_path / "bad.png")])
    code, out = run("import", str(csv_path), "-p", str(folder), "--image-column", "image")
    assert code == 0, out
    (tmp_path / "bad.png").write_bytes(b"not an image")  # spoilt after the import checked it
    code, out = run("prelabel", "-p", str(folder), "--model", "haar-face")
    assert code == 0, out
    assert "drafted 1 of 2 item(s), 0 already drafted, 1 failed" in out
    with Project.open(folder) as p:
        [failure] = p.failures(stage="prelabel")
        assert "cannot read image bad.png" in failure.error
        [draft] = p.annotations(kinds=("model",))
        assert draft.boxes == [] and draft.needs_review


def test_unknown_model_is_one_line_and_exit_2(text_project: Path) -> None:
    code, out = run("prelabel", "-p", str(text_project), "--model", "nobody/missing-model")
    assert code == 2
    assert "could not load model 'nobody/missing-model'" in out and "Traceback" not in out


def test_models_lists_builtins() -> None:
    code, out = run("models")
    assert code == 0
    for name in ("minilm", "faces", "haar-face", "text"):
        assert name in out


def test_nli_model_is_calibrated_on_human_labels(text_project: Path, tiny_nli: Path) -> None:
    with Project.open(text_project) as p:
        alice = p.source("human", "alice")
        items = p.items()
        p.add_annotations([AnnotationRecord(item_id=it.id, source_id=alice.id, label=i // 4)
                           for i, it in enumerate(items) if i % 2 == 0])
        rep = prelabel_project(p, model=str(tiny_nli))
    assert rep.n_drafted == 8 and rep.n_human_checked == 4
    assert rep.calibration is not None and sum(rep.calibration["n_checked"]) == 4
    assert rep.n_needs_review == 8  # four checked items are far too few to auto-accept


def test_detector_labels_map_to_schema_classes(tmp_path: Path, tiny_yolo: Path) -> None:
    pil = pytest.importorskip("PIL.Image")
    pil.new("RGB", (64, 32), "gray").save(tmp_path / "a.png")
    with Project.create(tmp_path / "cells", task="object-detection", labels=["Cell"]) as p:
        p.import_file(_write_csv(tmp_path / "img.csv", "image", [str(tmp_path / "a.png")]),
                      image_column="image")
        rep = prelabel_project(p, model=str(tiny_yolo))
        [draft] = p.annotations(kinds=("model",))
    assert rep.n_drafted == 1
    assert [b.label for b in draft.boxes or []] == ["Cell"]  # "cell" from the model


def test_detection_review_threshold_is_calibrated_on_boxed_images(
    tmp_path: Path, tiny_yolo: Path
) -> None:
    """Drafts flagged by the fixed threshold at first; once people box images, by the
    calibrated one, on earlier drafts too: right drafts are auto-accepted, wrong ones not."""
    pil = pytest.importorskip("PIL.Image")
    paths = []
    for i in range(40):
        pil.new("RGB", (64, 32), (100 + i, 100, 100)).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    csv_path = _write_csv(tmp_path / "img.csv", "image", paths)
    for case, moved in (("right", 0), ("wrong", 40)):
        with Project.create(tmp_path / case, task="object-detection", labels=["Cell"],
                            settings={"target_precision": 0.8}) as p:
            p.import_file(csv_path, image_column="image")
            first = prelabel_project(p, model=str(tiny_yolo))
            assert first.calibration is None and first.n_needs_review == 0  # 0.9 >= 0.8
            person = p.source("human", "alice")
            drafts = sorted(p.annotations(kinds=("model",)), key=lambda a: a.item_id)
            p.add_annotations([
                AnnotationRecord(item_id=a.item_id, source_id=person.id, boxes=[
                    b.model_copy(update={"x": b.x + moved, "score": None}) for b in a.boxes
                ])
                for a in drafts[:35]
            ])
            again = prelabel_project(p, model=str(tiny_yolo))
            flags = [a.needs_review for a in p.annotations(kinds=("model",))]
        assert again.n_drafted == 0 and again.n_human_checked == 35
        threshold = again.calibration["thresholds"][0]
        if case == "right":
            assert threshold is not None and threshold <= 0.9 and not any(flags)
        else:  # every checked draft was wrong: nothing may skip review
            assert threshold is None and all(flags)
