"""Import and export formats: CSV, JSONL, Label Studio JSON, COCO, Hugging Face datasets.

Each format has a reader that validates every row while it reads the file in batches (the
caller stores the batches in one transaction, which the reader's final report of bad rows
rolls back: all or nothing) and a writer that reads one consistent snapshot page by page.
:data:`~labelloop.io.formats.FORMATS` lists them with their suffixes and task types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from labelloop.io.common import ImportOptions, ParsedImport, SnapshotPages
from labelloop.io.formats import (
    FORMATS,
    Format,
    detect_export_format,
    detect_import_format,
    format_names,
    get_format,
)

ImportFormat = Literal["csv", "jsonl", "label-studio", "coco", "prodigy", "conll", "spacy"]
"""Names of the import formats, for type hints (the same as :data:`IMPORT_FORMATS`)."""
ExportFormat = Literal["csv", "jsonl", "label-studio", "coco", "hf", "prodigy", "conll",
                       "spacy"]
"""Names of the export formats, for type hints (the same as :data:`EXPORT_FORMATS`)."""
FileExportFormat = Literal["csv", "jsonl", "label-studio", "coco", "prodigy", "conll",
                           "spacy"]
"""Export formats that write one file (not a folder), e.g. for a download."""
IMPORT_FORMATS: tuple[str, ...] = format_names("import")
EXPORT_FORMATS: tuple[str, ...] = format_names("export")


def detect_format(path: Path) -> str:
    """Guess an import format from a file's name and first bytes."""
    return detect_import_format(path).name


__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "IMPORT_FORMATS",
    "ExportFormat",
    "FileExportFormat",
    "Format",
    "ImportFormat",
    "ImportOptions",
    "ParsedImport",
    "SnapshotPages",
    "detect_export_format",
    "detect_format",
    "detect_import_format",
    "get_format",
]
