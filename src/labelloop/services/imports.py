"""Checks of a parsed import before anything is stored (all or nothing, row-level report)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from labelloop.core.records import ItemRecord
from labelloop.errors import ImportReport, ImportValidationError
from labelloop.services.media import check_media


def check_external_ids(items: Sequence[ItemRecord], file: str, report: ImportReport) -> None:
    """Add a problem to ``report`` for each row that repeats an earlier row's external id
    with other content (a row repeated word for word is the same item, stored once)."""
    first: dict[str, tuple[int, ItemRecord]] = {}
    for n, it in enumerate(items, start=1):
        ext = it.external_id
        if ext is None:
            continue
        if ext not in first:
            first[ext] = (n, it)
        elif first[ext][1].data != it.data:
            report.add(file, None, "id", f"row {n}: external id {ext!r} repeats row "
                       f"{first[ext][0]} with other content", "give every item its own id")


def check_import(items: Sequence[ItemRecord], file: str, *, base: Path | None,
                 roots: Sequence[Path]) -> None:
    """Refuse an import with repeated external ids or images outside the media roots.

    Raises
    ------
    ImportValidationError
        With one problem per bad row; nothing is stored.
    """
    report = ImportReport()
    check_external_ids(items, file, report)
    check_media(items, file, base, roots, report)
    if report:
        raise ImportValidationError(report)
