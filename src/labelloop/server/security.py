"""Secrets, CSRF tokens and login rate limiting of the server."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

from labelloop.errors import TooManyRequestsError, UserInputError

SESSION_COOKIE = "labelloop_session"
LOGIN_COOKIE = "labelloop_login"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SECRET_ENV = "LABELLOOP_SECRET"
SECRET_FILE = ".labelloop-secret"
MIN_SECRET = 32
_WEAK = {"changeme", "secret", "default", "labelloop", "password", "dev", "test"}


def check_secret(secret: str | None) -> str:
    """Refuse a missing, short or well-known secret.

    Raises
    ------
    UserInputError
        With how to set a proper secret.
    """
    how = (f"set {SECRET_ENV} to a random string of at least {MIN_SECRET} characters, "
           "e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'")
    if not secret:
        raise UserInputError(f"the server needs a secret: {how}")
    if len(secret) < MIN_SECRET or secret.lower().strip() in _WEAK or len(set(secret)) < 8:
        raise UserInputError(f"the server secret is too weak or a default: {how}")
    return secret


def load_or_create_secret(folder: Path) -> str:
    """The secret from ``LABELLOOP_SECRET``, else from the project's secret file.

    The file is created with a fresh random secret (mode 0600) on first use, so there is
    never a built-in default.
    """
    env = os.environ.get(SECRET_ENV)
    if env is not None:
        return check_secret(env)
    path = folder / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(48))
    return check_secret(path.read_text(encoding="utf-8").strip())


def csrf_token(secret: str, session: str) -> str:
    """The CSRF token bound to one session (HMAC of the session token)."""
    return hmac.new(secret.encode(), b"csrf:" + session.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, session: str, given: str | None) -> bool:
    """Whether ``given`` is the CSRF token of ``session`` (constant time)."""
    return bool(given) and hmac.compare_digest(csrf_token(secret, session), str(given))


class LoginLimiter:
    """Sliding-window limit on failed logins, per user name and per client address.

    Parameters
    ----------
    per_name, per_address:
        Failures allowed within ``window`` seconds.
    """

    def __init__(self, per_name: int = 5, per_address: int = 20, window: float = 300.0):
        self.per_name = per_name
        self.per_address = per_address
        self.window = window
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> int:
        q = self._fails[key]
        while q and q[0] < now - self.window:
            q.popleft()
        return len(q)

    def check(self, name: str, address: str) -> None:
        """Raise TooManyRequestsError when either key is over its limit."""
        now = time.monotonic()
        with self._lock:
            if (self._recent(f"n:{name.lower()}", now) >= self.per_name
                    or self._recent(f"a:{address}", now) >= self.per_address):
                raise TooManyRequestsError(
                    f"too many failed logins; wait {int(self.window // 60)} minutes and retry"
                )

    def failed(self, name: str, address: str) -> None:
        """Count one failed login."""
        now = time.monotonic()
        with self._lock:
            self._fails[f"n:{name.lower()}"].append(now)
            self._fails[f"a:{address}"].append(now)

    def succeeded(self, name: str) -> None:
        """Forget the name's failures after a successful login."""
        with self._lock:
            self._fails.pop(f"n:{name.lower()}", None)
