"""Heavy steps on a real Dask cluster: same results as the local executor, nothing lost or
stored twice when a worker is killed mid-job, and an interrupted job resumes.

The cluster is a ``dask.distributed.LocalCluster`` of two worker processes with one thread
each (started once for the module, about 2 s).
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelloop import Project
from labelloop.services.weak import apply_to_project, load_lfs
from labelloop.storage import Store

pytest.importorskip("distributed")

from labelloop.exec.dask import DaskExecutor

pytestmark = pytest.mark.slow

N_ITEMS = 600
CHUNK = 50

LFS = """
import os
import time
from labelloop.weak import labeling_function

LOG = {log!r}

def _log(x):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{{x.n}} {{os.getpid()}}\\n".encode())
    os.close(fd)

@labeling_function()
def counted(x):
    _log(x)
    time.sleep({pause})
    return 1 if x.n % 3 == 0 else -1

@labeling_function()
def even(x):
    return 0 if x.n % 2 == 0 else -1

@labeling_function()
def flaky(x):
    if x.n % 7 == 0:
        raise ValueError(f"no sevens ({{x.n}})")
    return 1 if x.n % 5 == 0 else -1
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskExecutor]:
    ex = DaskExecutor(n_workers=2, processes=True)
    try:
        yield ex
    finally:
        ex.close()


def _model_of_this_worker(payload: int) -> tuple[int, int]:
    from labelloop.exec import worker_cached

    model = worker_cached("scale-test-model", lambda: {"loaded": object()})
    return os.getpid(), id(model["loaded"])


def test_models_load_once_per_dask_worker(cluster: DaskExecutor) -> None:
    seen = [r for _, r in cluster.map_chunks(_model_of_this_worker, ((i, i) for i in range(16)))]
    per_worker: dict[int, set[int]] = {}
    for pid, model in seen:
        per_worker.setdefault(pid, set()).add(model)
    assert os.getpid() not in per_worker
    assert all(len(models) == 1 for models in per_worker.values())


def _project(folder: Path, db_url: str, name: str) -> Project:
    p = Project.create(folder, task="text-classification", labels=["ham", "spam"], db=db_url,
                       name=name)
    p.import_dataframe(_frame())
    return p


def _frame() -> Any:
    pd = pytest.importorskip("pandas")
    return pd.DataFrame({"text": [f"item number {i}" for i in range(N_ITEMS)],
                         "n": list(range(N_ITEMS))})


def _lfs(tmp_path: Path, *, pause: float = 0.0, log: str = "calls.log") -> tuple[list[Any], Path]:
    path = tmp_path / log
    f = tmp_path / f"lfs_{log}.py"
    f.write_text(LFS.format(log=str(path), pause=pause), encoding="utf-8")
    return load_lfs(f), path


def _stored(p: Project) -> tuple[dict[tuple[int, str], int], Counter[tuple[int, str, str]]]:
    """Votes by (item n, LF name) and failures counted by (item n, LF name, error)."""
    n_of = {it.id: int(it.data["n"]) for it in p.items()}
    name_of = {s.id: s.name for s in p.sources(kinds=["labeling_function"])}
    votes = {(n_of[a.item_id], name_of[a.source_id]): int(a.label)  # type: ignore[arg-type]
             for a in p.annotations(kinds=["labeling_function"])}
    failures = Counter((n_of[f.item_id], name_of[f.source_id], f.error)  # type: ignore[index]
                       for f in p.failures(stage="labeling_function"))
    return votes, failures


def _calls(log: Path) -> Counter[int]:
    return Counter(int(line.split()[0]) for line in log.read_text().splitlines())


