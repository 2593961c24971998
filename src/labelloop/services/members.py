"""Who may see a project: its members, or everyone while it has none.

A project starts open to every active user (one team, one project: nothing to set up).
Once an admin admits someone, only its members (and admins) see it; to everyone else it
does not exist (the server answers 404, as for an unknown id).
"""

from __future__ import annotations

from sqlalchemy import delete, select

from labelloop.core.records import UserRecord
from labelloop.errors import NotFoundError
from labelloop.storage.models import ProjectRow, UserRow
from labelloop.storage.server_models import ProjectMemberRow
from labelloop.storage.store import Store


class Members:
    """Project membership in a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def user_ids(self, project_id: int) -> list[int]:
        """User ids admitted to the project (empty: open to everyone)."""
        with self.store.snapshot() as s:
            return list(s.scalars(
                select(ProjectMemberRow.user_id)
                .where(ProjectMemberRow.project_id == project_id)
                .order_by(ProjectMemberRow.user_id)
            ))

    def grant(self, project_id: int, user_id: int) -> None:
        """Admit a user to a project (nothing changes if they are a member already).

        Raises
        ------
        NotFoundError
            If the project or the user does not exist.
        """
        with self.store.write() as s:
            if s.get(ProjectRow, project_id) is None:
                raise NotFoundError(f"project {project_id} not found")
            if s.get(UserRow, user_id) is None:
                raise NotFoundError(f"user {user_id} not found")
            if s.get(ProjectMemberRow, (project_id, user_id)) is None:
                s.add(ProjectMemberRow(project_id=project_id, user_id=user_id))

    def revoke(self, project_id: int, user_id: int) -> bool:
        """Remove a user from a project; return whether they were a member.

        Removing the last member opens the project to everyone again.
        """
        with self.store.write() as s:
            res = s.execute(delete(ProjectMemberRow).where(
                ProjectMemberRow.project_id == project_id, ProjectMemberRow.user_id == user_id))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def visible(self, user: UserRecord, project_ids: list[int]) -> list[int]:
        """The projects among ``project_ids`` the user may see, in the same order."""
        if user.role == "admin":
            return list(project_ids)
        with self.store.snapshot() as s:
            rows = s.execute(select(ProjectMemberRow.project_id, ProjectMemberRow.user_id)
                             .where(ProjectMemberRow.project_id.in_(project_ids))).all()
        restricted = {p for p, _ in rows}
        mine = {p for p, u in rows if u == user.id}
        return [p for p in project_ids if p not in restricted or p in mine]

    def check(self, user: UserRecord, project_id: int) -> None:
        """Raise NotFoundError unless the user may see the project."""
        if not self.visible(user, [project_id]):
            raise NotFoundError(f"project {project_id} not found")
