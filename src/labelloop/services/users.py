"""Users, passwords (argon2), API tokens and login sessions (both stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update

from labelloop._deps import require
from labelloop.core.records import ROLES, UserRecord
from labelloop.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from labelloop.storage.models import ApiTokenRow, UserRow, utcnow
from labelloop.storage.server_models import SessionRow
from labelloop.storage.store import Store

TOKEN_PREFIX = "ll_"
MIN_PASSWORD = 8


def _hasher() -> Any:  # argon2 comes with the server extra
    return require("server", "argon2", feature="User accounts").PasswordHasher()


def _sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _record(row: UserRow) -> UserRecord:
    return UserRecord(id=row.id, name=row.name, role=row.role, active=row.active)  # type: ignore[arg-type]


class Users:
    """Accounts of the people who use the server.

    Parameters
    ----------
    store:
        The store holding the ``users``, ``api_tokens`` and ``sessions`` tables.
    hasher:
        An ``argon2.PasswordHasher`` (default parameters unless given; tests pass a
        cheap one).
    """

    def __init__(self, store: Store, *, hasher: Any = None) -> None:
        self.store = store
        self._ph = hasher or _hasher()
        self._dummy_hash: str | None = None

    @property
    def _dummy(self) -> str:
        """A hash to verify against for unknown names, so they take as long as known ones."""
        if self._dummy_hash is None:
            self._dummy_hash = self._ph.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def add(self, name: str, role: str, password: str | None = None) -> tuple[UserRecord, str]:
        """Create a user; return the record and the password (generated when not given).

        Raises
        ------
        ValidationError
            If the role is unknown or the password is shorter than 8 characters.
        ConflictError
            If the name is taken.
        """
        if role not in ROLES:
            raise ValidationError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        name = name.strip()
        UserRecord(name=name, role=role)  # type: ignore[arg-type]
        password = password or secrets.token_urlsafe(12)
        if len(password) < MIN_PASSWORD:
            raise ValidationError(
                f"password too short: {len(password)} characters, need {MIN_PASSWORD}"
            )
        with self.store.write() as s:
            if s.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
                raise ConflictError(f"a user named {name!r} already exists")
            row = UserRow(name=name, role=role, password_hash=self._ph.hash(password),
                          active=True, created_at=utcnow())
            s.add(row)
            s.flush()
            return _record(row), password

    def get(self, user_id: int) -> UserRecord:
        """The user with this id (raises NotFoundError)."""
        with self.store.snapshot() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise NotFoundError(f"user {user_id} not found")
            return _record(row)

    def by_name(self, name: str) -> UserRecord:
        """The user with this name (raises NotFoundError)."""
        with self.store.snapshot() as s:
            row = s.scalars(select(UserRow).where(UserRow.name == name)).first()
            if row is None:
                raise NotFoundError(f"user {name!r} not found; add one with labelloop user add")
            return _record(row)

    def list(self) -> list[UserRecord]:
        """Every user, in creation order."""
        with self.store.snapshot() as s:
            return [_record(r) for r in s.scalars(select(UserRow).order_by(UserRow.id))]

    def set_active(self, user_id: int, active: bool) -> UserRecord:
        """Activate or deactivate a user; deactivation ends their sessions."""
        with self.store.write() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise NotFoundError(f"user {user_id} not found")
            row.active = active
            if not active:
                s.execute(delete(SessionRow).where(SessionRow.user_id == user_id))
            return _record(row)

    def set_password(self, user_id: int, password: str) -> None:
        """Replace a user's password and end their sessions."""
        if len(password) < MIN_PASSWORD:
            raise ValidationError(
                f"password too short: {len(password)} characters, need {MIN_PASSWORD}"
            )
        with self.store.write() as s:
            res = s.execute(
                update(UserRow).where(UserRow.id == user_id)
                .values(password_hash=self._ph.hash(password))
            )
            if not res.rowcount:  # type: ignore[attr-defined]
                raise NotFoundError(f"user {user_id} not found")
            s.execute(delete(SessionRow).where(SessionRow.user_id == user_id))

    def authenticate(self, name: str, password: str) -> UserRecord:
        """Check a name and password; the same work is done for unknown names.

        Raises
        ------
        AuthenticationError
            If the name is unknown, the user inactive or the password wrong.
        """
        from argon2.exceptions import VerificationError

        with self.store.snapshot() as s:
            row = s.scalars(select(UserRow).where(UserRow.name == name.strip())).first()
        known = row is not None and bool(row.password_hash)
        stored = row.password_hash if known and row is not None else self._dummy
        try:
            self._ph.verify(stored, password)
            ok = known and row is not None and row.active
        except VerificationError:
            ok = False
        if not ok or row is None:
            raise AuthenticationError("wrong user name or password")
        return _record(row)

    # -- API tokens -------------------------------------------------------------------
    def create_token(self, user_id: int, name: str = "") -> str:
        """Create an API token for a user; only its SHA-256 is stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.write() as s:
            if s.get(UserRow, user_id) is None:
                raise NotFoundError(f"user {user_id} not found")
            s.add(ApiTokenRow(user_id=user_id, token_hash=_sha256(raw), name=name,
                              created_at=utcnow()))
        return raw

    def token_user(self, raw: str) -> UserRecord:
        """The active user an API token belongs to (raises AuthenticationError)."""
        with self.store.snapshot() as s:
            row = s.scalars(
                select(UserRow).join(ApiTokenRow, ApiTokenRow.user_id == UserRow.id)
                .where(ApiTokenRow.token_hash == _sha256(raw))
            ).first()
        if row is None or not row.active:
            raise AuthenticationError("invalid API token")
        return _record(row)

    # -- sessions ---------------------------------------------------------------------
    def create_session(self, user_id: int, *, hours: float = 12) -> str:
        """Open a login session; return the random token the cookie carries."""
        raw = secrets.token_urlsafe(32)
        now = utcnow()
        with self.store.write() as s:
            s.execute(delete(SessionRow).where(SessionRow.expires_at < now))
            s.add(SessionRow(token_hash=_sha256(raw), user_id=user_id, created_at=now,
                             expires_at=now + timedelta(hours=hours)))
        return raw

    def session_user(self, raw: str) -> UserRecord | None:
        """The active user of an unexpired session, or None."""
        now = utcnow()
        with self.store.snapshot() as s:
            found = s.execute(
                select(UserRow, SessionRow.expires_at)
                .join(SessionRow, SessionRow.user_id == UserRow.id)
                .where(SessionRow.token_hash == _sha256(raw))
            ).first()
        if found is None:
            return None
        row, expires = found
        if expires.tzinfo is None:  # SQLite drops the zone
            expires = expires.replace(tzinfo=now.tzinfo)
        if expires < now or not row.active:
            return None
        return _record(row)

    def end_session(self, raw: str) -> None:
        """Log out: forget the session."""
        with self.store.write() as s:
            s.execute(delete(SessionRow).where(SessionRow.token_hash == _sha256(raw)))