def test_lf_apply_on_dask_matches_local(
    tmp_path: Path, db_url: str, cluster: DaskExecutor
) -> None:
    lfs, _ = _lfs(tmp_path)
    with _project(tmp_path / "a", db_url, "local") as a, \
            _project(tmp_path / "b", db_url, "dask") as b:
        local = apply_to_project(a, lfs, chunk_size=CHUNK)
        dask = apply_to_project(b, lfs, executor=cluster, chunk_size=CHUNK)
        np.testing.assert_array_equal(local.L, dask.L)
        assert local.failures == dask.failures
        assert len(local.failures) == len(range(0, N_ITEMS, 7))
        assert _stored(a) == _stored(b)
        assert all(c == 1 for c in _stored(b)[1].values())


def test_killing_a_worker_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, db_url: str, cluster: DaskExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    lfs, log = _lfs(tmp_path, pause=0.004)
    writes: list[list[int]] = []
    real = Store.replace_votes

    def spy(self: Store, project_id: int, source_ids: Any, item_ids: Any, votes: Any) -> int:
        writes.append(list(item_ids))
        return real(self, project_id, source_ids, item_ids, votes)

    monkeypatch.setattr(Store, "replace_votes", spy)  # the chunk writes of lf apply
    cluster.client.wait_for_workers(2, timeout=60)  # the one an earlier test killed is back
    before = cluster.worker_pids()
    killed: list[int] = []

    def kill_one(done: int, total: int) -> None:
        if done == 1 and not killed:  # chunks are running on both workers now
            pid = sorted(before.values())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    with _project(tmp_path / "ref", db_url, "reference") as ref:
        expected = apply_to_project(ref, lfs, chunk_size=CHUNK)
        want = _stored(ref)
    log.unlink()
    writes.clear()
    with _project(tmp_path / "k", db_url, "killed") as p:
        res = apply_to_project(p, lfs, executor=cluster, chunk_size=CHUNK, progress=kill_one)
        got = _stored(p)
    assert killed, "no worker was killed"
    assert killed[0] not in cluster.worker_pids().values()
    np.testing.assert_array_equal(res.L, expected.L)
    assert res.failures == expected.failures
    assert got == want  # every vote, every failure recorded exactly once
    stored_items = Counter(i for w in writes for i in w)
    assert len(stored_items) == N_ITEMS and set(stored_items.values()) == {1}
    assert set(_calls(log)) == set(range(N_ITEMS))  # every item ran (some twice: the kill)


def test_an_interrupted_job_resumes_without_redoing_stored_chunks(
    tmp_path: Path, db_url: str, cluster: DaskExecutor
) -> None:
    lfs, log = _lfs(tmp_path)

    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with _project(tmp_path / "ref", db_url, "reference") as ref:
        expected = apply_to_project(ref, lfs, chunk_size=CHUNK)
        want = _stored(ref)
    log.unlink()
    with _project(tmp_path / "r", db_url, "resumed") as p:
        with pytest.raises(KeyboardInterrupt):
            apply_to_project(p, lfs, chunk_size=CHUNK, progress=stop_after_three)
        first = _calls(log)
        assert set(first) == set(range(3 * CHUNK))
        log.unlink()
        res = apply_to_project(p, lfs, executor=cluster, chunk_size=CHUNK)
        assert set(_calls(log)) == set(range(3 * CHUNK, N_ITEMS))  # stored chunks skipped
        np.testing.assert_array_equal(res.L, expected.L)  # skipped rows read back
        assert _stored(p) == want
        log.unlink()
        apply_to_project(p, lfs, chunk_size=CHUNK)  # a finished job starts afresh
        assert set(_calls(log)) == set(range(N_ITEMS))
        assert _stored(p)[0] == want[0]


