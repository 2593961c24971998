"""Streaming exports: a project's items and annotations in pages, from one snapshot.

:meth:`SqlExports.export_stream` opens one read transaction (one consistent snapshot) and
hands out an :class:`ExportStream`; its :meth:`~ExportStream.pages` walks the items in
keyset pages (``id > last ORDER BY id LIMIT n``) and reads each page's annotations with
it, so an export holds one page in memory, never the whole project. Pages hold plain
tuples (:class:`~labelloop.core.records.ExportItem`, ``ExportVote``), not validated
records: a large export would spend most of its time building them. A writer that needs
two passes (a CSV header, COCO's images before its annotations) calls ``pages()`` twice
and sees the same snapshot both times.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, Table, Text, cast, func, select
from sqlalchemy.orm import Session

from labelloop.core.records import Box, ExportItem, ExportPage, ExportVote, SourceRecord, Span
from labelloop.errors import ValidationError
from labelloop.storage.base import SqlBase
from labelloop.storage.loop_rounds import LoopRoundRow
from labelloop.storage.models import AnnotationRow, ItemRow, SourceRow
from labelloop.storage.records import source_record

PAGE_SIZE = 1000
_EMPTY = ("{}", "null")  # stored values that decode to nothing
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
    loop_round:
        The newest finished round of the closed loop (its posterior is the loop source's
        answer on every item), ``None`` before one.
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
        self.loop_round: int | None = s.scalar(
            select(func.max(LoopRoundRow.id)).where(LoopRoundRow.project_id == project_id,
                                                    LoopRoundRow.status == "done"))

    def pages(self, *, annotations: bool = True) -> Iterator[ExportPage]:
        """Pages of items in id order as plain tuples (no records built, nothing kept in
        the session), every source, and (unless ``annotations`` is false) the items'
        annotations."""
        items = _ITEMS.c
        # data and meta as stored text, decoded here (an empty meta is not decoded)
        cols = (items.id, items.external_id, cast(items.data, Text), cast(items.meta, Text),
                items.split, items.width, items.height)
        loads = json.loads
        last = 0
        while True:
            rows = self._rows(
                select(*cols).where(items.project_id == self._project_id, items.id > last)
                .order_by(items.id).limit(self.page_size))
            if not rows:
                return
            page = [ExportItem(i, ext, loads(data),
                               {} if meta is None or meta in _EMPTY else loads(meta) or {},
                               split, w, h)
                    for i, ext, data, meta, split, w, h in rows]
            first, last = page[0].id, page[-1].id
            votes = self._annotations(first, last) if annotations else []
            yield ExportPage(page, self.sources, votes)

    def _rows(self, q: Select[Any]) -> list[Any]:
        """The rows of ``q`` as the driver hands them over (plain tuples, no result
        processing: every column read here is an integer, float, string or boolean, JSON
        is cast to text and decoded by the caller)."""
        result = self._s.connection().execute(q)
        try:
            return list(result.cursor.fetchall())
        finally:
            result.close()

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

    def _annotations(self, first: int, last: int) -> list[ExportVote]:
        # by the item range alone, so the (item_id, source_id) key drives the read: a join
        # on the project's sources makes the planner walk every vote of each source instead
        anns = _ANNOTATIONS.c
        # the value as stored text, decoded only where it holds labels or boxes (a label
        # model's probabilities are not exported)
        q = (select(anns.item_id, anns.source_id, anns.label, cast(anns.value, Text),
                    anns.confidence, anns.needs_review, anns.seconds)
             .where(anns.item_id.between(first, last))
             .order_by(anns.item_id, anns.source_id))
        mine = self._source_ids
        out: list[ExportVote] = []
        for item_id, source_id, label, raw, conf, review, seconds in self._rows(q):
            if source_id not in mine:
                continue
            labels = boxes = spans = None
            if raw and ('"labels"' in raw or '"boxes"' in raw or '"spans"' in raw):
                value = json.loads(raw) or {}
                labels, stored = value.get("labels"), value.get("boxes")
                boxes = None if stored is None else [Box(**b) for b in stored]
                stored = value.get("spans")
                spans = None if stored is None else [Span(**b) for b in stored]
            out.append(ExportVote(item_id, source_id, label, labels, boxes, conf,
                                  bool(review), seconds, spans))
        return out


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
