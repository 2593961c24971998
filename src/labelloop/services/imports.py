"""Checks of an import while it streams (all or nothing, row-level report).

:class:`ImportChecks` looks at each batch a reader yields before it is stored: an external
id repeated with other content, a local image outside the project's media roots, missing
or not an image; it also reads each local image's width and height (COCO and Label Studio
exports and the box editor need them). The problems are reported together once the file
has been read, and raising then rolls back the batches already written (they are stored in
one transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from labelloop.core.records import ImportItem
from labelloop.errors import ImportReport, ImportValidationError, ValidationError
from labelloop.io.common import ParsedImport, is_web_url
from labelloop.io.seen import FirstSeen
from labelloop.services.media import image_size, resolve_media


def has_local_image(items: Iterable[ImportItem]) -> bool:
    """Whether any of the items is a local image (a path, not a web URL)."""
    return any((image := it.image) is not None and not is_web_url(image) for it in items)


class ImportChecks:
    """Checks rows of one import batch by batch; memory grows by about 24 bytes per row
    with an external id (:class:`~labelloop.io.seen.FirstSeen`).

    Parameters
    ----------
    file:
        Name the problems cite.
    base, roots:
        Project folder and the media roots local images must lie in.
    on_rows:
        Called after each batch is checked with the rows read so far (whether or not
        they were clean).
    """

    def __init__(self, file: str, *, base: Path | None, roots: Sequence[Path],
                 on_rows: Callable[[int], None] | None = None) -> None:
        self.file = file
        self.on_rows = on_rows
        self.base = base
        self.roots = list(roots)
        self.report = ImportReport()
        self._ids = FirstSeen()
        self._row = 0
        self._read = 0
        self._shown = ", ".join(str(r) for r in roots) or "none configured"

    def check(self, items: list[ImportItem]) -> None:
        """Add a problem to the report for each bad item (rows count on from earlier
        batches); local images get their width and height, in place."""
        first = self._row + 1
        self._row += len(items)
        named = [(n, it) for n, it in enumerate(items, first) if it.external_id is not None]
        if named:
            # the data's hash tells two rows' content apart (64 bits of it are plenty)
            content = [int(it.data_hash[:16], 16) for _, it in named]
            earlier = self._ids.first_many([str(it.external_id) for _, it in named], content,
                                           [n for n, _ in named])
            for (n, it), data, seen in zip(named, content, earlier, strict=True):
                if seen is not None and seen[0] != data:
                    self.report.add(
                        self.file, None, "id", f"row {n}: external id {it.external_id!r} "
                        f"repeats row {seen[1]} with other content",
                        "give every item its own id")
        for i, (n, it) in enumerate(enumerate(items, first)):
            image = it.image
            if image is None or is_web_url(image):
                continue
            path = resolve_media(image, self.base, self.roots)
            if path is None:
                self.report.add(
                    self.file, None, "image",
                    f"row {n}: image {image!r} lies outside the project's media roots "
                    f"({self._shown})",
                    "move the file into a media root, or add its folder to the media_roots "
                    "setting")
                continue
            try:
                size = image_size(path)
            except ValidationError as exc:
                self.report.add(self.file, None, "image", f"row {n}: {exc}",
                                "relative paths are read from the imported file's folder; "
                                "check the path and that the file is an image")
                continue
            if it.width is None or it.height is None:
                items[i] = it._replace(width=size[0], height=size[1])

    def guard(self, batches: Iterable[ParsedImport]) -> Iterator[ParsedImport]:
        """Pass the batches on while they are clean, then raise the report, if any.

        Raises
        ------
        ImportValidationError
            After the last batch, with one problem per bad row.
        """
        for batch in batches:
            self.check(batch.items)
            self._read += batch.rows or len(batch.items)
            if self.on_rows is not None:
                self.on_rows(self._read)
            if not self.report:
                yield batch
        if self.report:
            raise ImportValidationError(self.report)
