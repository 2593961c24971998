"""Who may see a project: everyone, or only its members when it is members-only.

A project starts open to every active user (one team, one project: nothing to set up).
Admitting a member makes it members-only; from then on only its members (and admins) see
it, and to everyone else it does not exist (the server answers 404, as for an unknown id).
Members-only is an explicit project setting: removing members never opens a project, only
an admin who switches the setting off does (:meth:`Members.set_members_only`).
"""

from __future__ import annotations

from labelloop.core.records import UserRecord
from labelloop.errors import NotFoundError
from labelloop.storage import ProjectInfo, StoreProtocol


def visible_to(user: UserRecord, project: ProjectInfo, member_ids: frozenset[int]) -> bool:
    """Whether the user may see the project, given its members: admins see every project,
    others the open ones and the members-only ones they were admitted to."""
    return user.role == "admin" or not project.members_only or user.id in member_ids


class Members:
    """Project membership in a store."""

    def __init__(self, store: StoreProtocol) -> None:
        self.store = store

    def user_ids(self, project_id: int) -> list[int]:
        """User ids admitted to the project."""
        return self.store.member_ids(project_id)

    def grant(self, project_id: int, user_id: int) -> None:
        """Admit a user to a project and make it members-only (if it was not already).

        Raises
        ------
        NotFoundError
            If the project or the user does not exist.
        """
        self.store.add_member(project_id, user_id)
        self.store.set_access(project_id, members_only=True)

    def revoke(self, project_id: int, user_id: int) -> bool:
        """Remove a user from a project; return whether they were a member.

        The project stays members-only, even without members (then only admins see it).
        """
        return self.store.remove_member(project_id, user_id)

    def set_members_only(self, project_id: int, members_only: bool) -> ProjectInfo:
        """Make a project members-only, or open it to every user (admins decide)."""
        return self.store.set_access(project_id, members_only=members_only)

    def _shown(self, user: UserRecord, projects: list[ProjectInfo]) -> list[ProjectInfo]:
        if user.role == "admin":
            return list(projects)
        closed = [p.id for p in projects if p.members_only]
        mine = {p for p, u in self.store.memberships(closed) if u == user.id} if closed else set()
        return [p for p in projects if visible_to(user, p, frozenset({user.id or 0})
                                                  if p.id in mine else frozenset())]

    def visible(self, user: UserRecord, project_ids: list[int]) -> list[int]:
        """The projects among ``project_ids`` the user may see, in the same order."""
        shown = {p.id for p in self._shown(user, self.store.projects())}
        return [p for p in project_ids if p in shown]

    def check(self, user: UserRecord, project_id: int) -> None:
        """Raise NotFoundError unless the user may see the project."""
        self.project(user, project_id)

    def project(self, user: UserRecord, project_id: int) -> ProjectInfo:
        """The project with this id, if the user may see it (else NotFoundError)."""
        info = self.store.project(project_id)
        if not self._shown(user, [info]):
            raise NotFoundError(f"project {project_id} not found")
        return info

    def projects(self, user: UserRecord) -> list[ProjectInfo]:
        """The projects the user may see (members only where a project is members-only)."""
        return self._shown(user, self.store.projects())
