"""Data-subject requests on the web and in the API.

* Member pages (``/settings/data-privacy/requests``): open an access, erasure or
  objection request for oneself (the logged-in session is the identity check; no member
  id is read from the URL or the form), see each request's state, deadline and notices,
  and fetch a completed access package through a single-use link.
* Admin queue (``/admin/requests``): every open request with days left coloured by
  urgency; open a request on a member's behalf (recording how identity was verified),
  verify, complete, refuse, extend.
* API (``/api/v1/dsr``): open (scope ``dsr:write``), list and show (``dsr:read``),
  and the transitions (``dsr:write``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from optin.errors import InputError, OptinError
from optin.services import dsr as dsr_service
from optin.services.web_auth import ApiClient, WebUser
from optin.web.deps import admin_user, check_csrf, current_user, require_scope
from optin.web.limits import UtcTime
from optin.web.routes.api import ERRORS
from optin.web.routes.member import member_context
from optin.web.state import WebState, state

log = logging.getLogger(__name__)

REQUESTS = "/settings/data-privacy/requests"
ADMIN = "/admin/requests"
KINDS = ("access", "erasure", "objection")
RID = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["v1"], responses=ERRORS)


# -- member pages ----------------------------------------------------------------------


@pages.get(REQUESTS)
def requests_page(
    request: Request, opened: str = "", user: WebUser = Depends(current_user)
) -> Response:
    st = state(request)
    now = st.now()
    dsr_service.sweep(st.db, st.settings.home, now=now)
    mine = dsr_service.member_requests(st.db, user.member_id, now)
    ctx = member_context(
        request,
        st,
        user,
        requests=mine,
        opened=next((r for r in mine if r.id == opened), None),
    )
    return st.templates.TemplateResponse(request, "requests.html", ctx)


@pages.post(REQUESTS)
def requests_open(
    request: Request,
    kind: str = Form(..., max_length=16),
    csrf_token: str = Form("", max_length=200),
    confirm: str = Form("", max_length=8),
    user: WebUser = Depends(current_user),
) -> Response:
    check_csrf(user, csrf_token)
    if kind == "erasure" and confirm != "yes":
        raise InputError(
            "tick the box to confirm that you want your data erased",
            field="confirm",
            allowed="yes",
        )
    st = state(request)
    r = dsr_service.open_request(
        st.db,
        user.member_id,
        kind,
        channel="web",
        actor=f"member:{user.member_id}",
        now=st.now(),
        home=st.settings.home,
    )
    return RedirectResponse(f"{REQUESTS}?opened={r.id}#r-{r.id}", status_code=303)


@pages.post(REQUESTS + "/{request_id}/download")
def requests_link(
    request: Request,
    request_id: RID,
    csrf_token: str = Form("", max_length=200),
    user: WebUser = Depends(current_user),
) -> Response:
    """Mint a single-use link for the member's own package and follow it at once."""
    check_csrf(user, csrf_token)
    st = state(request)
    token = dsr_service.create_download_link(
        st.db, st.settings.home, user.member_id, request_id, now=st.now()
    )
    return RedirectResponse(f"{REQUESTS}/package/{token}", status_code=303)


