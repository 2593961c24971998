"""COCO object-detection import and export (boxes in pixels, ids from 1).

Import keeps every image as an item (``data.image`` is the file name, resolved against
``image_root`` when given) and the boxes as one annotation per image from one source.
Export writes the final boxes per image (gold, else human, else model).

A COCO file lists every box apart from its image, so the reader loads the document whole
(detection sets hold thousands of images, not millions of rows) and yields its items in
batches; the writer streams, in two passes over the export's pages (images, then boxes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from labelloop.core.records import ImportItem, PendingAnnotation, Snapshot, Split, import_item
from labelloop.core.schema import LabelSchema
from labelloop.errors import ImportReport, ImportValidationError, ValidationError
from labelloop.io.common import (
    BATCH_SIZE,
    ImportOptions,
    ParsedImport,
    SnapshotPages,
    as_pages,
    collect,
    final_labels,
)
from labelloop.io.json_stream import dumps_at, write_array


def read_coco(
    path: Path, schema: LabelSchema, options: ImportOptions, *, image_root: Path | None = None
) -> ParsedImport:
    """Read a COCO detection file into image items with boxes."""
    return collect(iter_coco(path, schema, options, image_root=image_root))


def iter_coco(
    path: Path, schema: LabelSchema, options: ImportOptions, *, image_root: Path | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[ParsedImport]:
    """Read a COCO detection file into batches of image items with boxes.

    Raises
    ------
    ImportValidationError
        Before the first batch, if any image, box or category is bad.
    """
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
    source = options.label_source or f"coco:{path.name}"
    # ImportOptions checks that split is one of SPLITS
    split = cast(Split, options.split or "unassigned")
    items: list[tuple[ImportItem, PendingAnnotation | None]] = []
    for n, img in enumerate(raw["images"]):
        try:
            name = str(img["file_name"])
            width, height = int(img["width"]), int(img["height"])
        except (KeyError, ValueError, TypeError) as exc:
            report.add(file, None, f"images[{n}]", f"bad image entry: {exc}",
                       "each image needs id, file_name, width, height")
            continue
        image = str((image_root / name).resolve()) if image_root else name
        item = import_item({"image": image}, width=width, height=height,
                           external_id=str(img.get("id")), split=split)
        ann = None
        if int(img["id"]) in boxes:
            ann = PendingAnnotation(item.content_hash, options.label_kind, source,
                                    boxes=boxes[int(img["id"])])
        items.append((item, ann))
    if report:
        raise ImportValidationError(report)
    size = path.stat().st_size
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        yield ParsedImport([it for it, _ in chunk], [a for _, a in chunk if a is not None],
                           position=size)


def write_coco(path: Path, snap: Snapshot | SnapshotPages, schema: LabelSchema) -> int:
    """Write a COCO detection file: images, categories (ids from 1), final boxes.

    Two passes over the pages (images, then annotations), one page in memory at a time;
    the same bytes as ``json.dumps(doc, indent=1)``.
    """
    pages = as_pages(snap)
    cat_id = {name: n + 1 for n, name in enumerate(schema.names)}

    def images() -> Iterator[dict[str, Any]]:
        n = 0
        for page in pages.pages(annotations=False):
            for it in page.items:
                if not it.width or not it.height:
                    raise ValidationError(
                        f"item {it.id} has no image width/height; COCO needs them")
                n += 1
                image = it.data.get("image")
                yield {"id": n, "file_name": "" if image is None else str(image),
                       "width": it.width, "height": it.height}

    def annotations() -> Iterator[dict[str, Any]]:
        n = ann_id = 0
        for page in pages.pages():
            finals = final_labels(page.items, page.sources, page.annotations)
            for it in page.items:
                n += 1
                final = finals.get(it.id)
                for b in (final[0].boxes or []) if final else []:
                    ann_id += 1
                    entry: dict[str, Any] = {
                        "id": ann_id, "image_id": n, "category_id": cat_id[b.label],
                        "bbox": [b.x, b.y, b.w, b.h], "area": b.w * b.h, "iscrowd": 0,
                    }
                    if b.score is not None:
                        entry["score"] = b.score
                    yield entry

    categories = [{"id": cat_id[c.name], "name": c.name, "supercategory": "none"}
                  for c in schema.classes]
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{\n "info": ' + dumps_at({"description": "exported by labelloop"}, 1))
        fh.write(',\n "images": ')
        count = write_array(fh, images(), 1)
        fh.write(',\n "annotations": ')
        write_array(fh, annotations(), 1)
        fh.write(',\n "categories": ')
        write_array(fh, categories, 1)
        fh.write("\n}")
    return count
