"""Span formats: spaCy/Prodigy JSONL and CoNLL BIO, in and out.

* **Prodigy JSONL** (also what spaCy's ``Doc.to_json``/``Example`` pipelines and most span
  tools read): one object per line, ``{"text", "spans": [{"start", "end", "label"}]}``
  in characters, ``end`` exclusive. Rows whose ``answer`` is ``"reject"`` or ``"ignore"``
  bring their text but no spans.
* **CoNLL BIO**: one token per line, its tag in the last column (``B-PER``, ``I-PER``,
  ``O``), a blank line between items; ``-DOCSTART-`` lines are skipped. The item's text
  is its tokens joined by single spaces.

Both carry one answer per item: on import it becomes an annotation of the source the
import options name (a person by default); on export it is the item's final answer
(gold, else the human majority, else the label model, else a model draft).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from labelloop.core.records import PendingAnnotation, Snapshot, Span, import_item
from labelloop.core.schema import LabelSchema
from labelloop.core.spans import (
    char_spans,
    parse_spans,
    spans_to_tags,
    tags_to_spans,
    token_spans,
    tokenize,
)
from labelloop.errors import ImportReport, ImportValidationError, ValidationError
from labelloop.io.common import (
    BATCH_SIZE,
    ImportOptions,
    ParsedImport,
    SnapshotPages,
    as_pages,
    final_labels,
)
from labelloop.io.seen import Occurrences

SKIPPED_ANSWERS = ("reject", "ignore")


class _Batches:
    """Items and their one span answer, yielded in batches, problems in one report."""

    def __init__(self, file: str, schema: LabelSchema, options: ImportOptions,
                 batch_size: int) -> None:
        self.file, self.schema, self.options = file, schema, options
        self.batch_size = batch_size
        self.report = ImportReport()
        self.copies = Occurrences()
        self.out = ParsedImport()
        self.source = options.label_source or f"import:{file.rsplit('/', 1)[-1]}"

    def add(self, line: int, text: str, spans: Any, meta: dict[str, Any]) -> ParsedImport | None:
        """Add one item (and its spans, unless None); a full batch is returned."""
        try:
            found = None if spans is None else parse_spans(
                self.schema, spans, text, allow_overlap=True, snap_to_tokens=False)
        except ValidationError as exc:
            self.report.add(self.file, line, "spans", str(exc), "fix the span or the text")
            return None
        item = import_item({"text": text}, meta=meta)
        item = item._replace(content_hash=self.copies.hash_of(item.content_hash))
        self.out.items.append(item)
        if found is not None:
            self.out.annotations.append(PendingAnnotation(
                item.content_hash, self.options.label_kind, self.source,
                spans=[s.model_dump(exclude_none=True) for s in found]))
        if len(self.out.items) >= self.batch_size and not self.report:
            full, self.out = self.out, ParsedImport()
            return full
        return None

    def finish(self) -> Iterator[ParsedImport]:
        if not self.out.items and not self.report:
            self.report.add(self.file, None, None, "the file holds no items",
                            "add at least one item")
        if self.report:
            raise ImportValidationError(self.report)
        yield self.out


def iter_prodigy(path: Path, schema: LabelSchema, options: ImportOptions, *,
                 batch_size: int = BATCH_SIZE) -> Iterator[ParsedImport]:
    """Read Prodigy/spaCy span JSONL in batches.

    Raises
    ------
    ImportValidationError
        After the last line, if any line was bad (no text, a span outside it, a label
        not in the schema).
    """
    batches = _Batches(str(path), schema, options, batch_size)
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                batches.report.add(str(path), n, None, f"not valid JSON ({exc.msg})",
                                   "write one JSON object per line")
                continue
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                batches.report.add(str(path), n, "text", "no text",
                                   'give every line {"text": ..., "spans": [...]}')
                continue
            spans = None if row.get("answer") in SKIPPED_ANSWERS else row.get("spans", [])
            meta = row.get("meta")
            full = batches.add(n, row["text"], spans, meta if isinstance(meta, dict) else {})
            if full is not None:
                yield full
    yield from batches.finish()


def looks_like_prodigy(rows: Iterable[dict[str, Any]]) -> bool:
    """Whether parsed JSONL rows are Prodigy/spaCy span rows (text and spans, no data)."""
    rows = list(rows)
    return bool(rows) and all("text" in r and "spans" in r and "data" not in r for r in rows)


def iter_conll(path: Path, schema: LabelSchema, options: ImportOptions, *,
               batch_size: int = BATCH_SIZE) -> Iterator[ParsedImport]:
    """Read CoNLL BIO (token and tag per line, the tag last; blank lines end items).

    Raises
    ------
    ImportValidationError
        After the last line, if a tag names a class the schema lacks or is not BIO.
    """
    batches = _Batches(str(path), schema, options, batch_size)
    tokens: list[str] = []
    tags: list[str] = []
    first = 0
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate([*fh, ""], start=1):
            parts = line.split()
            if parts and parts[0] != "-DOCSTART-":
                if not tokens:
                    first = n
                tokens.append(parts[0])
                tags.append(parts[-1] if len(parts) > 1 else "O")
                continue
            if not tokens:
                continue
            full = _conll_item(batches, first, tokens, tags)
            tokens, tags = [], []
            if full is not None:
                yield full
    yield from batches.finish()


def _conll_item(batches: _Batches, line: int, tokens: list[str], tags: list[str]
                ) -> ParsedImport | None:
    offsets, pos = [], 0
    for tok in tokens:
        offsets.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    ids = []
    for t, tag in enumerate(tags):
        kind, _, name = tag.partition("-")
        if tag == "O":
            ids.append(0)
        elif kind in ("B", "I") and name:
            try:
                c = batches.schema.index_of(name)
            except ValidationError as exc:
                batches.report.add(batches.file, line + t, "tag", str(exc),
                                   "add the class to the schema or fix the tag")
                return None
            ids.append(2 * c + 1 if kind == "B" else 2 * c + 2)
        else:
            batches.report.add(batches.file, line + t, "tag", f"{tag!r} is not a BIO tag",
                               "use O, B-CLASS or I-CLASS")
            return None
    found = char_spans(tags_to_spans(ids, scheme="BIO"), offsets)
    names = batches.schema.names
    return batches.add(line, " ".join(tokens), [[a, b, names[c]] for a, b, c in found], {})


def _answers(snap: Snapshot | SnapshotPages) -> Iterator[tuple[str, list[Span] | None]]:
    """Each item's text and final span answer (None when it has none)."""
    pages = as_pages(snap)
    for page in pages.pages():
        final = final_labels(page.items, pages.sources, page.annotations)
        for it in page.items:
            pick = final.get(it.id)
            yield str(it.data.get("text", "")), None if pick is None else pick.vote.spans