def test_prelabel_on_dask_matches_local(
    tmp_path: Path, db_url: str, cluster: DaskExecutor
) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from labelloop.services.prelabel import prelabel_project

    pd = pytest.importorskip("pandas")
    texts = [f"buy cheap pills now, offer {i}" if i % 2 else f"hello friend, see you at {i}"
             for i in range(240)]
    got = []
    for name, executor in (("local", "local"), ("dask", cluster)):
        p = Project.create(tmp_path / name, task="text-classification",
                           labels=["ham", "spam"], db=db_url, name=name)
        with p:
            p.import_dataframe(pd.DataFrame({"text": texts}))
            chunks: list[int] = []
            rep = prelabel_project(p, model="minilm", executor=executor, chunk_size=50,
                                   on_chunk=lambda done, total, seen=chunks: seen.append(done))
            text_of = {it.id: it.data["text"] for it in p.items()}
            ids = [it.id for it in p.items()]
            drafts = sorted((text_of[a.item_id], a.label, a.confidence, a.needs_review)
                            for a in p.annotations(kinds=["model"]))
            _, vectors = p.cached_embeddings("minilm", ids)  # type: ignore[arg-type]
            got.append((rep.n_drafted, drafts, vectors, p.failures(stage="prelabel")))
        assert chunks == [1, 2, 3, 4, 5]
    (n_a, drafts_a, vec_a, fail_a), (n_b, drafts_b, vec_b, fail_b) = got
    assert n_a == n_b == len(texts)
    assert drafts_a == drafts_b
    np.testing.assert_array_equal(vec_a, vec_b)
    assert fail_a == fail_b


def test_al_scoring_on_dask_matches_local(
    tmp_path: Path, db_url: str, cluster: DaskExecutor
) -> None:
    pytest.importorskip("sklearn")
    from sqlalchemy import select

    from labelloop.core.records import AnnotationRecord
    from labelloop.services.active import refresh_priorities
    from labelloop.storage.models import ItemRow

    rng = np.random.default_rng(0)
    y = np.arange(N_ITEMS) % 2
    X = rng.normal(size=(N_ITEMS, 8)) + 2.0 * y[:, None]
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    priorities = []
    for name, executor in (("local", "local"), ("dask", cluster)):
        with _project(tmp_path / name, db_url, name) as p:
            ids = [int(it.id) for it in p.items()]  # type: ignore[arg-type]
            p.cache_embeddings("fake", ids, X)
            human = p.source("human", "alice")
            p.add_annotations([AnnotationRecord(item_id=ids[i], source_id=int(human.id),  # type: ignore[arg-type]
                                                label=int(y[i])) for i in range(20)])
            chunks: list[int] = []
            refresh_priorities(p, embedding_model="fake", batch_size=10, executor=executor,
                               chunk_size=100, on_chunk=lambda d, t, seen=chunks: seen.append(d))
            assert chunks == [1, 2, 3, 4, 5, 6]
            n_of = {it.id: int(it.data["n"]) for it in p.items()}
            with p.store.engine.connect() as c:  # type: ignore[attr-defined]
                rows = c.execute(select(ItemRow.id, ItemRow.priority)
                                 .where(ItemRow.project_id == p.id)).all()
            priorities.append(sorted((n_of[i], prio) for i, prio in rows))
    assert priorities[0] == priorities[1]


def test_a_scheduler_address_connects_to_the_running_cluster(
    tmp_path: Path, cluster: DaskExecutor
) -> None:
    lfs, log = _lfs(tmp_path)
    address = cluster.client.scheduler.address
    assert address.startswith("tcp://")
    db = f"sqlite:///{tmp_path / 'x.db'}"
    with _project(tmp_path / "a", db, "local") as a, _project(tmp_path / "b", db, "remote") as b:
        local = apply_to_project(a, lfs, chunk_size=CHUNK)
        log.unlink()
        remote = apply_to_project(b, lfs, executor=address, chunk_size=CHUNK)
        np.testing.assert_array_equal(local.L, remote.L)
        assert _stored(a) == _stored(b)
    pids = {int(line.split()[1]) for line in log.read_text().splitlines()}
    assert pids <= set(cluster.worker_pids().values())  # the cluster's workers did the work
    assert cluster.client.status == "running"  # the executor closed its own client only
