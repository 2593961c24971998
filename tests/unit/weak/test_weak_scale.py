"""Compact and sparse label matrices end to end: the store reads them, label models and LF
analysis take them, and the answers do not depend on the form or on the block size."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.core import AnnotationRecord, ItemRecord, LabelSchema
from labelloop.core.matrix import compact_dtype
from labelloop.errors import NotFoundError, ValidationError
from labelloop.labelmodels import make_label_model
from labelloop.storage import Failure, Store
from labelloop.weak import LFAnalysis, apply_lfs
from labelloop.weak import analysis as analysis_module

sparse = pytest.importorskip("scipy.sparse")


@pytest.fixture
def store(db_url: str) -> Store:
    s = Store(db_url)
    yield s
    s.close()


def _random_L(seed: int, n: int = 500, m: int = 6, k: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    L = rng.integers(0, k, size=(n, m))
    L[rng.random((n, m)) < 0.6] = -1
    return L


def test_compact_dtype() -> None:
    assert [compact_dtype(k) for k in (0, 2, 127, 128, 32767, 32768)] == [
        np.int8, np.int8, np.int8, np.int16, np.int16, np.int32]
    with pytest.raises(ValidationError):
        compact_dtype(-1)


@pytest.mark.parametrize("n_classes", [2, 200])
def test_store_reads_a_compact_matrix_and_its_sparse_twin(store: Store, n_classes: int) -> None:
    schema = LabelSchema.from_labels("text-classification", [f"c{i}" for i in range(n_classes)])
    p = store.create_project("p", schema)
    ids = store.import_records(
        p.id, [ItemRecord(data={"text": f"t{i}"}) for i in range(40)]).item_ids
    a = store.ensure_source(p.id, "labeling_function", "a")
    b = store.ensure_source(p.id, "human", "b")
    L = _random_L(1, 40, 2, n_classes)
    store.upsert_annotations(p.id, [
        AnnotationRecord(item_id=ids[i], source_id=s.id, label=int(L[i, j]))
        for i in range(40) for j, s in enumerate((a, b)) if L[i, j] != -1
    ])
    dense = store.label_matrix(p.id)
    assert dense.L.dtype == (np.int8 if n_classes == 2 else np.int16)
    np.testing.assert_array_equal(dense.L, L)
    sp = store.label_matrix(p.id, sparse=True)
    assert sparse.issparse(sp.L) and sp.L.nnz == int((L != -1).sum())
    np.testing.assert_array_equal(sp.L.toarray() - 1, L)
    assert sp.item_ids == dense.item_ids == ids and sp.source_ids == [a.id, b.id]
    some = store.label_matrix(p.id, item_ids=ids[::-3])  # any order, a subset
    np.testing.assert_array_equal(some.L, L[::-1][::3])
    empty = store.label_matrix(p.id, kinds=["gold"])
    assert empty.L.shape == (40, 0)


def test_jobs_record_chunks_once_with_their_failures(store: Store) -> None:
    schema = LabelSchema.from_labels("text-classification", ["a", "b"])
    p = store.create_project("p", schema)
    ids = store.import_records(
        p.id, [ItemRecord(data={"text": f"t{i}"}, split="test" if i % 2 else "train")
               for i in range(6)]).item_ids
    assert store.job_item_ids(p.id) == ids and store.job_item_ids(p.id, split="test") == ids[1::2]
    assert store.item_data(p.id, ids[1::2]) == [{"text": f"t{i}"} for i in range(1, 6, 2)]
    assert store.item_data(p.id, []) == []
    with pytest.raises(NotFoundError):
        store.item_data(p.id, [ids[-1] + 1])
    lf = store.ensure_source(p.id, "labeling_function", "lf")
    job, done = store.start_job(p.id, "lf_apply", "key", 3)
    assert done == set()
    fail = [Failure(ids[0], lf.id, "labeling_function", "error: boom")]
    assert store.finish_chunk(p.id, job, 0, 2, fail)
    assert not store.finish_chunk(p.id, job, 0, 2, fail)  # a chunk computed twice
    assert store.start_job(p.id, "lf_apply", "key", 3) == (job, {0})
    assert store.job_chunks(p.id, "key") == [0]
    assert len(store.failures(p.id)) == 1
    with pytest.raises(ValidationError, match="3 chunks, not 4"):
        store.start_job(p.id, "lf_apply", "key", 4)
    with pytest.raises(NotFoundError):
        store.finish_chunk(p.id + 1, job, 1, 2)
    store.finish_job(p.id, job)
    assert store.job_chunks(p.id, "key") == []
    assert store.start_job(p.id, "lf_apply", "key", 3)[1] == set()


@pytest.mark.parametrize("model", ["majority", "dawid-skene", "label-model", "auto"])
def test_label_models_answer_the_same_on_dense_compact_and_sparse(model: str) -> None:
    L = _random_L(2)
    answers = []
    for form in (L, L.astype(np.int8), sparse.csr_matrix((L + 1).astype(np.int8))):
        est = make_label_model(model, 3).fit(form)
        answers.append(est.predict_proba(form))
    np.testing.assert_allclose(answers[0], answers[1])
    np.testing.assert_allclose(answers[0], answers[2])


def test_lf_analysis_is_the_same_blocked_and_sparse(monkeypatch: pytest.MonkeyPatch) -> None:
    L = _random_L(3)
    y = np.random.default_rng(4).integers(-1, 3, size=len(L))
    whole = LFAnalysis(L).summary(y)
    monkeypatch.setattr(analysis_module, "BLOCK", 7)
    blocked = LFAnalysis(L).summary(y)
    from_sparse = LFAnalysis(sparse.csr_matrix((L + 1).astype(np.int8))).summary(y)
    assert whole.equals(blocked) and whole.equals(from_sparse)
    a = LFAnalysis(L)
    assert a.L.dtype == np.int8
    voted = L != -1
    np.testing.assert_allclose(a.lf_overlaps(), (voted & (voted.sum(1, keepdims=True) > 1)).mean(0))
    hi = np.where(voted, L, -1).max(1)
    lo = np.where(voted, L, 99).min(1)
    assert a.label_conflict() == pytest.approx(np.mean(voted.any(1) & (hi != lo)))
    silent = LFAnalysis(np.full((5, 2), -1)).summary()  # no LF ever votes
    assert silent["coverage"].tolist() == silent["conflicts"].tolist() == [0.0, 0.0]
    assert LFAnalysis(np.zeros((0, 2), dtype=int)).summary()["overlaps"].tolist() == [0.0, 0.0]
    with pytest.raises(ValidationError, match="label \\+ 1"):
        LFAnalysis(sparse.csr_matrix(np.array([[-2, 1]])))


def test_apply_returns_a_compact_matrix_when_k_is_known() -> None:
    texts = ["a", "bb", "ccc"]
    res = apply_lfs([lambda x: len(x.text) % 2], texts, k=2)
    assert res.L.dtype == np.int8 and res.L[:, 0].tolist() == [1, 0, 1]
    assert apply_lfs([lambda x: 1], texts).L.dtype == np.int64