def write_prodigy(path: Path, snap: Snapshot | SnapshotPages, schema: LabelSchema) -> int:
    """Write one ``{"text", "spans"}`` line per item (spans: the final answer, or [])."""
    n = 0
    encode = json.JSONEncoder(ensure_ascii=False).encode
    with path.open("w", encoding="utf-8") as fh:
        for text, spans in _answers(snap):
            fh.write(encode({"text": text, "spans": [
                {"start": s.start, "end": s.end, "label": s.label} for s in spans or []]}) + "\n")
            n += 1
    return n


def write_conll(path: Path, snap: Snapshot | SnapshotPages, schema: LabelSchema) -> int:
    """Write each item's tokens with their BIO tags (the final answer, or all O).

    A span that cuts a token takes the whole token (the tokenizer of
    :mod:`labelloop.core.spans`); where spans overlap the later one wins its tokens.
    """
    n = 0
    index = {name: c for c, name in enumerate(schema.names)}
    with path.open("w", encoding="utf-8") as fh:
        for text, spans in _answers(snap):
            tokens = tokenize(text)
            found = token_spans([(s.start, s.end, index[s.label]) for s in spans or []],
                                tokens)
            tags = spans_to_tags(found, len(tokens), scheme="BIO").tolist()
            lines = [f"{text[a:b]} {_tag_name(t, schema)}" for (a, b), t in
                     zip(tokens, tags, strict=True)]
            fh.write("\n".join(lines) + "\n\n")
            n += 1
    return n


def _tag_name(tag: int, schema: LabelSchema) -> str:
    if tag == 0:
        return "O"
    return f"{'B' if tag % 2 else 'I'}-{schema.names[(tag - 1) // 2]}"


__all__ = ["iter_conll", "iter_prodigy", "looks_like_prodigy", "write_conll", "write_prodigy"]
