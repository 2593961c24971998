"""``labelloop lf apply`` and ``lf analyze`` on a spans project."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from labelloop.cli.app import app
from labelloop.services.project import Project
from labelloop.services.span_weak import span_votes

LFS = '''
from labelloop.weak.spans import dictionary_span_lf, span_labeling_function

cities = dictionary_span_lf(["London", "Paris"], "LOC", name="cities")

@span_labeling_function
def titled(x):
    import re
    if "crash" in x.text:
        raise RuntimeError("boom")
    return [(m.start(), m.end(), "PER") for m in re.finditer(r"[A-Z][a-z]+ [A-Z][a-z]+", x.text)]
'''

ROWS = [
    ("Ada Lovelace visited London.", [[0, 12, "PER"], [21, 27, "LOC"]]),
    ("Paris Hilton lives in Paris.", [[0, 12, "PER"], [22, 27, "LOC"]]),
    ("A crash in Paris.", None),
]


def test_span_lfs_are_applied_stored_and_analyzed(tmp_path: Path) -> None:
    data = tmp_path / "items.jsonl"
    lines = []
    for text, gold in ROWS:
        anns = [] if gold is None else [{"source": {"kind": "gold", "name": "g"},
                                         "spans": gold}]
        lines.append(json.dumps({"data": {"text": text}, "annotations": anns}))
    data.write_text("\n".join(lines) + "\n")
    (tmp_path / "lfs.py").write_text(LFS)
    folder = tmp_path / "p"
    with Project.create(folder, task="ner", labels=["PER", "LOC"]) as p:
        p.import_file(data)
    runner = CliRunner()
    got = runner.invoke(app, ["lf", "apply", str(tmp_path / "lfs.py"), "-p", str(folder)])
    assert got.exit_code == 0, got.output
    assert "applied 2 span labeling function(s) to 3 item(s): 6 spans, 1 failure(s)" in got.output
    with Project.open(folder) as p:
        _, names, votes, gold = span_votes(p)
        assert names == ["cities", "titled"]
        # "Paris Hilton": the dictionary takes "Paris", the name rule the whole name
        assert votes[1] == [[(0, 5, 1), (22, 27, 1)], [(0, 12, 0)]]
        assert votes[2] == [[(11, 16, 1)], []]  # titled failed there: nothing stored
        assert gold[2] is None and gold[0] == [(0, 12, 0), (21, 27, 1)]
        failures = p.failures(stage="labeling_function")
        assert len(failures) == 1 and "RuntimeError: boom" in failures[0].error
    got = runner.invoke(app, ["lf", "analyze", "-p", str(folder)])
    assert got.exit_code == 0, got.output
    table = {line.split()[0]: line.split()[1:] for line in got.output.splitlines()[2:]}
    # cities: 4 spans, on 3 of 3 items; of its 3 spans on gold items, 2 right (2 of 4 gold)
    assert table["cities"][:2] == ["4", "1.000"]
    assert table["cities"][4:] == ["0.667", "0.500", "0.571"]
    assert table["titled"][4:] == ["1.000", "0.500", "0.667"]
    # three items are too few for Dawid-Skene's confusions: majority vote, token by token
    got = runner.invoke(app, ["label-model", "fit", "-p", str(folder), "--model", "majority"])
    assert got.exit_code == 0, got.output
    assert ("fitted the span label model (majority) on 3 item(s) x 2 source(s) (2 gold)"
            in got.output)
    # "Paris" of "Paris Hilton": LOC from one LF, PER from the other, a 0.5 token
    assert "1 item(s) need review" in got.output
    with Project.open(folder) as p:
        fitted = {a.item_id: [s.key() for s in a.spans or []]
                  for a in p.annotations(kinds=["label_model"])}
        ids = [it.id for it in p.items()]
    assert fitted[ids[0]] == [(0, 12, "PER"), (21, 27, "LOC")]
    assert fitted[ids[2]] == [(11, 16, "LOC")]
    bad = runner.invoke(app, ["label-model", "fit", "-p", str(folder), "--model", "one-coin"])
    assert bad.exit_code == 2 and "fits auto, dawid-skene or majority" in bad.output
