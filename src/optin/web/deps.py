"""Request dependencies: the logged-in member, the admin role, CSRF, API keys and scopes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from optin.errors import PermissionDeniedError
from optin.services import web_auth
from optin.services.web_auth import ApiClient, WebUser
from optin.web.state import state

SESSION_COOKIE = "optin_session"
LOGIN_CSRF_COOKIE = "optin_login_csrf"


class LoginRequired(Exception):
    """No valid web session: HTML routes answer with a redirect to the login page."""


def optional_user(request: Request) -> WebUser | None:
    if hasattr(request.state, "user"):
        cached: WebUser | None = request.state.user
        return cached
    st = state(request)
    token = request.cookies.get(SESSION_COOKIE)
    user = None
    if token:
        with st.db.session() as s:
            user = web_auth.session_user(s, token, now=st.now())
    request.state.user = user
    return user


def current_user(request: Request) -> WebUser:
    user = optional_user(request)
    if user is None:
        raise LoginRequired()
    return user


def admin_user(user: WebUser = Depends(current_user)) -> WebUser:
    if not user.is_admin:
        raise PermissionDeniedError("this page is for administrators (role 'admin') only")
    return user


def check_csrf(user: WebUser, token: str | None) -> None:
    if not web_auth.csrf_ok(user, token):
        raise PermissionDeniedError(
            "missing or invalid CSRF token; reload the page and submit the form again"
        )


bearer = HTTPBearer(auto_error=False, description="An API key: optin_<id>_<secret>")


async def api_client(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> ApiClient:
    """The API key's client. A key verified within ``api_key_ttl`` seconds is answered
    from memory; otherwise it is looked up (in a worker thread)."""
    st = state(request)
    header = (
        f"{creds.scheme} {creds.credentials}" if creds else request.headers.get("authorization")
    )
    key = web_auth.sha256_hex(header) if header and st.api_key_ttl > 0 else None
    now = time.monotonic()
    if key is not None:
        hit = st.api_key_cache.get(key)
        if hit is not None and hit[0] > now:
            cached: ApiClient = hit[1]
            return cached

    def lookup() -> ApiClient:
        with st.db.session() as s:
            return web_auth.api_client(s, header)

    client = await run_in_threadpool(lookup)
    if key is not None:
        if len(st.api_key_cache) > 10_000:
            st.api_key_cache.clear()
        st.api_key_cache[key] = (now + st.api_key_ttl, client)
    return client


def require_scope(scope: str) -> Callable[..., Awaitable[ApiClient]]:
    """A dependency that admits only API keys holding ``scope``."""

    async def dep(client: ApiClient = Depends(api_client)) -> ApiClient:
        if scope not in client.scopes:
            held = ", ".join(sorted(client.scopes)) or "none"
            raise PermissionDeniedError(
                f"this API key lacks the scope '{scope}' (it holds: {held}); "
                f"create a key with `optin apikey create NAME --scope {scope}`"
            )
        return client

    return dep


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
