"""JSON Lines import and export.

Import takes flat rows (``{"text": ..., "label": ...}``) or labelloop's own export shape
(``{"data": {...}, "split": ..., "annotations": [...]}``), which round-trips every source.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from labelloop.core.records import (
    SOURCE_KINDS,
    SPLITS,
    ItemRecord,
    PendingAnnotation,
    Snapshot,
    occurrence_hash,
)
from labelloop.core.schema import LabelSchema
from labelloop.errors import ImportReport, ImportValidationError, ValidationError
from labelloop.io.common import ImportOptions, ParsedImport, parse_label, rows_to_import


def read_jsonl(path: Path, schema: LabelSchema, options: ImportOptions) -> ParsedImport:
    """Read one JSON object per line; blank lines are ignored."""
    report = ImportReport()
    rows: list[tuple[int, dict[str, Any]]] = []
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                report.add(str(path), n, None, f"not valid JSON ({exc.msg})",
                           "write one JSON object per line")
                continue
            if not isinstance(obj, dict):
                report.add(str(path), n, None, f"a JSON {type(obj).__name__}, not an object",
                           "write one JSON object per line")
                continue
            rows.append((n, obj))
    if report:
        raise ImportValidationError(report)
    if rows and all(isinstance(r.get("data"), dict) for _, r in rows):
        return _read_native(rows, str(path), schema)
    return rows_to_import(rows, file=str(path), schema=schema, options=options)


def _read_native(
    rows: list[tuple[int, dict[str, Any]]], file: str, schema: LabelSchema
) -> ParsedImport:
    report = ImportReport()
    out = ParsedImport()
    copies: Counter[str] = Counter()
    for n, row in rows:
        split = row.get("split", "unassigned")
        if split not in SPLITS:
            report.add(file, n, "split", f"unknown split {split!r}", f"use one of {SPLITS}")
            continue
        item = ItemRecord(data=row["data"], meta=row.get("meta") or {}, split=split,
                          external_id=row.get("external_id"))
        base = item.content_hash
        item.content_hash = occurrence_hash(base, copies[base])
        copies[base] += 1
        for a in row.get("annotations") or []:
            src = a.get("source") or {}
            if src.get("kind") not in SOURCE_KINDS or not src.get("name"):
                report.add(file, n, "annotations.source",
                           f"bad source {src!r}", "give each source a kind and a name")
                continue
            try:
                label, labels = (None, None)
                if a.get("label") is not None:
                    label, labels = parse_label(a["label"], schema)
            except ValidationError as exc:
                report.add(file, n, "annotations.label", str(exc), "fix the label")
                continue
            out.annotations.append(PendingAnnotation(
                item.content_hash, src["kind"], src["name"], src.get("version", ""),
                label=label, labels=labels, boxes=a.get("boxes"),
                confidence=a.get("confidence"), needs_review=bool(a.get("needs_review")),
            ))
        out.items.append(item)
    if report:
        raise ImportValidationError(report)
    return out


def write_jsonl(path: Path, snap: Snapshot, schema: LabelSchema) -> int:
    """Write one line per item with its data and every source's annotation."""
    by_src = {s.id: s for s in snap.sources}
    per_item: dict[int, list[dict[str, Any]]] = {}
    for a in snap.annotations:
        s = by_src[a.source_id]
        entry: dict[str, Any] = {
            "source": {"kind": s.kind, "name": s.name, "version": s.version},
            "label": None if a.label is None else schema.names[a.label],
        }
        if a.labels is not None:
            entry["label"] = [schema.names[i] for i in a.labels]
        if a.boxes is not None:
            entry["boxes"] = [b.model_dump() for b in a.boxes]
        if a.confidence is not None:
            entry["confidence"] = a.confidence
        entry["needs_review"] = a.needs_review
        per_item.setdefault(a.item_id, []).append(entry)
    with path.open("w", encoding="utf-8") as fh:
        for it in snap.items:
            assert it.id is not None
            obj = {"id": it.id, "external_id": it.external_id, "data": it.data,
                   "meta": it.meta, "split": it.split, "annotations": per_item.get(it.id, [])}
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return len(snap.items)
