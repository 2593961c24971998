"""LLM sources on stored projects: ``prelabel --model llm`` end to end, the store cache,
calibration, budgets across runs, LLM labeling functions, and where the key never goes."""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labelloop.cli.app import app
from labelloop.core.records import AnnotationRecord
from labelloop.prelabel.llm import LLMConfig
from labelloop.prelabel.llm.fake_server import FakeOpenAI
from labelloop.services.llm import LLMOptions, llm_runs
from labelloop.services.prelabel import prelabel_project
from labelloop.services.project import Project

runner = CliRunner()
Make = Callable[..., LLMConfig]
SCHEMA = {"task": "text-classification", "classes": [
    {"name": "sports", "description": "Sports news"},
    {"name": "business", "description": "Business news"}]}
SPORTS = ["The team won the final", "A striker scored twice", "The runner broke a record",
          "The coach was sacked", "Fans cheered the goalkeeper"]
BUSINESS = ["Shares rose on earnings", "The bank cut rates", "A merger was announced",
            "Oil prices fell", "The market rallied"]


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, " ".join((res.output + (res.stderr if res.stderr_bytes else ""))
                                   .split())


def by_keyword(body: dict[str, Any]) -> str:
    """Business for a text with a business word, else sports; odd texts get odd answers."""
    text = body["messages"][-1]["content"].rsplit("Text:", 1)[-1].lower()
    if "garbled" in text:
        return "{not json"
    words = ("share", "bank", "merger", "oil", "market", "stock")
    return json.dumps({"label": "business" if any(w in text for w in words) else "sports"})


def make_project(folder: Path, texts: list[str]) -> Path:
    Project.create(folder, schema=SCHEMA).close()
    path = folder.parent / f"{folder.name}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text"])
        w.writerows([t] for t in texts)
    code, out = run("import", str(path), "-p", str(folder))
    assert code == 0, out
    return folder


def label_by_people(p: Project, n: int | None = None) -> None:
    """Human labels (the truth of ``by_keyword``) for the first ``n`` items."""
    human = p.source("human", "alice")
    items = p.items()[:n]
    p.add_annotations([AnnotationRecord(
        item_id=it.id, source_id=human.id,
        label=json.loads(by_keyword({"messages": [{"content": f"Text: {it.text}"}]}))["label"]
        == "business") for it in items])


