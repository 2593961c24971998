"""Counts that stay cheap after an annotator's answer: ``item_stats.mstate`` and
``split_counts``.

``item_stats.mstate`` is the state an item would have without the answers of people and
gold sources (``needs_review`` or ``auto`` from the label model's, a model's or a
labeling function's votes; ``none`` when only people answered it); for an item no person
answered it equals ``state``. An answer moves an item from ``needs_review``/``auto`` to
``human``/``gold`` but never changes its ``mstate``, so the counts of the model states over
every item (``state`` plus the people-answered items by ``mstate``) change only when a
model's votes do and can be kept under their version, while the people-answered items are
a short range of ``ix_item_stats_project``, which gets ``mstate`` after ``state`` and
``flags`` last (see :mod:`labelloop.storage.status`).

``split_counts`` holds the items of each project and split, kept by triggers on ``items``
(row triggers on SQLite, statement triggers with transition tables on PostgreSQL), so the
status does not count a million index entries for its split and total figures.

The summary triggers of 0008 (as 0009 left them on SQLite) are recreated from their own
stored text with ``mstate`` added, so their bodies otherwise stay as they were.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_PEOPLE = "('human', 'gold')"
_MSTATE = (
    "CASE WHEN max(CASE WHEN s.kind = 'label_model' AND a.needs_review = true THEN 1 ELSE 0"
    " END) = 1 THEN 'needs_review'"
    " WHEN max(CASE WHEN s.kind = 'label_model' THEN 1 ELSE 0 END) = 1 THEN 'auto'"
    f" WHEN max(CASE WHEN s.kind NOT IN {_PEOPLE} AND a.needs_review = true THEN 1 ELSE 0"
    " END) = 1 THEN 'needs_review'"
    f" WHEN max(CASE WHEN s.kind NOT IN {_PEOPLE} THEN 1 ELSE 0 END) = 1 THEN 'auto'"
    " ELSE 'none' END"
)
_COLS_OLD = "INSERT INTO item_stats (item_id, project_id, state, lm, sure, flags, newest)"
_COLS_NEW = "INSERT INTO item_stats (item_id, project_id, state, lm, sure, flags, newest, mstate)"
_LAST_OLD = "max(CASE WHEN s.kind <> 'gold' THEN a.created_at END) FROM annotations a"
_LAST_NEW = f"max(CASE WHEN s.kind <> 'gold' THEN a.created_at END), {_MSTATE} FROM annotations a"
_SQLITE_SPLITS = {  # event: statements (row triggers)
    "insert": ("AFTER INSERT", ["+NEW"]),
    "delete": ("AFTER DELETE", ["-OLD"]),
    "update": ("AFTER UPDATE OF split, project_id", ["-OLD", "+NEW"]),
}
_PG_SPLITS = """
CREATE FUNCTION split_counts_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    {old};
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    {new};
  END IF;
  RETURN NULL;
