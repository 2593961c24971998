"""Light imports: ``import labelloop`` and ``labelloop.core`` load no database or model
libraries; optional packages come through ``require`` with the extra to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import labelloop
from labelloop._deps import require
from labelloop.errors import MissingDependencyError, TooManyRequestsError

HEAVY = ("sqlalchemy", "alembic", "psycopg", "fastapi", "httpx", "pandas", "sklearn", "scipy",
         "matplotlib", "torch", "transformers", "sentence_transformers", "onnxruntime", "cv2",
         "datasets")
SRC = str(Path(labelloop.__file__).resolve().parents[1])


def _loaded_after(code: str) -> dict[str, object]:
    probe = (f"{code}\nimport json, sys\n"
             "print(json.dumps({'heavy': sorted({m.split('.')[0] for m in sys.modules} & "
             f"set({HEAVY!r})), 'labelloop': sorted(m for m in sys.modules "
             "if m.startswith('labelloop.'))}))")
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("module", ["labelloop", "labelloop.core", "labelloop.errors"])
def test_import_loads_no_heavy_dependency(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    assert loaded["heavy"] == []
    assert not any(m.startswith(("labelloop.storage", "labelloop.services"))
                   for m in loaded["labelloop"])  # type: ignore[union-attr]


def test_public_names_resolve_on_first_use() -> None:
    loaded = _loaded_after(
        "import labelloop\n"
        "assert set(labelloop.__all__) <= set(dir(labelloop))\n"
        "for name in labelloop.__all__:\n"
        "    assert getattr(labelloop, name) is not None, name\n"
        "from labelloop import ABSTAIN, Project\n"
        "assert ABSTAIN == -1 and Project.__module__ == 'labelloop.services.project'\n"
        "try:\n"
        "    labelloop.NoSuchName\n"
        "except AttributeError as exc:\n"
        "    assert 'NoSuchName' in str(exc)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n")
    assert "labelloop.services.project" in loaded["labelloop"]  # type: ignore[operator]


def test_client_imports_first_without_a_cycle() -> None:
    loaded = _loaded_after("import labelloop.client\nfrom labelloop import Client\n"
                           "assert Client is labelloop.client.Client")
    assert loaded["heavy"] == []  # httpx only once a Client is made


def test_require_names_the_extra_and_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    assert require("ml", "json") is json
    with pytest.raises(MissingDependencyError) as err:
        require("hf", "labelloop_no_such_module.sub")
    assert str(err.value) == ("labelloop_no_such_module.sub needs the 'labelloop_no_such_module' "
                              "package: pip install 'labelloop[hf]'")
    assert isinstance(err.value, ImportError) and err.value.exit_code == 2
    monkeypatch.setitem(sys.modules, "sklearn.cluster", None)  # as if not installed
    with pytest.raises(MissingDependencyError,
                       match=r"diversity.*'scikit-learn' package: pip install 'labelloop\[ml\]'"):
        from labelloop.active.base import sklearn_cluster

        sklearn_cluster()


def test_call_sites_raise_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from labelloop.client import Client
    from labelloop.core import LabelSchema
    from labelloop.core.records import Snapshot
    from labelloop.io.hf_datasets import to_dataset

    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingDependencyError, match=r"API client .*labelloop\[server\]'$"):
        Client("http://127.0.0.1:9", token="ll_x")
    schema = LabelSchema.from_labels("text-classification", ["a", "b"])
    with pytest.raises(MissingDependencyError, match=r"'datasets' package: .*labelloop\[hf\]'"):
        to_dataset(Snapshot([], [], []), schema)


def test_rate_limit_error_lives_in_the_error_tree() -> None:
    from labelloop.server.security import TooManyRequestsError as from_security

    assert from_security is TooManyRequestsError
    assert TooManyRequestsError("wait").to_envelope()["error"]["code"] == "rate_limited"
    assert TooManyRequestsError.http_status == 429
