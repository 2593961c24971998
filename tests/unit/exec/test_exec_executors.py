"""The executor interface: every executor maps chunks the same way, lazily and bounded."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from labelloop.errors import LabelloopError, ValidationError
from labelloop.exec import Executor, LocalExecutor, ProcessExecutor, make_executor, worker_cached


def _square_all(payload: list[int]) -> list[int]:
    return [x * x for x in payload]


def _pid_of_model(payload: int) -> tuple[int, int]:
    model = worker_cached("model-v1", lambda: {"pid": os.getpid(), "loaded": object()})
    return os.getpid(), id(model["loaded"])


def _die(payload: int) -> int:
    os._exit(3)


def _chunks(n: int) -> list[tuple[int, list[int]]]:
    return [(i, list(range(i * 5, i * 5 + 5))) for i in range(n)]


@pytest.mark.parametrize("spec", ["local", "processes"])
def test_every_chunk_comes_back_once_with_its_index(spec: str) -> None:
    with make_executor(spec, n_workers=2) as ex:
        assert isinstance(ex, Executor)
        out = list(ex.map_chunks(_square_all, _chunks(9)))
    assert sorted(i for i, _ in out) == list(range(9))
    assert dict(out) == {i: [x * x for x in p] for i, p in _chunks(9)}


@pytest.mark.parametrize("spec", ["local", "processes"])
def test_payloads_are_read_lazily_within_the_window(spec: str) -> None:
    pulled: list[int] = []

    def payloads() -> Iterator[tuple[int, list[int]]]:
        for i, p in _chunks(20):
            pulled.append(i)
            yield i, p

    with make_executor(spec, n_workers=2) as ex:
        results = ex.map_chunks(_square_all, payloads(), window=3)
        next(results)
        assert len(pulled) <= 3
        assert len(list(results)) == 19
    assert pulled == list(range(20))


def test_models_load_once_per_worker_process() -> None:
    with ProcessExecutor(2) as ex:
        seen = [r for _, r in ex.map_chunks(_pid_of_model, ((i, i) for i in range(12)))]
    per_pid: dict[int, set[int]] = {}
    for pid, model in seen:
        per_pid.setdefault(pid, set()).add(model)
    assert all(len(models) == 1 for models in per_pid.values())
    assert os.getpid() not in per_pid


def test_worker_cached_calls_the_factory_once() -> None:
    calls: list[int] = []

    def build() -> Any:
        calls.append(1)
        return object()

    a = worker_cached("unit-test-key", build)
    assert worker_cached("unit-test-key", build) is a and calls == [1]


def test_a_dead_worker_process_is_an_error_that_says_to_resume() -> None:
    with ProcessExecutor(1) as ex, pytest.raises(LabelloopError, match="run the job again"):
        list(ex.map_chunks(_die, [(0, 0)]))


def test_bad_specs_are_clear_errors() -> None:
    with pytest.raises(ValidationError, match="local, processes, dask"):
        make_executor("threads")
    with pytest.raises(ValidationError, match="n_workers must be >= 1"):
        ProcessExecutor(0)
    with pytest.raises(ValidationError, match="must be a name or an Executor"):
        make_executor(42)  # type: ignore[arg-type]
    ex = LocalExecutor()
    assert make_executor(ex) is ex


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    pytest.importorskip("distributed")
    from labelloop.exec.dask import DaskExecutor

    with pytest.raises(ValidationError, match=r"no Dask scheduler answers at tcp://127\.0\.0\.1:9"):
        DaskExecutor("tcp://127.0.0.1:9", timeout=1)
