"""A labeling function's fault stays in its (LF, item) cell: the run goes on, every other
vote is kept, and the fault is recorded -- whatever the LF raises, returns or does to its
worker process."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from labelloop import Project
from labelloop.cli.common import LabelloopGroup
from labelloop.cli.weak import app as weak_app
from labelloop.errors import LabelloopError
from labelloop.weak import apply_lfs, labeling_function, model_lf

N = 300
posix_only = pytest.mark.skipif(os.name != "posix", reason="fork-based worker processes")


def rows(n: int = N) -> list[dict[str, object]]:
    return [{"text": f"item {i} " + ("long text here" if i % 3 else "x"), "n": i} for i in range(n)]


@labeling_function()
def healthy_a(x):
    return 1 if "long" in x.text else -1


@labeling_function()
def healthy_b(x):
    return 0 if x.n % 2 else -1


def faulty(name: str, on: int, act) -> object:
    def f(x):
        if x.n == on:
            act()
        return 0

    return labeling_function(name=name)(f)


def _exit_process() -> None:
    os._exit(1)


def _segfault() -> None:
    import ctypes
    import faulthandler

    faulthandler.disable()  # pytest's dump of the dying worker would only be noise
    ctypes.string_at(0)


def _hang_deaf_to_alarms() -> None:
    """Like a C extension that never returns to the interpreter: SIGALRM cannot end it."""
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(60)


def _system_exit() -> None:
    raise SystemExit(3)


def _generator_exit() -> None:
    raise GeneratorExit


def _keyboard_interrupt() -> None:
    raise KeyboardInterrupt  # raised by the LF, not a Ctrl-C from the user


def healthy_columns(L: np.ndarray) -> np.ndarray:
    return L[:, [0, 2]]


# -- apply_lfs ------------------------------------------------------------------------------


@pytest.mark.parametrize("act", [_system_exit, _generator_exit, _keyboard_interrupt])
@pytest.mark.parametrize("executor", ["local", pytest.param("processes", marks=posix_only)])
def test_base_exceptions_are_one_failure(act, executor: str) -> None:
    lfs = [healthy_a, faulty("bad", 7, act), healthy_b]
    reference = apply_lfs([healthy_a, healthy_b], rows()).L
    res = apply_lfs(lfs, rows(), executor=executor, n_jobs=2)  # type: ignore[arg-type]
    assert [(f.item, f.lf, f.kind) for f in res.failures] == [(7, "bad", "error")]
    np.testing.assert_array_equal(healthy_columns(res.L), reference)
    assert res.L[7, 1] == -1 and (np.delete(res.L[:, 1], 7) == 0).all()


@posix_only
def test_a_real_ctrl_c_still_stops_a_local_run() -> None:
    import signal

    # a process started with SIGINT ignored (a background job of a script) gets no Ctrl-C
    # at all: give this one Python's own handler, as an interactive run has
    found = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        res = apply_lfs([faulty("interrupted", 5, _keyboard_interrupt)], rows(10))
        assert [f.kind for f in res.failures] == ["error"]  # the LF's own KeyboardInterrupt
        ctrl_c = faulty("ctrl_c", 5, lambda: os.kill(os.getpid(), signal.SIGINT))
        with pytest.raises(KeyboardInterrupt):
            apply_lfs([healthy_a, ctrl_c], rows(10))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, found)


def test_not_fault_tolerant_turns_a_base_exception_into_an_error() -> None:
    with pytest.raises(LabelloopError, match="'bad' raised SystemExit: 3 on item 7"):
        apply_lfs([faulty("bad", 7, _system_exit)], rows(), fault_tolerant=False)


def test_batch_lf_votes_outside_k_are_failures_per_item() -> None:
    model = model_lf(lambda texts: np.eye(3)[[len(t) % 3 for t in texts]], name="m")
    res = apply_lfs([model, healthy_a], rows(30), k=2)
    bad = [i for i, r in enumerate(rows(30)) if len(str(r["text"])) % 3 == 2]
    assert bad
    assert [(f.item, f.lf, f.kind) for f in res.failures] == [(i, "m", "invalid") for i in bad]
    assert (res.L[bad, 0] == -1).all() and set(np.delete(res.L[:, 0], bad).tolist()) <= {0, 1}


def test_class_index_outside_k_is_one_failure_per_item() -> None:
    @labeling_function()
    def votes_five_on_evens(x):
        return 5 if x.n % 2 == 0 else np.int64(1)

    res = apply_lfs([healthy_a, votes_five_on_evens], rows(), k=2)
    assert [f.item for f in res.failures] == list(range(0, N, 2))
    assert {(f.lf, f.kind) for f in res.failures} == {("votes_five_on_evens", "invalid")}
    assert "0..1" in res.failures[0].error
    assert res.L[0::2, 1].tolist() == [-1] * (N // 2) and res.L[1::2, 1].tolist() == [1] * (N // 2)
    np.testing.assert_array_equal(res.L[:, 0], apply_lfs([healthy_a], rows()).L[:, 0])
    huge = apply_lfs([labeling_function(name="huge")(lambda x: 2**70)], rows(3))
    assert [f.kind for f in huge.failures] == ["invalid"] * 3


@posix_only
@pytest.mark.parametrize("act", [_exit_process, _segfault])
def test_dead_worker_costs_one_cell(act) -> None:
    lfs = [healthy_a, faulty("killer", 123, act), healthy_b]
    local = apply_lfs([healthy_a, faulty("killer", -1, act), healthy_b], rows())
    res = apply_lfs(lfs, rows(), executor="processes", n_jobs=2)
    assert [(f.item, f.lf, f.kind) for f in res.failures] == [(123, "killer", "crashed")]
    assert "worker process" in res.failures[0].error
    expected = local.L.copy()
    expected[123, 1] = -1
    np.testing.assert_array_equal(res.L, expected)


@posix_only
def test_every_dying_item_is_confined() -> None:
    @labeling_function()
    def kills_on_tens(x):
        if x.n % 10 == 0:
            os._exit(1)
        return 1

    res = apply_lfs([healthy_a, kills_on_tens, healthy_b], rows(), executor="processes", n_jobs=2)
    assert [(f.item, f.kind) for f in res.failures] == [(i, "crashed") for i in range(0, N, 10)]
    reference = apply_lfs([healthy_a, healthy_b], rows()).L
    np.testing.assert_array_equal(healthy_columns(res.L), reference)
    assert (res.L[1::10, 1] == 1).all()


@pytest.mark.parametrize("executor", ["local", pytest.param("processes", marks=posix_only)])
def test_timeouts_are_confined(executor: str) -> None:
    lfs = [healthy_a, faulty("sleeper", 11, lambda: time.sleep(30)), healthy_b]
    res = apply_lfs(lfs, rows(60), executor=executor, n_jobs=2, timeout=0.5)  # type: ignore[arg-type]
    assert [(f.item, f.lf, f.kind) for f in res.failures] == [(11, "sleeper", "timeout")]
    reference = apply_lfs([healthy_a, healthy_b], rows(60)).L
    np.testing.assert_array_equal(healthy_columns(res.L), reference)


@posix_only
def test_hang_inside_c_code_is_stopped_by_the_parent() -> None:
    lfs = [healthy_a, faulty("c_sleeper", 11, _hang_deaf_to_alarms), healthy_b]
    t = time.monotonic()
    res = apply_lfs(lfs, rows(60), executor="processes", n_jobs=2, timeout=0.5)
    assert time.monotonic() - t < 20
    assert [(f.item, f.lf, f.kind) for f in res.failures] == [(11, "c_sleeper", "timeout")]
    reference = apply_lfs([healthy_a, healthy_b], rows(60)).L
    np.testing.assert_array_equal(healthy_columns(res.L), reference)
    assert (np.delete(res.L[:, 1], 11) == 0).all()


@posix_only
def test_lf_hanging_on_every_item_is_disabled_per_chunk_after_max_timeouts() -> None:
    deaf = labeling_function(name="deaf")(lambda x: _hang_deaf_to_alarms())
    res = apply_lfs(
        [healthy_a, deaf, healthy_b],
        rows(60),
        executor="processes",
        n_jobs=2,
        chunk_size=30,
        timeout=0.3,
        max_timeouts=2,
    )
    per_chunk = [(0, "timeout"), (1, "timeout"), (2, "disabled")]
    assert [(f.item, f.kind) for f in res.failures] == [
        (start + i, kind) for start in (0, 30) for i, kind in per_chunk
    ]
    assert (res.L[:, 1] == -1).all()
    reference = apply_lfs([healthy_a, healthy_b], rows(60)).L
    np.testing.assert_array_equal(healthy_columns(res.L), reference)


@posix_only
def test_a_dead_worker_does_not_revive_an_lf_disabled_before() -> None:
    sleeper = labeling_function(name="sleeper")(lambda x: time.sleep(30))
    lfs = [healthy_a, sleeper, faulty("killer", 5, _exit_process), healthy_b]
    res = apply_lfs(
        lfs, rows(30), executor="processes", n_jobs=1, chunk_size=30, timeout=0.2, max_timeouts=2
    )
    assert [(f.item, f.lf, f.kind) for f in res.failures] == [
        (0, "sleeper", "timeout"),
        (1, "sleeper", "timeout"),
        (2, "sleeper", "disabled"),
        (5, "killer", "crashed"),
    ]
    assert (res.L[:, 1] == -1).all() and (np.delete(res.L[:, 2], 5) == 0).all()


# -- labelloop lf apply ---------------------------------------------------------------------

LFS_FILE = """
import os
from labelloop.weak import labeling_function

