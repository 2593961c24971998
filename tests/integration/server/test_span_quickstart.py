"""`labelloop quickstart --example spans`: the shipped sentences, span LFs and the span
label model, whose spans an annotator then sees as pre-labels."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from server_world import SECRET, cheap_users, login
from typer.testing import CliRunner

from labelloop import Project
from labelloop.cli.app import app
from labelloop.core.spans import span_prf
from labelloop.server import create_app

runner = CliRunner()


def test_span_quickstart_prelabels_what_annotators_see(tmp_path: Path) -> None:
    folder = tmp_path / "ner"
    res = runner.invoke(app, ["quickstart", str(folder), "--example", "spans"])
    assert res.exit_code == 0, res.output
    assert "span labeling functions found" in res.output
    with Project.open(folder) as p:
        st = p.status()
        assert st.items == 62 and st.splits == {"train": 42, "valid": 20}
        assert st.states["gold"] == 20 and p.settings.honeypot_rate > 0
        assert {s.kind for s in st.sources} == {"gold", "labeling_function", "label_model"}
        gold = {a.item_id: [s.key() for s in a.spans or []]
                for a in p.annotations(kinds=["gold"])}
        lm = {a.item_id: [s.key() for s in a.spans or []]
              for a in p.annotations(kinds=["label_model"])}
        assert len(lm) == 62
        ids = sorted(gold)
        assert span_prf([lm[i] for i in ids], [gold[i] for i in ids])[2] > 0.8
        users = cheap_users(p.store)
        users.add("ann", "annotator", "password1234")
        client = TestClient(create_app(p.store, secret=SECRET, media_root=folder, users=users))
        h = {"X-CSRF-Token": login(client, "ann", "password1234")}
        task = client.post(f"/api/v1/projects/{p.id}/queue/next", headers=h).json()["task"]
        sug = task["suggestion"]
        assert sug["source"] == "span-label-model" and sug["spans"]
        assert all(0.0 <= s["score"] <= 1.0 for s in sug["spans"])  # each span its own
        text = task["item"]["data"]["text"]
        assert all(text[s["start"]:s["end"]].strip() for s in sug["spans"])
    again = runner.invoke(app, ["quickstart", str(folder), "--example", "spans"])
    assert again.exit_code == 0 and "(62 already there)" in again.output


def test_span_quickstart_refuses_another_project_and_unknown_examples(tmp_path: Path) -> None:
    folder = tmp_path / "cls"
    assert runner.invoke(app, ["init", str(folder), "--task", "text-classification",
                               "--labels", "a,b"]).exit_code == 0
    res = runner.invoke(app, ["quickstart", str(folder), "--example", "spans"])
    assert res.exit_code != 0 and "not the span example" in res.output
    res = runner.invoke(app, ["quickstart", str(tmp_path / "x"), "--example", "ner"])
    assert res.exit_code != 0 and "unknown example 'ner'" in res.output
