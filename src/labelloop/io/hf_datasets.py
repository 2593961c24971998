"""pandas DataFrames and Hugging Face ``datasets`` in and out (lazy imports)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labelloop._deps import require
from labelloop.core.records import Snapshot
from labelloop.core.schema import LabelSchema
from labelloop.io.common import ImportOptions, ParsedImport, final_labels, rows_to_import


def read_dataframe(df: Any, schema: LabelSchema, options: ImportOptions) -> ParsedImport:
    """Rows of a pandas DataFrame; row numbers in errors start at 1."""
    rows = [(n, rec) for n, rec in enumerate(df.to_dict(orient="records"), start=1)]
    return rows_to_import(rows, file="DataFrame", schema=schema, options=options)


def read_dataset(ds: Any, schema: LabelSchema, options: ImportOptions) -> ParsedImport:
    """Rows of a Hugging Face ``datasets.Dataset``; integer ClassLabel columns map by name."""
    names: list[str] | None = None
    features = getattr(ds, "features", None) or {}
    for col in (options.label_column, "label", "labels"):
        feat = features.get(col) if col else None
        if feat is not None and hasattr(feat, "names"):
            names = list(feat.names)
            break
    rows = []
    for n, rec in enumerate(ds, start=1):
        rec = dict(rec)
        if names is not None:
            for col in (options.label_column, "label"):
                if col and isinstance(rec.get(col), int) and rec[col] >= 0:
                    rec[col] = names[rec[col]]
        rows.append((n, rec))
    return rows_to_import(rows, file="Dataset", schema=schema, options=options)


def to_dataset(snap: Snapshot, schema: LabelSchema) -> Any:
    """A ``datasets.Dataset`` with the item fields, split, and final label (ClassLabel)."""
    datasets = require("hf", "datasets", feature="Hugging Face export")
    finals = final_labels(snap.items, snap.sources, snap.annotations)
    cols = list(dict.fromkeys(k for it in snap.items for k in it.data))
    table: dict[str, list[Any]] = {"id": [], "split": [], **{c: [] for c in cols}}
    multi = schema.task_type.multi_label
    table["label"] = []
    for it in snap.items:
        assert it.id is not None
        table["id"].append(it.id)
        table["split"].append(it.split)
        for c in cols:
            v = it.data.get(c)
            table[c].append(None if v is None else str(v))
        final = finals.get(it.id)
        if final is None:
            table["label"].append([] if multi else -1)
        else:
            a = final[0]
            table["label"].append(list(a.labels or []) if multi else (a.label if a.label
                                                                     is not None else -1))
    feats = {c: datasets.Value("string") for c in cols}
    feats["id"] = datasets.Value("int64")
    feats["split"] = datasets.Value("string")
    label_feat = datasets.ClassLabel(names=schema.names)
    feats["label"] = datasets.Sequence(label_feat) if multi else label_feat
    return datasets.Dataset.from_dict(table, features=datasets.Features(feats))


def write_hf(path: Path, snap: Snapshot, schema: LabelSchema) -> int:
    """Save the dataset with ``save_to_disk`` into the folder ``path``."""
    ds = to_dataset(snap, schema)
    ds.save_to_disk(str(path))
    return len(ds)

