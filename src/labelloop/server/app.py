"""The FastAPI application: REST API under ``/api/v1``, HTML pages, static files."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labelloop import __version__
from labelloop.errors import (
    AuthenticationError,
    LabelloopError,
    NotFoundError,
    PayloadTooLargeError,
    UserInputError,
    ValidationError,
)
from labelloop.server.api_docs import add_api_docs
from labelloop.server.deps import ServerContext
from labelloop.server.requeue import Requeuer
from labelloop.server.routes import (
    accounts,
    browse,
    comments,
    imports,
    labeling,
    oversight,
    pages,
    setup,
)
from labelloop.server.schemas.api import ErrorOut
from labelloop.server.security import (
    LoginLimiter,
    check_secret,
    too_large,
)
from labelloop.services.project import StoreProtocol
from labelloop.services.users import Users

API_PREFIX = "/api/v1"
CSP = ("default-src 'self'; img-src 'self' data: blob: http: https:; style-src 'self'; "
       "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")
_HTTP_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 422: "validation_error",
               413: "payload_too_large", 429: "rate_limited"}
DEFAULT_MAX_UPLOAD_MB = 100
MAX_ID = 2**31 - 1  # ids are INTEGER columns (32 bits on PostgreSQL)
NESTED_TOO_DEEP = "the request is nested too deeply to read; flatten it and retry"
OUT_OF_RANGE = "a number in the request is out of range (ids are 64-bit integers)"


def _envelope(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}},
                        status_code=status)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith((API_PREFIX, "/static/"))


_ERRORS = {400: "The request body could not be read (e.g. malformed or too deeply nested JSON)",
           401: "Not logged in (no or a wrong session cookie or API token)",
           403: "Logged in, but your role may not do this (or the CSRF token is missing)",
           404: "No such project, item or user (or one you may not see)",
           409: "The request clashes with what is stored",
           422: "A value in the request is invalid"}
# every API route documents these answers, each with the one error envelope
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in _ERRORS.items()}


class _Guard:
    """Refuses ids past 32 bits and bodies over the upload limit before routing, and adds
    the security headers to every answer (a plain ASGI middleware: FastAPI's
    ``@app.middleware`` would add a task and a stream copy to every request)."""

    def __init__(self, app: ASGIApp, *, ctx: ServerContext,
                 refuse: Callable[[Request, LabelloopError], Awaitable[Response]]) -> None:
        self.app = app
        self.ctx = ctx
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path: str = scope["path"]
        numbers = [*path.split("/"), *request.query_params.values()]
        error: LabelloopError | None = None
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses
        if any(n.isascii() and n.isdigit() and int(n) > MAX_ID for n in numbers):
            error = NotFoundError(f"no such id: ids are at most {MAX_ID}")
        size = request.headers.get("content-length", "")
        if error is None and size.isascii() and size.isdigit() and int(
                size) > self.ctx.max_upload_bytes:
            error = PayloadTooLargeError(too_large(self.ctx.max_upload_bytes))
        no_store = path.startswith(API_PREFIX) or path.startswith("/p/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                if no_store:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        if error is not None:
            response = await self.refuse(request, error)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def create_app(
    store: StoreProtocol, *, secret: str | None, media_root: Path | None = None,
    secure_cookies: bool = False, limiter: LoginLimiter | None = None,
    rng: random.Random | None = None, users: Users | None = None,
    requeuer: Requeuer | None = None, trusted_proxies: Sequence[str] = (),
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
) -> FastAPI:
    """Build the server for the projects of one store.

    Parameters
    ----------
    store:
        The database of the project(s) to serve.
    secret:
        At least 32 random characters; a missing, short or well-known secret is refused.
    media_root:
        Folder that relative image paths of items are resolved against (the project folder).
    secure_cookies:
        Mark cookies ``Secure`` (serve behind HTTPS).
    limiter:
        Login rate limiter (default: backoff after 5 failures per name and address, at
        most 20 failures per address in 5 minutes).
    rng:
        Random source for mixing in honeypots (seed it in tests).
    users:
        The account service (default: ``Users(store)`` with argon2's default cost).
    requeuer:
        Refreshes active-learning priorities as answers arrive (default: none; the queue
        keeps the stored priorities).
    trusted_proxies:
        Addresses of reverse proxies whose ``X-Forwarded-For`` header names the client
        (default: none; the header is ignored).
    max_upload_mb:
        Largest request body accepted (uploads); a larger one gets 413 and nothing is
        stored.

    Raises
    ------
    UserInputError
        If the secret is missing or weak.
    """
    ctx = ServerContext(
        store=store, users=users or Users(store), secret=check_secret(secret),
        media_root=media_root, secure_cookies=secure_cookies, limiter=limiter or LoginLimiter(),
        rng=rng or random.Random(), requeuer=requeuer, trusted_proxies=frozenset(trusted_proxies),
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
    )
    app = FastAPI(title="labelloop", version=__version__, openapi_url=f"{API_PREFIX}/openapi.json",
                  docs_url=None, redoc_url=None)  # FastAPI's docs page loads from a CDN
    app.state.ctx = ctx
    add_api_docs(app)  # ours, offline
    for router in (accounts.router, labeling.router, oversight.router, browse.router,
                   comments.router):
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(pages.router)
    app.include_router(setup.router)
    app.include_router(browse.pages)
    app.include_router(comments.pages)
    app.include_router(imports.router)
    static = resources.files("labelloop.server") / "ui" / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.exception_handler(LabelloopError)
    async def _labelloop_error(request: Request, exc: LabelloopError) -> Response:
        if _wants_html(request):
            if isinstance(exc, AuthenticationError):
                return pages.login_redirect(request)
            return pages.error_page(request, exc.http_status, exc.message)
        return JSONResponse(exc.to_envelope(), status_code=exc.http_status,
                            headers=exc.http_headers())

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        if _wants_html(request):  # a form field: named as the form names it
            field = str(first["loc"][-1]) if first["loc"] else "the form"
            return pages.error_page(request, 422, f"{field}: {first['msg']}")
        return _envelope(422, "validation_error", f"{where}: {first['msg']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_html(request):
            return pages.error_page(request, exc.status_code, str(exc.detail))
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return _envelope(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> Response:
        return await _labelloop_error(request, UserInputError(NESTED_TOO_DEEP))

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> Response:
        return await _labelloop_error(request, ValidationError(OUT_OF_RANGE))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return _envelope(500, "internal_error", "internal server error; see the server log")

    app.add_middleware(_Guard, ctx=ctx, refuse=_labelloop_error)
    return app
