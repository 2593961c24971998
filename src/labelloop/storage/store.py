"""The Store: one interface over SQLite (embedded default) and PostgreSQL.

Every public method runs in its own transaction: writes in ``BEGIN IMMEDIATE`` on SQLite,
reads in one snapshot (``REPEATABLE READ`` on PostgreSQL). Multi-step reads that must be
consistent (exports) go through :meth:`Store.snapshot`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, Integer, cast, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from labelloop.core.matrix import ABSTAIN, LabelMatrix
from labelloop.core.records import (
    AnnotationRecord,
    ItemRecord,
    PendingAnnotation,
    Snapshot,
    SourceRecord,
)
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.errors import ConflictError, NotFoundError, ValidationError
from labelloop.storage.engine import WRITE_OPTION, make_engine
from labelloop.storage.models import (
    AnnotationRow,
    EmbeddingRow,
    FailureRow,
    ItemRow,
    ProjectRow,
    SourceRow,
    utcnow,
)

_CHUNK = 500


@dataclass(frozen=True)
class ProjectInfo:
    """A stored project: id, name, label schema and settings."""

    id: int
    name: str
    schema: LabelSchema
    settings: ProjectSettings


@dataclass
class ImportResult:
    """What an import changed."""

    added: int = 0
    skipped: int = 0
    annotations: int = 0
    item_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Failure:
    """A per-item failure of a labeling function, model or other stage."""

    item_id: int | None
    source_id: int | None
    stage: str
    error: str


def item_record(row: ItemRow) -> ItemRecord:
    """Turn an items row into an ItemRecord."""
    return ItemRecord(
        id=row.id,
        data=row.data,
        meta=row.meta or {},
        split=row.split,  # type: ignore[arg-type]
        external_id=row.external_id,
        content_hash=row.content_hash,
        width=row.width,
        height=row.height,
    )


def source_record(row: SourceRow) -> SourceRecord:
    """Turn a sources row into a SourceRecord."""
    return SourceRecord(
        id=row.id, kind=row.kind, name=row.name, version=row.version,  # type: ignore[arg-type]
        user_id=row.user_id,
    )


def annotation_record(row: AnnotationRow) -> AnnotationRecord:
    """Turn an annotations row into an AnnotationRecord."""
    value = row.value or {}
    return AnnotationRecord(
        id=row.id,
        item_id=row.item_id,
        source_id=row.source_id,
        label=row.label,
        labels=value.get("labels"),
        boxes=value.get("boxes"),
        probs=value.get("probs"),
        confidence=row.confidence,
        needs_review=bool(row.needs_review),
        seconds=row.seconds,
        created_at=row.created_at,
    )


def _annotation_rows(annotations: Sequence[AnnotationRecord]) -> list[dict[str, Any]]:
    """Table rows for annotation records (extras such as boxes and probs go in ``value``)."""
    now = utcnow()
    rows = []
    for a in annotations:
        value: dict[str, Any] = {}
        if a.labels is not None:
            value["labels"] = a.labels
        if a.boxes is not None:
            value["boxes"] = [b.model_dump() for b in a.boxes]
        if a.probs is not None:
            value["probs"] = a.probs
        rows.append(
            {
                "item_id": a.item_id, "source_id": a.source_id, "label": a.label,
                "value": value, "confidence": a.confidence,
                "needs_review": a.needs_review, "seconds": a.seconds,
                "created_at": a.created_at or now,
            }
        )
    return rows


def _chunks(seq: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


class Store:
    """Storage of projects, items, sources and annotations over one database URL.

    Parameters
    ----------
    url:
        ``sqlite:///path/labelloop.db`` or ``postgresql+psycopg://user@host/db``.
    migrate:
        Bring the schema to the newest Alembic revision on open (default).
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self._read_engine: Engine
        if self.dialect == "postgresql":
            self._read_engine = self.engine.execution_options(isolation_level="REPEATABLE READ")
        else:
            self._read_engine = self.engine
        if migrate:
            self.migrate()

    # -- plumbing -------------------------------------------------------------------
    def migrate(self) -> None:
        """Upgrade the database schema to the newest revision (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option(
            "script_location", str(resources.files("labelloop.storage") / "migrations")
        )
        with self._write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success."""
        with Session(self._write_engine, expire_on_commit=False) as s, s.begin():
            yield s

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read transaction that sees one consistent snapshot of the database."""
        with Session(self._read_engine, expire_on_commit=False) as s, s.begin():
            yield s

    def _insert(self, table: Any) -> Any:
        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)

    # -- projects -------------------------------------------------------------------
    def create_project(
        self, name: str, schema: LabelSchema, settings: ProjectSettings | None = None
    ) -> ProjectInfo:
        """Create a project; raises ConflictError if the name is taken."""
        settings = settings or ProjectSettings()
        with self.write() as s:
            if s.scalar(select(ProjectRow.id).where(ProjectRow.name == name)) is not None:
                raise ConflictError(f"a project named {name!r} already exists in this database")
            row = ProjectRow(
                name=name,
                task=schema.task,
                label_schema=schema.model_dump(),
                settings=settings.model_dump(),
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return ProjectInfo(row.id, name, schema, settings)

    def get_project(self, name: str | None = None) -> ProjectInfo:
        """Return the project called ``name`` (or the only one when ``name`` is None)."""
        with self.snapshot() as s:
            rows = list(s.scalars(select(ProjectRow).order_by(ProjectRow.id)))
        if name is not None:
            rows = [r for r in rows if r.name == name]
        if not rows:
            what = f"project {name!r}" if name else "any project"
            raise NotFoundError(f"this database holds no {what}; create one with labelloop init")
        if len(rows) > 1:
            names = ", ".join(r.name for r in rows)
            raise ValidationError(f"this database holds several projects ({names}); name one")
        r = rows[0]
        return ProjectInfo(
            r.id, r.name, LabelSchema.model_validate(r.label_schema),
            ProjectSettings.model_validate(r.settings),
        )

    def list_projects(self) -> list[str]:
        """Names of every project in the database."""
        with self.snapshot() as s:
            return list(s.scalars(select(ProjectRow.name).order_by(ProjectRow.id)))

    def update_settings(self, project_id: int, settings: ProjectSettings) -> None:
        """Replace a project's settings."""
        with self.write() as s:
            s.execute(
                update(ProjectRow)
                .where(ProjectRow.id == project_id)
                .values(settings=settings.model_dump())
            )

    # -- items ----------------------------------------------------------------------
    def import_records(
        self,
        project_id: int,
        items: Sequence[ItemRecord],
        annotations: Sequence[PendingAnnotation] = (),
    ) -> ImportResult:
        """Add items and their annotations in one transaction (all or nothing).

        Items already stored (same content hash) are skipped, so importing the same
        rows twice adds nothing; their annotations are upserted.
        """
        result = ImportResult()
        with self.write() as s:
            hashes = list(dict.fromkeys(it.content_hash for it in items))
            existing = self._ids_by_hash(s, project_id, hashes)
            now = utcnow()
            new_rows = []
            seen: set[str] = set()
            for it in items:
                if it.content_hash in existing or it.content_hash in seen:
                    result.skipped += 1
                    continue
                seen.add(it.content_hash)
                new_rows.append(
                    {
                        "project_id": project_id,
                        "content_hash": it.content_hash,
                        "external_id": it.external_id,
                        "data": it.data,
                        "meta": it.meta,
                        "split": it.split,
                        "width": it.width,
                        "height": it.height,
                        "created_at": now,
                    }
                )
            for chunk in _chunks(new_rows):
                s.execute(self._insert(ItemRow).on_conflict_do_nothing(), list(chunk))
            result.added = len(new_rows)
            ids = self._ids_by_hash(s, project_id, hashes)
            result.item_ids = [ids[h] for h in hashes]
            result.annotations = self._import_annotations(s, project_id, ids, annotations, now)
        return result

    def _ids_by_hash(self, s: Session, project_id: int, hashes: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(hashes):
            q = select(ItemRow.content_hash, ItemRow.id).where(
                ItemRow.project_id == project_id, ItemRow.content_hash.in_(chunk)
            )
            out.update({h: i for h, i in s.execute(q)})
        return out

    def _import_annotations(
        self, s: Session, project_id: int, ids: dict[str, int],
        annotations: Sequence[PendingAnnotation], now: Any,
    ) -> int:
        if not annotations:
            return 0
        source_ids: dict[tuple[str, str, str], int] = {}
        rows = []
        for a in annotations:
            key = (a.kind, a.name, a.version)
            if key not in source_ids:
                source_ids[key] = self._ensure_source(s, project_id, *key)
            value: dict[str, Any] = {}
            if a.labels is not None:
                value["labels"] = a.labels
            if a.boxes is not None:
                value["boxes"] = a.boxes
            rows.append(
                {
                    "item_id": ids[a.content_hash],
                    "source_id": source_ids[key],
                    "label": a.label,
                    "value": value,
                    "confidence": a.confidence,
                    "needs_review": a.needs_review,
                    "seconds": None,
                    "created_at": now,
                }
            )
        self._upsert_annotation_rows(s, rows)
        return len(rows)

    def items(
        self, project_id: int, *, split: str | None = None, ids: Sequence[int] | None = None
    ) -> list[ItemRecord]:
        """Items of a project in id order, optionally one split or given ids."""
        with self.snapshot() as s:
            return self._items(s, project_id, split=split, ids=ids)

    def _items(
        self, s: Session, project_id: int, *, split: str | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[ItemRecord]:
        q = select(ItemRow).where(ItemRow.project_id == project_id)
        if split is not None:
            q = q.where(ItemRow.split == split)
        if ids is None:
            return [item_record(r) for r in s.scalars(q.order_by(ItemRow.id))]
        found: dict[int, ItemRecord] = {}
        for chunk in _chunks(list(ids)):
            found.update({r.id: item_record(r) for r in s.scalars(q.where(ItemRow.id.in_(chunk)))})
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(f"item(s) {missing[:5]} not found in this project")
        return [found[i] for i in ids]

    def count_items(self, project_id: int) -> int:
        """Number of items in a project."""
        with self.snapshot() as s:
            return int(
                s.scalar(select(func.count(ItemRow.id)).where(ItemRow.project_id == project_id))
                or 0
            )

    def set_priorities(self, project_id: int, priorities: dict[int, float]) -> None:
        """Store the active-learning priority of items (higher is labeled sooner)."""
        with self.write() as s:
            for item_id, p in priorities.items():
                s.execute(
                    update(ItemRow)
                    .where(ItemRow.project_id == project_id, ItemRow.id == item_id)
                    .values(priority=float(p))
                )

    # -- sources and annotations ------------------------------------------------------
    def _ensure_source(
        self, s: Session, project_id: int, kind: str, name: str, version: str,
        user_id: int | None = None,
    ) -> int:
        q = select(SourceRow.id).where(
            SourceRow.project_id == project_id, SourceRow.kind == kind,
            SourceRow.name == name, SourceRow.version == version,
        )
        sid = s.scalar(q)
        if sid is None:
            s.execute(
                self._insert(SourceRow)
                .values(project_id=project_id, kind=kind, name=name, version=version,
                        user_id=user_id, created_at=utcnow())
                .on_conflict_do_nothing()
            )
            sid = s.scalar(q)
        return int(sid)  # type: ignore[arg-type]

    def ensure_source(
        self, project_id: int, kind: str, name: str, version: str = "",
        *, user_id: int | None = None,
    ) -> SourceRecord:
        """Return the source with this identity, creating it if needed."""
        SourceRecord(kind=kind, name=name, version=version)  # type: ignore[arg-type]
        with self.write() as s:
            sid = self._ensure_source(s, project_id, kind, name, version, user_id)
            return source_record(s.get_one(SourceRow, sid))

    def sources(self, project_id: int, *, kinds: Iterable[str] | None = None) -> list[SourceRecord]:
        """Sources of a project in id order, optionally only some kinds."""
        q = select(SourceRow).where(SourceRow.project_id == project_id)
        if kinds is not None:
            q = q.where(SourceRow.kind.in_(list(kinds)))
        with self.snapshot() as s:
            return [source_record(r) for r in s.scalars(q.order_by(SourceRow.id))]

    def _upsert_annotation_rows(self, s: Session, rows: list[dict[str, Any]]) -> None:
        for chunk in _chunks(rows):
            stmt = self._insert(AnnotationRow)
            stmt = stmt.on_conflict_do_update(
                index_elements=["item_id", "source_id"],
                set_={
                    c: getattr(stmt.excluded, c)
                    for c in ("label", "value", "confidence", "needs_review", "seconds",
                              "created_at")
                },
            )
            s.execute(stmt, list(chunk))

    def upsert_annotations(self, project_id: int, annotations: Sequence[AnnotationRecord]) -> int:
        """Store annotations; a source's earlier answer for the same item is replaced."""
        if not annotations:
            return 0
        with self.write() as s:
            item_ids = sorted({a.item_id for a in annotations})
            source_ids = sorted({a.source_id for a in annotations})
            self._check_owned(s, project_id, item_ids, source_ids)
            self._upsert_annotation_rows(s, _annotation_rows(annotations))
        return len(annotations)

    def replace_annotations(
        self, project_id: int, source_ids: Sequence[int], item_ids: Sequence[int],
        annotations: Sequence[AnnotationRecord],
    ) -> int:
        """Make ``annotations`` the whole answer of ``source_ids`` on ``item_ids``, atomically.

        Earlier annotations of those sources on those items are removed first, so an item
        where a source now abstains loses its stale vote (e.g. an edited labeling function
        applied again). Other items and sources are untouched.

        Raises
        ------
        ValidationError
            If an annotation lies outside the given sources or items.
        NotFoundError
            If a source or item is not in this project.
        """
        srcs, items = set(source_ids), set(item_ids)
        outside = [a for a in annotations if a.source_id not in srcs or a.item_id not in items]
        if outside:
            raise ValidationError(
                f"annotation of item {outside[0].item_id} by source {outside[0].source_id} is "
                "outside the sources and items being replaced"
            )
        with self.write() as s:
            self._check_owned(s, project_id, sorted(items), sorted(srcs))
            for chunk in _chunks(sorted(items)):
                s.execute(
                    delete(AnnotationRow).where(
                        AnnotationRow.source_id.in_(sorted(srcs)), AnnotationRow.item_id.in_(chunk)
                    )
                )
            self._upsert_annotation_rows(s, _annotation_rows(annotations))
        return len(annotations)

    def _check_owned(
        self, s: Session, project_id: int, item_ids: Sequence[int], source_ids: Sequence[int]
    ) -> None:
        n_items = 0
        for chunk in _chunks(item_ids):
            n_items += int(s.scalar(
                select(func.count(ItemRow.id)).where(
                    ItemRow.project_id == project_id, ItemRow.id.in_(chunk)
                )
            ) or 0)
        if n_items != len(item_ids):
            raise NotFoundError("some annotated items do not belong to this project")
        n_src = s.scalar(
            select(func.count(SourceRow.id)).where(
                SourceRow.project_id == project_id, SourceRow.id.in_(source_ids)
            )
        )
        if n_src != len(source_ids):
            raise NotFoundError("some annotation sources do not belong to this project")

    def annotations(
        self, project_id: int, *, kinds: Iterable[str] | None = None,
        source_ids: Iterable[int] | None = None,
    ) -> list[AnnotationRecord]:
        """Annotations of a project, optionally only some source kinds or ids."""
        with self.snapshot() as s:
            return self._annotations(s, project_id, kinds=kinds, source_ids=source_ids)

    def _annotations(
        self, s: Session, project_id: int, *, kinds: Iterable[str] | None = None,
        source_ids: Iterable[int] | None = None,
    ) -> list[AnnotationRecord]:
        q = (
            select(AnnotationRow)
            .join(SourceRow, SourceRow.id == AnnotationRow.source_id)
            .where(SourceRow.project_id == project_id)
        )
        if kinds is not None:
            q = q.where(SourceRow.kind.in_(list(kinds)))
        if source_ids is not None:
            q = q.where(SourceRow.id.in_(list(source_ids)))
        q = q.order_by(AnnotationRow.item_id, AnnotationRow.source_id)
        return [annotation_record(r) for r in s.scalars(q)]

    def delete_annotations(self, project_id: int, source_id: int) -> int:
        """Remove every annotation of one source (e.g. before refitting a label model)."""
        with self.write() as s:
            owned = s.scalar(
                select(SourceRow.id).where(
                    SourceRow.project_id == project_id, SourceRow.id == source_id
                )
            )
            if owned is None:
                raise NotFoundError(f"source {source_id} not found in this project")
            res = s.execute(delete(AnnotationRow).where(AnnotationRow.source_id == source_id))
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

    def label_matrix(
        self, project_id: int, *, kinds: Iterable[str] | None = None,
        item_ids: Sequence[int] | None = None, all_versions: bool = False,
    ) -> LabelMatrix:
        """Label matrix of single-label annotations: rows are items, columns sources.

        Only the newest version of each source (same kind and name) is a column unless
        ``all_versions``: a model drafted again after new human labels, or a labeling
        function applied under a new version, replaces its earlier column instead of voting
        twice.
        """
        with self.snapshot() as s:
            if item_ids is None:
                item_ids = list(
                    s.scalars(
                        select(ItemRow.id)
                        .where(ItemRow.project_id == project_id)
                        .order_by(ItemRow.id)
                    )
                )
            srcs = select(SourceRow).where(SourceRow.project_id == project_id)
            if kinds is not None:
                srcs = srcs.where(SourceRow.kind.in_(list(kinds)))
            sources = list(s.scalars(srcs.order_by(SourceRow.id)))
            if not all_versions:
                newest = {(r.kind, r.name): r.id for r in sources}  # id order: the last wins
                sources = [r for r in sources if newest[(r.kind, r.name)] == r.id]
            anns = s.execute(
                select(AnnotationRow.item_id, AnnotationRow.source_id, AnnotationRow.label)
                .where(AnnotationRow.source_id.in_([r.id for r in sources]))
                .where(AnnotationRow.label.is_not(None))
            ).all()
        rows = {i: n for n, i in enumerate(item_ids)}
        cols = {r.id: n for n, r in enumerate(sources)}
        L = np.full((len(item_ids), len(sources)), ABSTAIN, dtype=np.int64)
        for item_id, source_id, label in anns:
            if item_id in rows:
                assert label is not None  # the query keeps labelled rows only
                L[rows[item_id], cols[source_id]] = label
        return LabelMatrix(L, list(item_ids), [r.id for r in sources])

    # -- failures and embeddings --------------------------------------------------------
    def record_failures(self, project_id: int, failures: Sequence[Failure]) -> None:
        """Record per-item failures (the rest of the batch is stored as usual)."""
        if not failures:
            return
        now = utcnow()
        with self.write() as s:
            s.execute(
                self._insert(FailureRow),
                [
                    {"project_id": project_id, "item_id": f.item_id, "source_id": f.source_id,
                     "stage": f.stage, "error": f.error[:2000], "created_at": now}
                    for f in failures
                ],
            )

    def failures(self, project_id: int, *, stage: str | None = None) -> list[Failure]:
        """Recorded per-item failures, oldest first."""
        q = select(FailureRow).where(FailureRow.project_id == project_id)
        if stage is not None:
            q = q.where(FailureRow.stage == stage)
        with self.snapshot() as s:
            return [
                Failure(r.item_id, r.source_id, r.stage, r.error)
                for r in s.scalars(q.order_by(FailureRow.id))
            ]

    def put_embeddings(
        self, model: str, item_ids: Sequence[int], vectors: npt.NDArray[Any]
    ) -> None:
        """Cache float32 embeddings of items under a model name (replacing old ones)."""
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != len(item_ids):
            raise ValidationError(
                f"expected one vector per item: {len(item_ids)} items, array shape {arr.shape}"
            )
        rows = [
            {"item_id": int(i), "model": model, "dim": arr.shape[1], "vector": arr[n].tobytes()}
            for n, i in enumerate(item_ids)
        ]
        with self.write() as s:
            for chunk in _chunks(rows):
                stmt = self._insert(EmbeddingRow)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["item_id", "model"],
                    set_={"dim": stmt.excluded.dim, "vector": stmt.excluded.vector},
                )
                s.execute(stmt, list(chunk))

    def get_embeddings(
        self, model: str, item_ids: Sequence[int]
    ) -> tuple[list[int], npt.NDArray[np.float32]]:
        """Cached embeddings: the ids found (in the order asked) and their vectors."""
        found: dict[int, npt.NDArray[np.float32]] = {}
        with self.snapshot() as s:
            for chunk in _chunks(list(item_ids)):
                q = select(EmbeddingRow).where(
                    EmbeddingRow.model == model, EmbeddingRow.item_id.in_(chunk)
                )
                for r in s.scalars(q):
                    found[r.item_id] = np.frombuffer(r.vector, dtype=np.float32)
        ids = [int(i) for i in item_ids if i in found]
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.stack([found[i] for i in ids])

    def export_snapshot(self, project_id: int) -> Snapshot:
        """Items, sources and annotations of a project, read in one consistent snapshot."""
        with self.snapshot() as s:
            items = self._items(s, project_id)
            sources = [
                source_record(r)
                for r in s.scalars(
                    select(SourceRow).where(SourceRow.project_id == project_id)
                    .order_by(SourceRow.id)
                )
            ]
            annotations = self._annotations(s, project_id)
        return Snapshot(items, sources, annotations)

    # -- status ---------------------------------------------------------------------
    def status(self, project_id: int) -> dict[str, Any]:
        """Counts of items by state and split, and of annotations by source."""
        with self.snapshot() as s:
            splits = dict(
                s.execute(
                    select(ItemRow.split, func.count(ItemRow.id))
                    .where(ItemRow.project_id == project_id)
                    .group_by(ItemRow.split)
                ).all()
            )
            per_source = s.execute(
                select(SourceRow.kind, SourceRow.name, SourceRow.version,
                       func.count(AnnotationRow.id),
                       func.coalesce(func.sum(
                           cast(AnnotationRow.needs_review, Integer)), 0))
                .join(AnnotationRow, AnnotationRow.source_id == SourceRow.id, isouter=True)
                .where(SourceRow.project_id == project_id)
                .group_by(SourceRow.id, SourceRow.kind, SourceRow.name, SourceRow.version)
                .order_by(SourceRow.id)
            ).all()
            kinds_per_item = s.execute(
                select(AnnotationRow.item_id, SourceRow.kind, AnnotationRow.needs_review)
                .join(SourceRow, SourceRow.id == AnnotationRow.source_id)
                .where(SourceRow.project_id == project_id)
            ).all()
        total = sum(splits.values())
        by_item: dict[int, set[str]] = defaultdict(set)
        for item_id, kind, review in kinds_per_item:
            by_item[item_id].add(f"{kind}:review" if review else kind)
        states: Counter[str] = Counter()
        for marks in by_item.values():
            states[_item_state(marks)] += 1
        states["unlabeled"] = total - sum(states.values())
        return {
            "items": total,
            "splits": splits,
            "states": {k: states.get(k, 0) for k in ITEM_STATES},
            "sources": [
                {"kind": k, "name": n, "version": v, "annotations": int(c),
                 "needs_review": int(r or 0)}
                for k, n, v, c, r in per_source
            ],
        }


ITEM_STATES = ("gold", "human", "needs_review", "auto", "unlabeled")


def _item_state(marks: set[str]) -> str:
    """Gold, else human, else the label model's verdict, else any draft's."""
    if any(m.startswith("gold") for m in marks):
        return "gold"
    if any(m.startswith("human") for m in marks):
        return "human"
    if "label_model:review" in marks:
        return "needs_review"
    if "label_model" in marks:
        return "auto"
    if any(m.endswith(":review") for m in marks):
        return "needs_review"
    if marks & {"model", "labeling_function"}:
        return "auto"
    return "unlabeled"
