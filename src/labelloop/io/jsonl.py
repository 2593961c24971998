"""JSON Lines import and export.

Import takes flat rows (``{"text": ..., "label": ...}``) or labelloop's own export shape
(``{"data": {...}, "split": ..., "annotations": [...]}``), which round-trips every source.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any

from labelloop.core.records import (
    SOURCE_KINDS,
    SPLITS,
    ExportVote,
    PendingAnnotation,
    Snapshot,
    import_item,
)
from labelloop.core.schema import LabelSchema
from labelloop.core.spans import parse_spans
from labelloop.errors import ImportReport, ImportValidationError, ValidationError
from labelloop.io.common import (
    BATCH_SIZE,
    Final,
    ImportOptions,
    ParsedImport,
    SnapshotPages,
    as_pages,
    collect,
    decided_round,
    final_labels,
    iter_rows_import,
    label_names,
    parse_label,
    text_position,
)
from labelloop.io.seen import Occurrences
from labelloop.io.span_formats import iter_prodigy, looks_like_prodigy


def iter_jsonl(path: Path, schema: LabelSchema, options: ImportOptions, *,
               batch_size: int = BATCH_SIZE,
               image_root: Path | None = None) -> Iterator[ParsedImport]:
    """Read one JSON object per line, in batches; blank lines are ignored. In flat rows,
    relative image paths are read as relative to ``image_root``, if given.

    The first batch of lines decides the shape: labelloop's own export (every object has
    a ``data`` object) or flat rows, whose first batch's keys choose the columns.

    Raises
    ------
    ImportValidationError
        After the last line, if any line was bad.
    """
    report = ImportReport()
    file = str(path)
    with path.open(encoding="utf-8-sig") as fh:

        def rows() -> Iterator[tuple[int, dict[str, Any]]]:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    report.add(file, n, None, f"not valid JSON ({exc.msg})",
                               "write one JSON object per line")
                    continue
                if not isinstance(obj, dict):
                    report.add(file, n, None, f"a JSON {type(obj).__name__}, not an object",
                               "write one JSON object per line")
                    continue
                yield n, obj

        it = rows()
        first = list(islice(it, batch_size))
        if schema.task_type.has_spans and looks_like_prodigy(r for _, r in first):
            # span rows {"text", "spans"}: the Prodigy/spaCy reader reads the file
            yield from iter_prodigy(path, schema, options, batch_size=batch_size)
            return
        if first and all(isinstance(r.get("data"), dict) for _, r in first):
            yield from _iter_native(chain(first, it), file, schema, report, batch_size,
                                    text_position(fh))
        else:
            yield from iter_rows_import(chain(first, it), file=file, schema=schema,
                                        options=options, report=report,
                                        batch_size=batch_size, position=text_position(fh),
                                        image_root=image_root)


def read_jsonl(path: Path, schema: LabelSchema, options: ImportOptions) -> ParsedImport:
    """Read a whole JSON Lines file (:func:`iter_jsonl` reads it in batches)."""
    return collect(iter_jsonl(path, schema, options))


def _iter_native(
    rows: Iterable[tuple[int, dict[str, Any]]], file: str, schema: LabelSchema,
    report: ImportReport, batch_size: int, position: Callable[[], int],
) -> Iterator[ParsedImport]:
    out = ParsedImport()
    copies = Occurrences()
    for n, row in rows:
        if not isinstance(row.get("data"), dict):
            report.add(file, n, "data", "no data object, unlike the lines before",
                       "give every line a data object, or none")
            continue
        split = row.get("split", "unassigned")
        if split not in SPLITS:
            report.add(file, n, "split", f"unknown split {split!r}", f"use one of {SPLITS}")
            continue
        meta = row.get("meta") or {}
        if not isinstance(meta, dict):
            report.add(file, n, "meta", f"meta is a JSON {type(meta).__name__}, not an object",
                       "give meta as an object, or leave it out")
            continue
        ext = row.get("external_id")
        item = import_item(row["data"], meta=meta, split=split,
                           external_id=None if ext is None else str(ext))
        item = item._replace(content_hash=copies.hash_of(item.content_hash))
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
            spans = None
            if a.get("spans") is not None:
                try:
                    spans = _spans(a["spans"], row["data"], schema)
                except ValidationError as exc:
                    report.add(file, n, "annotations.spans", str(exc), "fix the span")
                    continue
            out.annotations.append(PendingAnnotation(
                item.content_hash, src["kind"], src["name"], src.get("version", ""),
                label=label, labels=labels, boxes=a.get("boxes"),
                confidence=a.get("confidence"), needs_review=bool(a.get("needs_review")),
                spans=spans,
            ))
        out.items.append(item)
        if len(out.items) >= batch_size:
            if not report:
                out.position = position()
                yield out
            out = ParsedImport()
    if report:
        raise ImportValidationError(report)
    if out.items:
        out.position = position()
        yield out


def _spans(raw: Any, data: dict[str, Any], schema: LabelSchema) -> list[dict[str, Any]]:
    """Stored spans as they are (no snapping, overlap kept): only checked against the
    item's text and the schema."""
    text = data.get("text")
    found = parse_spans(schema, raw, None if text is None else str(text),
                        allow_overlap=True, snap_to_tokens=False)
    return [s.model_dump(exclude_none=True) for s in found]


