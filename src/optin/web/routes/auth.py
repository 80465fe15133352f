"""Log in and out. Login is rate-limited per (client IP, handle) and protected by a
double-submit CSRF cookie (there is no session yet to tie a token to)."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from optin.errors import AuthenticationError, PermissionDeniedError
from optin.services import web_auth
from optin.services.web_auth import WebUser
from optin.web.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    client_ip,
    current_user,
    optional_user,
)
from optin.web.state import state

router = APIRouter(include_in_schema=False)

HOME = "/settings/data-privacy/generative-ai"


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


def _render_login(
    request: Request,
    *,
    error: str | None = None,
    status: int = 200,
    next_url: str = "",
    handle: str = "",
) -> Response:
    token = secrets.token_urlsafe(24)
    resp = state(request).templates.TemplateResponse(
        request,
        "login.html",
        {"csrf_token": token, "error": error, "next": next_url, "handle": handle, "user": None},
        status_code=status,
    )
    resp.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    if status == 429:
        resp.headers["Retry-After"] = str(request.state.retry_after)
    return resp


@router.get("/")
def index(request: Request) -> Response:
    user = optional_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/admin" if user.is_admin else HOME, status_code=303)


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:
    if optional_user(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _render_login(request, next_url=_safe_next(next) if next else "")


@router.post("/login")
def login(
    request: Request,
    handle: str = Form("", max_length=200),
    password: str = Form("", max_length=1000),
    csrf_token: str = Form("", max_length=200),
    next: str = Form("", max_length=500),
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        raise PermissionDeniedError(
            "the login form expired or was not sent by this site; reload it and try again"
        )
    st = state(request)
    ip = client_ip(request)
    now = st.now()
    handle = handle.strip().lstrip("@")
    wait = st.limiter.retry_after(ip, handle, now)
    if wait:
        request.state.retry_after = wait
        return _render_login(
            request,
            status=429,
            next_url=next,
            handle=handle,
            error=f"Too many failed attempts. Try again in {wait} seconds.",
        )
    try:
        with st.db.session() as s:
            new = web_auth.login(s, handle, password, now=now)
    except AuthenticationError:
        st.limiter.failed(ip, handle, now)
        return _render_login(
            request,
            status=401,
            next_url=next,
            handle=handle,
            error="That handle and password do not match an account.",
        )
    st.limiter.succeeded(ip, handle)
    target = _safe_next(next) if next else ("/admin" if new.user.is_admin else HOME)
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        new.token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
        max_age=int(web_auth.SESSION_TTL.total_seconds()),
    )
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return resp


@router.post("/logout")
def logout(
    request: Request,
    csrf_token: str = Form("", max_length=200),
    user: WebUser = Depends(current_user),
) -> Response:
    check_csrf(user, csrf_token)
    with state(request).db.session() as s:
        web_auth.logout(s, request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp
