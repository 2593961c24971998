"""CSV import and export (one row per item)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from labelloop.core.records import Snapshot
from labelloop.core.schema import LabelSchema
from labelloop.errors import ImportReport, ImportValidationError
from labelloop.io.common import (
    ImportOptions,
    ParsedImport,
    final_labels,
    label_names,
    rows_to_import,
)


def read_csv(path: Path, schema: LabelSchema, options: ImportOptions) -> ParsedImport:
    """Read a CSV file with a header row; line numbers in errors count the header as 1."""
    report = ImportReport()
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames:
                report.add(str(path), 1, None, "no header row", "put column names on line 1")
                raise ImportValidationError(report)
            rows = []
            for row in reader:
                if None in row:
                    report.add(str(path), reader.line_num, None,
                               f"{len(row[None])} more field(s) than the header's "
                               f"{len(reader.fieldnames)}",
                               "quote fields that contain commas")
                    continue
                missing = [k for k, v in row.items() if v is None]
                if missing:
                    report.add(str(path), reader.line_num, missing[0],
                               f"row has fewer fields than the header ({len(reader.fieldnames)})",
                               "add the missing fields or quote embedded commas")
                    continue
                rows.append((reader.line_num, row))
    except UnicodeDecodeError as exc:
        report.add(str(path), None, None, f"not UTF-8 text ({exc.reason})", "save it as UTF-8")
    except csv.Error as exc:
        report.add(str(path), None, None, f"malformed CSV: {exc}", "check quoting")
    if report:
        raise ImportValidationError(report)
    return rows_to_import(rows, file=str(path), schema=schema, options=options)


def write_csv(path: Path, snap: Snapshot, schema: LabelSchema) -> int:
    """Write one row per item: id, split, data fields, final label and its source."""
    finals = final_labels(snap.items, snap.sources, snap.annotations)
    data_cols = list(dict.fromkeys(k for it in snap.items for k in it.data))
    header = ["id", "split", *data_cols, "label", "label_source", "confidence", "needs_review"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for it in snap.items:
            assert it.id is not None
            ann_src = finals.get(it.id)
            label: str | list[str] | None = None
            src = conf = review = ""
            if ann_src is not None:
                ann, s = ann_src
                label = label_names(ann, schema)
                src = f"{s.kind}:{s.name}"
                conf = "" if ann.confidence is None else f"{ann.confidence:.6g}"
                review = "true" if ann.needs_review else "false"
            cell = json.dumps(label) if isinstance(label, list) else (label or "")
            w.writerow([it.id, it.split, *[it.data.get(c, "") for c in data_cols],
                        cell, src, conf, review])
    return len(snap.items)
