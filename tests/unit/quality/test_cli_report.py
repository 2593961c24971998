"""``labelloop quality report`` over a project holding real crowd labels (Snow temp)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from labelloop.cli.app import app
from labelloop.core.records import AnnotationRecord
from labelloop.services.project import Project


@pytest.fixture
def project_dir(tmp_path, snow_loader):
    table, gold = snow_loader("temp")
    table = table[table["item"].isin(sorted(gold)[:120])]
    csv = tmp_path / "items.csv"
    csv.write_text("id,text\n" + "".join(f"{i},event pair {i}\n" for i in sorted(set(table.item))))
    folder = tmp_path / "proj"
    with Project.create(folder, task="text-classification", labels=["1", "2"]) as p:
        p.import_file(csv, id_column="id", text_column="text")
        ids = {it.external_id: it.id for it in p.items()}
        start = datetime(2026, 1, 1, tzinfo=UTC)
        records = []
        for n, (item, worker, label) in enumerate(table.itertuples(index=False)):
            src = p.source("human", worker).id
            records.append(
                AnnotationRecord(
                    item_id=ids[str(item)],
                    source_id=src,
                    label=label - 1,
                    seconds=10.0 + n % 7,
                    created_at=start + timedelta(minutes=n),
                )
            )
        gold_src = p.source("gold", "import").id
        records += [
            AnnotationRecord(item_id=ids[str(i)], source_id=gold_src, label=gold[i] - 1)
            for i in sorted(set(table.item))[::3]
        ]
        p.add_annotations(records)
    return folder


def test_quality_report_command(project_dir, tmp_path):
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["quality", "report", "-p", str(project_dir), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "Fleiss' kappa" in res.output and f"wrote {out}" in res.output
    page = out.read_text()
    assert "Quality report: proj" in page and page.count("data:image/png;base64,") == 2


def test_quality_report_without_labels_is_a_one_line_error(tmp_path):
    folder = tmp_path / "empty"
    Project.create(folder, task="text-classification", labels=["a", "b"]).close()
    res = CliRunner().invoke(app, ["quality", "report", "-p", str(folder)])
    assert res.exit_code == 2
    assert "no human labels yet" in res.output
