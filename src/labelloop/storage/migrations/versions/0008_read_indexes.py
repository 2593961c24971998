"""Reads that serve one page: indexes for keyset pages and review candidates, and
``item_stats``, a per-item summary of the votes kept by triggers for the counts.

Adds ``ix_items_project_id`` (project, id: keyset pages and counts) and
``ix_items_project_split`` (status by split), the walks of :mod:`labelloop.storage.pages`;
``item_stats`` (see :mod:`labelloop.storage.item_stats`: state, coverage and review flags
of each item, with the partial index of flagged items), filled here from the stored
votes and kept by triggers on ``annotations`` from then on; ``source_stats``, per source
its votes, flagged votes and a count of writes (a cheap version of a project's votes),
kept by the same triggers; and ``ix_review_decisions_project``.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_REVIEW = "a.needs_review = true"


def _has(cond: str) -> str:
    return f"max(CASE WHEN {cond} THEN 1 ELSE 0 END) = 1"


_STATE = " ".join(f"WHEN {_has(cond)} THEN '{name}'" for cond, name in (
    ("s.kind = 'gold'", "gold"),
    ("s.kind = 'human'", "human"),
    (f"s.kind = 'label_model' AND {_REVIEW}", "needs_review"),
    ("s.kind = 'label_model'", "auto"),
    (_REVIEW, "needs_review"),
))


def _labels(kinds: str) -> str:
    """How many different labels the votes of source ``kinds`` give (None counts as one)."""
    return f"count(DISTINCT CASE WHEN s.kind IN ({kinds}) THEN coalesce(a.label, -1) END)"


_GOLDS = "sum(CASE WHEN s.kind = 'gold' THEN 1 ELSE 0 END)"
_HUMANS = "sum(CASE WHEN s.kind = 'human' THEN 1 ELSE 0 END)"
# an answer other than a plain label (a label set, boxes) has a non-empty value
_PLAIN = ("min(CASE WHEN s.kind IN ('human', 'gold') AND length(CAST(a.value AS TEXT)) > 2"
          " THEN 0 ELSE 1 END) = 1")
_H, _G = "'human'", "'gold'"
_FLAGS = (  # 1 needs_review, 2 disagreement, 4 honeypot miss, 8 compare the answers in Python
    f"CASE WHEN {_has(_REVIEW)} THEN 1 ELSE 0 END"
    f" + CASE WHEN {_GOLDS} = 0 AND {_labels(_H)} > 1"
    " THEN 2 ELSE 0 END"
    f" + CASE WHEN {_GOLDS} > 0 AND {_HUMANS} > 0"
    f" AND {_labels(_G)} = 1"
    f" AND {_labels(_H + ', ' + _G)} > 1"
    " THEN 4 ELSE 0 END"
    f" + CASE WHEN (NOT ({_PLAIN}) AND {_GOLDS} + {_HUMANS} > 1) OR ({_GOLDS} > 0 AND {_HUMANS} > 0"
    f" AND {_labels(_G)} > 1) THEN 8 ELSE 0 END"
)


def _summary(where: str) -> str:
    """Item summaries (the columns of item_stats) from the votes of the items ``where``."""
    return (
        "INSERT INTO item_stats (item_id, project_id, state, lm, sure, flags, newest)"
        f" SELECT a.item_id, max(s.project_id), CASE {_STATE} ELSE 'auto' END,"
        " max(CASE WHEN s.kind IN ('label_model', 'labeling_function') THEN 1 ELSE 0 END),"
        " max(CASE WHEN s.kind IN ('label_model', 'model') AND NOT coalesce(a.needs_review,"
        f" false) THEN coalesce(a.confidence, 0.0) ELSE -1.0 END), {_FLAGS},"
        " max(CASE WHEN s.kind <> 'gold' THEN a.created_at END)"
        " FROM annotations a JOIN sources s ON s.id = a.source_id"
        f" WHERE {where} GROUP BY a.item_id"
    )


_FLAGGED = "CASE WHEN {row}.needs_review THEN 1 ELSE 0 END"


def _count(rows: str) -> str:
    """Add to source_stats per source of ``rows`` (``source_id``, ``v`` votes, ``f``
    flagged votes): one more change each, and the votes and flagged votes."""
    return (
        "INSERT INTO source_stats (source_id, changes, votes, flagged)"
        f" SELECT source_id, count(*), sum(v), sum(f) FROM ({rows}) d GROUP BY source_id"
        " ORDER BY source_id ON CONFLICT (source_id) DO UPDATE SET"
        " changes = source_stats.changes + excluded.changes,"
        " votes = source_stats.votes + excluded.votes,"
        " flagged = source_stats.flagged + excluded.flagged"
    )


def _rows(table: str, sign: str) -> str:
    """Per vote of ``table`` (a transition table, or NEW/OLD of a row trigger): its source,
    one vote and whether it is flagged, signed."""
    if table in ("NEW", "OLD"):
        flagged = _FLAGGED.format(row=table)
        return f"SELECT {table}.source_id AS source_id, {sign}1 AS v, {sign}{flagged} AS f"
    return (f"SELECT source_id, {sign}1 AS v, {sign}{_FLAGGED.format(row=table)} AS f"
            f" FROM {table}")


_SQLITE_TRIGGERS = {  # event, the votes to summarize, the summaries to drop, the counts
    "insert": ("AFTER INSERT", "a.item_id = NEW.item_id", "item_id = NEW.item_id",
               _rows("NEW", "")),
    "update": ("AFTER UPDATE", "a.item_id IN (OLD.item_id, NEW.item_id)",
               "item_id IN (OLD.item_id, NEW.item_id)",
               _rows("NEW", "") + " UNION ALL " + _rows("OLD", "-")),
    "delete": ("AFTER DELETE", "a.item_id = OLD.item_id", "item_id = OLD.item_id",
               _rows("OLD", "-")),
}

_PG_FUNCTION = f"""
CREATE FUNCTION item_stats_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ids integer[];
BEGIN
  IF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT item_id ORDER BY item_id) INTO ids FROM old_rows;
    {_count(_rows("old_rows", "-"))};
  ELSIF TG_OP = 'UPDATE' THEN
    SELECT array_agg(DISTINCT item_id ORDER BY item_id) INTO ids
      FROM (SELECT item_id FROM new_rows UNION SELECT item_id FROM old_rows) u;
    {_count(_rows("new_rows", "") + " UNION ALL " + _rows("old_rows", "-"))};
  ELSE
    SELECT array_agg(DISTINCT item_id ORDER BY item_id) INTO ids FROM new_rows;
    {_count(_rows("new_rows", ""))};
  END IF;
  IF ids IS NULL THEN
    RETURN NULL;
  END IF;
  PERFORM 1 FROM claim_queue WHERE item_id = ANY(ids) ORDER BY item_id FOR UPDATE;
  DELETE FROM item_stats WHERE item_id = ANY(ids);
  {_summary("a.item_id = ANY(ids)")};
  RETURN NULL;
