"""The CLI end to end on the real YouTube spam CSVs: init, import, export, status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from labelloop import Project
from labelloop.cli.app import app
from labelloop.storage.models import ItemRow

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output + (res.stderr if res.stderr_bytes else "")


@pytest.fixture
def youtube_csvs(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "youtube-spam-collection").glob("Youtube0*.csv"))


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "spam"
    code, out = run("init", str(folder), "--task", "text-classification", "--labels", "ham,spam")
    assert code == 0, out
    return folder


def test_import_youtube_is_complete_and_idempotent(project_dir: Path, youtube_csvs: list[Path]
                                                   ) -> None:
    for f in youtube_csvs:
        code, out = run("import", str(f), "-p", str(project_dir), "--text-column", "CONTENT",
                        "--label-column", "CLASS", "--label-kind", "gold")
        assert code == 0, out
    with Project.open(project_dir) as p:
        assert len(p.items()) == 1956
        assert p.status().states["gold"] == 1956
    for f in youtube_csvs:
        code, out = run("import", str(f), "-p", str(project_dir), "--text-column", "CONTENT",
                        "--label-column", "CLASS")
        assert code == 0 and "imported 0 new item(s)" in out
    with Project.open(project_dir) as p:
        assert len(p.items()) == 1956


def test_broken_row_imports_nothing_and_names_the_row(project_dir: Path, tmp_path: Path,
                                                      youtube_csvs: list[Path]) -> None:
    lines = youtube_csvs[0].read_text(encoding="utf-8").splitlines()
    lines[7] = lines[7] + ',"one field too many"'
    bad = tmp_path / "broken.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out = run("import", str(bad), "-p", str(project_dir), "--text-column", "CONTENT",
                    "--label-column", "CLASS")
    assert code == 2
    assert "broken.csv, line 8" in out and "Traceback" not in out
    with Project.open(project_dir) as p:
        assert p.items() == []


def test_unknown_label_is_reported_with_field(project_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "labels.csv"
    f.write_text("text,label\nhello,ham\nbuy now,eggs\n", encoding="utf-8")
    code, out = run("import", str(f), "-p", str(project_dir))
    assert code == 2
    assert "line 3" in out and "'label'" in out and "eggs" in out
    with Project.open(project_dir) as p:
        assert p.items() == []


def test_user_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    code, out = run("status", "-p", str(tmp_path / "nowhere"))
    assert code == 2 and "no labelloop project" in out and "Traceback" not in out
    code, out = run("init", str(tmp_path / "x"), "--task", "nope", "--labels", "a,b")
    assert code == 2 and "unknown task" in out
    assert not (tmp_path / "x").exists()


def test_schema_file_with_descriptions(tmp_path: Path) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "task: text-classification\nclasses:\n  ham: a real comment\n  spam: self-promotion\n",
        encoding="utf-8",
    )
    code, out = run("init", str(tmp_path / "p"), "--schema", str(schema))
    assert code == 0, out
    with Project.open(tmp_path / "p") as p:
        assert [c.description for c in p.schema.classes] == ["a real comment", "self-promotion"]


@pytest.mark.parametrize("fmt,name", [("csv", "out.csv"), ("jsonl", "out.jsonl"),
                                      ("label-studio", "out.json")])
def test_export_formats(project_dir: Path, youtube_csvs: list[Path], tmp_path: Path,
                        fmt: str, name: str) -> None:
    run("import", str(youtube_csvs[0]), "-p", str(project_dir), "--text-column", "CONTENT",
        "--label-column", "CLASS")
    out = tmp_path / name
    code, msg = run("export", str(out), "-p", str(project_dir), "--format", fmt)
    assert code == 0, msg
    text = out.read_text(encoding="utf-8")
    if fmt == "csv":
        assert text.count("\n") >= 351 and ",spam," in text
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
        assert len(rows) == 350 and rows[0]["annotations"][0]["label"] in ("ham", "spam")
    else:
        tasks = json.loads(text)
        assert len(tasks) == 350 and tasks[0]["annotations"][0]["result"]


def test_status_json_and_help_examples(project_dir: Path) -> None:
    code, out = run("status", "-p", str(project_dir), "--json")
    assert code == 0 and json.loads(out)["items"] == 0
    for cmd in ("init", "import", "export", "status", "quickstart"):
        code, out = run(cmd, "--help")
        assert code == 0 and "Example:" in out, cmd


def test_quickstart_ships_the_example(tmp_path: Path) -> None:
    code, out = run("quickstart", str(tmp_path / "demo"), "--no-models")
    assert code == 0, out
    with Project.open(tmp_path / "demo") as p:
        st = p.status()
        assert p.settings.honeypot_rate > 0
    assert st.items == 1956
    assert st.states["gold"] == 370  # the valid and test splits
    assert st.splits == {"train": 1586, "valid": 120, "test": 250}
    kinds = {s.kind for s in st.sources}
    assert kinds == {"gold", "labeling_function", "label_model"}
    assert st.states["auto"] + st.states["needs_review"] == 1586
    code, out = run("quickstart", str(tmp_path / "demo"), "--no-models")
    assert code == 0 and "(1956 already there)" in out


@pytest.mark.slow
def test_quickstart_runs_the_whole_loop(tmp_path: Path) -> None:
    """Zero-shot drafts are a column of the label model and active learning ranks the queue."""
    code, out = run("quickstart", str(tmp_path / "demo"))
    assert code == 0, out
    with Project.open(tmp_path / "demo") as p:
        kinds = {s.kind for s in p.sources()}
        assert {"model", "labeling_function", "label_model", "gold"} <= kinds
        train = p.items(split="train")
        lm = {a.item_id: a for a in p.annotations(kinds=["label_model"])}
        # on the gold valid/test comments the combined posterior beats chance by far
        gold = {a.item_id: a.label for a in p.annotations(kinds=["gold"])}
        acc = sum(lm[i].label == y for i, y in gold.items()) / len(gold)
        assert acc > 0.8
        with p.store.snapshot() as s:
            prios = s.scalars(select(ItemRow.priority).where(ItemRow.split == "train")).all()
    assert len(train) == 1586 and all(v is not None for v in prios)


def test_hf_dataset_export_and_import(project_dir: Path, youtube_csvs: list[Path],
                                      tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    run("import", str(youtube_csvs[0]), "-p", str(project_dir), "--text-column", "CONTENT",
        "--label-column", "CLASS")
    out = tmp_path / "hf"
    code, msg = run("export", str(out), "-p", str(project_dir), "--format", "hf")
    assert code == 0, msg
    ds = datasets.load_from_disk(str(out))
    assert len(ds) == 350 and ds.features["label"].names == ["ham", "spam"]
    with Project.create(tmp_path / "again", task="text-classification",
                        labels=["ham", "spam"]) as p2:
        res = p2.import_dataset(ds, label_column="label", id_column="")
        assert res.added == 350 and res.annotations == 350


def test_dataframe_import(tmp_path: Path, youtube_csvs: list[Path]) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(youtube_csvs[1])
    with Project.create(tmp_path / "df", task="text-classification",
                        labels=["ham", "spam"]) as p:
        res = p.import_dataframe(df, text_column="CONTENT", label_column="CLASS")
        assert (res.added, res.annotations) == (350, 350)
        assert p.items()[0].data["AUTHOR"] == df.iloc[0]["AUTHOR"]


def test_project_on_postgres(postgres_url: str, tmp_path: Path, youtube_csvs: list[Path]
                             ) -> None:
    folder = tmp_path / "pg"
    code, out = run("init", str(folder), "--task", "text-classification", "--labels",
                    "ham,spam", "--db", postgres_url)
    assert code == 0, out
    code, out = run("import", str(youtube_csvs[0]), "-p", str(folder), "--text-column",
                    "CONTENT", "--label-column", "CLASS")
    assert code == 0, out
    with Project.open(folder) as p:
        assert p.store.dialect == "postgresql" and len(p.items()) == 350
    shutil.rmtree(folder)


def test_install_hints_keep_the_extras_name(project_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)  # not installed
    code, out = run("export", str(project_dir / "out"), "-p", str(project_dir), "--format", "hf")
    assert code != 0
    # rich markup used to eat "[hf]", leaving the useless hint "pip install 'labelloop'"
    assert "pip install 'labelloop[hf]'" in " ".join(out.split())
