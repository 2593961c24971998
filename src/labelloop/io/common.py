"""What every format shares: import options, parsed imports in batches, row validation,
the pages an export reads, final labels.

Imports stream: a reader yields :class:`ParsedImport` batches of at most ``batch_size``
rows while it validates, collecting row problems in one report, and raises
:class:`~labelloop.errors.ImportValidationError` at the end of the file when there were
any (after the first problem it yields no more items, only how far it read). The caller
stores the batches in one transaction, so the exception rolls everything back: all or
nothing, in memory bounded by one batch (plus about 24 bytes per row for the duplicate
checks, :class:`~labelloop.io.seen.FirstSeen`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any, Generic, NamedTuple, Protocol, TypeVar

from pydantic import ValidationError as PydanticValidationError

from labelloop.core.records import (
    LOOP_SOURCE,
    SPLITS,
    AnnotationRecord,
    Box,
    ExportItem,
    ExportPage,
    ExportVote,
    ImportItem,
    ItemRecord,
    PendingAnnotation,
    Snapshot,
    SourceKind,
    SourceRecord,
    encode_data,
    export_page,
)
from labelloop.core.schema import LabelSchema
from labelloop.errors import ImportReport, ImportValidationError, ValidationError
from labelloop.io.seen import Occurrences

TEXT_FIELDS = ("text", "content", "comment", "sentence", "body", "message", "document")
IMAGE_FIELDS = ("image", "image_path", "image_url", "file_name", "path", "url")
LABEL_FIELDS = ("label", "labels", "class", "category", "target")
SPLIT_FIELDS = ("split",)
ID_FIELDS = ("id", "external_id", "comment_id", "item_id")
LABEL_KINDS = (SourceKind.HUMAN, SourceKind.GOLD, SourceKind.MODEL)
BATCH_SIZE = 2000
"""Rows per batch an import reader yields (and the store writes)."""


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
    """Items and annotations read from a file (or one batch of it), ready to store.

    ``position`` is how far into the file the reader got (bytes; 0 when unknown) and
    ``rows`` how many rows of the file the batch covers, bad ones too (0: as many as it
    has items), for progress bars. An annotation's item is in the same batch.
    """

    items: list[ImportItem] = field(default_factory=list)
    annotations: list[PendingAnnotation] = field(default_factory=list)
    position: int = 0
    rows: int = 0


def is_web_url(image: str) -> bool:
    """Whether an image reference is a web URL (served by its own host, never by us)."""
    return image.startswith(("http://", "https://"))


def text_position(fh: IO[str]) -> Callable[[], int]:
    """How many bytes of a text file were read so far (its buffer's position)."""
    buffer: Any = getattr(fh, "buffer", None)
    return buffer.tell if buffer is not None else lambda: 0


def collect(batches: Iterable[ParsedImport]) -> ParsedImport:
    """Every batch of a streaming reader in one :class:`ParsedImport` (whole file in memory)."""
    out = ParsedImport()
    for b in batches:
        out.items.extend(b.items)
        out.annotations.extend(b.annotations)
        out.position = b.position
    return out


class SnapshotPages(Protocol):
    """What an export writer reads: every source, the items with their annotations page by
    page as plain tuples (:class:`~labelloop.core.records.ExportPage`), and the names of
    the items' data fields (``labelloop.storage`` hands one out from one read transaction)."""

    sources: list[SourceRecord]
    loop_round: int | None

    def pages(self, *, annotations: bool = True) -> Iterator[ExportPage]: ...

    def data_keys(self) -> list[str]: ...


class WholeSnapshot:
    """A :class:`~labelloop.core.records.Snapshot` of records in memory, as one page."""

    def __init__(self, snap: Snapshot) -> None:
        self.page = export_page(snap)
        self.sources = snap.sources
        self.loop_round: int | None = None

    def pages(self, *, annotations: bool = True) -> Iterator[ExportPage]:
        """The one page: the whole snapshot."""
        yield self.page if annotations else ExportPage(self.page.items, self.sources, [])

    def data_keys(self) -> list[str]:
        """Names of the items' data fields in order of first appearance."""
        return list(dict.fromkeys(k for it in self.page.items for k in it.data))


def as_pages(snap: Snapshot | SnapshotPages) -> SnapshotPages:
    """Pages of a snapshot: a stream as it is, a whole snapshot of records as one page."""
    return WholeSnapshot(snap) if isinstance(snap, Snapshot) else snap


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

    Raises
    ------
    ValidationError
        If the label is not a class, or the project labels spans (a cell holds no spans).
    """
    if schema.task_type.has_spans:
        raise ValidationError("a spans project takes no label column; import its spans in "
                              "labelloop's JSONL (annotations with 'spans'), or pass "
                              "--label-column ''")
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


def parse_boxes(value: Any, schema: LabelSchema) -> list[dict[str, Any]]:
    """Boxes from a label cell: a list (or JSON list) of ``{x, y, w, h, label}`` objects,
    as the CSV export writes them; every label must be one of the schema's classes.

    Raises
    ------
    ValidationError
        Naming the first box that is malformed or has an unknown class.
    """
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list):
        raise ValidationError("boxes must be a JSON list of {x, y, w, h, label} objects")
    out = []
    for n, raw in enumerate(value, 1):
        try:
            box = Box.model_validate(raw)
        except PydanticValidationError as exc:
            raise ValidationError(f"box {n}: {exc.errors()[0]['msg']} ({raw!r})") from None
        schema.index_of(box.label)
        out.append(box.model_dump(exclude_none=True))
    return out


def is_blank(value: Any) -> bool:
    """True for None, NaN and empty strings (a row without a label)."""
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and not value.strip()


def _blank(value: Any) -> bool:
    """:func:`is_blank`, quicker for the usual cell (a string)."""
    if value.__class__ is str:
        return not value or value.isspace()
    return is_blank(value)


class RowParser:
    """Validates tabular rows into items and annotations: :meth:`parse` one row at a time,
    :meth:`finish` each batch (no validation model per row: the data is encoded and
    hashed once, see :class:`~labelloop.core.records.ImportItem`).

    The text (or image), label, split and id columns are chosen once, from ``columns``.

    Raises
    ------
    ImportValidationError
        On construction, if the file has no text (image) column or lacks the label
        column asked for.
    """

    def __init__(self, columns: list[str], *, file: str, schema: LabelSchema,
                 options: ImportOptions, report: ImportReport,
                 image_root: Path | None = None) -> None:
        self.file, self.schema, self.options, self.report = file, schema, options, report
        image_task = schema.task_type.is_image
        self.image_task = image_task
        self.image_root = image_root
        main_col = _pick(columns, options.image_column if image_task else options.text_column,
                         IMAGE_FIELDS if image_task else TEXT_FIELDS)
        self.main_key = schema.task_type.media
        if main_col is None or main_col not in columns:
            flag = "--image-column" if image_task else "--text-column"
            report.add(file, None, main_col, f"no {self.main_key} column among {columns}",
                       f"name it with {flag}")
            raise ImportValidationError(report)
        self.main_col = main_col
        label_col = _pick(columns, options.label_column, LABEL_FIELDS)
        if label_col is not None and label_col not in columns:
            report.add(file, None, label_col, f"label column not found among {columns}",
                       "check --label-column")
            raise ImportValidationError(report)
        self.label_col = label_col
        self.split_col = _pick(columns, options.split_column, SPLIT_FIELDS)
        self.id_col = _pick(columns, options.id_column, ID_FIELDS)
        self.source_name = options.label_source or f"import:{file.rsplit('/', 1)[-1]}"
        self.copies = Occurrences()
        self._rows: list[tuple[Any, ...]] = []
        self._skip = {c for c in (main_col, label_col, self.split_col) if c is not None}

    def parse(self, line: int, row: Mapping[str, Any]) -> None:
        """Read the row's item (and label) into the batch :meth:`finish` completes, or add
        its problem to the report."""
        file, report, options = self.file, self.report, self.options
        main_col, label_col, split_col, id_col = (self.main_col, self.label_col,
                                                  self.split_col, self.id_col)
        main = row.get(main_col)
        if _blank(main):
            report.add(file, line, main_col, f"the {self.main_key} is empty",
                       f"give every row a {self.main_key} or remove the row")
            return
        if self.image_task:
            value = str(main).strip()
            if self.image_root is not None and not is_web_url(value) and (
                    not Path(value).is_absolute()):
                value = str(self.image_root / value)
        else:
            value = str(main).replace("\ufeff", "").strip()
        data: dict[str, Any] = {self.main_key: value}
        skip = self._skip
        for key, val in row.items():
            if key in skip or _blank(val):
                continue
            plain = isinstance(val, str | int | float | bool)
            data.setdefault(str(key), val if plain else str(val))
        split = options.split or "unassigned"
        if split_col is not None and not _blank(cell := row.get(split_col)):
            split = str(cell).strip().lower()
            if split not in SPLITS:
                report.add(file, line, split_col, f"unknown split {cell!r}",
                           f"use one of {', '.join(SPLITS)}")
                return
        ext = None if id_col is None or _blank(cell := row.get(id_col)) else str(cell)
        label = labels = boxes = None
        labelled = False
        wanted = options.label_splits is None or split in options.label_splits
        if label_col is not None and wanted and not _blank(cell := row.get(label_col)):
            try:
                if self.schema.task_type.has_boxes:
                    boxes = parse_boxes(cell, self.schema)
                else:
                    label, labels = parse_label(cell, self.schema)
            except (ValidationError, json.JSONDecodeError) as exc:
                report.add(file, line, label_col, str(exc),
                           "fix the label or add the class to the schema")
                return
            labelled = True
        data_json, digest = encode_data(data)
        self._rows.append((data, data_json, digest, split, ext, label, labels, boxes,
                           labelled))

    def finish(self, out: ParsedImport) -> None:
        """Complete ``out`` with the items (and labels) of the rows parsed since the last
        call: identical rows are numbered (:class:`~labelloop.io.seen.Occurrences`) for the
        whole batch at once."""
        rows, self._rows = self._rows, []
        hashes = self.copies.hashes_of([r[2] for r in rows])
        kind, name = self.options.label_kind, self.source_name
        items, annotations = out.items, out.annotations
        for h, (data, data_json, digest, split, ext, label, labels, boxes, labelled) in zip(
                hashes, rows, strict=True):
            items.append(ImportItem(h, data, data_json, digest, split, ext))
            if labelled:
                annotations.append(PendingAnnotation(h, kind, name, label=label,
                                                     labels=labels, boxes=boxes))


def iter_rows_import(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    file: str,
    schema: LabelSchema,
    options: ImportOptions,
    report: ImportReport | None = None,
    columns: list[str] | None = None,
    batch_size: int = BATCH_SIZE,
    position: Any = None,
    image_root: Path | None = None,
) -> Iterator[ParsedImport]:
    """Validate tabular rows ``(line_number, row)`` into batches of items and annotations.

    ``columns`` (a CSV header) chooses the text, label, split and id columns; without it
    the keys of the first batch of rows do. ``report`` collects the problems of the rows
    (the caller may add its own, e.g. malformed CSV lines); ``position()`` tells how far
    into the file the rows come from. A relative image path is read as relative to
    ``image_root`` when one is given (the folder of the imported file).

    Raises
    ------
    ImportValidationError
        At the end, with one entry per bad row (file, line, field, problem, fix); after
        the first problem the batches yielded are empty, telling only how far the
        reading got (``position``, ``rows``).
    """
    report = ImportReport() if report is None else report
    it = iter(rows)
    first = list(islice(it, batch_size))
    if not first:
        if not report:
            report.add(file, None, None, "the file holds no rows", "add at least one item")
        raise ImportValidationError(report)
    cols = columns if columns is not None else list(dict.fromkeys(k for _, r in first for k in r))
    parser = RowParser(cols, file=file, schema=schema, options=options, report=report,
                       image_root=image_root)
    chunk: list[tuple[int, Mapping[str, Any]]] = first
    while chunk:
        out = ParsedImport()
        for line, row in chunk:
            parser.parse(line, row)
        parser.finish(out)
        if report:  # nothing more to store: only how far the reading got
            out = ParsedImport()
        out.position = position() if position is not None else 0
        out.rows = len(chunk)
        yield out
        chunk = list(islice(it, batch_size))
    if report:
        raise ImportValidationError(report)


def rows_to_import(
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    *,
    file: str,
    schema: LabelSchema,
    options: ImportOptions,
) -> ParsedImport:
    """Validate tabular rows ``(line_number, row)`` into items and annotations (all rows
    in memory; :func:`iter_rows_import` streams them).

    Raises
    ------
    ImportValidationError
        With one entry per bad row (file, line, field, problem, fix); nothing is returned.
    """
    return collect(iter_rows_import(rows, file=file, schema=schema, options=options))


_PRECEDENCE = {
    SourceKind.GOLD: 0, SourceKind.HUMAN: 1, SourceKind.LABEL_MODEL: 2, SourceKind.MODEL: 3,
}
V = TypeVar("V", AnnotationRecord, ExportVote)


class Final(NamedTuple, Generic[V]):
    """The answer an export reports for an item, its source, and whether people disagree
    on it with no majority and no gold (then it still needs a review)."""

    vote: V
    source: SourceRecord
    disputed: bool = False

    @property
    def decided(self) -> str:
        """How the label was decided: ``gold``, ``human``, ``auto-accepted`` (a label model
        or model answer no person checked, trusted under the calibrated thresholds) or
        ``needs-review`` (a flagged draft, or people who disagree with no majority)."""
        if self.source.kind == SourceKind.GOLD:
            return "gold"
        if self.disputed or self.vote.needs_review:
            return "needs-review"
        return "human" if self.source.kind == SourceKind.HUMAN else "auto-accepted"


def decided_round(final: Final[Any], loop_round: int | None) -> int | None:
    """The closed-loop round that decided an export's label: ``loop_round`` (the newest
    finished one) when the label is the loop's posterior, else ``None``."""
    loop = final.source.kind == SourceKind.LABEL_MODEL and final.source.name == LOOP_SOURCE
    return loop_round if loop else None


