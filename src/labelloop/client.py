"""Python client of the labelloop REST API.

Examples
--------
>>> from labelloop import Client
>>> c = Client("http://127.0.0.1:8000", token="ll_...")  # doctest: +SKIP
>>> task = c.next_task(1)  # doctest: +SKIP
>>> c.submit(1, task["item"]["id"], label="spam")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import labelloop.errors as errors
from labelloop._deps import require
from labelloop.errors import LabelloopError

_BY_CODE: dict[str, type[LabelloopError]] = {
    "bad_request": errors.UserInputError,
    "validation_error": errors.ValidationError,
    "not_found": errors.NotFoundError,
    "conflict": errors.ConflictError,
    "unauthenticated": errors.AuthenticationError,
    "forbidden": errors.PermissionDeniedError,
    "rate_limited": errors.TooManyRequestsError,
}


def _error(status: int, body: Any) -> LabelloopError:
    err = body.get("error", {}) if isinstance(body, dict) else {}
    code = str(err.get("code", "internal_error"))
    message = str(err.get("message", f"HTTP {status}"))
    cls = _BY_CODE.get(code, LabelloopError)
    exc = cls(message, details=err.get("details"))
    exc.code = code
    exc.http_status = status
    return exc


class Client:
    """A thin client of ``/api/v1``; errors come back as labelloop's exceptions.

    Parameters
    ----------
    url:
        Base URL of the server, e.g. ``http://127.0.0.1:8000``.
    token:
        An API token (``labelloop user token NAME`` or ``POST /api/v1/me/tokens``).
    timeout:
        Seconds before a request gives up.
    http:
        An ``httpx.Client`` to use instead of a new one (tests pass FastAPI's TestClient).
    """

    def __init__(self, url: str, token: str, *, timeout: float = 30.0, http: Any = None) -> None:
        if http is None:
            httpx = require("server", "httpx", feature="The API client")
            http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}"}

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._http.request(method, f"/api/v1{path}", headers=self._headers, **kwargs)
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = None
            raise _error(resp.status_code, body)
        return resp

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call ``/api/v1{path}``; return the decoded JSON (None for 204).

        Raises
        ------
        LabelloopError
            The subclass matching the error envelope's code.
        """
        resp = self._send(method, path, **kwargs)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    # -- who and what -------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        """The user the token belongs to."""
        return self.request("GET", "/me")  # type: ignore[no-any-return]

    def projects(self) -> list[dict[str, Any]]:
        """Projects of the server."""
        return self.request("GET", "/projects")  # type: ignore[no-any-return]

    def project(self, project_id: int) -> dict[str, Any]:
        """A project's schema and settings."""
        return self.request("GET", f"/projects/{project_id}")  # type: ignore[no-any-return]

    # -- labeling -----------------------------------------------------------------------
    def next_task(self, project_id: int) -> dict[str, Any] | None:
        """Claim the next item (or get your open one); None when the queue is done."""
        return self.request("POST", f"/projects/{project_id}/queue/next")["task"]  # type: ignore[no-any-return]

    def submit(self, project_id: int, item_id: int, *, label: str | int | None = None,
               labels: list[str] | None = None, boxes: list[dict[str, Any]] | None = None,
               seconds: float | None = None) -> dict[str, Any]:
        """Submit an answer; returns it with honeypot feedback when there is some."""
        body = {k: v for k, v in {"label": label, "labels": labels, "boxes": boxes,
                                  "seconds": seconds}.items() if v is not None}
        return self.request(  # type: ignore[no-any-return]
            "PUT", f"/projects/{project_id}/items/{item_id}/annotation", json=body)

    def skip(self, project_id: int, item_id: int) -> None:
        """Skip an item."""
        self.request("POST", f"/projects/{project_id}/items/{item_id}/skip")

    def scorecard(self, project_id: int) -> dict[str, Any]:
        """Your own scorecard."""
        return self.request("GET", f"/projects/{project_id}/scorecard")  # type: ignore[no-any-return]

    # -- review and oversight -------------------------------------------------------------
    def review_queue(self, project_id: int, *, reason: str | None = None) -> list[dict[str, Any]]:
        """Items waiting for review (reviewer, admin)."""
        params = {"reason": reason} if reason else None
        return self.request("GET", f"/projects/{project_id}/review", params=params)  # type: ignore[no-any-return]

    def decide(self, project_id: int, item_id: int, decision: str, *,
               label: str | None = None, labels: list[str] | None = None,
               boxes: list[dict[str, Any]] | None = None, note: str = "") -> dict[str, Any]:
        """Accept, correct or send back an item (reviewer, admin)."""
        body: dict[str, Any] = {"decision": decision, "note": note}
        body.update({k: v for k, v in {"label": label, "labels": labels,
                                       "boxes": boxes}.items() if v is not None})
        return self.request(  # type: ignore[no-any-return]
            "POST", f"/projects/{project_id}/items/{item_id}/review", json=body)

    def dashboard(self, project_id: int) -> dict[str, Any]:
        """Progress and quality numbers (reviewer, admin)."""
        return self.request("GET", f"/projects/{project_id}/dashboard")  # type: ignore[no-any-return]

    def update_settings(self, project_id: int, **settings: Any) -> dict[str, Any]:
        """Change project settings (admin)."""
        return self.request("PATCH", f"/projects/{project_id}/settings", json=settings)  # type: ignore[no-any-return]

    def add_user(self, name: str, role: str, password: str | None = None) -> dict[str, Any]:
        """Create a user (admin); returns the user and the password."""
        body = {"name": name, "role": role} | ({"password": password} if password else {})
        return self.request("POST", "/users", json=body)  # type: ignore[no-any-return]

    def export(self, project_id: int, path: str | Path, *, format: str = "jsonl") -> Path:
        """Download an export of the project to ``path`` (admin)."""
        resp = self._send("GET", f"/projects/{project_id}/export", params={"format": format})
        out = Path(path)
        out.write_bytes(resp.content)
        return out

    # -- data browser ---------------------------------------------------------------------
    def browse(self, project_id: int, *, sort: str = "id", desc: bool = False,
               cursor: str | None = None, limit: int = 50, count: bool = False,
               **filters: Any) -> dict[str, Any]:
        """A page of items matching ``filters`` (reviewer, admin): ``{"items", "next",
        "count"}``; pass ``next`` as ``cursor`` for the page after.

        Filters: ``search``, ``state`` (a list), ``label``, ``source``, ``annotator``,
        ``min_confidence``, ``max_confidence``, ``disagreement``, ``split``, ``meta``
        (``"key=value"``), ``has_comments``.
        """
        params: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
        params.update(sort=sort, desc=str(desc).lower(), limit=limit,
                      count=str(count).lower())
        if cursor is not None:
            params["cursor"] = cursor
        return self.request("GET", f"/projects/{project_id}/browse", params=params)  # type: ignore[no-any-return]

    def browse_all(self, project_id: int, *, sort: str = "id", desc: bool = False,
                   page_size: int = 500, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every item matching ``filters``, page after page (see :meth:`browse`)."""
        cursor = None
        while True:
            page = self.browse(project_id, sort=sort, desc=desc, cursor=cursor,
                               limit=page_size, **filters)
            yield from page["items"]
            cursor = page["next"]
            if cursor is None:
                return

    def bulk(self, project_id: int, action: str, *, ids: list[int] | None = None,
             split: str | None = None, **filters: Any) -> dict[str, Any]:
        """``accept`` the suggestion, ``set_split``, ``send_to_review`` (the items wait in
        the review queue) or ``delete`` (admin only; the items and everything attached,
        no undo) on the items ``ids`` or, without ids, on every item matching ``filters``
        (reviewer, admin); returns how many items it covered (``matched``) and changed
        (``changed``)."""
        body: dict[str, Any] = {"action": action, "ids": ids, "split": split,
                                "filter": {k: v if isinstance(v, list) else str(v)
                                           for k, v in filters.items() if v is not None}}
        return self.request("POST", f"/projects/{project_id}/browse/bulk", json=body)  # type: ignore[no-any-return]

    # -- comments -------------------------------------------------------------------------
    def comments(self, project_id: int, item_id: int) -> list[dict[str, Any]]:
        """Comments on an item you may see, oldest first (annotators: their own and the
        replies addressed to them)."""
        return self.request("GET", f"/projects/{project_id}/items/{item_id}/comments")  # type: ignore[no-any-return]

    def comment(self, project_id: int, item_id: int, text: str, *,
                reply_to: int | None = None) -> dict[str, Any]:
        """Comment on an item (annotators: one they hold or answered); ``reply_to``
        (reviewers, admins) addresses it to one user by id."""
        body = {"text": text, "reply_to": reply_to}
        return self.request("POST", f"/projects/{project_id}/items/{item_id}/comments",  # type: ignore[no-any-return]
                            json=body)
