"""benchmarks/spans.py reads WRENCH's span form and its native one-tag-per-token form alike."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
STAGED = ROOT / ".." / "shared" / "data" / "wrench-laptopreview"


def _bench():
    spec = importlib.util.spec_from_file_location("spans_bench", ROOT / "benchmarks" / "spans.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bio(spans: list, n: int, types: list[str]) -> list[str]:
    tags = ["O"] * n
    for a, b, t in spans:
        tags[a] = f"B-{t}"
        for i in range(a + 1, b):
            tags[i] = f"I-{t}"
    return tags


@pytest.mark.skipif(not STAGED.exists(), reason="WRENCH laptopreview is not staged")
def test_native_bio_layout_loads_as_the_span_form(tmp_path: Path) -> None:
    bench = _bench()
    meta = json.loads((STAGED / "meta.json").read_text())
    rows = json.loads((STAGED / "valid.json").read_text())
    some = {str(i): rows[str(i)] for i in range(40)}
    native = {}
    for key, row in some.items():
        n = len(row["data"]["text"])
        per_lf = [_bio(spans, n, meta["entity_types"]) for spans in row["weak_labels"]]
        ids = {"O": 0, **{f"{p}-{t}": 2 * c + 1 + (p == "I")
                          for c, t in enumerate(meta["entity_types"]) for p in "BI"}}
        native[key] = {"data": row["data"], "label": _bio(row["label"], n, meta["entity_types"]),
                       "weak_labels": [[ids[per_lf[j][t]] for j in range(len(per_lf))]
                                       for t in range(n)]}
    for folder, data in (("wrench-laptopreview", some), ("wrench-native", native)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "meta.json").write_text(json.dumps(meta))
        (tmp_path / folder / "valid.json").write_text(json.dumps(data))
    span_form = bench.load("laptopreview", "valid", data=tmp_path)
    bio_form = bench.load("native", "valid", data=tmp_path)
    assert bio_form[:4] == span_form[:4]
    assert span_form[3] == meta["lf_rec"] and len(span_form[2][0]) == 3
    assert sum(len(g) for g in span_form[1]) > 10
    assert bench.prf(span_form[1], bio_form[1]) == (100.0, 100.0, 100.0)
