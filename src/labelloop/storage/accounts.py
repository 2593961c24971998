"""Accounts repository: users, API tokens and login sessions (secrets stored hashed).

Hashing and checking passwords and tokens is the job of :mod:`labelloop.services.users`;
this module stores and finds the hashes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from labelloop.core.records import UserRecord
from labelloop.errors import ConflictError, NotFoundError
from labelloop.storage.base import SqlBase, aware
from labelloop.storage.models import ApiTokenRow, UserRow, utcnow
from labelloop.storage.records import TokenInfo, user_record
from labelloop.storage.server_models import SessionRow


def _token(r: ApiTokenRow) -> TokenInfo:
    return TokenInfo(r.id, r.user_id, r.name, aware(r.created_at),
                     None if r.expires_at is None else aware(r.expires_at),
                     None if r.last_used_at is None else aware(r.last_used_at))


class SqlAccounts(SqlBase):
    """:class:`~labelloop.storage.protocol.AccountRepository` over SQL."""

    def create_user(self, name: str, role: str, password_hash: str) -> UserRecord:
        """Add an active user; raises ConflictError if the name is taken."""
        with self.write() as s:
            if s.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
                raise ConflictError(f"a user named {name!r} already exists")
            row = UserRow(name=name, role=role, password_hash=password_hash, active=True,
                          created_at=utcnow())
            s.add(row)
            s.flush()
            return user_record(row)

    def get_user(self, user_id: int) -> UserRecord | None:
        """The user with this id, if any."""
        with self.snapshot() as s:
            row = s.get(UserRow, user_id)
            return None if row is None else user_record(row)

    def user_by_name(self, name: str) -> UserRecord | None:
        """The user with this name, if any."""
        found = self.user_credentials(name)
        return None if found is None else found[0]

    def user_credentials(self, name: str) -> tuple[UserRecord, str | None] | None:
        """The user with this name and their password hash, if any."""
        with self.snapshot() as s:
            row = s.scalars(select(UserRow).where(UserRow.name == name)).first()
            return None if row is None else (user_record(row), row.password_hash)

    def users(self) -> list[UserRecord]:
        """Every user, in creation order."""
        with self.snapshot() as s:
            return [user_record(r) for r in s.scalars(select(UserRow).order_by(UserRow.id))]

    def set_user_active(self, user_id: int, active: bool) -> UserRecord:
        """Activate or deactivate a user; deactivation ends their sessions.

        Raises
        ------
        NotFoundError
            If there is no such user.
        """
        with self.write() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise NotFoundError(f"user {user_id} not found")
            row.active = active
            if not active:
                s.execute(delete(SessionRow).where(SessionRow.user_id == user_id))
            return user_record(row)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a user's password hash, end their sessions and revoke their API tokens
        (NotFoundError if there is no such user)."""
        with self.write() as s:
            res = s.execute(
                update(UserRow).where(UserRow.id == user_id).values(password_hash=password_hash)
            )
            if not res.rowcount:  # type: ignore[attr-defined]
                raise NotFoundError(f"user {user_id} not found")
            s.execute(delete(SessionRow).where(SessionRow.user_id == user_id))
            s.execute(delete(ApiTokenRow).where(ApiTokenRow.user_id == user_id))

    # -- API tokens -------------------------------------------------------------------
    def add_token(self, user_id: int, token_hash: str, name: str = "",
                  expires_at: datetime | None = None) -> int:
        """Store the hash of a user's API token; return its id (NotFoundError for an
        unknown user)."""
        with self.write() as s:
            if s.get(UserRow, user_id) is None:
                raise NotFoundError(f"user {user_id} not found")
            row = ApiTokenRow(user_id=user_id, token_hash=token_hash, name=name,
                              created_at=utcnow(), expires_at=expires_at)
            s.add(row)
            s.flush()
            return row.id

    def token_user(self, token_hash: str) -> UserRecord | None:
        """The user an API token hash belongs to (active or not), if any."""
        found = self.token_login(token_hash)
        return None if found is None else found[0]

    def token_login(self, token_hash: str) -> tuple[UserRecord, TokenInfo] | None:
        """The user an API token hash belongs to and the token's details, if any."""
        with self.snapshot() as s:
            found = s.execute(
                select(UserRow, ApiTokenRow).join(ApiTokenRow, ApiTokenRow.user_id == UserRow.id)
                .where(ApiTokenRow.token_hash == token_hash)
            ).first()
            return None if found is None else (user_record(found[0]), _token(found[1]))

    def tokens(self, user_id: int) -> list[TokenInfo]:
        """A user's API tokens, oldest first."""
        with self.snapshot() as s:
            return [_token(r) for r in s.scalars(
                select(ApiTokenRow).where(ApiTokenRow.user_id == user_id)
                .order_by(ApiTokenRow.id))]

    def touch_token(self, token_id: int, when: datetime) -> None:
        """Record when a token was last used."""
        with self.write() as s:
            s.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id)
                      .values(last_used_at=when))

    def revoke_token(self, user_id: int, token_id: int) -> bool:
        """Delete one of a user's tokens; return whether it existed."""
        with self.write() as s:
            res = s.execute(delete(ApiTokenRow).where(ApiTokenRow.id == token_id,
                                                      ApiTokenRow.user_id == user_id))
            return bool(res.rowcount)  # type: ignore[attr-defined]

    # -- sessions ---------------------------------------------------------------------
    def add_session(self, user_id: int, token_hash: str, expires_at: datetime) -> None:
        """Store a login session (and forget every expired one)."""
        now = utcnow()
        with self.write() as s:
            s.execute(delete(SessionRow).where(SessionRow.expires_at < now))
            s.add(SessionRow(token_hash=token_hash, user_id=user_id, created_at=now,
                             expires_at=expires_at))

    def session_user(self, token_hash: str) -> tuple[UserRecord, datetime] | None:
        """The user of a session and when it expires (with its zone), if it exists."""
        with self.snapshot() as s:
            found = s.execute(
                select(UserRow, SessionRow.expires_at)
                .join(SessionRow, SessionRow.user_id == UserRow.id)
                .where(SessionRow.token_hash == token_hash)
            ).first()
            if found is None:
                return None
            row, expires = found
            return user_record(row), aware(expires)

    def delete_session(self, token_hash: str) -> None:
        """Forget a session (log out)."""
        with self.write() as s:
            s.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash))
