"""Project members repository: who was admitted to which project."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select

from labelloop.errors import NotFoundError
from labelloop.storage.base import SqlBase
from labelloop.storage.models import ProjectRow, UserRow
from labelloop.storage.server_models import ProjectMemberRow


class SqlMembers(SqlBase):
    """:class:`~labelloop.storage.protocol.MemberRepository` over SQL."""

    def member_ids(self, project_id: int) -> list[int]:
        """User ids admitted to the project, ascending (empty: nobody was admitted)."""
        with self.snapshot() as s:
            return list(s.scalars(
                select(ProjectMemberRow.user_id)
                .where(ProjectMemberRow.project_id == project_id)
                .order_by(ProjectMemberRow.user_id)
            ))

    def add_member(self, project_id: int, user_id: int) -> None:
        """Admit a user (nothing changes for a member).

        Raises
        ------
        NotFoundError
            If the project or the user does not exist.
        """
        with self._config_write() as s:
            if s.get(ProjectRow, project_id) is None:
                raise NotFoundError(f"project {project_id} not found")
            if s.get(UserRow, user_id) is None:
                raise NotFoundError(f"user {user_id} not found")
            if s.get(ProjectMemberRow, (project_id, user_id)) is None:
                s.add(ProjectMemberRow(project_id=project_id, user_id=user_id))

    def remove_member(self, project_id: int, user_id: int) -> bool:
        """Remove a user from a project; return whether they were a member."""
        with self._config_write() as s:
            res = s.execute(delete(ProjectMemberRow).where(
                ProjectMemberRow.project_id == project_id, ProjectMemberRow.user_id == user_id))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def memberships(self, project_ids: Sequence[int]) -> list[tuple[int, int]]:
        """``(project_id, user_id)`` of every member of the given projects."""
        with self.snapshot() as s:
            rows = s.execute(select(ProjectMemberRow.project_id, ProjectMemberRow.user_id)
                             .where(ProjectMemberRow.project_id.in_(list(project_ids)))
                             .order_by(ProjectMemberRow.project_id, ProjectMemberRow.user_id))
            return [(int(p), int(u)) for p, u in rows.all()]
