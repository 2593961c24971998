"""Streaming exports: a project's items and annotations in pages, from one snapshot.

:meth:`SqlExports.export_stream` opens one read transaction (one consistent snapshot) and
hands out an :class:`ExportStream`; its :meth:`~ExportStream.pages` walks the items in
keyset pages (``id > last ORDER BY id LIMIT n``) and reads each page's annotations with
it, so an export holds one page in memory, never the whole project. A writer that needs
two passes (a CSV header, COCO's images before its annotations) calls ``pages()`` twice
and sees the same snapshot both times.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from labelloop.core.records import AnnotationRecord, ItemRecord, Snapshot, SourceRecord
from labelloop.errors import ValidationError
from labelloop.storage.base import SqlBase
from labelloop.storage.models import AnnotationRow, ItemRow, SourceRow
from labelloop.storage.records import annotation_record, item_record, source_record

PAGE_SIZE = 1000
_ITEMS: Table = ItemRow.__table__  # type: ignore[assignment]
_ANNOTATIONS: Table = AnnotationRow.__table__  # type: ignore[assignment]


class ExportStream:
    """A project's sources and its items page by page, inside one read transaction.

    Valid only inside the ``with`` block of :meth:`SqlExports.export_stream`.

    Attributes
    ----------
    sources:
        Every source of the project, in id order.
    page_size:
        Items per page.
    """

    def __init__(self, s: Session, project_id: int, page_size: int) -> None:
        self._s = s
        self._project_id = project_id
        self.page_size = page_size
        self.sources: list[SourceRecord] = [
            source_record(r) for r in s.scalars(
                select(SourceRow).where(SourceRow.project_id == project_id)
                .order_by(SourceRow.id))
        ]
        self._source_ids = {src.id for src in self.sources}

    def pages(self, *, annotations: bool = True) -> Iterator[Snapshot]:
        """Pages of items in id order, each a :class:`Snapshot` of those items, every
        source, and (unless ``annotations`` is false) the items' annotations."""
        items = _ITEMS.c
        last = 0
        while True:
            rows = self._s.execute(
                select(_ITEMS).where(items.project_id == self._project_id, items.id > last)
                .order_by(items.id).limit(self.page_size)).all()
            if not rows:
                return
            first, last = rows[0].id, rows[-1].id
            anns = self._annotations(first, last) if annotations else []
            # plain rows, not ORM objects: nothing accumulates in the session
            yield Snapshot([item_record(cast(ItemRow, r)) for r in rows], self.sources, anns)

    def data_keys(self) -> list[str]:
        """Names of the items' data fields in order of first appearance (read page by
        page, no records built)."""
        items = _ITEMS.c
        keys: dict[str, None] = {}
        last = 0
        while True:
            rows = self._s.execute(
                select(items.id, items.data).where(items.project_id == self._project_id,
                                                   items.id > last)
                .order_by(items.id).limit(self.page_size)).all()
            if not rows:
                return list(keys)
            for r in rows:
                keys.update(dict.fromkeys(r.data))
            last = rows[-1].id

    def _annotations(self, first: int, last: int) -> list[AnnotationRecord]:
        # by the item range alone, so the (item_id, source_id) key drives the read: a join
        # on the project's sources makes the planner walk every vote of each source instead
        anns = _ANNOTATIONS.c
        q = (select(_ANNOTATIONS).where(anns.item_id.between(first, last))
             .order_by(anns.item_id, anns.source_id))
        mine = self._source_ids
        return [annotation_record(cast(AnnotationRow, r)) for r in self._s.execute(q)
                if r.source_id in mine]

    def items(self) -> Iterator[ItemRecord]:
        """Every item in id order, read page by page (no annotations)."""
        for page in self.pages(annotations=False):
            yield from page.items


class SqlExports(SqlBase):
    """:class:`~labelloop.storage.protocol.ExportRepository` over SQL."""

    @contextmanager
    def export_stream(self, project_id: int, *, page_size: int = PAGE_SIZE
                      ) -> Iterator[ExportStream]:
        """One consistent snapshot of a project to export page by page.

        Raises
        ------
        ValidationError
            If ``page_size`` is not positive.
        """
        if page_size < 1:
            raise ValidationError(f"page_size must be at least 1, got {page_size}")
        with self.snapshot() as s:
            yield ExportStream(s, project_id, page_size)