@pages.get(REQUESTS + "/package/{token}")
def requests_download(
    request: Request,
    token: Annotated[str, Path(min_length=10, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")],
    user: WebUser = Depends(current_user),
) -> Response:
    st = state(request)
    d = dsr_service.take_download(st.db, st.settings.home, user.member_id, token, now=st.now())
    log.info("access package downloaded")
    return FileResponse(
        d.path,
        media_type="application/zip",
        filename=d.filename,
        headers={"Cache-Control": "no-store", "X-Content-SHA256": d.sha256},
    )


# -- admin queue -----------------------------------------------------------------------


def _admin_ctx(request: Request, st: WebState, user: WebUser, **extra: Any) -> dict[str, Any]:
    now = st.now()
    show_all = request.query_params.get("all") == "1"
    rows = dsr_service.list_requests(st.db, now, open_only=not show_all, limit=500)
    return {
        "user": user,
        "csrf_token": user.csrf_token,
        "nav": request.url.path,
        "stale": [],
        "requests": rows,
        "show_all": show_all,
        "error": None,
        "done": request.query_params.get("done"),
        **extra,
    }


@pages.get(ADMIN)
def admin_queue(request: Request, user: WebUser = Depends(admin_user)) -> Response:
    st = state(request)
    return st.templates.TemplateResponse(
        request, "admin/requests.html", _admin_ctx(request, st, user)
    )


def _admin_error(request: Request, st: WebState, user: WebUser, e: OptinError) -> Response:
    ctx = _admin_ctx(request, st, user, error=str(e))
    return st.templates.TemplateResponse(request, "admin/requests.html", ctx, status_code=422)


def _parse_time(raw: str) -> datetime | None:
    if not raw.strip():
        return None
    try:
        t = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(
            "not a date and time",
            field="received_at",
            value=raw,
            allowed="ISO 8601, e.g. 2026-11-01T09:30 (UTC)",
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@pages.post(ADMIN)
def admin_open(
    request: Request,
    member: str = Form(..., max_length=65),
    kind: str = Form(..., max_length=16),
    identity_method: str = Form("", max_length=500),
    received_at: str = Form("", max_length=40),
    csrf_token: str = Form("", max_length=200),
    user: WebUser = Depends(admin_user),
) -> Response:
    check_csrf(user, csrf_token)
    st = state(request)
    try:
        r = dsr_service.open_request(
            st.db,
            member,
            kind,
            channel="admin",
            actor=f"admin:{user.member_id}",
            now=st.now(),
            identity_method=identity_method or None,
            received_at=_parse_time(received_at),
            home=st.settings.home,
        )
    except OptinError as e:
        return _admin_error(request, st, user, e)
    return RedirectResponse(f"{ADMIN}?done={r.id}#r-{r.id}", status_code=303)


@pages.post(ADMIN + "/{request_id}/{action}")
def admin_act(
    request: Request,
    request_id: RID,
    action: Literal["verify", "start", "complete", "refuse", "extend"],
    text: str = Form("", max_length=500),
    csrf_token: str = Form("", max_length=200),
    user: WebUser = Depends(admin_user),
) -> Response:
    check_csrf(user, csrf_token)
    st = state(request)
    actor, now = f"admin:{user.member_id}", st.now()
    try:
        if action == "verify":
            dsr_service.verify(st.db, request_id, method=text, actor=actor, now=now)
        elif action == "start":
            dsr_service.start(st.db, request_id, actor=actor, now=now)
        elif action == "complete":
            dsr_service.complete(st.db, st.settings.home, request_id, actor=actor, now=now)
        elif action == "refuse":
            dsr_service.refuse(st.db, request_id, reason=text, actor=actor, now=now)
        else:
            dsr_service.extend(st.db, request_id, reason=text, actor=actor, now=now)
    except OptinError as e:
        return _admin_error(request, st, user, e)
    return RedirectResponse(f"{ADMIN}?done={request_id}#r-{request_id}", status_code=303)


# -- API -------------------------------------------------------------------------------


class DsrIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(min_length=1, max_length=65, description="Member id or @handle.")
    kind: Literal["access", "erasure", "objection"]
    identity_verified_by: str | None = Field(
        None,
        max_length=500,
        description="How the platform verified the member's identity (without it the "
        "request waits in 'received' until verified).",
    )
    received_at: UtcTime | None = Field(
        None, description="When the platform received the request (default now)."
    )


class DsrActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(
        None,
        max_length=500,
        description="verify: how identity was checked; refuse/extend: the reason.",
    )


class DsrEventOut(BaseModel):
    at: str
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None
    notice: str | None


class DsrOut(BaseModel):
    id: str
    member_id: str
    kind: str
    state: str
    channel: str
    opened_by: str
    received_at: str
    rule: str
    timezone: str
    country: str | None
    first_due_at: str
    due_at: str
    last_day: str
    extended: bool
    days_left: int
    urgency: str
    identity_method: str | None
    verified_at: str | None
    duplicate_of: str | None
    linked: list[str]
    closed_at: str | None
    reason: str | None
    package_available: bool
    package_expires_at: str | None
    history: list[DsrEventOut]
    notices: list[str]


@api.post("/dsr", status_code=201, response_model=DsrOut, summary="Open a data-subject request")
def api_open(
    request: Request, body: DsrIn, client: ApiClient = Depends(require_scope("dsr:write"))
) -> dict[str, Any]:
    st = state(request)
    return dsr_service.open_request(
        st.db,
        body.member_id,
        body.kind,
        channel="api",
        actor=f"api:{client.key_id}",
        now=st.now(),
        identity_method=body.identity_verified_by,
        received_at=body.received_at,
        home=st.settings.home,
    ).to_dict()


@api.get(
    "/dsr", response_model=list[DsrOut], summary="Data-subject requests, soonest deadline first"
)
def api_list(
    request: Request,
    member_id: Annotated[str | None, Query(max_length=65)] = None,
    state_: Annotated[str | None, Query(alias="state", max_length=16)] = None,
    kind: Annotated[str | None, Query(max_length=16)] = None,
    include_closed: bool = False,
    client: ApiClient = Depends(require_scope("dsr:read")),
) -> list[dict[str, Any]]:
    st = state(request)
    rows = dsr_service.list_requests(
        st.db,
        st.now(),
        open_only=not include_closed,
        state=state_,
        kind=kind,
        member_ref=member_id,
    )
    return [r.to_dict() for r in rows]


@api.get("/dsr/{request_id}", response_model=DsrOut, summary="One data-subject request")
def api_show(
    request: Request, request_id: RID, client: ApiClient = Depends(require_scope("dsr:read"))
) -> dict[str, Any]:
    st = state(request)
    return dsr_service.show_request(st.db, request_id, st.now()).to_dict()


@api.post(
    "/dsr/{request_id}/{action}",
    response_model=DsrOut,
    summary="Move a request: verify, start, complete, refuse or extend",
)
def api_act(
    request: Request,
    request_id: RID,
    action: Literal["verify", "start", "complete", "refuse", "extend"],
    body: DsrActionIn | None = None,
    client: ApiClient = Depends(require_scope("dsr:write")),
) -> dict[str, Any]:
    st = state(request)
    actor, now, text = f"api:{client.key_id}", st.now(), (body.text if body else None) or ""
    if action == "verify":
        r = dsr_service.verify(st.db, request_id, method=text, actor=actor, now=now)
    elif action == "start":
        r = dsr_service.start(st.db, request_id, actor=actor, now=now)
    elif action == "complete":
        r = dsr_service.complete(st.db, st.settings.home, request_id, actor=actor, now=now)
    elif action == "refuse":
        r = dsr_service.refuse(st.db, request_id, reason=text, actor=actor, now=now)
    else:
        r = dsr_service.extend(st.db, request_id, reason=text, actor=actor, now=now)
    return r.to_dict()
