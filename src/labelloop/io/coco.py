"""COCO object-detection import and export (boxes in pixels, ids from 1).

Import keeps every image as an item (``data.image`` is the file name, resolved against
``image_root`` when given) and the boxes as one annotation per image from one source.
Export writes the final boxes per image (gold, else human, else model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from labelloop.core.records import ItemRecord, PendingAnnotation, Snapshot, Split
from labelloop.core.schema import LabelSchema
from labelloop.errors import ImportReport, ImportValidationError, ValidationError
from labelloop.io.common import ImportOptions, ParsedImport, final_labels


def read_coco(
    path: Path, schema: LabelSchema, options: ImportOptions, *, image_root: Path | None = None
) -> ParsedImport:
    """Read a COCO detection file into image items with boxes."""
    file = str(path)
    report = ImportReport()
    if not schema.task_type.has_boxes:
        raise ValidationError(
            f"COCO files hold boxes; this project's task is {schema.task!r} "
            "(create an object-detection project)"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        report.add(file, exc.lineno, None, f"not valid JSON ({exc.msg})", "check the file")
        raise ImportValidationError(report) from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(raw.get(key), list):
            report.add(file, None, key, f"missing the {key!r} list", "is this a COCO file?")
    if report:
        raise ImportValidationError(report)
    cats: dict[int, str] = {}
    for c in raw["categories"]:
        try:
            schema.index_of(c["name"])
            cats[int(c["id"])] = schema.names[schema.index_of(c["name"])]
        except (ValidationError, KeyError) as exc:
            report.add(file, None, f"categories[{c.get('id')}]", str(exc),
                       "add the class to the label schema")
    boxes: dict[int, list[dict[str, Any]]] = {}
    for n, a in enumerate(raw["annotations"]):
        try:
            x, y, w, h = (float(v) for v in a["bbox"])
            if w <= 0 or h <= 0:
                raise ValueError(f"bbox {a['bbox']} has no area")
            label = cats[int(a["category_id"])]
        except (KeyError, ValueError, TypeError) as exc:
            report.add(file, None, f"annotations[{n}]", f"bad annotation: {exc}",
                       "each annotation needs image_id, category_id, bbox [x,y,w,h]")
            continue
        box = {"x": x, "y": y, "w": w, "h": h, "label": label, "score": a.get("score")}
        boxes.setdefault(int(a["image_id"]), []).append(box)
    out = ParsedImport()
    source = options.label_source or f"coco:{path.name}"
    for n, img in enumerate(raw["images"]):
        try:
            name = str(img["file_name"])
            width, height = int(img["width"]), int(img["height"])
        except (KeyError, ValueError, TypeError) as exc:
            report.add(file, None, f"images[{n}]", f"bad image entry: {exc}",
                       "each image needs id, file_name, width, height")
            continue
        image = str((image_root / name).resolve()) if image_root else name
        # ImportOptions checks that split is one of SPLITS
        split = cast(Split, options.split or "unassigned")
        item = ItemRecord(data={"image": image}, width=width, height=height,
                          external_id=str(img.get("id")), split=split)
        out.items.append(item)
        if int(img["id"]) in boxes:
            out.annotations.append(PendingAnnotation(
                item.content_hash, options.label_kind, source,
                boxes=boxes[int(img["id"])],
            ))
    if report:
        raise ImportValidationError(report)
    return out


def write_coco(path: Path, snap: Snapshot, schema: LabelSchema) -> int:
    """Write a COCO detection file: images, categories (ids from 1), final boxes."""
    finals = final_labels(snap.items, snap.sources, snap.annotations)
    cat_id = {name: n + 1 for n, name in enumerate(schema.names)}
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for n, it in enumerate(snap.items, start=1):
        assert it.id is not None
        if not it.width or not it.height:
            raise ValidationError(f"item {it.id} has no image width/height; COCO needs them")
        images.append({"id": n, "file_name": it.image or "", "width": it.width,
                       "height": it.height})
        final = finals.get(it.id)
        for b in (final[0].boxes or []) if final else []:
            entry: dict[str, Any] = {
                "id": len(anns) + 1, "image_id": n, "category_id": cat_id[b.label],
                "bbox": [b.x, b.y, b.w, b.h], "area": b.w * b.h, "iscrowd": 0,
            }
            if b.score is not None:
                entry["score"] = b.score
            anns.append(entry)
    doc = {
        "info": {"description": "exported by labelloop"},
        "images": images,
        "annotations": anns,
        "categories": [{"id": cat_id[c.name], "name": c.name, "supercategory": "none"}
                       for c in schema.classes],
    }
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return len(images)
