"""Projects repository: names, label schemas and settings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import func, select, update

from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.errors import ConflictError, NotFoundError, ValidationError
from labelloop.storage import claim_queue as cq
from labelloop.storage.base import SqlBase
from labelloop.storage.models import AnnotationRow, ProjectRow, SourceRow, utcnow
from labelloop.storage.records import ProjectInfo


def _info(r: ProjectRow) -> ProjectInfo:
    return ProjectInfo(r.id, r.name, LabelSchema.model_validate(r.label_schema),
                       ProjectSettings.model_validate(r.settings), bool(r.members_only),
                       tuple(str(x) for x in r.media_roots or ()))


class SqlProjects(SqlBase):
    """:class:`~labelloop.storage.protocol.ProjectRepository` over SQL."""

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
                members_only=False,
                media_roots=[],
            )
            s.add(row)
            s.flush()
            cq.rebase(s, row.id, settings.overlap)
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
        return _info(rows[0])

    def project(self, project_id: int) -> ProjectInfo:
        """The project with this id (raises NotFoundError)."""
        with self.snapshot() as s:
            row = s.get(ProjectRow, project_id)
            if row is None:
                raise NotFoundError(f"project {project_id} not found")
            return _info(row)

    def projects(self) -> list[ProjectInfo]:
        """Every project in the database, in id order."""
        with self.snapshot() as s:
            return [_info(r) for r in s.scalars(select(ProjectRow).order_by(ProjectRow.id))]

    def list_projects(self) -> list[str]:
        """Names of every project in the database."""
        with self.snapshot() as s:
            return list(s.scalars(select(ProjectRow.name).order_by(ProjectRow.id)))

    def update_settings(self, project_id: int, settings: ProjectSettings) -> None:
        """Replace a project's settings."""
        with self._config_write() as s:
            s.execute(
                update(ProjectRow)
                .where(ProjectRow.id == project_id)
                .values(settings=settings.model_dump())
            )
            if cq.recorded_overlap(s, project_id) != settings.overlap:
                cq.rebase(s, project_id, settings.overlap)

    def update_schema(self, project_id: int, schema: LabelSchema) -> ProjectInfo:
        """Replace a project's label schema (its task stays; the caller checks that no
        stored vote loses its class).

        Raises
        ------
        NotFoundError
            If there is no such project.
        ValidationError
            If the schema changes the task.
        """
        with self._config_write() as s:
            row = s.get(ProjectRow, project_id)
            if row is None:
                raise NotFoundError(f"project {project_id} not found")
            if row.task != schema.task:
                raise ValidationError(f"a project's task cannot change ({row.task!r} to "
                                      f"{schema.task!r}); create a new project instead")
            row.label_schema = schema.model_dump()
            s.flush()
            return _info(row)

    def class_votes(self, project_id: int) -> tuple[Counter[int], Counter[str]]:
        """Votes per class of every source: counts by class index (single and multi-label
        answers) and by class name (boxes and spans).

        Single-label votes are counted in SQL; the answers stored as JSON (label sets,
        boxes, spans) are read one row at a time, so it costs one pass over those votes
        (an admin's schema edit, never a page view).
        """
        by_index: Counter[int] = Counter()
        by_name: Counter[str] = Counter()
        in_project = (AnnotationRow.source_id == SourceRow.id,
                      SourceRow.project_id == project_id)
        with self.snapshot() as s:
            for label, n in s.execute(
                    select(AnnotationRow.label, func.count()).where(
                        *in_project, AnnotationRow.label.is_not(None))
                    .group_by(AnnotationRow.label)):
                if label is not None:
                    by_index[label] += int(n)
            rows = s.execute(select(AnnotationRow.value).where(
                *in_project, AnnotationRow.label.is_(None)).execution_options(yield_per=1000))
            for (value,) in rows:
                value = value or {}
                by_index.update(int(i) for i in value.get("labels") or ())
                by_name.update(str(x.get("label")) for key in ("boxes", "spans")
                               for x in value.get(key) or ())
        return by_index, by_name

    def set_access(self, project_id: int, *, members_only: bool | None = None,
                   media_roots: Sequence[str] | None = None) -> ProjectInfo:
        """Change who may see a project and where its images may come from (None: keep).

        Raises
        ------
        NotFoundError
            If there is no such project.
        """
        with self._config_write() as s:
            row = s.get(ProjectRow, project_id)
            if row is None:
                raise NotFoundError(f"project {project_id} not found")
            if members_only is not None:
                row.members_only = members_only
            if media_roots is not None:
                row.media_roots = list(media_roots)
            s.flush()
            return _info(row)
