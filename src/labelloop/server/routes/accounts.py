"""API routes for the caller, users and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from labelloop.server.deps import Admin, Ctx, User
from labelloop.server.schemas.api import (
    ErrorOut,
    LoginIn,
    LoginOut,
    TokenIn,
    TokenInfoOut,
    TokenOut,
    UserCreated,
    UserIn,
    UserOut,
    UserPatch,
)
from labelloop.server.security import SESSION_COOKIE, client_address, csrf_token
from labelloop.services.users import Users

router = APIRouter(tags=["accounts"])


def request_address(ctx: Ctx, request: Request) -> str:
    """The client's address for rate limiting (``X-Forwarded-For`` only from a trusted
    proxy)."""
    return client_address(request.client.host if request.client else None,
                          request.headers.get("x-forwarded-for"), ctx.trusted_proxies)


def login(ctx: Ctx, request: Request, response: Response, name: str, password: str) -> str:
    """Check credentials under the rate limit, set the session cookie, return its token."""
    addr = request_address(ctx, request)
    ctx.limiter.check(name, addr)
    try:
        user = ctx.users.authenticate(name, password)
    except Exception:
        ctx.limiter.failed(name, addr)
        raise
    ctx.limiter.succeeded(name, addr)
    raw = ctx.users.create_session(user.id or 0)
    response.set_cookie(SESSION_COOKIE, raw, httponly=True, samesite="strict",
                        secure=ctx.secure_cookies, max_age=12 * 3600, path="/")
    return raw


@router.post("/auth/login", response_model=LoginOut, responses={429: {
    "model": ErrorOut, "description": "Too many failed logins from this address; wait"}})
def api_login(body: LoginIn, ctx: Ctx, request: Request, response: Response) -> LoginOut:
    """Log in with a name and password; sets the session cookie (repeated failures from
    one address: 429 with a growing wait)."""
    raw = login(ctx, request, response, body.name, body.password)
    user = ctx.users.session_user(raw)
    assert user is not None
    return LoginOut(user=UserOut.of(user), csrf_token=csrf_token(ctx.secret, raw))


@router.post("/auth/logout", status_code=204)
def api_logout(user: User, ctx: Ctx, request: Request, response: Response) -> None:
    """End the cookie session."""
    raw = getattr(request.state, "session", None)
    if raw:
        ctx.users.end_session(raw)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me", response_model=UserOut)
def me(user: User) -> UserOut:
    """Who is asking."""
    return UserOut.of(user)


@router.post("/me/tokens", response_model=TokenOut, status_code=201)
def my_token(body: TokenIn, user: User, ctx: Ctx) -> TokenOut:
    """Create an API token for yourself (shown once; stored hashed), optionally expiring."""
    return TokenOut(token=ctx.users.create_token(user.id or 0, body.name,
                                                 expires_days=body.expires_days))


@router.get("/me/tokens", response_model=list[TokenInfoOut])
def my_tokens(user: User, ctx: Ctx) -> list[TokenInfoOut]:
    """Your API tokens: name, created, expires, last used (never the token itself)."""
    return [TokenInfoOut.of(t) for t in ctx.users.tokens(user.id or 0)]


@router.delete("/me/tokens/{token_id}", status_code=204)
def revoke_my_token(token_id: int, user: User, ctx: Ctx) -> None:
    """Revoke one of your API tokens."""
    ctx.users.revoke_token(user.id or 0, token_id)


@router.get("/users", response_model=list[UserOut])
def list_users(ctx: Ctx, _: Admin) -> list[UserOut]:
    """Every user (admin)."""
    return [UserOut.of(u) for u in ctx.users.list()]


@router.post("/users", response_model=UserCreated, status_code=201)
def add_user(body: UserIn, ctx: Ctx, _: Admin) -> UserCreated:
    """Create a user (admin); the password is generated when not given."""
    user, password = ctx.users.add(body.name, body.role, body.password)
    return UserCreated(user=UserOut.of(user),
                       password=None if body.password is not None else password)


@router.patch("/users/{user_id}", response_model=UserOut)
def patch_user(user_id: int, body: UserPatch, ctx: Ctx, _: Admin) -> UserOut:
    """Activate/deactivate a user or set their password (admin); a new password ends the
    user's sessions and revokes their API tokens."""
    users: Users = ctx.users
    target = users.get(user_id)
    if body.password is not None:
        users.set_password(user_id, body.password)
    if body.active is not None:
        target = users.set_active(user_id, body.active)
    return UserOut.of(target)


@router.post("/users/{user_id}/tokens", response_model=TokenOut, status_code=201)
def user_token(user_id: int, body: TokenIn, ctx: Ctx, _: Admin) -> TokenOut:
    """Create an API token for a user (admin)."""
    return TokenOut(token=ctx.users.create_token(user_id, body.name,
                                                 expires_days=body.expires_days))


@router.get("/users/{user_id}/tokens", response_model=list[TokenInfoOut])
def user_tokens(user_id: int, ctx: Ctx, _: Admin) -> list[TokenInfoOut]:
    """A user's API tokens (admin)."""
    return [TokenInfoOut.of(t) for t in ctx.users.tokens(user_id)]


@router.delete("/users/{user_id}/tokens/{token_id}", status_code=204)
def revoke_user_token(user_id: int, token_id: int, ctx: Ctx, _: Admin) -> None:
    """Revoke a user's API token (admin)."""
    ctx.users.revoke_token(user_id, token_id)
