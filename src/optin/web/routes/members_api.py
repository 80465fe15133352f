"""JSON API for the member lifecycle: ``POST /api/v1/members/{id}/events`` records a
dated change (country, status, birth-date correction; scope ``members:write``) and
``GET /api/v1/members/{id}`` shows a member with every change (scope ``members:read``);
``POST /api/v1/members/{id}/erasure`` erases the member (scope ``members:erase``; the body
must confirm). ``{id}`` is a member id or ``@handle`` (case-insensitive)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from optin.services.web_auth import ApiClient
from optin.web import backend
from optin.web.deps import require_scope
from optin.web.limits import UtcTime
from optin.web.routes.api import ERRORS
from optin.web.state import state

ID = Annotated[str, Path(min_length=1, max_length=65, pattern=r"^[A-Za-z0-9_.:@-]+$")]

router = APIRouter(prefix="/api/v1", tags=["v1"], responses=ERRORS)


class MemberEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: str | None = Field(
        None, pattern=r"^[A-Z]{2}$", description="New country (ISO 3166-1 alpha-2)."
    )
    status: Literal["active", "suspended", "closed"] | None = None
    birth_date: date | None = Field(None, description="A corrected birth date.")
    effective_at: UtcTime | None = Field(
        None,
        description="When the change took effect (default now; not in the future, not "
        "before the member joined). It is recorded now.",
    )


class ChangeOut(BaseModel):
    kind: str
    value: str | None
    recorded: bool


class MemberUpdateOut(BaseModel):
    member_id: str
    effective_at: str
    recorded_at: str
    source: str
    changes: list[ChangeOut]
    propagation_reason: str | None = Field(
        description="The reason withdrawal propagation ran with (account_closed, "
        "account_suspended, country_excluded, country_changed, birth_date_corrected, "
        "account_reactivated); null when nothing was recorded."
    )
    stale_records: int = Field(
        description="Records of live snapshots that this change made ineligible (those "
        "snapshots are now stale)."
    )


class MemberChangeOut(BaseModel):
    kind: str
    value: str | None
    effective_at: str
    recorded_at: str
    source: str | None


class MemberOut(BaseModel):
    id: str
    handle: str
    display_name: str
    birth_date: str | None
    joined_at: str
    country: str | None
    status: str | None
    changes: list[MemberChangeOut]


@router.post(
    "/members/{member_id}/events",
    status_code=201,
    response_model=MemberUpdateOut,
    summary="Record a dated member change (move, status, birth-date correction)",
    responses={200: {"model": MemberUpdateOut, "description": "Already recorded: no change."}},
)
def post_member_event(
    request: Request,
    member_id: ID,
    body: MemberEventIn,
    client: ApiClient = Depends(require_scope("members:write")),
) -> JSONResponse:
    st = state(request)
    out = backend.update_member(
        st.db,
        member_id,
        country=body.country,
        status=body.status,
        birth_date=body.birth_date,
        effective_at=body.effective_at,
        now=st.now(),
    )
    recorded = any(c["recorded"] for c in out["changes"])
    return JSONResponse(out, status_code=201 if recorded else 200)


@router.get(
    "/members/{member_id}",
    response_model=MemberOut,
    summary="A member: current country and status, and every dated change",
)
def get_member(
    request: Request,
    member_id: ID,
    client: ApiClient = Depends(require_scope("members:read")),
) -> dict[str, Any]:
    st = state(request)
    return backend.show_member(st.db, member_id, st.now())


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: Literal[True] = Field(description="Must be true: an erasure cannot be undone.")
    request_id: str | None = Field(
        None, max_length=64, description="The data-subject request this erasure completes."
    )


@router.post(
    "/members/{member_id}/erasure",
    summary="Erase a member's data everywhere optin keeps it (cannot be undone)",
)
def post_member_erasure(
    request: Request,
    member_id: ID,
    body: ErasureIn,
    client: ApiClient = Depends(require_scope("members:erase")),
) -> dict[str, Any]:
    st = state(request)
    return backend.erase_member(
        st.db,
        st.settings,
        member_id,
        request_id=body.request_id,
        actor=f"api:{client.key_id}",
        now=st.now(),
    )
