"""CSV import and export (one row per item), both streaming."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelloop.core.records import Snapshot
from labelloop.core.schema import LabelSchema
from labelloop.errors import ImportReport, ImportValidationError
from labelloop.io.common import (
    BATCH_SIZE,
    ImportOptions,
    ParsedImport,
    SnapshotPages,
    as_pages,
    collect,
    decided_round,
    final_labels,
    iter_rows_import,
    label_names,
    text_position,
)


def iter_csv(path: Path, schema: LabelSchema, options: ImportOptions, *,
             batch_size: int = BATCH_SIZE,
             image_root: Path | None = None) -> Iterator[ParsedImport]:
    """Read a CSV file with a header row in batches; line numbers in errors count the
    header as 1. Relative image paths are read as relative to ``image_root``, if given.

    Raises
    ------
    ImportValidationError
        After the last row, if any row was bad (see :func:`iter_rows_import`).
    """
    report = ImportReport()
    file = str(path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
            while header == []:  # blank lines before the header
                header = next(reader, None)
        except UnicodeDecodeError as exc:
            report.add(file, None, None, f"not UTF-8 text ({exc.reason})", "save it as UTF-8")
            raise ImportValidationError(report) from None
        except csv.Error as exc:
            report.add(file, None, None, f"malformed CSV: {exc}", "check quoting")
            raise ImportValidationError(report) from None
        if not header:
            report.add(file, 1, None, "no header row", "put column names on line 1")
            raise ImportValidationError(report)
        width = len(header)

        def rows() -> Iterator[tuple[int, dict[str, Any]]]:
            try:
                for cells in reader:
                    if len(cells) == width:
                        yield reader.line_num, dict(zip(header, cells, strict=True))
                    elif not cells:  # a blank line
                        continue
                    elif len(cells) > width:
                        report.add(file, reader.line_num, None,
                                   f"{len(cells) - width} more field(s) than the header's "
                                   f"{width}", "quote fields that contain commas")
                    else:
                        report.add(file, reader.line_num, header[len(cells)],
                                   f"row has fewer fields than the header ({width})",
                                   "add the missing fields or quote embedded commas")
            except UnicodeDecodeError as exc:
                report.add(file, None, None, f"not UTF-8 text ({exc.reason})",
                           "save it as UTF-8")
            except csv.Error as exc:
                report.add(file, None, None, f"malformed CSV: {exc}", "check quoting")

        yield from iter_rows_import(rows(), file=file, schema=schema, options=options,
                                    report=report, columns=list(header),
                                    batch_size=batch_size, position=text_position(fh),
                                    image_root=image_root)


def read_csv(path: Path, schema: LabelSchema, options: ImportOptions) -> ParsedImport:
    """Read a whole CSV file (:func:`iter_csv` reads it in batches)."""
    return collect(iter_csv(path, schema, options))


def write_csv(path: Path, snap: Snapshot | SnapshotPages, schema: LabelSchema) -> int:
    """Write one row per item: id, split, data fields, final label and its source (boxes
    as a JSON list of ``{x, y, w, h, label}`` objects), its confidence, whether it needs a
    review, how it was decided (:attr:`~labelloop.io.common.Final.decided`) and the
    closed-loop round that decided it (``round``, empty unless the loop's posterior).

    Two passes over the pages (the header needs every data field first), one page in
    memory at a time.
    """
    pages = as_pages(snap)
    data_cols = pages.data_keys()
    header = ["id", "split", *data_cols, "label", "label_source", "confidence", "needs_review",
              "decided", "round"]
    n = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for page in pages.pages():
            finals = final_labels(page.items, page.sources, page.annotations)
            for it in page.items:
                ann_src = finals.get(it.id)
                label: str | list[str] | None = None
                src = conf = review = decided = ""
                decided_in: int | str = ""
                if ann_src is not None:
                    decided = ann_src.decided
                    found = decided_round(ann_src, pages.loop_round)
                    decided_in = "" if found is None else found
                    ann, s, disputed = ann_src
                    label = label_names(ann, schema)
                    if ann.boxes is not None:  # boxes: a JSON list of {x, y, w, h, label}
                        label = json.dumps([b.model_dump(exclude_none=True) for b in ann.boxes])
                    src = f"{s.kind}:{s.name}"
                    conf = "" if ann.confidence is None else f"{ann.confidence:.6g}"
                    review = "true" if ann.needs_review or disputed else "false"
                cell = json.dumps(label) if isinstance(label, list) else (label or "")
                w.writerow([it.id, it.split, *[it.data.get(c, "") for c in data_cols],
                            cell, src, conf, review, decided, decided_in])
                n += 1
    return n