END $$
"""
_PG_SPLIT_TRIGGERS = {
    "insert": "AFTER INSERT ON items REFERENCING NEW TABLE AS new_rows",
    "update": ("AFTER UPDATE ON items REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    "delete": "AFTER DELETE ON items REFERENCING OLD TABLE AS old_rows",
}


def _add(project: str, split: str, n: str, source: str = "") -> str:
    """Add ``n`` items to the count of (``project``, ``split``)."""
    head = "INSERT INTO split_counts (project_id, split, items)"
    if source:
        body = f" SELECT {project}, {split}, {n} FROM {source} GROUP BY {project}, {split}"
        body += f" ORDER BY {project}, {split}"
    else:
        body = f" VALUES ({project}, {split}, {n})"
    return (
        head + body + " ON CONFLICT (project_id, split) DO UPDATE SET"
        " items = split_counts.items + excluded.items"
    )


def _sqlite_rewrite(old: str, new: str) -> None:
    """Recreate each SQLite summary trigger with ``old`` in its text replaced by ``new``."""
    bind = op.get_bind()
    for event in ("insert", "update", "delete"):
        name = f"item_stats_{event}"
        sql = bind.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": name},
        ).scalar()
        if sql is None or old not in sql:
            raise RuntimeError(f"trigger {name} is not the one migration 0009 left")
        op.execute(f"DROP TRIGGER {name}")
        op.execute(sql.replace(old, new))


def _pg_rewrite(pairs: list[tuple[str, str]]) -> None:
    """Recreate the PostgreSQL summary function with each ``old`` replaced by ``new``."""
    sql = (
        op.get_bind()
        .execute(sa.text("SELECT pg_get_functiondef('item_stats_refresh'::regproc)"))
        .scalar()
    )
    for old, new in pairs:
        if sql is None or old not in sql:
            raise RuntimeError("function item_stats_refresh is not the one 0008 created")
        sql = sql.replace(old, new)
    op.execute(str(sql))


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column(
        "item_stats", sa.Column("mstate", sa.String(20), nullable=False, server_default="none")
    )
    pairs = [(_COLS_OLD, _COLS_NEW), (_LAST_OLD, _LAST_NEW)]
    if dialect == "postgresql":
        _pg_rewrite(pairs)
    else:
        for old, new in pairs:
            _sqlite_rewrite(old, new)
    # every item's mstate from its votes (the other columns as they are)
    op.execute(
        "UPDATE item_stats SET mstate = (SELECT"
        f" {_MSTATE} FROM annotations a JOIN sources s ON s.id = a.source_id"
        " WHERE a.item_id = item_stats.item_id)"
    )
    # the state index with the model state beside the state and the flags last: the
    # answered items' model states and flags are then read from the index alone
    op.drop_index("ix_item_stats_project", table_name="item_stats")
    op.create_index(
        "ix_item_stats_project",
        "item_stats",
        ["project_id", "state", "mstate", "lm", "sure", "flags"],
    )
    op.create_table(
        "split_counts",
        # no foreign key: deleting a project deletes its items, whose triggers then
        # count them out (to 0) after the project row went
        sa.Column("project_id", sa.Integer(), primary_key=True),
        sa.Column("split", sa.String(20), primary_key=True),
        sa.Column("items", sa.Integer(), nullable=False),
    )
    op.execute(
        "INSERT INTO split_counts (project_id, split, items)"
        " SELECT project_id, split, count(*) FROM items GROUP BY project_id, split"
    )
    if dialect == "postgresql":
        op.execute(
            _PG_SPLITS.format(
                old=_add("project_id", "split", "-count(*)", "old_rows"),
                new=_add("project_id", "split", "count(*)", "new_rows"),
            )
        )
        for event, when in _PG_SPLIT_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER split_counts_{event} {when}"
                " FOR EACH STATEMENT EXECUTE FUNCTION split_counts_refresh()"
            )
        return
    for event, (when, rows) in _SQLITE_SPLITS.items():
        body = "; ".join(_add(f"{r[1:]}.project_id", f"{r[1:]}.split", f"{r[0]}1") for r in rows)
        op.execute(f"CREATE TRIGGER split_counts_{event} {when} ON items BEGIN {body}; END")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for event in _SQLITE_SPLITS:
        op.execute(
            f"DROP TRIGGER IF EXISTS split_counts_{event}"
            + (" ON items" if dialect == "postgresql" else "")
        )
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS split_counts_refresh()")
    op.drop_table("split_counts")
    pairs = [(_COLS_NEW, _COLS_OLD), (_LAST_NEW, _LAST_OLD)]
    if dialect == "postgresql":
        _pg_rewrite(pairs)
    else:
        for old, new in pairs:
            _sqlite_rewrite(old, new)
    op.drop_index("ix_item_stats_project", table_name="item_stats")
    op.create_index("ix_item_stats_project", "item_stats", ["project_id", "state", "lm", "sure"])
    if dialect == "postgresql":
        op.drop_column("item_stats", "mstate")
    else:  # in place (SQLite 3.35+): a batch copy would trip over the summary triggers
        op.execute("ALTER TABLE item_stats DROP COLUMN mstate")