def write_jsonl(path: Path, snap: Snapshot | SnapshotPages, schema: LabelSchema) -> int:
    """Write one line per item with its data, every source's annotation (its provenance)
    and ``final``: the label the export reports, its source, confidence, how it was
    decided (:attr:`~labelloop.io.common.Final.decided`) and the closed-loop round that
    decided it (``round``, ``null`` unless the loop's posterior gave it), page by page."""
    pages = as_pages(snap)
    # one "source" object per source, shared by its entries (json.dumps only reads it)
    identity = {s.id: {"kind": str(s.kind), "name": s.name, "version": s.version}
                for s in pages.sources}
    names = schema.names
    encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(obj, ensure_ascii=False)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for page in pages.pages():
            finals = final_labels(page.items, page.sources, page.annotations)
            per_item: dict[int, list[dict[str, Any]]] = {}
            for a in page.annotations:
                entry: dict[str, Any] = {
                    "source": identity[a.source_id],
                    "label": None if a.label is None else names[a.label],
                }
                if a.labels is not None:
                    entry["label"] = [names[i] for i in a.labels]
                if a.boxes is not None:
                    entry["boxes"] = [b.model_dump() for b in a.boxes]
                if a.spans is not None:
                    entry["spans"] = [s.model_dump(exclude_none=True) for s in a.spans]
                if a.confidence is not None:
                    entry["confidence"] = a.confidence
                entry["needs_review"] = a.needs_review
                per_item.setdefault(a.item_id, []).append(entry)
            lines = [
                encode({"id": it.id, "external_id": it.external_id, "data": it.data,
                        "meta": it.meta, "split": it.split,
                        "annotations": per_item.get(it.id, []),
                        "final": _final(finals.get(it.id), identity, schema,
                                        pages.loop_round)})
                for it in page.items
            ]
            if lines:
                fh.write("\n".join(lines) + "\n")
            n += len(lines)
    return n


def _final(final: Final[ExportVote] | None, identity: dict[int | None, dict[str, str]],
           schema: LabelSchema, loop_round: int | None) -> dict[str, Any] | None:
    if final is None:
        return None
    a = final.vote
    out: dict[str, Any] = {"label": label_names(a, schema), "source": identity[a.source_id],
                           "confidence": a.confidence, "decided": final.decided,
                           "round": decided_round(final, loop_round)}
    if a.boxes is not None:
        out["boxes"] = [b.model_dump() for b in a.boxes]
    if a.spans is not None:
        out["spans"] = [sp.model_dump(exclude_none=True) for sp in a.spans]
    return out
