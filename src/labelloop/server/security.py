"""Secrets, CSRF tokens and login rate limiting of the server."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
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
    """Backoff on failed logins per (user name, client address), and a cap per address.

    Failures only slow down the address they come from: after ``per_name`` failures for
    one name from one address, that pair waits ``window / 16`` seconds, doubling with each
    further failure up to ``window``; an address with ``per_address`` failures (any names)
    within ``window`` waits until they age out. A correct password from another address is
    never refused, so nobody can lock a user out by guessing their password.

    Parameters
    ----------
    per_name:
        Failures for one name from one address before the backoff starts.
    per_address:
        Failures from one address (any names) within ``window`` seconds before it waits.
    window:
        Seconds after which failures are forgotten, and the longest wait.
    clock:
        Monotonic time source (tests pass a fake one).
    """

    def __init__(self, per_name: int = 5, per_address: int = 20, window: float = 300.0,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_name = per_name
        self.per_address = per_address
        self.window = window
        self._clock = clock
        self._pairs: dict[tuple[str, str], tuple[int, float]] = {}
        self._by_address: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _wait(self, name: str, address: str, now: float) -> float:
        """Seconds this (name, address) must still wait (0: may try)."""
        q = self._by_address[address]
        while q and q[0] < now - self.window:
            q.popleft()
        wait = q[0] + self.window - now if len(q) >= self.per_address else 0.0
        count, last = self._pairs.get((name.lower(), address), (0, now))
        if now - last >= self.window:
            self._pairs.pop((name.lower(), address), None)
        elif count >= self.per_name:
            backoff = min(self.window, self.window / 16 * 2 ** (count - self.per_name))
            wait = max(wait, last + backoff - now)
        return max(wait, 0.0)

    def check(self, name: str, address: str) -> None:
        """Raise TooManyRequestsError while this name and address must wait."""
        with self._lock:
            wait = self._wait(name, address, self._clock())
        if wait > 0:
            raise TooManyRequestsError(
                f"too many failed logins from this address; wait {max(int(wait), 1)} "
                "seconds and retry"
            )

    def failed(self, name: str, address: str) -> None:
        """Count one failed login."""
        now = self._clock()
        with self._lock:
            key = (name.lower(), address)
            count, last = self._pairs.get(key, (0, now))
            self._pairs[key] = (count + 1 if now - last < self.window else 1, now)
            self._by_address[address].append(now)

    def succeeded(self, name: str, address: str) -> None:
        """Forget the failures of this name from this address after a successful login."""
        with self._lock:
            self._pairs.pop((name.lower(), address), None)


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted_proxies: frozenset[str]) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the last
    address in ``X-Forwarded-For`` that is not a trusted proxy."""
    if peer is None:
        return "unknown"
    if peer not in trusted_proxies or not forwarded_for:
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if hop not in trusted_proxies:
            return hop
    return peer


def too_large(limit_bytes: int) -> str:
    """The message of a 413 answer, naming the server's limit."""
    limit = limit_bytes / (1024 * 1024)
    return (f"the upload is larger than this server accepts ({limit:g} MB); split the file "
            "or start the server with a larger --max-upload-mb")
