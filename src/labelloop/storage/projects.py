"""Projects repository: names, label schemas and settings."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.errors import ConflictError, NotFoundError, ValidationError
from labelloop.storage import claim_queue as cq
from labelloop.storage.base import SqlBase
from labelloop.storage.models import ProjectRow, utcnow
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
