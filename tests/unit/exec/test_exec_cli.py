"""``--executor`` on the heavy commands: the same stored result everywhere, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from labelloop import Project
from labelloop.cli.app import app

runner = CliRunner()

LFS = """
from labelloop.weak import labeling_function

@labeling_function()
def has_link(x):
    return 1 if "http" in x.text else -1

@labeling_function()
def picky(x):
    if "7" in x.text:
        raise ValueError("no sevens")
    return 0 if len(x.text) < 20 else -1
"""


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, " ".join((res.output + (res.stderr if res.stderr_bytes else "")).split())


def _project(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    with Project.create(folder, task="text-classification", labels=["ham", "spam"]) as p:
        import pandas as pd

        p.import_dataframe(pd.DataFrame({"text": [
            f"see http://x.example/{i}" if i % 3 == 0 else f"short {i}" for i in range(90)]}))
    return folder


def _votes(folder: Path) -> tuple[np.ndarray, list[str]]:
    with Project.open(folder) as p:
        lm = p.label_matrix(kinds=["labeling_function"])
        return lm.L, sorted(f.error for f in p.failures(stage="labeling_function"))


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_lf_apply_stores_the_same_votes_on_every_executor(tmp_path: Path, executor: str) -> None:
    if executor == "dask":
        pytest.importorskip("distributed")
    lfs = tmp_path / "lfs.py"
    lfs.write_text(LFS, encoding="utf-8")
    local, other = _project(tmp_path, "local"), _project(tmp_path, executor)
    assert run("lf", "apply", str(lfs), "-p", str(local), "--chunk-size", "20")[0] == 0
    code, out = run("lf", "apply", str(lfs), "-p", str(other), "--chunk-size", "20",
                    "--executor", executor, "--workers", "2")
    assert code == 0, out
    assert "to 90 item(s)" in out and "18 failure(s)" in out
    L_local, f_local = _votes(local)
    L_other, f_other = _votes(other)
    np.testing.assert_array_equal(L_local, L_other)
    assert f_local == f_other and len(f_local) == 18


def test_a_bad_executor_is_one_line_and_exit_2(tmp_path: Path) -> None:
    lfs = tmp_path / "lfs.py"
    lfs.write_text(LFS, encoding="utf-8")
    folder = _project(tmp_path, "p")
    code, out = run("lf", "apply", str(lfs), "-p", str(folder), "--executor", "threads")
    assert code == 2 and "executor must be one of local, processes, dask" in out
    assert "Traceback" not in out
    code, out = run("prioritize", "-p", str(folder), "--executor", "threads")
    assert code == 2 and "executor must be one of" in out
    code, out = run("lf", "apply", str(lfs), "-p", str(folder), "--executor", "dask",
                    "--timeout", "1")
    assert code == 2 and "timeout needs executor 'local' or 'processes'" in out


def test_a_timeout_with_dask_is_refused_before_a_cluster_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labelloop.exec import dask as dask_exec

    started: list[object] = []
    monkeypatch.setattr(dask_exec.DaskExecutor, "__init__",
                        lambda self, *a, **k: started.append(self))
    monkeypatch.setattr(dask_exec.DaskExecutor, "close", lambda self: None)
    lfs = tmp_path / "lfs.py"
    lfs.write_text(LFS, encoding="utf-8")
    folder = _project(tmp_path, "p")
    code, out = run("lf", "apply", str(lfs), "-p", str(folder), "--executor", "dask",
                    "--timeout", "1")
    # before: a LocalCluster was started, then the error left it running
    assert code == 2 and "timeout needs executor" in out and started == []
