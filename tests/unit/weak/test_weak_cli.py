"""`labelloop lf apply|analyze` and `labelloop label-model fit` through Typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from labelloop import Project
from labelloop.cli.common import LabelloopGroup
from labelloop.cli.weak import app as weak_app
from labelloop.errors import ValidationError
from labelloop.services.weak import load_lfs

runner = CliRunner()

LFS_FILE = """
import time
from labelloop.weak import labeling_function, keyword_lf

HAM, SPAM = 0, 1

@labeling_function()
def has_link(x):
    return SPAM if "http" in x.text.lower() else -1

@labeling_function()
def short(x):
    return HAM if len(x.text.split()) < 6 else -1

@labeling_function()
def flaky(x):
    if "love" in x.text.lower():
        raise ValueError("no love")
    return -1

@labeling_function()
def slow(x):
    if "best" in x.text.lower():
        time.sleep(20)
    return -1

subscribe = keyword_lf(["subscribe", "my channel"], SPAM, name="subscribe")
"""


def cli() -> typer.Typer:
    root = typer.Typer(cls=LabelloopGroup)
    root.add_typer(weak_app)

    @root.callback()
    def _root() -> None:
        """Test root."""

    return root


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(cli(), list(args))
    return res.exit_code, res.output + (res.stderr if res.stderr_bytes else "")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "spam"
    p = Project.create(folder, task="text-classification", labels=["ham", "spam"])
    rows = ["text,label"]
    texts = [
        ("check http://x.example now subscribe", 1),
        ("love this song", 0),
        ("best song ever", 0),
        ("subscribe to my channel please friends", 1),
        ("nice", 0),
        ("visit http://y.example for free stuff today", 1),
    ] * 5
    rows += [f"{t} {i},{lab}" for i, (t, lab) in enumerate(texts)]
    csv = tmp_path / "items.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    p.import_file(csv, label_column="label", label_kind="gold")
    p.close()
    (tmp_path / "lfs.py").write_text(LFS_FILE, encoding="utf-8")
    return folder


def test_load_lfs_finds_decorated_functions_and_builders(tmp_path: Path) -> None:
    f = tmp_path / "lfs.py"
    f.write_text(LFS_FILE, encoding="utf-8")
    assert [lf.name for lf in load_lfs(f)] == ["has_link", "short", "flaky", "slow", "subscribe"]


def test_apply_analyze_fit_end_to_end(project: Path) -> None:
    lfs = project.parent / "lfs.py"
    code, out = run("lf", "apply", str(lfs), "-p", str(project), "--timeout", "0.5")
    assert code == 0, out
    assert "applied 5 labeling function(s) to 30 item(s)" in out
    assert "flaky: 5 error" in out and "slow: 3 timeout, 1 disabled" in out
    with Project.open(project) as p:
        names = {s.name for s in p.sources(kinds=["labeling_function"])}
        assert names == {"has_link", "short", "flaky", "slow", "subscribe"}
        lm = p.label_matrix(kinds=["labeling_function"])
        assert (lm.L != -1).sum() > 0
        assert any(f.stage == "labeling_function" for f in p.failures())

    png = project.parent / "lfs.png"
    code, out = run("lf", "analyze", "-p", str(project), "--plot", str(png))
    assert code == 0, out
    assert "has_link" in out and "emp_accuracy" in out
    assert png.read_bytes()[:4] == b"\x89PNG"

    code, out = run("label-model", "fit", "-p", str(project), "--review-below", "0.9")
    assert code == 0, out
    # the default "auto" chooses by cross-validation on the 30 gold items and says so
    assert "auto: " in out and "cross-validation on 30" in " ".join(out.split())
    assert "on 30 item(s)" in out and "(30 gold)" in out
    with Project.open(project) as p:
        anns = p.annotations(kinds=["label_model"])
        assert len(anns) == 30
        assert all(a.probs is not None and abs(sum(a.probs) - 1) < 1e-6 for a in anns)
        assert any(a.needs_review for a in anns) or all(a.confidence >= 0.9 for a in anns)
    code, out = run("label-model", "fit", "-p", str(project), "--model", "label-model")
    assert code == 0, out
    assert "fitted label-model on 30 item(s)" in out and "auto:" not in out


def test_user_mistakes_are_one_line_errors(project: Path, tmp_path: Path) -> None:
    code, out = run("lf", "apply", str(tmp_path / "missing.py"), "-p", str(project))
    assert code == 2 and "does not exist" in out
    bad = tmp_path / "bad.py"
    bad.write_text("def broken(:\n", encoding="utf-8")
    code, out = run("lf", "apply", str(bad), "-p", str(project))
    assert code == 2 and "syntax error" in out and "Traceback" not in out
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n", encoding="utf-8")
    code, out = run("lf", "apply", str(empty), "-p", str(project))
    assert code == 2 and "no labeling functions" in out
    code, out = run("lf", "analyze", "-p", str(project))
    assert code == 2 and "lf apply" in out
    code, out = run("label-model", "fit", "-p", str(project), "--model", "magic")
    assert code == 2


def test_lf_voting_an_unknown_class_is_a_failure_per_item(project: Path, tmp_path: Path) -> None:
    f = tmp_path / "three.py"
    f.write_text(
        "from labelloop.weak import labeling_function\n"
        "@labeling_function()\ndef three(x):\n    return 2\n",
        encoding="utf-8",
    )
    code, out = run("lf", "apply", str(f), "-p", str(project))
    assert code == 0, out
    assert "30 failure(s)" in out and "three: 30 invalid" in out and "0..1" in out
    with Project.open(project) as p:
        assert (p.label_matrix(kinds=["labeling_function"]).L == -1).all()
        assert sum(f.stage == "labeling_function" for f in p.failures()) == 30


def test_applying_an_edited_lf_again_replaces_its_votes(project: Path, tmp_path: Path) -> None:
    f = tmp_path / "edit.py"
    f.write_text(
        "from labelloop.weak import labeling_function\n"
        "@labeling_function()\ndef link(x):\n    return 1 if 'http' in x.text else -1\n",
        encoding="utf-8",
    )
    assert run("lf", "apply", str(f), "-p", str(project))[0] == 0
    # the edit narrows the LF: items it voted on before and abstains on now lose the vote
    f.write_text(
        "from labelloop.weak import labeling_function\n"
        "@labeling_function()\ndef link(x):\n    return 1 if 'http://x.' in x.text else -1\n",
        encoding="utf-8",
    )
    assert run("lf", "apply", str(f), "-p", str(project))[0] == 0
    with Project.open(project) as p:
        lm = p.label_matrix(kinds=["labeling_function"])
        texts = {it.id: it.data["text"] for it in p.items()}
        voted = {texts[i] for i, v in zip(lm.item_ids, lm.L[:, 0], strict=True) if v != -1}
    assert voted and all("http://x." in t for t in voted)


@pytest.mark.parametrize("model", ["majority", "dawid-skene", "one_coin", "honeypot"])
def test_fit_label_model_builds_any_registered_model(project: Path, model: str) -> None:
    from labelloop.services.weak import apply_to_project, fit_label_model

    lfs = [lf for lf in load_lfs(project.parent / "lfs.py") if lf.name in ("has_link", "short")]
    with Project.open(project) as p:
        apply_to_project(p, lfs)
        rep = fit_label_model(p, model=model, kinds=("labeling_function",))  # type: ignore[arg-type]
        assert rep.n_items == 30 and rep.n_gold == 30
        anns = p.annotations(kinds=["label_model"])
        assert len(anns) == 30 and all(abs(sum(a.probs or []) - 1) < 1e-6 for a in anns)
        with pytest.raises(ValidationError, match="unknown label model 'magic'"):
            fit_label_model(p, model="magic")  # type: ignore[arg-type]
