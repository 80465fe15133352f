"""JSON API ``/api/v1``. Every route needs an API key holding its scope; every error is
an RFC 9457 problem+json body (see :mod:`optin.web.problems`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from optin.errors import InputError
from optin.services import snapshots as snapshot_service
from optin.services.web_auth import ApiClient
from optin.web import backend
from optin.web.deps import require_scope
from optin.web.limits import UtcTime
from optin.web.state import state

ID = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@-]+$")]

PROBLEM = {
    "description": "An RFC 9457 problem",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM,
    403: PROBLEM,
    404: PROBLEM,
    422: PROBLEM,
    429: PROBLEM,
}

router = APIRouter(prefix="/api/v1", tags=["v1"], responses=ERRORS)


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(min_length=1, max_length=64, description="The platform's member id.")
    purpose: str = Field(min_length=1, max_length=64, examples=["train_own_models"])
    action: Literal["grant", "withdraw"]
    at: UtcTime | None = Field(
        None,
        description="When the member made the choice (UTC; default now; never future; "
        "years 1970-9999).",
    )


class ConsentOut(BaseModel):
    event_id: str
    seq: int
    member_id: str
    purpose: str
    action: str
    at: datetime
    policy_version: int
    source: str
    receipt: str
    recorded: bool = Field(
        True,
        description="False when the choice was redundant (already the member's current "
        "one): nothing was appended and the event is the existing one.",
    )
    note: str | None = Field(None, description='"already on" / "already off" when redundant.')


class DecisionOut(BaseModel):
    member_id: str
    purpose: str
    at: str
    eligible: bool
    reason: str
    explanation: str
    regime: str | None
    country: str | None
    consent_event_id: str | None
    policy_version: int | None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=1, max_length=64, examples=["train_own_models"])
    member_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=1000, description="At most 1,000 member ids per request."
    )
    at: UtcTime | None = Field(None, description="The time to decide at (years 1970-9999).")


class BatchOut(BaseModel):
    purpose: str
    at: str
    decisions: list[DecisionOut]
    unknown_member_ids: list[str]


class StaleOut(BaseModel):
    records: int = Field(description="Records no longer eligible (0: not stale).")
    reasons: dict[str, int] = Field(description="Those records by the change that caused it.")
    since: datetime | None


class SnapshotOut(BaseModel):
    id: str
    purpose: str
    as_of: datetime
    built_at: datetime | None
    status: str = Field(description="building, complete, failed, stale or retired.")
    records: int
    excluded: dict[str, int]
    findings: dict[str, int]
    stale: StaleOut
    parent_id: str | None = Field(description="The snapshot this one was derived from.")
    children: list[str] = Field(description="Snapshots derived from this one.")
    retired_at: datetime | None
    retired_by: str | None


class SnapshotDetailOut(SnapshotOut):
    manifest_sha256: str | None
    manifest: dict[str, Any] | None


@router.post(
    "/consents",
    status_code=201,
    response_model=ConsentOut,
    summary="Record a consent event (grant or withdraw)",
    responses={
        200: {
            "model": ConsentOut,
            "description": "Redundant: the choice already was the member's current one; "
            "nothing was appended (``recorded`` false, ``note`` says which).",
        }
    },
)
async def post_consent(
    request: Request,
    body: ConsentIn,
    client: ApiClient = Depends(require_scope("consents:write")),
) -> JSONResponse:
    st = state(request)
    saved = await backend.record_async(
        st.db,
        body.member_id,
        body.purpose,
        body.action,
        source="api",
        now=st.now(),
        at=body.at,
        committer=st.committer,
    )
    ev = saved.event
    out = ConsentOut(
        event_id=ev.event_id,
        seq=ev.seq,
        member_id=body.member_id,
        purpose=ev.purpose,
        action=ev.action,
        at=ev.at,
        policy_version=ev.policy_version,
        source=ev.source,
        receipt=f"/api/v1/receipts/{ev.event_id}",
        recorded=saved.note is None,
        note=saved.note,
    )
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=201 if saved.note is None else 200,
        headers={"Location": out.receipt},
    )


def _when(request: Request, at: datetime | None) -> datetime:
    if at is None:
        return state(request).now()
    if at.tzinfo is None:
        raise InputError(
            "time must include a UTC offset",
            field="at",
            value=at.isoformat(),
            allowed="ISO 8601 with offset, e.g. 2026-11-01T00:00:00Z",
        )
    return at


@router.get(
    "/members/{member_id}/eligibility",
    response_model=DecisionOut,
    summary="Eligibility of one member for a purpose at a time",
)
def get_eligibility(
    request: Request,
    member_id: ID,
    purpose: Annotated[str, Query(min_length=1, max_length=64)],
    at: Annotated[UtcTime | None, Query()] = None,
    client: ApiClient = Depends(require_scope("eligibility:read")),
) -> dict[str, object]:
    st = state(request)
    return backend.decide(st.db, member_id, purpose, _when(request, at)).to_dict()


def _batch(request: Request, body: BatchIn) -> dict[str, object]:
    st = state(request)
    when = _when(request, body.at)
    decisions, unknown = backend.decide_many(st.db, body.member_ids, body.purpose, when)
    return {
        "purpose": body.purpose,
        "at": when.isoformat(),
        "decisions": [d.to_dict() for d in decisions],
        "unknown_member_ids": unknown,
    }


@router.post(
    "/eligibility/batch",
    response_model=BatchOut,
    summary="Eligibility of up to 1,000 members for a purpose at a time",
)
def post_eligibility_batch(
    request: Request,
    body: BatchIn,
    client: ApiClient = Depends(require_scope("eligibility:read")),
) -> dict[str, object]:
    return _batch(request, body)


@router.post("/eligibility:batch", response_model=BatchOut, include_in_schema=False)
def post_eligibility_batch_colon(
    request: Request,
    body: BatchIn,
    client: ApiClient = Depends(require_scope("eligibility:read")),
) -> dict[str, object]:
    return _batch(request, body)


@router.get(
    "/content/{content_id}/usage",
    summary="The AI-use signal of a content item (Content-Usage, tdm-reservation)",
)
def get_content_usage(
    request: Request,
    content_id: ID,
    client: ApiClient = Depends(require_scope("eligibility:read")),
) -> JSONResponse:
    """``train-ai=y`` only when the item's author is eligible now for a purpose that
    covers it; ``train-ai=n`` otherwise (an unknown id too). The same values are set as
    the response's ``Content-Usage`` and ``tdm-reservation`` headers."""
    st = state(request)
    usage = backend.content_usage(st.db, content_id, now=st.now())
    return JSONResponse(usage.to_dict(), headers=usage.headers())


