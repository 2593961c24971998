"""Users, passwords (argon2), API tokens and login sessions (both stored hashed)."""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from labelloop._deps import require
from labelloop.core.records import ROLES, UserRecord
from labelloop.errors import AuthenticationError, NotFoundError, ValidationError
from labelloop.storage import StoreProtocol, TokenInfo

__all__ = ["MIN_PASSWORD", "TOKEN_PREFIX", "TokenInfo", "Users"]

TOKEN_PREFIX = "ll_"
MIN_PASSWORD = 12  # ASVS 2.1.1; shorter passwords set before still log in
TOKEN_TOUCH_SECONDS = 60  # last-used time is written at most once a minute per token
TOKEN_CACHE_SECONDS = 5.0
"""How long a token lookup is reused in one process (see :class:`Users`)."""
_TOKEN_CACHE_MAX = 10_000


def _hasher() -> Any:  # argon2 comes with the server extra
    return require("server", "argon2", feature="User accounts").PasswordHasher()


def _sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"password too short: {len(password)} characters, need {MIN_PASSWORD}"
        )


class Users:
    """Accounts of the people who use the server.

    Parameters
    ----------
    store:
        The store holding the ``users``, ``api_tokens`` and ``sessions`` tables.
    hasher:
        An ``argon2.PasswordHasher`` (default parameters unless given; tests pass a
        cheap one).
    token_cache_seconds:
        How long the user and details of an API token, once looked up, are reused
        (default :data:`TOKEN_CACHE_SECONDS`; 0: look up on every request). The expiry
        time is checked on every request; a revocation, password change or deactivation
        through this object takes effect at once; one made elsewhere (the CLI, another
        server process) within this many seconds.
    """

    def __init__(self, store: StoreProtocol, *, hasher: Any = None,
                 token_cache_seconds: float = TOKEN_CACHE_SECONDS) -> None:
        self.store = store
        self._ph = hasher or _hasher()
        self._dummy_hash: str | None = None
        self._token_ttl = token_cache_seconds
        self._tokens: dict[str, tuple[float, UserRecord, TokenInfo]] = {}
        self._tokens_lock = threading.Lock()
        self._tokens_generation = 0  # a lookup that overlapped a revocation is not kept

    def _forget_tokens(self) -> None:
        """Drop every cached token lookup (after a revocation or an account change)."""
        with self._tokens_lock:
            self._tokens.clear()
            self._tokens_generation += 1

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
            If the role is unknown or the password is shorter than 12 characters.
        ConflictError
            If the name is taken.
        """
        if role not in ROLES:
            raise ValidationError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        name = name.strip()
        UserRecord(name=name, role=role)  # type: ignore[arg-type]
        password = password or secrets.token_urlsafe(18)  # 24 characters
        _check_password(password)
        return self.store.create_user(name, role, self._ph.hash(password)), password

    def ensure_admin(self) -> tuple[UserRecord, str] | None:
        """Create the first admin when no active admin exists (first server start).

        Returns
        -------
        The new admin and their generated password (show it once), or None when an active
        admin exists already. The account is called ``admin``, or ``admin-1``,
        ``admin-2`` ... when that name is taken.
        """
        everyone = self.list()
        if any(u.role == "admin" and u.active for u in everyone):
            return None
        taken = {u.name for u in everyone}
        name = next(n for n in ("admin", *(f"admin-{i}" for i in range(1, len(taken) + 1)))
                    if n not in taken)
        return self.add(name, "admin")

    def get(self, user_id: int) -> UserRecord:
        """The user with this id (raises NotFoundError)."""
        user = self.store.get_user(user_id)
        if user is None:
            raise NotFoundError(f"user {user_id} not found")
        return user

    def by_name(self, name: str) -> UserRecord:
        """The user with this name (raises NotFoundError)."""
        user = self.store.user_by_name(name)
        if user is None:
            raise NotFoundError(f"user {name!r} not found; add one with labelloop user add")
        return user

    def list(self) -> list[UserRecord]:
        """Every user, in creation order."""
        return self.store.users()

    def set_active(self, user_id: int, active: bool) -> UserRecord:
        """Activate or deactivate a user; deactivation ends their sessions."""
        try:
            return self.store.set_user_active(user_id, active)
        finally:
            self._forget_tokens()

    def set_password(self, user_id: int, password: str) -> None:
        """Replace a user's password, end their sessions and revoke their API tokens."""
        _check_password(password)
        try:
            self.store.set_password_hash(user_id, self._ph.hash(password))
        finally:
            self._forget_tokens()

    def authenticate(self, name: str, password: str) -> UserRecord:
        """Check a name and password; the same work is done for unknown names.

        Raises
        ------
        AuthenticationError
            If the name is unknown, the user inactive or the password wrong.
        """
        from argon2.exceptions import VerificationError

        found = self.store.user_credentials(name.strip())
        user, stored = found if found is not None else (None, None)
        try:
            self._ph.verify(stored or self._dummy, password)
            ok = user is not None and bool(stored) and user.active
        except VerificationError:
            ok = False
        if not ok or user is None:
            raise AuthenticationError("wrong user name or password")
        return user

    # -- API tokens -------------------------------------------------------------------
    def create_token(self, user_id: int, name: str = "", *,
                     expires_days: float | None = None) -> str:
        """Create an API token for a user; only its SHA-256 is stored.

        ``expires_days``: the token stops working after this many days (default: never).
        """
        if expires_days is not None and expires_days <= 0:
            raise ValidationError(f"expires_days must be positive, got {expires_days}")
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = None if expires_days is None else _now() + timedelta(days=expires_days)
        self.store.add_token(user_id, _sha256(raw), name, expires)
        return raw

    def token_user(self, raw: str) -> UserRecord:
        """The active user an unexpired API token belongs to (raises AuthenticationError);
        records when the token was used (at most once a minute).

        The lookup is reused for ``token_cache_seconds`` (one indexed read per token and
        period instead of one per request); expiry is checked every time.
        """
        key = _sha256(raw)
        fetched = time.monotonic()
        with self._tokens_lock:
            cached = self._tokens.get(key)
            generation = self._tokens_generation
        if cached is not None and fetched - cached[0] < self._token_ttl:
            fetched, user, info = cached
        else:
            found = self.store.token_login(key)
            if found is None:
                raise AuthenticationError("invalid or expired API token")
            user, info = found
        now = _now()
        if not user.active or (info.expires_at is not None and info.expires_at <= now):
            raise AuthenticationError("invalid or expired API token")
        if info.last_used_at is None or (
                now - info.last_used_at).total_seconds() >= TOKEN_TOUCH_SECONDS:
            self.store.touch_token(info.id, now)
            info = dataclasses.replace(info, last_used_at=now)
        if self._token_ttl > 0:
            with self._tokens_lock:
                if len(self._tokens) >= _TOKEN_CACHE_MAX:
                    self._tokens.clear()
                if generation == self._tokens_generation:
                    self._tokens[key] = (fetched, user, info)
        return user

    def tokens(self, user_id: int) -> builtins.list[TokenInfo]:
        """A user's API tokens (name, created, expires, last used), oldest first."""
        self.get(user_id)
        return self.store.tokens(user_id)

    def revoke_token(self, user_id: int, token_id: int) -> None:
        """Revoke one of a user's API tokens.

        Raises
        ------
        NotFoundError
            If the user has no token with this id.
        """
        try:
            if not self.store.revoke_token(user_id, token_id):
                raise NotFoundError(f"user {user_id} has no API token {token_id}")
        finally:
            self._forget_tokens()

    # -- sessions ---------------------------------------------------------------------
    def create_session(self, user_id: int, *, hours: float = 12) -> str:
        """Open a login session; return the random token the cookie carries."""
        raw = secrets.token_urlsafe(32)
        self.store.add_session(user_id, _sha256(raw), _now() + timedelta(hours=hours))
        return raw

    def session_user(self, raw: str) -> UserRecord | None:
        """The active user of an unexpired session, or None."""
        found = self.store.session_user(_sha256(raw))
        if found is None:
            return None
        user, expires = found
        if expires < _now() or not user.active:
            return None
        return user

    def end_session(self, raw: str) -> None:
        """Log out: forget the session."""
        self.store.delete_session(_sha256(raw))
