"""spaCy ``DocBin`` (``.spacy``) files in and out, for spans projects.

Export: one ``Doc`` per item, built on the project's tokens (:func:`labelloop.core.spans.
tokenize`) with the whitespace between them kept as spaCy whitespace tokens, so
``doc.text`` is the item's text exactly and every span boundary is a token boundary. The
item's final answer (as the other span formats: gold, else the human majority, else the
label model, else a draft) goes to ``doc.spans["sc"]`` (overlaps allowed; an item without
an answer has no such group) and, when its spans do not overlap, to ``doc.ents`` too,
which is what ``spacy train`` reads for NER.
Offsets that cut a token (an import that was not snapped) widen to the token.

Import: each ``Doc`` becomes an item with ``doc.text``; its answer comes from
``doc.spans["sc"]`` when the doc has that group (an empty group: "no entity here"), else
from ``doc.ents``; a doc with neither brings its text and no answer. Labels must be
classes of the schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelloop._deps import require
from labelloop.core.records import Snapshot
from labelloop.core.schema import LabelSchema
from labelloop.core.spans import overlapping, tokenize
from labelloop.errors import ImportValidationError
from labelloop.io.common import BATCH_SIZE, ImportOptions, ParsedImport, SnapshotPages
from labelloop.io.span_formats import _answers, _Batches

SPANS_KEY = "sc"
"""The ``doc.spans`` group the spans go to (spaCy's span categorizer default)."""


def _doc(vocab: Any, text: str) -> Any:
    """A Doc of ``text`` on the project's tokens; whitespace runs become space tokens."""
    doc_cls = require("ner", "spacy.tokens", feature="spaCy DocBin files").Doc
    words: list[str] = []
    spaces: list[bool] = []
    pos = 0
    for a, b in tokenize(text):
        gap = text[pos:a]
        if gap and words and gap[0] == " ":
            spaces[-1] = True
            gap = gap[1:]
        if gap:
            words.append(gap)
            spaces.append(False)
        words.append(text[a:b])
        spaces.append(False)
        pos = b
    tail = text[pos:]
    if tail and words and tail[0] == " ":
        spaces[-1] = True
        tail = tail[1:]
    if tail:
        words.append(tail)
        spaces.append(False)
    return doc_cls(vocab, words=words, spaces=spaces)


def write_docbin(path: Path, snap: Snapshot | SnapshotPages, schema: LabelSchema) -> int:
    """Write every item as a ``Doc`` with its final spans; return the number of items."""
    spacy = require("ner", "spacy", feature="spaCy DocBin files")
    vocab = spacy.vocab.Vocab()
    docbin = spacy.tokens.DocBin(store_user_data=False)
    n = 0
    for text, spans in _answers(snap):
        doc = _doc(vocab, text)
        found = []
        for s in spans or []:
            span = doc.char_span(s.start, s.end, label=s.label, alignment_mode="expand")
            if span is not None:
                found.append(span)
        if spans is not None:  # an unanswered item has no span group
            doc.spans[SPANS_KEY] = found
        if overlapping([(s.start_char, s.end_char, s.label_) for s in found]) is None:
            doc.ents = found
        docbin.add(doc)
        n += 1
    path.write_bytes(docbin.to_bytes())
    return n


def iter_docbin(path: Path, schema: LabelSchema, options: ImportOptions, *,
                batch_size: int = BATCH_SIZE) -> Iterator[ParsedImport]:
    """Read a ``.spacy`` file: one item per Doc, its spans one answer of the import's source.

    Raises
    ------
    ImportValidationError
        After the last doc, if a span's label is not a class of the schema (or the file is
        not a DocBin).
    """
    spacy = require("ner", "spacy", feature="spaCy DocBin files")
    batches = _Batches(str(path), schema, options, batch_size)
    try:
        docbin = spacy.tokens.DocBin().from_bytes(path.read_bytes())
    except (ValueError, OSError, TypeError) as exc:
        batches.report.add(str(path), None, None, f"not a spaCy DocBin file ({exc})",
                           "write it with DocBin(...).to_disk(path)")
        raise ImportValidationError(batches.report) from None
    for n, doc in enumerate(docbin.get_docs(spacy.vocab.Vocab()), start=1):
        group = doc.spans.get(SPANS_KEY, doc.ents or None)
        spans = None if group is None else [[s.start_char, s.end_char, s.label_]
                                            for s in group]
        full = batches.add(n, doc.text, spans, {})
        if full is not None:
            yield full
    yield from batches.finish()


__all__ = ["SPANS_KEY", "iter_docbin", "write_docbin"]