_PATHS = Query(
    min_length=1,
    max_length=20,
    description="The platform's content paths (each starting with /), e.g. /posts/.",
)


@router.get(
    "/signals/robots.txt",
    summary="A robots.txt group with Content-Usage rules for the content paths",
    response_class=PlainTextResponse,
)
def get_signals_robots(
    request: Request,
    path: Annotated[list[str], _PATHS],
    client: ApiClient = Depends(require_scope("eligibility:read")),
) -> PlainTextResponse:
    """draft-ietf-aipref-attach-05: ``Content-Usage: PATH train-ai=n`` per content path,
    the platform-wide default under opt-in (each item's own ``Content-Usage`` header says
    ``train-ai=y`` where its author opted in)."""
    st = state(request)
    sig = backend.platform_signals(st.db, [p[:200] for p in path], now=st.now())
    return PlainTextResponse(sig.robots_txt())


@router.get(
    "/signals/tdmrep.json",
    summary="A W3C TDMRep /.well-known/tdmrep.json for the content paths",
)
def get_signals_tdmrep(
    request: Request,
    path: Annotated[list[str], _PATHS],
    policy_url: Annotated[str | None, Query(max_length=500, pattern=r"^https://\S+$")] = None,
    client: ApiClient = Depends(require_scope("eligibility:read")),
) -> JSONResponse:
    """One rule per content path with ``tdm-reservation: 1`` (rights reserved, the
    default under opt-in; each item's ``tdm-reservation`` header says 0 where its author
    opted in), and ``tdm-policy`` when ``policy_url`` is given."""
    st = state(request)
    sig = backend.platform_signals(st.db, [p[:200] for p in path], now=st.now())
    return JSONResponse(sig.tdmrep(policy_url=policy_url))


@router.get("/receipts/{event_id}", summary="The consent receipt (ISO/IEC TS 27560-style)")
def get_receipt(
    request: Request,
    event_id: ID,
    client: ApiClient = Depends(require_scope("receipts:read")),
) -> dict[str, Any]:
    return backend.receipt(state(request).db, event_id)


@router.get("/snapshots", response_model=list[SnapshotOut], summary="Training-data snapshots")
def list_snapshots(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    client: ApiClient = Depends(require_scope("snapshots:read")),
) -> list[dict[str, Any]]:
    return [s.to_dict() for s in snapshot_service.list_snapshots(state(request).db, limit=limit)]


@router.get(
    "/snapshots/{snapshot_id}",
    response_model=SnapshotDetailOut,
    summary="One snapshot with its manifest",
)
def get_snapshot(
    request: Request,
    snapshot_id: ID,
    client: ApiClient = Depends(require_scope("snapshots:read")),
) -> dict[str, Any]:
    out = snapshot_service.get_snapshot(state(request).db, snapshot_id).to_dict()
    out.setdefault("manifest", None)
    return out
