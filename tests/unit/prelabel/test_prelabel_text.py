"""ZeroShotTextClassifier: offline MiniLM similarity, fit with and without labels, NLI."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from labelloop.core.records import ItemRecord
from labelloop.core.schema import LabelSchema
from labelloop.errors import ModelLoadError, UserInputError, ValidationError
from labelloop.prelabel import TextEmbedder, ZeroShotTextClassifier, calibrate_thresholds

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytestmark = pytest.mark.slow  # loads MiniLM (ONNX and torch)

CLASSES = {
    "sports": "Sports news: games, matches, teams, players and tournaments",
    "business": "Business news: companies, markets, stocks, earnings and the economy",
}
SPORTS = [
    "The home team won the championship final in overtime.",
    "The striker scored twice as the club beat its rivals.",
    "The tennis star reached the semifinal at Wimbledon.",
    "The coach praised his players after the season opener.",
]
BUSINESS = [
    "Shares fell sharply after the company cut its profit forecast.",
    "The central bank raised interest rates to curb inflation.",
    "The retailer reported record quarterly earnings.",
    "Oil prices climbed as investors worried about supply.",
]
TEXTS = SPORTS + BUSINESS
TRUTH = np.array([0] * 4 + [1] * 4)


@pytest.fixture(scope="module")
def clf() -> ZeroShotTextClassifier:
    return ZeroShotTextClassifier(CLASSES)


@pytest.fixture(scope="module")
def embeddings(clf: ZeroShotTextClassifier) -> np.ndarray:
    return clf.embed(TEXTS)


def test_embed_returns_unit_vectors_matching_torch_twin(embeddings: np.ndarray) -> None:
    assert embeddings.shape == (8, 384) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    pytest.importorskip("sentence_transformers")
    fp32 = TextEmbedder("minilm-torch").embed(TEXTS[:2])
    assert (fp32 * embeddings[:2]).sum(axis=1).min() > 0.99


def test_zero_shot_drafts_the_obvious_class(clf: ZeroShotTextClassifier) -> None:
    result = clf.predict(TEXTS)
    assert [d.label for d in result.ok()] == TRUTH.tolist()
    for d in result.ok():
        assert d.probs is not None and abs(sum(d.probs) - 1) < 1e-9
        assert d.score == max(d.probs)
        assert d.model == "minilm" and d.version == clf.version


def test_everything_needs_review_until_calibrated(clf: ZeroShotTextClassifier) -> None:
    assert all(d.needs_review for d in clf.predict(TEXTS).ok())


def test_calibration_lets_confident_drafts_through(embeddings: np.ndarray) -> None:
    n = 400
    scores = np.linspace(0.5, 1.0, n)
    cal = calibrate_thresholds(scores, np.zeros(n, int), np.zeros(n, int), n_classes=2)
    clf = ZeroShotTextClassifier(CLASSES, calibration=cal)
    drafts = clf.predict(TEXTS, embeddings=embeddings).ok()
    for d in drafts:
        assert d.needs_review == (d.label == 1 or d.score < cal.thresholds[0])
    assert not all(d.needs_review for d in drafts if d.label == 0)


def test_cached_embeddings_give_the_same_drafts(
    clf: ZeroShotTextClassifier, embeddings: np.ndarray
) -> None:
    a = clf.predict(TEXTS).ok()
    b = clf.predict(TEXTS, embeddings=embeddings).ok()
    assert [d.label for d in a] == [d.label for d in b]
    np.testing.assert_allclose([d.score for d in a], [d.score for d in b], atol=1e-6)
    with pytest.raises(ValidationError, match="rows"):
        clf.predict(TEXTS, embeddings=embeddings[:3])


def test_item_without_text_is_a_recorded_error(clf: ZeroShotTextClassifier) -> None:
    items = [ItemRecord(id=7, data={"text": SPORTS[0]}), ItemRecord(id=8, data={"image": "a.png"})]
    result = clf.predict(items)
    assert result.drafts[0] is not None and result.drafts[0].item_id == 7
    assert result.drafts[1] is None
    assert [(e.index, e.item_id) for e in result.errors] == [(1, 8)]
    assert "no 'text' field" in result.errors[0].error


def test_human_labels_override_misleading_descriptions(embeddings: np.ndarray) -> None:
    swapped = {"sports": CLASSES["business"], "business": CLASSES["sports"]}
    clf = ZeroShotTextClassifier(swapped, neighbors=2, self_train_rounds=3)
    assert (clf.predict_proba(embeddings).argmax(1) != TRUTH).all()
    y = np.full(8, -1)
    y[[0, 1, 4, 5]] = TRUTH[[0, 1, 4, 5]]
    before = clf.version
    clf.fit(embeddings, y)
    assert (clf.predict_proba(embeddings).argmax(1) == TRUTH).all()
    assert clf.version != before


def test_fit_is_deterministic_and_versioned(embeddings: np.ndarray) -> None:
    a = ZeroShotTextClassifier(CLASSES, neighbors=3).fit(embeddings)
    b = ZeroShotTextClassifier(CLASSES, neighbors=3).fit(TEXTS)
    assert a.version == b.version
    np.testing.assert_allclose(a.predict_proba(embeddings), b.predict_proba(embeddings), atol=1e-5)


def test_fit_on_a_single_text_gives_finite_probabilities(embeddings: np.ndarray) -> None:
    clf = ZeroShotTextClassifier(CLASSES).fit(embeddings[:1])
    proba = clf.predict_proba(embeddings)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_fit_validates_labels(clf: ZeroShotTextClassifier, embeddings: np.ndarray) -> None:
    with pytest.raises(ValidationError, match="one label per text"):
        clf.fit(embeddings, [0, 1])
    with pytest.raises(ValidationError, match=r"-1 or 0\.\.1"):
        clf.fit(embeddings, [5] * 8)
    with pytest.raises(ValidationError, match="shape"):
        clf.predict_proba(np.zeros((2, 3), dtype=np.float32))


def test_classes_from_schema_names_or_mapping() -> None:
    schema = LabelSchema.parse({"task": "text-classification", "classes": CLASSES})
    assert [c.name for c in ZeroShotTextClassifier(schema).classes] == ["sports", "business"]
    with pytest.raises(ValidationError):
        ZeroShotTextClassifier(["only-one"])


def test_missing_model_fails_at_once_with_a_clear_message() -> None:
    start = time.monotonic()
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE") as err:
        ZeroShotTextClassifier(CLASSES, model="nobody/no-such-nli-model")
    assert "minilm" in str(err.value)
    assert time.monotonic() - start < 30  # a hub round trip would take over a minute


def test_hub_nli_model_by_local_path(tiny_nli: Path) -> None:
    clf = ZeroShotTextClassifier(["sports", "business"], model=str(tiny_nli))
    result = clf.predict(["the team won", "stocks fell", ItemRecord(data={"image": "x.png"})])
    assert result.n_ok == 2 and len(result.errors) == 1
    for d in result.ok():
        assert d.probs is not None and abs(sum(d.probs) - 1) < 1e-6
        assert d.label in (0, 1) and d.model == str(tiny_nli) and d.version.startswith("local-")
    with pytest.raises(UserInputError, match="no embeddings"):
        clf.embed(["x"])