@labeling_function()
def healthy_a(x):
    return 1 if "long" in x.text else -1

@labeling_function()
def bad(x):
    if x.text.startswith("item 7 "):
        {act}
    return {vote}

@labeling_function()
def healthy_b(x):
    return 0 if len(x.text) % 2 else -1
"""

runner = CliRunner()


def cli() -> typer.Typer:
    root = typer.Typer(cls=LabelloopGroup)
    root.add_typer(weak_app)

    @root.callback()
    def _root() -> None:
        """Test root."""

    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "p"
    p = Project.create(folder, task="text-classification", labels=["ham", "spam"])
    csv = tmp_path / "items.csv"
    csv.write_text("text\n" + "".join(f"{r['text']}\n" for r in rows()), encoding="utf-8")
    p.import_file(csv)
    p.close()
    return folder


def apply_cli(project: Path, act: str, vote: str = "0", *extra: str) -> tuple[int, str]:
    lfs = project.parent / "lfs.py"
    lfs.write_text(LFS_FILE.format(act=act, vote=vote), encoding="utf-8")
    res = runner.invoke(cli(), ["lf", "apply", str(lfs), "-p", str(project), *extra])
    return res.exit_code, res.output


def stored(project: Path) -> tuple[dict[str, dict[str, int]], list[tuple[str, str, str]]]:
    """Stored votes per LF name ({item text: label}) and failures (LF, item text, error)."""
    with Project.open(project) as p:
        texts = {it.id: it.data["text"] for it in p.items()}
        names = {s.id: s.name for s in p.sources(kinds=["labeling_function"])}
        lm = p.label_matrix(kinds=["labeling_function"])
        votes = {
            names[s]: {texts[i]: int(v) for i, v in zip(lm.item_ids, col, strict=True) if v != -1}
            for s, col in zip(lm.source_ids, lm.L.T, strict=True)
        }
        fails = [(names[f.source_id], texts[f.item_id], f.error) for f in p.failures()]
    return votes, fails


@pytest.mark.parametrize(
    ("act", "extra"),
    [
        ("raise SystemExit(3)", ()),
        pytest.param("raise SystemExit(3)", ("--processes", "2"), marks=posix_only),
        # os._exit ends any process it runs in: only a worker process can be survived
        pytest.param("os._exit(1)", ("--processes", "2"), marks=posix_only),
    ],
    ids=["SystemExit", "SystemExit-processes", "os._exit-processes"],
)
def test_cli_stores_every_other_vote_and_the_failure(
    project: Path, act: str, extra: tuple[str, ...]
) -> None:
    code, out = apply_cli(project, act, "0", *extra)
    assert code == 0, out
    assert f"applied 3 labeling function(s) to {N} item(s)" in out and "1 failure(s)" in out
    votes, fails = stored(project)
    assert len(fails) == 1 and fails[0][:2] == ("bad", "item 7 long text here")
    assert len(votes["bad"]) == N - 1 and "item 7 long text here" not in votes["bad"]
    texts = [str(r["text"]) for r in rows()]
    assert votes["healthy_a"] == {t: 1 for t in texts if "long" in t}
    assert votes["healthy_b"] == {t: 0 for t in texts if len(t) % 2}


def test_cli_class_index_outside_k_is_recorded_per_item(project: Path) -> None:
    code, out = apply_cli(project, "return 7", "1")
    assert code == 0, out
    assert "1 failure(s)" in out and "bad: 1 invalid" in out
    votes, fails = stored(project)
    assert [(f[0], f[1]) for f in fails] == [("bad", "item 7 long text here")]
    assert "invalid" in fails[0][2] and "0..1" in fails[0][2]
    assert len(votes["bad"]) == N - 1 and set(votes["bad"].values()) == {1}
    assert len(votes["healthy_a"]) == 200
