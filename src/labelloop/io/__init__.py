"""Import and export formats: CSV, JSONL, Label Studio JSON, COCO, Hugging Face datasets.

Each format has a reader that validates everything before anything is stored (the caller
stores the result in one transaction) and a writer over one consistent snapshot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from labelloop.errors import UserInputError
from labelloop.io.common import ImportOptions, ParsedImport

ImportFormat = Literal["csv", "jsonl", "label-studio", "coco"]
ExportFormat = Literal["csv", "jsonl", "label-studio", "coco", "hf"]
IMPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl", "label-studio", "coco")
EXPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl", "label-studio", "coco", "hf")


def detect_format(path: Path) -> str:
    """Guess an import format from a file's name and first bytes."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        try:
            raw = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError:
            return "label-studio"  # its reader reports where the JSON breaks
        if isinstance(raw, dict) and "images" in raw and "categories" in raw:
            return "coco"
        return "label-studio"
    raise UserInputError(
        f"cannot tell the format of {path.name!r} from its extension; "
        f"pass --format ({', '.join(IMPORT_FORMATS)})"
    )


__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "ExportFormat",
    "ImportFormat",
    "ImportOptions",
    "ParsedImport",
    "detect_format",
]
