"""Label Studio task JSON import and export, with the matching labeling config.

Choices (single and multi-label text, image classification), rectangle labels (object
detection) and labels on text (spans: ``{"type": "labels", "value": {"start", "end",
"text", "labels"}}``, offsets in characters) are supported. Human sources map to
``annotations``, gold to annotations with ``ground_truth: true``, model and label-model
sources to ``predictions``. Boxes are in pixels here and in percent of the image in Label
Studio.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

from labelloop.core.records import (
    SPLITS,
    ExportItem,
    ExportVote,
    PendingAnnotation,
    Snapshot,
    SourceKind,
    import_item,
)
from labelloop.core.schema import LabelSchema
from labelloop.core.spans import parse_spans
from labelloop.errors import ImportReport, ImportValidationError, ValidationError
from labelloop.io.common import (
    BATCH_SIZE,
    ParsedImport,
    SnapshotPages,
    as_pages,
    collect,
    decided_round,
    final_labels,
    label_names,
    text_position,
)
from labelloop.io.json_stream import JsonStreamError, iter_array, write_array

FROM_NAME = "label"


def _to_name(schema: LabelSchema) -> str:
    return schema.task_type.media


def label_config(schema: LabelSchema) -> str:
    """The Label Studio labeling config (XML) for a schema."""
    obj = _to_name(schema)
    tag = "Image" if obj == "image" else "Text"
    if schema.task_type.has_boxes or schema.task_type.has_spans:
        inner = "".join(
            f'<Label value="{escape(c.name)}" hint="{escape(c.description)}"/>'
            for c in schema.classes
        )
        tag_of = "Labels" if schema.task_type.has_spans else "RectangleLabels"
        control = f'<{tag_of} name="{FROM_NAME}" toName="{obj}">{inner}</{tag_of}>'
    else:
        choice = "multiple" if schema.task_type.multi_label else "single"
        inner = "".join(
            f'<Choice value="{escape(c.name)}" hint="{escape(c.description)}"/>'
            for c in schema.classes
        )
        control = (f'<Choices name="{FROM_NAME}" toName="{obj}" choice="{choice}">'
                   f"{inner}</Choices>")
    return f'<View><{tag} name="{obj}" value="${obj}"/>{control}</View>'


def _result(a: ExportVote, item: ExportItem, schema: LabelSchema) -> list[dict[str, Any]]:
    obj = _to_name(schema)
    if a.spans is not None:
        text = str(item.data.get(obj, ""))
        return [{"id": f"r{item.id}-{a.source_id}-{n}", "from_name": FROM_NAME, "to_name": obj,
                 "type": "labels",
                 "value": {"start": sp.start, "end": sp.end, "text": text[sp.start:sp.end],
                           "labels": [sp.label]},
                 **({"score": sp.score} if sp.score is not None else {})}
                for n, sp in enumerate(a.spans)]
    if a.boxes is not None:
        if not item.width or not item.height:
            raise ValidationError(
                f"item {item.id} has boxes but no image size; Label Studio needs width/height"
            )
        out = []
        for n, b in enumerate(a.boxes):
            out.append({
                "id": f"r{item.id}-{a.source_id}-{n}",
                "from_name": FROM_NAME, "to_name": obj, "type": "rectanglelabels",
                "original_width": item.width, "original_height": item.height,
                "image_rotation": 0,
                "value": {
                    "x": b.x / item.width * 100, "y": b.y / item.height * 100,
                    "width": b.w / item.width * 100, "height": b.h / item.height * 100,
                    "rotation": 0, "rectanglelabels": [b.label],
                },
                **({"score": b.score} if b.score is not None else {}),
            })
        return out
    names = ([schema.names[a.label]] if a.label is not None
             else [schema.names[i] for i in (a.labels or [])])
    return [{"id": f"r{item.id}-{a.source_id}", "from_name": FROM_NAME, "to_name": obj,
             "type": "choices", "value": {"choices": names}}]


def write_label_studio(path: Path, snap: Snapshot | SnapshotPages, schema: LabelSchema) -> int:
    """Write a JSON list of Label Studio tasks with annotations and predictions, page by
    page (the same bytes as ``json.dumps(tasks, indent=1)``). Each task's ``meta.final``
    says which label an export reports, its source, how it was decided and the closed-loop
    round that decided it (as the JSONL export's ``final``)."""
    pages = as_pages(snap)
    by_src = {s.id: s for s in pages.sources}
    obj = _to_name(schema)

    def tasks() -> Iterator[dict[str, Any]]:
        for page in pages.pages():
            per_item: dict[int, list[ExportVote]] = {}
            for a in page.annotations:
                per_item.setdefault(a.item_id, []).append(a)
            finals = final_labels(page.items, page.sources, page.annotations)
            for it in page.items:
                data = dict(it.data)
                main = it.data.get(obj)
                data[obj] = None if main is None else str(main)
                task: dict[str, Any] = {
                    "id": it.id, "data": data,
                    "meta": {"split": it.split, "external_id": it.external_id,
                             "meta": it.meta, "width": it.width, "height": it.height},
                    "annotations": [], "predictions": [],
                }
                final = finals.get(it.id)
                if final is not None:
                    task["meta"]["final"] = {
                        "label": label_names(final.vote, schema),
                        "source": f"{final.source.kind}:{final.source.name}",
                        "decided": final.decided, "round": decided_round(final, pages.loop_round)}
                for a in per_item.get(it.id, []):
                    src = by_src[a.source_id]
                    entry: dict[str, Any] = {"result": _result(a, it, schema)}
                    if src.kind in (SourceKind.HUMAN, SourceKind.GOLD):
                        entry.update(ground_truth=src.kind == SourceKind.GOLD,
                                     completed_by=src.name, lead_time=a.seconds,
                                     was_cancelled=False)
                        task["annotations"].append(entry)
                    elif src.kind in (SourceKind.MODEL, SourceKind.LABEL_MODEL):
                        entry.update(model_version=f"{src.name}@{src.version}" if src.version
                                     else src.name, score=a.confidence)
                        entry["meta"] = {"kind": src.kind, "needs_review": a.needs_review}
                        task["predictions"].append(entry)
                yield task

    with path.open("w", encoding="utf-8") as fh:
        return write_array(fh, tasks(), ensure_ascii=False)


def _parse_spans(result: list[dict[str, Any]], schema: LabelSchema, text: str
                 ) -> list[dict[str, Any]]:
    """``labels`` results as validated spans (a result with several labels: one each)."""
    raw: list[dict[str, Any]] = []
    for r in result:
        if r.get("type") != "labels":
            raise ValidationError(f"result type {r.get('type')!r} is not supported in a spans "
                                  "project (expected 'labels')")
        value = r.get("value") or {}
        raw.extend({"start": value.get("start"), "end": value.get("end"), "label": name,
                    "score": r.get("score")} for name in value.get("labels", []))
    spans = parse_spans(schema, raw, text, allow_overlap=True, snap_to_tokens=False)
    return [s.model_dump(exclude_none=True) for s in spans]


def _parse_result(
    result: list[dict[str, Any]], schema: LabelSchema, width: int | None, height: int | None
) -> tuple[int | None, list[int] | None, list[dict[str, Any]] | None]:
    boxes: list[dict[str, Any]] = []
    choices: list[str] = []
    for r in result:
        value = r.get("value") or {}
        if r.get("type") == "rectanglelabels":
            w = r.get("original_width") or width
            h = r.get("original_height") or height
            if not w or not h:
                raise ValidationError("a rectangle has no original_width/original_height")
            for name in value.get("rectanglelabels", []):
                schema.index_of(name)
                box = {"x": value["x"] * w / 100, "y": value["y"] * h / 100,
                       "w": value["width"] * w / 100, "h": value["height"] * h / 100,
                       "label": name, "score": r.get("score")}
                boxes.append(box)
        elif r.get("type") == "choices":
            choices.extend(value.get("choices", []))
        else:
            raise ValidationError(f"result type {r.get('type')!r} is not supported")
    if schema.task_type.has_boxes:
        return None, None, boxes
    idx = [schema.index_of(c) for c in choices]
    if schema.task_type.multi_label:
        return None, sorted(set(idx)), None
    if len(idx) != 1:
        raise ValidationError(f"expected one choice, got {choices}")
    return idx[0], None, None


def iter_label_studio(path: Path, schema: LabelSchema, *,
                      batch_size: int = BATCH_SIZE) -> Iterator[ParsedImport]:
    """Read a JSON list of Label Studio tasks (or a single task object) in batches.

    The list is read one task at a time (:func:`~labelloop.io.json_stream.iter_array`),
    so memory holds one batch of tasks, not the file.

    Raises
    ------
    ImportValidationError
        After the last task, if any task was bad (or where the JSON breaks).
    """
    report = ImportReport()
    file = str(path)
    obj = _to_name(schema)
    out = ParsedImport()
    n = 0
    with path.open(encoding="utf-8-sig") as fh:
        try:
            for n, task in enumerate(iter_array(fh), start=1):
                _read_task(task, n, file, obj, schema, report, out)
                if len(out.items) >= batch_size:
                    if not report:
                        out.position = text_position(fh)()
                        yield out
                    out = ParsedImport()
        except JsonStreamError as exc:
            report.add(file, exc.line, None, f"not valid JSON ({exc.msg})", "export it again")
        position = text_position(fh)()
    if not n and not report:
        report.add(file, None, None, "the file holds no tasks", "export some tasks")
    if report:
        raise ImportValidationError(report)
    if out.items:
        out.position = position
        yield out


def read_label_studio(path: Path, schema: LabelSchema) -> ParsedImport:
    """Read a whole Label Studio file (:func:`iter_label_studio` reads it in batches)."""
    return collect(iter_label_studio(path, schema))


def _read_task(task: Any, n: int, file: str, obj: str, schema: LabelSchema,
               report: ImportReport, out: ParsedImport) -> None:
    where = f"task {n}"
    data = task.get("data") if isinstance(task, dict) else None
    if not isinstance(data, dict) or data.get(obj) in (None, ""):
        report.add(file, None, f"{where}.data.{obj}", f"the task has no data.{obj}",
                   f"put the {obj} under data.{obj}")
        return
    meta = task.get("meta") or {}
    split = meta.get("split", "unassigned")
    if split not in SPLITS:
        split = "unassigned"
    ext = meta.get("external_id") or (task["id"] if "id" in task and "meta" not in task
                                      else None)
    size = [meta.get("width"), meta.get("height")]
    if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in size):
        report.add(file, None, f"{where}.meta", f"width and height {size} are not whole numbers",
                   "give the image size in pixels, or leave it out")
        return
    extra = meta.get("meta") or {}
    if not isinstance(extra, dict):
        report.add(file, None, f"{where}.meta.meta", "meta.meta is not an object",
                   "give meta.meta as an object, or leave it out")
        return
    item = import_item(dict(data), meta=extra, split=split,
                       external_id=None if ext is None else str(ext),
                       width=size[0], height=size[1])
    ok = True
    for field, kind_of in (("annotations", _ann_source), ("predictions", _pred_source)):
        for m, entry in enumerate(task.get(field) or []):
            if entry.get("was_cancelled"):
                continue
            spans = None
            try:
                if schema.task_type.has_spans:
                    label, labels, boxes = None, None, None
                    spans = _parse_spans(entry.get("result") or [], schema, str(data[obj]))
                else:
                    label, labels, boxes = _parse_result(entry.get("result") or [], schema,
                                                         item.width, item.height)
            except (ValidationError, KeyError, TypeError) as exc:
                report.add(file, None, f"{where}.{field}[{m}]", str(exc),
                           "fix the result or the label schema")
                ok = False
                continue
            kind, name, version = kind_of(entry)
            conf = entry.get("score")
            meta_p = entry.get("meta") or {}
            out.annotations.append(PendingAnnotation(
                item.content_hash, kind, name, version, label=label, labels=labels,
                boxes=boxes, confidence=conf,
                needs_review=bool(meta_p.get("needs_review", False)), spans=spans,
            ))
    if ok:
        out.items.append(item)


def _ann_source(entry: dict[str, Any]) -> tuple[str, str, str]:
    who = entry.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    kind = SourceKind.GOLD if entry.get("ground_truth") else SourceKind.HUMAN
    return kind, str(who) if who not in (None, "") else "label-studio", ""


def _pred_source(entry: dict[str, Any]) -> tuple[str, str, str]:
    mv = str(entry.get("model_version") or "label-studio-prediction")
    name, _, version = mv.partition("@")
    kind = (entry.get("meta") or {}).get("kind", SourceKind.MODEL)
    is_lm = kind == SourceKind.LABEL_MODEL
    return (SourceKind.LABEL_MODEL if is_lm else SourceKind.MODEL), name, version

