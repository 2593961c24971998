"""schemathesis against the OpenAPI document of the in-process app, as every role.

Each caller (anonymous, annotator, reviewer, admin) fuzzes every operation on its own copy
of the world of ``access_world.py``. Path ids are folded into a small range so that most
requests reach real projects, items and users; ids that overflow 64 bits have their own
test below. Bounded: a few examples per operation and generation mode, so the file runs in
about a minute on 2 cores; ``LABELLOOP_FUZZ_EXAMPLES=200`` makes the heavy run.

Checks: no 5xx and responses that conform to their documented schema and content type
(strict); every status code documented in OpenAPI; 64-bit-overflowing ids answer 404.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from access_world import Base, build_base, clone
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CALLERS = ("anonymous", "annotator", "reviewer", "admin")
EXAMPLES = int(os.environ.get("LABELLOOP_FUZZ_EXAMPLES", "6"))  # per operation and mode
# ids 0..n-1: real and unknown
ID_RANGE = {"project_id": 4, "item_id": 16, "user_id": 7, "token_id": 4}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    return build_base(tmp_path_factory.mktemp("fuzz"))


@dataclass
class World:
    """One caller's copy of the world: app, store, and the API tokens that work in it."""

    app: Any
    store: Any
    base: Base
    tokens: dict[str, str]

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[caller]}"}

    def keep(self, caller: str) -> None:
        """Undo what a fuzzed call did to the caller's own account (deactivated, revoked)."""
        users = self.app.state.ctx.users
        uid = self.base.ids[caller]
        if not users.get(uid).active:
            users.set_active(uid, True)
        with TestClient(self.app) as client:
            if client.get("/api/v1/me", headers=self.headers(caller)).status_code == 401:
                self.tokens[caller] = users.create_token(uid, "fuzz")


@pytest.fixture
def world(base: Base, tmp_path: Path) -> Iterator[World]:
    app, store = clone(base, tmp_path)
    yield World(app, store, base, dict(base.tokens))
    store.close()


def _fold_ids(context: Any, path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    if not path_parameters:
        return path_parameters
    return {k: v % ID_RANGE[k] if k in ID_RANGE and isinstance(v, int) else v
            for k, v in path_parameters.items()}


def _homogeneous_tuples(node: Any) -> Any:
    """The document with ``prefixItems`` of one type as plain arrays of fixed length.

    schemathesis 4.32 turns ``prefixItems`` (JSON Schema 2020-12, what FastAPI emits for
    ``tuple[float, float]``) into draft-4 array ``items`` and then rejects its own result as
    an invalid response schema; the rewritten form validates the same responses.
    """
    if isinstance(node, list):
        return [_homogeneous_tuples(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _homogeneous_tuples(v) for k, v in node.items()}
    prefix = out.get("prefixItems")
    if prefix and all(p == prefix[0] for p in prefix) and "items" not in out:
        del out["prefixItems"]
        out["items"] = prefix[0]
    return out


def fuzz(world: World, caller: str, checks: list[Any]) -> list[str]:
    """Run every operation's generated cases (valid and invalid inputs) as the caller;
    return one line per operation whose checks failed."""
    loaded = schemathesis.openapi.from_dict(_homogeneous_tuples(world.app.openapi()))
    loaded.app = world.app
    loaded.hook("map_path_parameters")(_fold_ids)
    failures = []
    for result in loaded.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ
            @given(case=operation.as_strategy(mode))
            def run(case: Any) -> None:
                response = case.call(headers=world.headers(caller))
                if caller != "anonymous" and case.method in ("PATCH", "PUT", "DELETE"):
                    world.keep(caller)
                case.validate_response(response, checks=checks)

            try:
                run()
            except Unsatisfiable:
                continue  # no invalid input exists for an operation without parameters
            except Exception as exc:
                first = str(exc).strip().splitlines()[:12]
                failures.append(f"{operation.label} ({mode.value}): " + " | ".join(first))
    return failures


@pytest.mark.parametrize("caller", CALLERS)
def test_no_server_error_and_documented_bodies(caller: str, world: World) -> None:
    failures = fuzz(world, caller, [not_a_server_error, response_schema_conformance,
                                    content_type_conformance])
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("caller", CALLERS)
def test_every_status_code_is_documented(caller: str, world: World) -> None:
    failures = fuzz(world, caller, [status_code_conformance])
    assert failures == [], "\n".join(failures)


def _path_id_operations(app: Any) -> list[tuple[str, str]]:
    spec = app.openapi()["paths"]
    return [(m.upper(), p) for p, ops in spec.items() for m in ops if "{" in p]


def test_overflowing_path_ids_are_client_errors(world: World) -> None:
    app = world.app
    huge = 2**63
    failures = []
    with TestClient(app) as client:
        for method, template in _path_id_operations(app):
            path = template.format(project_id=huge, item_id=huge, user_id=huge, token_id=huge)
            r = client.request(method, path, headers=world.headers("admin"), json={})
            if r.status_code >= 500:
                failures.append(f"{method} {template}: {r.status_code}")
    assert failures == []
