"""No 500 for hostile input: huge ids, deep nesting, big uploads; the CLI prints one line."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sec_world import bearer, make_client
from server_world import World
from typer.testing import CliRunner

from labelloop.cli.app import app as cli
from labelloop.services.project import Project

DEEP = "[" * 100_000 + "]" * 100_000
HUGE = 2**64 + 5


def test_overflowing_ids_are_not_server_errors(client: TestClient, world: World) -> None:
    h = bearer(world, "admin")
    for url in (f"/api/v1/projects/{HUGE}", f"/api/v1/projects/{world.a.id}/items/{HUGE}",
                f"/api/v1/projects/{world.a.id}/items/{HUGE}/task", f"/api/v1/users/{HUGE}",
                f"/api/v1/projects/{2**31}", f"/api/v1/projects/{world.a.id}/undo?before={HUGE}"):
        r = client.get(url, headers=h) if "users" not in url else client.patch(
            url, headers=h, json={"active": True})
        assert r.status_code in (404, 422), (url, r.status_code, r.text)
        assert set(r.json()["error"]) == {"code", "message", "details"}


def test_deeply_nested_json_is_a_clear_4xx(client: TestClient, world: World) -> None:
    h = bearer(world, "admin")
    r = client.post(f"/api/v1/projects/{world.a.id}/import", headers=h,
                    files={"file": ("deep.jsonl", (DEEP + "\n").encode())})
    assert 400 <= r.status_code < 500 and "nested too deeply" in r.json()["error"]["message"]
    r = client.put(f"/api/v1/projects/{world.a.id}/items/{world.a_items[0]}/annotation",
                   headers={**h, "content-type": "application/json"}, content=DEEP)
    assert 400 <= r.status_code < 500


def test_cli_import_of_a_deep_file_prints_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    Project.create(folder, task="text-classification", labels=["a", "b"]).close()
    deep = tmp_path / "deep.jsonl"
    deep.write_text(json.dumps({"text": "ok"}) + "\n" + DEEP + "\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["import", str(deep), "-p", str(folder)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert [line for line in r.output.splitlines() if line.strip()] == [
        line for line in r.output.splitlines() if "nested too deeply" in line]


def test_uploads_over_the_cap_get_413_and_store_nothing(world: World) -> None:
    client = make_client(world, max_upload_mb=0.01)  # about 10 kB
    before = world.store.count_items(world.a.id)
    rows = "text\n" + "".join(f"comment {i} " + "x" * 50 + "\n" for i in range(400))
    r = client.post(f"/api/v1/projects/{world.a.id}/import", headers=bearer(world, "admin"),
                    files={"file": ("big.csv", rows.encode())})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert world.store.count_items(world.a.id) == before
    small = client.post(f"/api/v1/projects/{world.a.id}/import", headers=bearer(world, "admin"),
                        files={"file": ("small.csv", b"text\nshort new comment\n")})
    assert small.status_code == 200 and small.json()["added"] == 1


def test_openapi_lists_the_error_answers_of_every_route(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    envelope = {"$ref": "#/components/schemas/ErrorOut"}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for code in ("401", "403", "404", "409", "422"):
                body = op["responses"].get(code)
                assert body is not None, (method, path, code)
                assert body["content"]["application/json"]["schema"] == envelope
    assert "413" in spec["paths"]["/api/v1/projects/{project_id}/import"]["post"]["responses"]
    assert "429" in spec["paths"]["/api/v1/auth/login"]["post"]["responses"]