END $$
"""
_PG_TRIGGERS = {
    "insert": "AFTER INSERT ON annotations REFERENCING NEW TABLE AS new_rows",
    "update": ("AFTER UPDATE ON annotations REFERENCING OLD TABLE AS old_rows"
               " NEW TABLE AS new_rows"),
    "delete": "AFTER DELETE ON annotations REFERENCING OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.create_index("ix_items_project_id", "items", ["project_id", "id"])
    op.create_index("ix_items_project_split", "items", ["project_id", "split"])
    op.create_table(
        "item_stats",
        sa.Column("item_id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(),
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("lm", sa.Integer(), nullable=False),
        sa.Column("sure", sa.Float(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("newest", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_item_stats_project", "item_stats", ["project_id", "state", "lm", "sure"])
    op.create_index("ix_item_stats_flagged", "item_stats", ["project_id", "item_id"],
                    sqlite_where=sa.text("flags > 0"), postgresql_where=sa.text("flags > 0"))
    op.execute(_summary("true"))
    op.create_table(
        "source_stats",
        sa.Column("source_id", sa.Integer(), primary_key=True),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
    )
    op.execute("INSERT INTO source_stats (source_id, changes, votes, flagged)"
               f" SELECT source_id, 0, count(*), sum({_FLAGGED.format(row='annotations')})"
               " FROM annotations GROUP BY source_id")
    op.create_index("ix_review_decisions_project", "review_decisions", ["project_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for event, when in _PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER item_stats_{event} {when}"
                       " FOR EACH STATEMENT EXECUTE FUNCTION item_stats_refresh()")
        return
    for event, (when, votes, rows, counts) in _SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER item_stats_{event} {when} ON annotations BEGIN"
                   f" DELETE FROM item_stats WHERE {rows}; {_summary(votes)};"
                   f" {_count(counts)}; END")


def downgrade() -> None:
    for event in _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS item_stats_{event}"
                   + (" ON annotations" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS item_stats_refresh()")
    op.drop_index("ix_review_decisions_project", table_name="review_decisions")
    op.drop_table("source_stats")
    op.drop_index("ix_item_stats_flagged", table_name="item_stats")
    op.drop_index("ix_item_stats_project", table_name="item_stats")
    op.drop_table("item_stats")
    op.drop_index("ix_items_project_split", table_name="items")
    op.drop_index("ix_items_project_id", table_name="items")
