"""Who may do what: every route names one action and this table decides.

::

    action          annotator  reviewer  admin
    label               x          x       x     claim, answer, skip, undo; own scorecard
    view_project        x          x       x     schema and settings
    review                         x       x     review queue, decisions, all votes
    view_quality                   x       x     dashboard, everyone's scorecards
    manage                                 x     users, tokens of others, settings, import/export

Annotators never receive gold answers (before answering a honeypot) or other people's
labels: the labeling routes return only what :class:`labelloop.services.queue.Task` holds.
"""

from __future__ import annotations

from typing import Literal

from labelloop.core.records import UserRecord
from labelloop.errors import PermissionDeniedError

Action = Literal["label", "view_project", "review", "view_quality", "manage"]

_BASE: frozenset[str] = frozenset({"label", "view_project"})
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "annotator": _BASE,
    "reviewer": _BASE | {"review", "view_quality"},
    "admin": _BASE | {"review", "view_quality", "manage"},
}


def allowed(user: UserRecord, action: Action) -> bool:
    """Whether an active user's role permits an action."""
    return user.active and action in ROLE_ACTIONS.get(user.role, frozenset())


def require(user: UserRecord, action: Action) -> UserRecord:
    """Return the user if the action is permitted, else raise PermissionDeniedError."""
    if not allowed(user, action):
        raise PermissionDeniedError(f"a {user.role} may not {action.replace('_', ' ')}")
    return user