def final_labels(
    items: Sequence[ItemRecord | ExportItem], sources: list[SourceRecord],
    annotations: Iterable[V],
) -> dict[int, Final[V]]:
    """The label an export reports per item: gold, else the human majority, else the label
    model, else a model draft.

    Among several gold sources the earliest wins; among label models or model drafts the
    newest source (a model drafted again after new labels) wins; a tie between humans goes
    to the answer given first (in annotation order) and is marked ``disputed``.
    """
    by_id = {s.id: s for s in sources}
    rank = {s.id: _PRECEDENCE[s.kind] for s in sources if s.kind in _PRECEDENCE}
    best: dict[int, tuple[int, list[V]]] = {}
    for a in annotations:
        r = rank.get(a.source_id)
        if r is None:
            continue
        cur = best.get(a.item_id)
        if cur is None or r < cur[0]:
            best[a.item_id] = (r, [a])
        elif r == cur[0]:
            cur[1].append(a)
    out: dict[int, Final[V]] = {}
    for item_id, (r, cands) in best.items():
        disputed = False
        if len(cands) == 1 or r == 0:
            pick = cands[0]
        elif r != 1:
            pick = max(cands, key=lambda c: c.source_id)
        else:
            votes = Counter(_answer(c) for c in cands).most_common(2)
            top = votes[0][0]
            disputed = len(votes) > 1 and votes[1][1] == votes[0][1]
            pick = next(c for c in cands if _answer(c) == top)
        out[item_id] = Final(pick, by_id[pick.source_id], disputed)
    return out


def _answer(a: AnnotationRecord | ExportVote) -> Any:
    if a.spans is not None:
        return tuple(s.key() for s in a.spans)
    return a.label if a.label is not None else tuple(a.labels or ())


def label_names(a: AnnotationRecord | ExportVote, schema: LabelSchema) -> str | list[str] | None:
    """Class name(s) of an annotation."""
    if a.label is not None:
        return schema.names[a.label]
    if a.labels is not None:
        return [schema.names[i] for i in a.labels]
    return None
