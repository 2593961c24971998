"""What every format shares: import options, parsed imports, row validation, final labels."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labelloop.core.records import (
    SPLITS,
    AnnotationRecord,
    ItemRecord,
    PendingAnnotation,
    SourceKind,
    SourceRecord,
    occurrence_hash,
)
from labelloop.core.schema import LabelSchema
from labelloop.errors import ImportReport, ImportValidationError, ValidationError

TEXT_FIELDS = ("text", "content", "comment", "sentence", "body", "message", "document")
IMAGE_FIELDS = ("image", "image_path", "image_url", "file_name", "path", "url")
LABEL_FIELDS = ("label", "labels", "class", "category", "target")
SPLIT_FIELDS = ("split",)
ID_FIELDS = ("id", "external_id", "comment_id", "item_id")
LABEL_KINDS = (SourceKind.HUMAN, SourceKind.GOLD, SourceKind.MODEL)


@dataclass(frozen=True)
class ImportOptions:
    """How to read rows of a tabular file (CSV, JSONL, DataFrame, HF dataset).

    Attributes
    ----------
    text_column, image_column:
        The field holding the text (or image path/URL); found by name when None.
    label_column:
        The field holding a label; found by name when None; ``""`` means no labels.
    label_kind, label_source:
        Labels in the file become annotations of this source kind and name.
    label_splits:
        Only take labels for rows of these splits (e.g. gold for valid/test only).
    split_column, split:
        Where each row's split comes from, or one split for every row.
    id_column:
        The field holding an external id, kept with the item.
    """

    text_column: str | None = None
    image_column: str | None = None
    label_column: str | None = None
    label_kind: str = SourceKind.HUMAN
    label_source: str | None = None
    label_splits: frozenset[str] | None = None
    split_column: str | None = None
    split: str | None = None
    id_column: str | None = None

    def __post_init__(self) -> None:
        if self.label_kind not in LABEL_KINDS:
            raise ValidationError(
                f"label kind {self.label_kind!r} is not allowed for imports; "
                f"use one of {', '.join(LABEL_KINDS)}"
            )
        if self.split is not None and self.split not in SPLITS:
            raise ValidationError(f"split {self.split!r} is unknown; use one of {SPLITS}")


@dataclass
class ParsedImport:
    """Items and annotations read from a file, ready for one transaction."""

    items: list[ItemRecord] = field(default_factory=list)
    annotations: list[PendingAnnotation] = field(default_factory=list)


def _pick(columns: Iterable[str], explicit: str | None, candidates: tuple[str, ...]) -> str | None:
    cols = list(columns)
    if explicit is not None:
        return explicit or None
    lowered = {c.lower().strip(): c for c in cols}
    for cand in candidates:
        if cand in lowered:
            return lowered[cand]
    return None


def parse_label(value: Any, schema: LabelSchema) -> tuple[int | None, list[int] | None]:
    """Turn a label cell into ``(label, labels)`` for the schema's task.

    Multi-label cells may be a list, a JSON list, or names separated by ``;`` or ``|``.
    """
    if schema.task_type.multi_label:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                value = json.loads(text)
            else:
                value = [v for v in text.replace("|", ";").split(";") if v.strip()]
        if not isinstance(value, list | tuple):
            value = [value]
        return None, sorted({schema.index_of(v) for v in value})
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return schema.index_of(value), None


def is_blank(value: Any) -> bool:
    """True for None, NaN and empty strings (a row without a label)."""
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and not value.strip()


def rows_to_import(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    file: str,
    schema: LabelSchema,
    options: ImportOptions,
) -> ParsedImport:
    """Validate tabular rows ``(line_number, row)`` into items and annotations.

    Raises
    ------
    ImportValidationError
        With one entry per bad row (file, line, field, problem, fix); nothing is returned.
    """
    report = ImportReport()
    out = ParsedImport()
    rows = list(rows)
    if not rows:
        report.add(file, None, None, "the file holds no rows", "add at least one item")
        raise ImportValidationError(report)
    columns = list(dict.fromkeys(k for _, r in rows for k in r))
    image_task = schema.task_type.is_image
    main_col = _pick(columns, options.image_column if image_task else options.text_column,
                     IMAGE_FIELDS if image_task else TEXT_FIELDS)
    main_key = schema.task_type.media
    if main_col is None or main_col not in columns:
        flag = "--image-column" if image_task else "--text-column"
        report.add(file, None, main_col, f"no {main_key} column among {columns}",
                   f"name it with {flag}")
        raise ImportValidationError(report)
    label_col = _pick(columns, options.label_column, LABEL_FIELDS)
    if label_col is not None and label_col not in columns:
        report.add(file, None, label_col, f"label column not found among {columns}",
                   "check --label-column")
        raise ImportValidationError(report)
    split_col = _pick(columns, options.split_column, SPLIT_FIELDS)
    id_col = _pick(columns, options.id_column, ID_FIELDS)
    source_name = options.label_source or f"import:{file.rsplit('/', 1)[-1]}"
    copies: Counter[str] = Counter()
    for line, row in rows:
        main = row.get(main_col)
        if is_blank(main):
            report.add(file, line, main_col, f"the {main_key} is empty",
                       f"give every row a {main_key} or remove the row")
            continue
        value = str(main) if image_task else str(main).replace("\ufeff", "").strip()
        data: dict[str, Any] = {main_key: value}
        for key, val in row.items():
            if key in (main_col, label_col, split_col) or is_blank(val):
                continue
            plain = isinstance(val, str | int | float | bool)
            data.setdefault(str(key), val if plain else str(val))
        split = options.split or "unassigned"
        if split_col is not None and not is_blank(row.get(split_col)):
            split = str(row[split_col]).strip().lower()
            if split not in SPLITS:
                report.add(file, line, split_col, f"unknown split {row[split_col]!r}",
                           f"use one of {', '.join(SPLITS)}")
                continue
        ext = None if id_col is None or is_blank(row.get(id_col)) else str(row[id_col])
        item = ItemRecord(data=data, split=split, external_id=ext)  # type: ignore[arg-type]
        base = item.content_hash
        item.content_hash = occurrence_hash(base, copies[base])
        copies[base] += 1
        wanted = options.label_splits is None or split in options.label_splits
        if label_col is not None and wanted and not is_blank(row.get(label_col)):
            try:
                label, labels = parse_label(row[label_col], schema)
            except (ValidationError, json.JSONDecodeError) as exc:
                report.add(file, line, label_col, str(exc),
                           "fix the label or add the class to the schema")
                continue
            out.annotations.append(PendingAnnotation(
                item.content_hash, options.label_kind, source_name,
                label=label, labels=labels,
            ))
        out.items.append(item)
    if report:
        raise ImportValidationError(report)
    return out


def final_labels(
    items: list[ItemRecord], sources: list[SourceRecord], annotations: list[AnnotationRecord]
) -> dict[int, tuple[AnnotationRecord, SourceRecord]]:
    """The label an export reports per item: gold, else the human majority, else the label
    model, else a model draft.

    Among several gold sources the earliest wins; among label models or model drafts the
    newest source (a model drafted again after new labels) wins.
    """
    by_id = {s.id: s for s in sources}
    order = {
        SourceKind.GOLD: 0, SourceKind.HUMAN: 1, SourceKind.LABEL_MODEL: 2, SourceKind.MODEL: 3
    }
    best: dict[int, list[tuple[AnnotationRecord, SourceRecord]]] = {}
    for a in annotations:
        src = by_id[a.source_id]
        if src.kind not in order:
            continue
        cur = best.get(a.item_id)
        if cur is None or order[src.kind] < order[cur[0][1].kind]:
            best[a.item_id] = [(a, src)]
        elif order[src.kind] == order[cur[0][1].kind]:
            cur.append((a, src))
    out: dict[int, tuple[AnnotationRecord, SourceRecord]] = {}
    for item_id, cands in best.items():
        kind = cands[0][1].kind
        if len(cands) == 1 or kind == SourceKind.GOLD:
            out[item_id] = cands[0]
            continue
        if kind != SourceKind.HUMAN:
            out[item_id] = max(cands, key=lambda c: c[1].id or 0)
            continue
        votes = Counter(
            a.label if a.label is not None else tuple(a.labels or ()) for a, _ in cands
        )
        top = votes.most_common(1)[0][0]
        out[item_id] = next(
            c for c in cands
            if (c[0].label if c[0].label is not None else tuple(c[0].labels or ())) == top
        )
    return out


def label_names(a: AnnotationRecord, schema: LabelSchema) -> str | list[str] | None:
    """Class name(s) of an annotation."""
    if a.label is not None:
        return schema.names[a.label]
    if a.labels is not None:
        return [schema.names[i] for i in a.labels]
    return None
