"""The table of file formats: name -> reader, writer, file suffixes and task types.

Everything that lists, detects or dispatches formats (``Project.import_file`` and
``export``, the CLI's ``--format`` help, the server's export route) reads :data:`FORMATS`;
a new format is one more row.

Examples
--------
>>> from labelloop.io.formats import FORMATS
>>> FORMATS["coco"].suffixes, sorted(FORMATS["coco"].writes)
(('.json',), ['object-detection'])
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from labelloop.core.records import Snapshot
from labelloop.core.schema import LabelSchema
from labelloop.core.tasks import TASK_TYPES
from labelloop.errors import UserInputError, ValidationError
from labelloop.io.coco import iter_coco, write_coco
from labelloop.io.common import BATCH_SIZE, ImportOptions, ParsedImport, SnapshotPages, collect
from labelloop.io.csv_format import iter_csv, write_csv
from labelloop.io.hf_datasets import write_hf
from labelloop.io.hf_tokens import write_hf_tokens
from labelloop.io.jsonl import iter_jsonl, write_jsonl
from labelloop.io.label_studio import iter_label_studio, write_label_studio
from labelloop.io.spacy_docbin import iter_docbin, write_docbin
from labelloop.io.span_formats import iter_conll, iter_prodigy, write_conll, write_prodigy

Direction = Literal["import", "export"]
Reader = Callable[[Path, LabelSchema, ImportOptions, Path | None, int], Iterator[ParsedImport]]
"""``reader(path, schema, options, image_root, batch_size)``: parse a file in batches,
validating every row; raises ``ImportValidationError`` after the last row if any was bad."""
Writer = Callable[[Path, Snapshot | SnapshotPages, LabelSchema], int]
"""``writer(path, pages, schema)``: write a snapshot (whole, or page by page from
storage's export stream), return the number of items."""


@dataclass(frozen=True)
class Format:
    """One import/export format.

    Attributes
    ----------
    name:
        What ``--format`` and ``format=`` take.
    suffixes:
        File suffixes that select this format when no format is given (``""``: a folder).
    reads, writes:
        Task types (names) it imports and exports; other pairs raise ``ValidationError``.
    reader, writer:
        The functions doing the work; None where the format only goes one way.
    sniff:
        For a suffix several formats share: does this file's content look like this format?
    folder:
        The export is a folder, not one file.
    detect:
        Whether its suffixes select it when no format is given (False: only by name,
        e.g. ``prodigy``, whose ``.jsonl`` belongs to ``jsonl``).
    """

    name: str
    suffixes: tuple[str, ...]
    reads: frozenset[str]
    writes: frozenset[str]
    reader: Reader | None = None
    writer: Writer | None = None
    sniff: Callable[[Path], bool] | None = None
    folder: bool = False
    detect: bool = True

    def __post_init__(self) -> None:
        if bool(self.reads) != (self.reader is not None):
            raise ValueError(f"format {self.name}: task types to read need a reader")
        if bool(self.writes) != (self.writer is not None):
            raise ValueError(f"format {self.name}: task types to write need a writer")

    def tasks(self, direction: Direction) -> frozenset[str]:
        """Task types this format imports (``"import"``) or exports (``"export"``)."""
        return self.reads if direction == "import" else self.writes

    def check(self, task: str, direction: Direction) -> None:
        """Raise ``ValidationError`` unless this format can import/export ``task``."""
        if task in self.tasks(direction):
            return
        able = [f.name for f in FORMATS.values() if task in f.tasks(direction)]
        raise ValidationError(
            f"{self.name} cannot {direction} {task} projects; "
            f"formats that can: {', '.join(able) or 'none'}"
        )

    def read(self, path: Path, schema: LabelSchema, options: ImportOptions, *,
             image_root: Path | None = None) -> ParsedImport:
        """Read all of ``path`` for a project with ``schema`` (all rows checked, nothing
        stored); :meth:`stream` reads it in batches."""
        return collect(self.stream(path, schema, options, image_root=image_root))

    def stream(self, path: Path, schema: LabelSchema, options: ImportOptions, *,
               image_root: Path | None = None, batch_size: int = BATCH_SIZE
               ) -> Iterator[ParsedImport]:
        """Read ``path`` in batches of at most ``batch_size`` rows; the iterator raises
        ``ImportValidationError`` at the end if any row was bad (store the batches in one
        transaction so that nothing stays)."""
        self.check(schema.task, "import")
        assert self.reader is not None  # __post_init__: a format that reads has a reader
        return self.reader(path, schema, options, image_root, batch_size)

    def write(self, path: Path, snap: Snapshot | SnapshotPages, schema: LabelSchema) -> int:
        """Write ``snap`` to ``path``; a file is written next to it and moved into place,
        so a failed export never leaves half a file."""
        self.check(schema.task, "export")
        assert self.writer is not None  # __post_init__: a format that writes has a writer
        if self.folder:
            return self.writer(path, snap, schema)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            n = self.writer(tmp, snap, schema)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return n


def _read_csv(path: Path, schema: LabelSchema, options: ImportOptions,
              image_root: Path | None, batch_size: int) -> Iterator[ParsedImport]:
    return iter_csv(path, schema, options, batch_size=batch_size, image_root=image_root)


def _read_jsonl(path: Path, schema: LabelSchema, options: ImportOptions,
                image_root: Path | None, batch_size: int) -> Iterator[ParsedImport]:
    return iter_jsonl(path, schema, options, batch_size=batch_size, image_root=image_root)


def _read_label_studio(path: Path, schema: LabelSchema, options: ImportOptions,
                       image_root: Path | None, batch_size: int) -> Iterator[ParsedImport]:
    return iter_label_studio(path, schema, batch_size=batch_size)


def _read_coco(path: Path, schema: LabelSchema, options: ImportOptions,
               image_root: Path | None, batch_size: int) -> Iterator[ParsedImport]:
    return iter_coco(path, schema, options, image_root=image_root or path.parent,
                     batch_size=batch_size)


def _read_prodigy(path: Path, schema: LabelSchema, options: ImportOptions,
                  image_root: Path | None, batch_size: int) -> Iterator[ParsedImport]:
    return iter_prodigy(path, schema, options, batch_size=batch_size)


def _read_conll(path: Path, schema: LabelSchema, options: ImportOptions,
                image_root: Path | None, batch_size: int) -> Iterator[ParsedImport]:
    return iter_conll(path, schema, options, batch_size=batch_size)


def _read_docbin(path: Path, schema: LabelSchema, options: ImportOptions,
                 image_root: Path | None, batch_size: int) -> Iterator[ParsedImport]:
    return iter_docbin(path, schema, options, batch_size=batch_size)


def _write_hf(path: Path, snap: Snapshot | SnapshotPages, schema: LabelSchema) -> int:
    """Classes: a ``label`` ClassLabel; spans: ``tokens`` and BIO ``ner_tags``."""
    if schema.task_type.has_spans:
        return write_hf_tokens(path, snap, schema)
    return write_hf(path, snap, schema)


def _looks_like_coco(path: Path) -> bool:
    """A JSON object with ``images`` and ``categories`` (a list is Label Studio's, and is
    not read further)."""
    try:
        with path.open(encoding="utf-8-sig") as fh:
            head = fh.read(4096).lstrip()
            if not head.startswith("{"):
                return False
            raw = json.loads(head + fh.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False  # label-studio's reader then reports where the JSON breaks
    return isinstance(raw, dict) and "images" in raw and "categories" in raw


_ALL = frozenset(TASK_TYPES)
_DETECTION = frozenset({"object-detection"})
_SPANS = frozenset({"spans"})
_CLASSIFICATION = _ALL - _DETECTION - _SPANS

FORMATS: dict[str, Format] = {f.name: f for f in (
    # a CSV reads and writes boxes as a JSON list in the label column; spans only in
    # formats made for them (it still imports a span project's texts)
    Format("csv", (".csv", ".tsv"), reads=_ALL, writes=_ALL - _SPANS,
           reader=_read_csv, writer=write_csv),
    Format("jsonl", (".jsonl", ".ndjson"), reads=_ALL, writes=_ALL,
           reader=_read_jsonl, writer=write_jsonl),
    Format("label-studio", (".json",), reads=_ALL, writes=_ALL,
           reader=_read_label_studio, writer=write_label_studio),
    Format("coco", (".json",), reads=_DETECTION, writes=_DETECTION,
           reader=_read_coco, writer=write_coco, sniff=_looks_like_coco),
    Format("hf", ("",), reads=frozenset(), writes=_CLASSIFICATION | _SPANS,
           writer=_write_hf, folder=True),
    Format("prodigy", (".jsonl",), reads=_SPANS, writes=_SPANS, reader=_read_prodigy,
           writer=write_prodigy, detect=False),
    Format("conll", (".conll", ".bio", ".iob"), reads=_SPANS, writes=_SPANS,
           reader=_read_conll, writer=write_conll),
    Format("spacy", (".spacy",), reads=_SPANS, writes=_SPANS, reader=_read_docbin,
           writer=write_docbin),
)}
"""Every format by name."""


def format_names(direction: Direction, *, task: str | None = None) -> tuple[str, ...]:
    """Names of the formats that can import (or export) at least one task type, or ``task``."""
    return tuple(
        f.name
        for f in FORMATS.values()
        if (task in f.tasks(direction) if task is not None else f.tasks(direction))
    )


def get_format(name: str, direction: Direction) -> Format:
    """The format called ``name``.

    Raises
    ------
    UserInputError
        If no format of that direction has this name; the message lists those there are.
    """
    fmt = FORMATS.get(name)
    if fmt is None or not fmt.tasks(direction):
        raise UserInputError(
            f"unknown {direction} format {name!r}; use one of {', '.join(format_names(direction))}"
        )
    return fmt


def detect_import_format(path: Path) -> Format:
    """The import format of a file, from its suffix and, where suffixes are shared, its
    content (a ``.json`` with ``images`` and ``categories`` is COCO, else Label Studio).

    Raises
    ------
    UserInputError
        If the suffix belongs to no import format.
    """
    suffix = path.suffix.lower()
    cands = [f for f in FORMATS.values() if f.reads and suffix in f.suffixes and f.detect]
    if not cands:
        raise UserInputError(
            f"cannot tell the format of {path.name!r} from its extension; "
            f"pass --format ({', '.join(format_names('import'))})"
        )
    sniffed = [f for f in cands if f.sniff is not None and f.sniff(path)]
    return (sniffed or [f for f in cands if f.sniff is None] or cands)[0]


def detect_export_format(path: Path) -> Format:
    """The export format a target path asks for by its suffix (no suffix: a folder, ``hf``).

    Raises
    ------
    UserInputError
        If the suffix belongs to no export format or to several (``.json``).
    """
    suffix = path.suffix.lower()
    cands = [f for f in FORMATS.values() if f.writes and suffix in f.suffixes and f.detect]
    if len(cands) == 1:
        return cands[0]
    if cands:
        raise UserInputError(
            f"a {suffix} export is ambiguous: pass --format {' or '.join(f.name for f in cands)}"
        )
    raise UserInputError(f"cannot tell the export format from {path.name!r}; pass --format")
