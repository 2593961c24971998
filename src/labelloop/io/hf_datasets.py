"""pandas DataFrames and Hugging Face ``datasets`` in and out (lazy imports), streaming."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from labelloop._deps import require
from labelloop.core.records import Snapshot
from labelloop.core.schema import LabelSchema
from labelloop.io.common import (
    BATCH_SIZE,
    ImportOptions,
    ParsedImport,
    SnapshotPages,
    as_pages,
    collect,
    decided_round,
    final_labels,
    iter_rows_import,
)


def iter_dataframe(df: Any, schema: LabelSchema, options: ImportOptions, *,
                   batch_size: int = BATCH_SIZE) -> Iterator[ParsedImport]:
    """Rows of a pandas DataFrame in batches; row numbers in errors start at 1."""

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for start in range(0, len(df), batch_size):
            recs = df.iloc[start:start + batch_size].to_dict(orient="records")
            yield from enumerate(recs, start=start + 1)

    return iter_rows_import(rows(), file="DataFrame", schema=schema, options=options,
                            columns=[str(c) for c in df.columns], batch_size=batch_size)


def read_dataframe(df: Any, schema: LabelSchema, options: ImportOptions) -> ParsedImport:
    """Rows of a pandas DataFrame; row numbers in errors start at 1."""
    return collect(iter_dataframe(df, schema, options))


def iter_dataset(ds: Any, schema: LabelSchema, options: ImportOptions, *,
                 batch_size: int = BATCH_SIZE) -> Iterator[ParsedImport]:
    """Rows of a Hugging Face ``datasets.Dataset`` in batches (read lazily); integer
    ClassLabel columns map by name."""
    names: list[str] | None = None
    features = getattr(ds, "features", None) or {}
    for col in (options.label_column, "label", "labels"):
        feat = features.get(col) if col else None
        if feat is not None and hasattr(feat, "names"):
            names = list(feat.names)
            break

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for n, rec in enumerate(ds, start=1):
            rec = dict(rec)
            if names is not None:
                for col in (options.label_column, "label"):
                    if col and isinstance(rec.get(col), int) and rec[col] >= 0:
                        rec[col] = names[rec[col]]
            yield n, rec

    columns = list(features) if features else None
    return iter_rows_import(rows(), file="Dataset", schema=schema, options=options,
                            columns=columns, batch_size=batch_size)


def read_dataset(ds: Any, schema: LabelSchema, options: ImportOptions) -> ParsedImport:
    """Rows of a Hugging Face ``datasets.Dataset``; integer ClassLabel columns map by name."""
    return collect(iter_dataset(ds, schema, options))


def _features(cols: list[str], schema: LabelSchema) -> Any:
    datasets = require("hf", "datasets", feature="Hugging Face export")
    feats = {c: datasets.Value("string") for c in cols}
    feats["id"] = datasets.Value("int64")
    feats["split"] = datasets.Value("string")
    label_feat = datasets.ClassLabel(names=schema.names)
    feats["label"] = datasets.Sequence(label_feat) if schema.task_type.multi_label else label_feat
    feats.update(provenance_features(datasets))
    return datasets.Features({"id": feats.pop("id"), "split": feats.pop("split"), **feats})


PROVENANCE = ("label_source", "label_confidence", "label_decided", "label_round")
"""The provenance columns after ``label``."""


def provenance_features(datasets: Any) -> dict[str, Any]:
    """Types of :data:`PROVENANCE`: the label's source (``kind:name``), its confidence,
    how it was decided and the closed-loop round that decided it (-1: none)."""
    types = (datasets.Value("string"), datasets.Value("float64"), datasets.Value("string"),
             datasets.Value("int64"))
    return dict(zip(PROVENANCE, types, strict=True))


def _tables(pages: SnapshotPages, cols: list[str], schema: LabelSchema
            ) -> Iterator[dict[str, list[Any]]]:
    """One column table per page: id, split, the data fields (as strings), final label
    and its provenance (:data:`PROVENANCE`)."""
    multi = schema.task_type.multi_label
    for page in pages.pages():
        finals = final_labels(page.items, page.sources, page.annotations)
        table: dict[str, list[Any]] = {"id": [], "split": [], **{c: [] for c in cols}}
        table["label"] = []
        for key in PROVENANCE:
            table[key] = []
        for it in page.items:
            table["id"].append(it.id)
            table["split"].append(it.split)
            for c in cols:
                v = it.data.get(c)
                table[c].append(None if v is None else str(v))
            final = finals.get(it.id)
            if final is None:
                table["label"].append([] if multi else -1)
                provenance: tuple[Any, ...] = (None, None, None, -1)
            else:
                a = final[0]
                table["label"].append(list(a.labels or []) if multi else (
                    a.label if a.label is not None else -1))
                found = decided_round(final, pages.loop_round)
                provenance = (f"{final.source.kind}:{final.source.name}", a.confidence,
                              final.decided, -1 if found is None else found)
            for key, value in zip(PROVENANCE, provenance, strict=True):
                table[key].append(value)
        yield table


def to_dataset(snap: Snapshot | SnapshotPages, schema: LabelSchema) -> Any:
    """A ``datasets.Dataset`` (in memory) with the item fields, split, and final label
    (ClassLabel); :func:`write_hf` writes one to disk page by page."""
    datasets = require("hf", "datasets", feature="Hugging Face export")
    pages = as_pages(snap)
    cols = pages.data_keys()
    features = _features(cols, schema)
    table: dict[str, list[Any]] = {name: [] for name in features}
    for part in _tables(pages, cols, schema):
        for key, values in part.items():
            table[key].extend(values)
    return datasets.Dataset.from_dict(table, features=features)


def write_hf(path: Path, snap: Snapshot | SnapshotPages, schema: LabelSchema) -> int:
    """Save the dataset with ``save_to_disk`` into the folder ``path``.

    Pages are appended to an Arrow file one at a time (``datasets``' own ``ArrowWriter``),
    which ``save_to_disk`` then writes out, so memory holds one page.
    """
    pages = as_pages(snap)
    cols = pages.data_keys()
    return save_tables(path, _features(cols, schema), _tables(pages, cols, schema))


def save_tables(path: Path, features: Any, tables: Iterable[dict[str, list[Any]]]) -> int:
    """Append ``tables`` (column -> values, one page each) to an Arrow file with
    ``datasets``' ``ArrowWriter`` and ``save_to_disk`` the dataset into the folder ``path``;
    memory holds one page. Returns the number of rows."""
    datasets = require("hf", "datasets", feature="Hugging Face export")
    from datasets.arrow_writer import ArrowWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".hf-export-") as tmp:
        arrow = Path(tmp) / "data.arrow"
        with ArrowWriter(features=features, path=str(arrow)) as writer:
            for table in tables:
                if table["id"]:
                    writer.write_batch(table)
            writer.finalize()
        ds = datasets.Dataset.from_file(str(arrow))
        ds.save_to_disk(str(path))
        n = len(ds)
        del ds
    return n
