"""Full-text search over item text: SQLite FTS5 (``items_fts``), PostgreSQL ``tsvector``.

Migration 0016 creates the index: on SQLite an FTS5 table whose rowid is the item id
(contentless since 0019: it keeps the index, not a copy of the text), which the import
fills set-based in its own transaction (:func:`index_items`) and a trigger empties when
items go (handing it the text it indexed); on PostgreSQL a GIN index on
:data:`PG_SEARCH`, an expression PostgreSQL keeps up to date itself. A query is a list of
words, each of which must occur (no stemming on either backend); FTS5 operators and quotes
in it are taken literally.
"""

from __future__ import annotations

import re
from typing import Any

import numpy.typing as npt
from sqlalchemy import ColumnElement, func, literal_column, select, text
from sqlalchemy.orm import Session

from labelloop.errors import ValidationError
from labelloop.storage.base import is_postgres
from labelloop.storage.item_stats import id_ranges
from labelloop.storage.models import ItemRow

PG_SEARCH = "to_tsvector('simple', coalesce(items.data->>'text', ''))"
"""The indexed expression of migration 0016 (a query must repeat it to use the index)."""
MAX_WORDS = 32
_WORD = re.compile(r"\w+", re.UNICODE)
_INDEX = text(
    "INSERT INTO items_fts (rowid, body) SELECT id, json_extract(data, '$.text') FROM items"
    " WHERE id BETWEEN :lo AND :hi AND project_id = :pid"
    " AND json_extract(data, '$.text') IS NOT NULL")


def index_items(s: Session, project_id: int, item_ids: npt.ArrayLike) -> None:
    """Add the text of items just inserted in this transaction to the SQLite search index,
    one ``INSERT ... SELECT`` per id range (nothing to do on PostgreSQL).

    The ids' ranges must hold no other item without a search row: the SQLite import
    gives the ids of one batch in one run above every stored id.
    """
    if is_postgres(s):
        return
    for lo, hi in id_ranges(item_ids):
        s.execute(_INDEX, {"lo": lo, "hi": hi, "pid": project_id})


def words(query: str) -> list[str]:
    """The words of a search query (letters, digits and ``_`` runs), lower-cased.

    Raises
    ------
    ValidationError
        If the query has no word, or more than :data:`MAX_WORDS`.
    """
    found = [w.lower() for w in _WORD.findall(query)]
    if not found:
        raise ValidationError(f"the search {query!r} has no word to look for; "
                              "type letters or digits")
    if len(found) > MAX_WORDS:
        raise ValidationError(f"the search has {len(found)} words; use at most {MAX_WORDS}")
    return found


def matches(s: Session, project_id: int, query: str) -> ColumnElement[Any]:
    """A condition on ``items`` that holds for the project's items whose text has every
    word of ``query``, read through the search index first (the matches, then the rest
    of the query: its cost follows the matches, not the project).

    On PostgreSQL the matches come from a ``MATERIALIZED`` CTE: left to itself the planner
    may walk the project's items in page order and compute every ``tsvector`` on the way
    (measured: 300 ms for a rare word at 100k items, 1 ms through the GIN index).
    """
    ws = words(query)
    if is_postgres(s):
        hits = (select(ItemRow.id).where(
            ItemRow.project_id == project_id,
            literal_column(PG_SEARCH).op("@@")(
                func.to_tsquery(literal_column("'simple'"), " & ".join(ws))))
            .cte("search_hits").prefix_with("MATERIALIZED"))
        return ItemRow.id.in_(select(hits.c.id))
    fts = " ".join('"' + w.replace('"', '""') + '"' for w in ws)
    found: Any = select(literal_column("rowid")).select_from(text("items_fts")).where(
        literal_column("items_fts").op("MATCH")(fts))
    return ItemRow.id.in_(found)
