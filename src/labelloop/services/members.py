"""Who may see a project: its members, or everyone while it has none.

A project starts open to every active user (one team, one project: nothing to set up).
Once an admin admits someone, only its members (and admins) see it; to everyone else it
does not exist (the server answers 404, as for an unknown id).
"""

from __future__ import annotations

from labelloop.core.records import UserRecord
from labelloop.errors import NotFoundError
from labelloop.storage import ProjectInfo, StoreProtocol


class Members:
    """Project membership in a store."""

    def __init__(self, store: StoreProtocol) -> None:
        self.store = store

    def user_ids(self, project_id: int) -> list[int]:
        """User ids admitted to the project (empty: open to everyone)."""
        return self.store.member_ids(project_id)

    def grant(self, project_id: int, user_id: int) -> None:
        """Admit a user to a project (nothing changes if they are a member already).

        Raises
        ------
        NotFoundError
            If the project or the user does not exist.
        """
        self.store.add_member(project_id, user_id)

    def revoke(self, project_id: int, user_id: int) -> bool:
        """Remove a user from a project; return whether they were a member.

        Removing the last member opens the project to everyone again.
        """
        return self.store.remove_member(project_id, user_id)

    def visible(self, user: UserRecord, project_ids: list[int]) -> list[int]:
        """The projects among ``project_ids`` the user may see, in the same order."""
        if user.role == "admin":
            return list(project_ids)
        rows = self.store.memberships(project_ids)
        restricted = {p for p, _ in rows}
        mine = {p for p, u in rows if u == user.id}
        return [p for p in project_ids if p not in restricted or p in mine]

    def check(self, user: UserRecord, project_id: int) -> None:
        """Raise NotFoundError unless the user may see the project."""
        if not self.visible(user, [project_id]):
            raise NotFoundError(f"project {project_id} not found")

    def project(self, user: UserRecord, project_id: int) -> ProjectInfo:
        """The project with this id, if the user may see it (else NotFoundError)."""
        self.check(user, project_id)
        return self.store.project(project_id)

    def projects(self, user: UserRecord) -> list[ProjectInfo]:
        """The projects the user may see (members only where a project has members)."""
        everything = self.store.projects()
        shown = set(self.visible(user, [p.id for p in everything]))
        return [p for p in everything if p.id in shown]
