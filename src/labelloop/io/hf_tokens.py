"""Hugging Face token classification: a spans project as ``tokens`` and BIO ``ner_tags``.

The export (``format="hf"`` on a spans project) is a ``datasets`` folder with one row per
item: ``id``, ``split``, the item's data fields (``text`` among them), ``tokens`` (the
project's tokens, :func:`labelloop.core.spans.tokenize`) and ``ner_tags``, a sequence of
``ClassLabel`` whose names are the BIO tags ``O, B-c0, I-c0, B-c1, ...`` in the order of
:mod:`labelloop.core.spans` (what ``transformers``' token-classification examples read).
The tags are the item's final answer; where spans overlap the later one wins its tokens.

:func:`iter_token_dataset` reads such a dataset back (or any dataset with ``tokens`` and
``ner_tags``): the text is the ``text`` column when its tokens are the row's tokens, else
the tokens joined by single spaces.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labelloop._deps import require
from labelloop.core.records import Snapshot
from labelloop.core.schema import LabelSchema
from labelloop.core.spans import char_spans, spans_to_tags, tags_to_spans, token_spans, tokenize
from labelloop.io.common import (
    BATCH_SIZE,
    ImportOptions,
    ParsedImport,
    SnapshotPages,
    as_pages,
    final_labels,
)
from labelloop.io.hf_datasets import save_tables
from labelloop.io.span_formats import _Batches


def bio_names(schema: LabelSchema) -> list[str]:
    """Names of the BIO tags: ``O``, then ``B-`` and ``I-`` of each class in order."""
    return ["O", *[f"{p}-{n}" for n in schema.names for p in ("B", "I")]]


def _features(cols: list[str], schema: LabelSchema) -> Any:
    datasets = require("hf", "datasets", feature="Hugging Face export")
    return datasets.Features({
        "id": datasets.Value("int64"), "split": datasets.Value("string"),
        **{c: datasets.Value("string") for c in cols},
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=bio_names(schema))),
    })


def _tables(pages: SnapshotPages, cols: list[str], schema: LabelSchema
            ) -> Iterator[dict[str, list[Any]]]:
    index = {n: c for c, n in enumerate(schema.names)}
    for page in pages.pages():
        finals = final_labels(page.items, page.sources, page.annotations)
        table: dict[str, list[Any]] = {"id": [], "split": [], **{c: [] for c in cols},
                                       "tokens": [], "ner_tags": []}
        for it in page.items:
            text = str(it.data.get("text", ""))
            tokens = tokenize(text)
            pick = finals.get(it.id)
            spans = [] if pick is None else (pick.vote.spans or [])
            found = token_spans([(s.start, s.end, index[s.label]) for s in spans], tokens)
            table["id"].append(it.id)
            table["split"].append(it.split)
            for c in cols:
                v = it.data.get(c)
                table[c].append(None if v is None else str(v))
            table["tokens"].append([text[a:b] for a, b in tokens])
            table["ner_tags"].append(spans_to_tags(found, len(tokens), scheme="BIO").tolist())
        yield table


def write_hf_tokens(path: Path, snap: Snapshot | SnapshotPages, schema: LabelSchema) -> int:
    """Save the token-classification dataset into the folder ``path``, page by page."""
    pages = as_pages(snap)
    cols = pages.data_keys()
    return save_tables(path, _features(cols, schema), _tables(pages, cols, schema))


def iter_token_dataset(ds: Any, schema: LabelSchema, options: ImportOptions, *,
                       batch_size: int = BATCH_SIZE) -> Iterator[ParsedImport]:
    """Rows of a dataset with ``tokens`` and ``ner_tags`` as span items, in batches.

    Integer tags are read through the column's ``ClassLabel`` names; tag names are BIO
    (``O``, ``B-PER``, ``I-PER``) and must name classes of the schema.

    Raises
    ------
    ImportValidationError
        After the last row, if a tag is not BIO or names an unknown class.
    """
    feature = (getattr(ds, "features", None) or {}).get("ner_tags")
    inner = getattr(feature, "feature", None)
    names = list(getattr(inner, "names", None) or bio_names(schema))
    batches = _Batches("Dataset", schema, options, batch_size)
    for n, row in enumerate(ds, start=1):
        words = [str(w) for w in row["tokens"]]
        tags = [names[t] if isinstance(t, int) else str(t) for t in row["ner_tags"]]
        text = row.get("text")
        offsets = tokenize(text) if isinstance(text, str) else []
        if not isinstance(text, str) or [text[a:b] for a, b in offsets] != words:
            text, offsets, pos = " ".join(words), [], 0
            for w in words:
                offsets.append((pos, pos + len(w)))
                pos += len(w) + 1
        ids = _tag_ids(tags, schema, batches, n)
        if ids is None:
            continue
        found = char_spans(tags_to_spans(ids, scheme="BIO"), offsets)
        full = batches.add(n, text, [[a, b, schema.names[c]] for a, b, c in found], {})
        if full is not None:
            yield full
    yield from batches.finish()


def _tag_ids(tags: list[str], schema: LabelSchema, batches: _Batches, row: int
             ) -> list[int] | None:
    index = {n: c for c, n in enumerate(schema.names)}
    out = []
    for tag in tags:
        kind, _, name = tag.partition("-")
        if tag == "O":
            out.append(0)
        elif kind in ("B", "I") and name in index:
            out.append(2 * index[name] + (1 if kind == "B" else 2))
        else:
            batches.report.add(batches.file, row, "ner_tags",
                               f"{tag!r} is not O, B-CLASS or I-CLASS of a class of the schema",
                               "fix the tag or add the class")
            return None
    return out


def read_hf_tokens(path: Path, schema: LabelSchema, options: ImportOptions) -> ParsedImport:
    """Read a token-classification dataset saved with ``save_to_disk`` (folder ``path``)."""
    from labelloop.io.common import collect

    datasets = require("hf", "datasets", feature="Hugging Face import")
    return collect(iter_token_dataset(datasets.load_from_disk(str(path)), schema, options))


__all__ = ["bio_names", "iter_token_dataset", "read_hf_tokens", "write_hf_tokens"]