def test_cli_prelabel_llm_end_to_end(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.reset(by_keyword, logprob=-0.05)
    folder = make_project(tmp_path / "news", [*SPORTS, *BUSINESS, "garbled text"])
    code, out = run("prelabel", "-p", str(folder), "--model", "llm", "--llm-model", "fake-1",
                    "--price-in", "1", "--price-out", "2")
    assert code == 0, out
    assert "drafted 10 of 11 item(s), 0 already drafted, 1 failed" in out
    assert "LLM: 11 request(s) sent, 0 answered from the cache, 0 failed" in out
    assert (folder / "prompts" / "classify.txt").is_file()  # the editable template
    with Project.open(folder) as p:
        [source] = p.sources(kinds=("model",))
        assert source.name == "llm:fake-1"
        drafts = {a.item_id: a for a in p.annotations(source_ids=[source.id])}
        texts = {it.id: it.text for it in p.items()}
        assert len(drafts) == 10 and all(a.needs_review for a in drafts.values())
        assert {texts[i]: a.label for i, a in drafts.items()} == {
            **{t: 0 for t in SPORTS}, **{t: 1 for t in BUSINESS}}
        assert all(a.confidence and 0.5 < a.confidence < 1 for a in drafts.values())
        [failure] = p.failures(stage="prelabel")
        assert "answer is not JSON" in failure.error
    code, out = run("status", "-p", str(folder), "--json")
    [run_row] = json.loads(out)["llm_runs"]
    assert run_row["requests"] == 11 and run_row["cost"] > 0 and run_row["model"] == "fake-1"
    code, out = run("label-model", "fit", "-p", str(folder), "--model", "majority")
    assert code == 0 and "x 1 source(s)" in out, out  # the LLM's drafts are the source


def test_calibrated_llm_drafts_are_auto_accepted(fake: FakeOpenAI, make_config: Make,
                                                 tmp_path: Path) -> None:
    fake.reset(by_keyword, logprob=-0.01)
    texts = [f"{t} ({i})" for i in range(5) for t in [*SPORTS, *BUSINESS]]  # 50 items
    folder = make_project(tmp_path / "cal", texts)
    with Project.open(folder) as p:
        label_by_people(p)
        rep = prelabel_project(p, model="llm", target_precision=0.7,
                               llm=LLMOptions(config=make_config()))
        assert rep.n_drafted == 50 and rep.n_human_checked == 50
        assert rep.n_auto_accepted == 50 and rep.coverage == 1.0


def test_a_rerun_after_an_interruption_sends_no_request(
        fake: FakeOpenAI, make_config: Make, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake.reset(by_keyword)
    folder = make_project(tmp_path / "again", [*SPORTS, *BUSINESS])
    import labelloop.services.prelabel as service

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # the process stops before the drafts are stored

    with Project.open(folder) as p:
        monkeypatch.setattr(service, "store_drafts", crash)
        with pytest.raises(KeyboardInterrupt):
            prelabel_project(p, model="llm", llm=LLMOptions(config=make_config()))
        monkeypatch.undo()
        assert fake.requests == 10 and not p.annotations(kinds=("model",))
        rep = prelabel_project(p, model="llm", llm=LLMOptions(config=make_config()))
        assert rep.n_drafted == 10 and fake.requests == 10  # all from the store's cache
        assert [r.cached for r in llm_runs(p)] == [10, 0]


def test_a_budget_leaves_items_for_the_next_run(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.reset(by_keyword)
    folder = make_project(tmp_path / "budget", [*SPORTS, *BUSINESS])
    code, out = run("prelabel", "-p", str(folder), "--model", "llm", "--llm-model", "fake-1",
                    "--budget-requests", "4", "--concurrency", "3")
    assert code == 0, out
    assert "drafted 4 of 10" in out and "6 item(s) not asked yet" in out
    assert fake.requests == 4
    code, out = run("prelabel", "-p", str(folder), "--model", "llm", "--llm-model", "fake-1")
    assert "drafted 6 of 10 item(s), 4 already drafted" in out and fake.requests == 10


def test_an_edited_template_is_a_new_source_version(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.reset(by_keyword)
    folder = make_project(tmp_path / "tpl", SPORTS)
    args = ("prelabel", "-p", str(folder), "--model", "llm", "--llm-model", "fake-1")
    assert run(*args)[0] == 0
    template = folder / "prompts" / "classify.txt"
    template.write_text(template.read_text() + "Be brief.\n")
    code, out = run(*args)
    assert code == 0 and "drafted 5 of 5 item(s), 0 already drafted" in out
    assert fake.requests == 10
    with Project.open(folder) as p:
        assert len({s.version for s in p.sources(kinds=("model",))}) == 2


def test_llm_labeling_functions_are_applied_cached_and_analyzed(fake: FakeOpenAI,
                                                               tmp_path: Path) -> None:
    def yes_no(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"].rsplit("Text:", 1)[-1].lower()
        return json.dumps({"answer": "maybe" if "coach" in text else
                           "yes" if any(w in text for w in ("share", "bank")) else "no"})

    fake.reset(yes_no)
    folder = make_project(tmp_path / "lf", [*SPORTS, *BUSINESS])
    lfs = tmp_path / "lfs.py"
    lfs.write_text("from labelloop.prelabel.llm import llm_lf\n"
                   "finance = llm_lf('Is the text about money?', label=1, name='finance',"
                   " model='fake-1')\n")
    code, out = run("lf", "apply", str(lfs), "-p", str(folder))
    assert code == 0, out
    assert "10 item(s): 2 votes, 1 failure(s)" in out and "not a class" in out
    assert fake.requests == 10
    code, out = run("lf", "apply", str(lfs), "-p", str(folder))
    assert code == 0 and fake.requests == 10  # every answer from the store's cache
    code, out = run("lf", "analyze", "-p", str(folder))
    assert code == 0 and "finance" in out
    with Project.open(folder) as p:
        assert [(r.kind, r.name, r.requests, r.cached) for r in llm_runs(p)] == [
            ("lf", "finance", 0, 10), ("lf", "finance", 10, 0)]


def test_the_key_is_never_stored_logged_or_raised(
        fake: FakeOpenAI, make_config: Make, tmp_path: Path, secret: str,
        caplog: pytest.LogCaptureFixture) -> None:
    fake.reset(by_keyword, logprob=-0.1)
    fake.faults = ["500", "500", "429"]
    folder = make_project(tmp_path / "secret", [*SPORTS, *BUSINESS, "garbled"])
    caplog.set_level(logging.DEBUG)
    with Project.open(folder) as p:
        rep = prelabel_project(p, model="llm", llm=LLMOptions(
            config=make_config(max_retries=1, concurrency=1)))
        errors = [f.error for f in p.failures()]
        runs = [r.to_dict() for r in llm_runs(p)]
    assert rep.n_failed == 2 and fake.authorizations[0] == f"Bearer {secret}"
    assert "HTTP 500 after 1 retries" in " ".join(errors)
    assert caplog.records  # the SDK's debug log was captured
    blobs = [f.read_bytes() for f in folder.rglob("*") if f.is_file()]
    assert blobs and not any(secret.encode() in b for b in blobs)
    assert secret not in caplog.text and secret not in json.dumps([errors, runs, rep.usage])



def test_few_shot_examples_are_the_nearest_labelled_texts_but_never_the_item(
        fake: FakeOpenAI, make_config: Make, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    fake.reset(by_keyword)
    near_duplicate = "Shares rose on strong earnings"
    folder = make_project(tmp_path / "shots", [*SPORTS, *BUSINESS, near_duplicate])
    with Project.open(folder) as p:
        label_by_people(p, 6)  # five sports texts and "Shares rose on earnings"
        rep = prelabel_project(p, model="llm", llm=LLMOptions(config=make_config(), shots=2))
        assert rep.n_drafted == 11
        ids = [it.id for it in p.items()]
        assert len(p.cached_embeddings("minilm", ids)[0]) == 11
    prompts = {m["content"].rsplit("Text:\n", 1)[-1]: m["content"]
               for b in fake.bodies for m in b["messages"] if m["role"] == "user"}
    assert len(prompts) == 11
    for text, prompt in prompts.items():
        assert prompt.count("\nAnswer: ") == 2 and f"Text:\n{text}\nAnswer:" not in prompt
    assert prompts[near_duplicate].startswith(
        'Examples:\n\nText:\nShares rose on earnings\nAnswer: {"label": "business"}')


def test_llm_drafts_are_suggested_in_the_ui_and_runs_on_the_dashboard(
        fake: FakeOpenAI, tmp_path: Path) -> None:
    pytest.importorskip("argon2")
    import secrets

    from argon2 import PasswordHasher
    from fastapi.testclient import TestClient

    from labelloop.client import Client
    from labelloop.server import create_app
    from labelloop.services.users import Users

    fake.reset(by_keyword, logprob=-0.1)
    folder = make_project(tmp_path / "ui", SPORTS[:2])
    assert run("prelabel", "-p", str(folder), "--model", "llm", "--llm-model", "fake-1")[0] == 0
    with Project.open(folder) as p:
        users = Users(p.store, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        user, _ = users.add("ann", "annotator", "a long enough password 1")
        users.add("boss", "admin", "a long enough password 2")
        token = users.create_token(user.id or 0, "tests")
        app = create_app(p.store, secret=secrets.token_hex(32), users=users)
        with TestClient(app) as http:
            task = Client("http://testserver", token, http=http).next_task(p.id)
            nonce = re.search(r'name="nonce" value="([^"]+)"', http.get("/login").text)
            assert nonce is not None
            http.post("/login", data={"name": "boss", "password": "a long enough password 2",
                                      "nonce": nonce.group(1), "next": "/"})
            page = http.get(f"/p/{p.id}/dashboard").text
        assert "LLM runs" in page and "prelabel llm:fake-1" in page
        assert task is not None and task["suggestion"]["source"] == "llm:fake-1"
        assert task["suggestion"]["label"] == "sports"
        assert task["suggestion"]["confidence"] == pytest.approx(0.9048, abs=1e-4)
        assert p.status().states["needs_review"] == 2


def test_a_refused_key_is_one_line_and_exit_code_2(fake: FakeOpenAI, tmp_path: Path,
                                                   secret: str) -> None:
    fake.faults = ["401"]
    folder = make_project(tmp_path / "refused", SPORTS)
    code, out = run("prelabel", "-p", str(folder), "--model", "llm", "--llm-model", "fake-1",
                    "--concurrency", "1")
    assert code == 2 and "refused the API key" in out and "Traceback" not in out
    assert secret[:6] not in out and fake.requests == 1
