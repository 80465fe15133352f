"""The provider API: the public key that verifies deletion notices, and
acknowledgements of purges (provider-bound API keys, scope ``provider:ack``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from optin.services import outbox, providers
from optin.services.web_auth import ApiClient
from optin.web.deps import require_scope
from optin.web.routes.api import ERRORS
from optin.web.state import state

router = APIRouter(prefix="/api/v1/provider", tags=["provider"], responses=ERRORS)


class PublicKeyOut(BaseModel):
    algorithm: str
    key_id: str
    public_key: str = Field(description="The raw 32-byte Ed25519 public key, base64.")
    public_key_pem: str
    signature_header: str
    signed: str


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notice_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The notice's id (its Idempotency-Key header).",
    )


class AckOut(BaseModel):
    notice_id: str
    export_id: str
    records: int
    state: str
    delivered_at: datetime | None
    acked_at: datetime | None
    due_at: datetime
    overdue: bool


@router.get(
    "/public-key",
    response_model=PublicKeyOut,
    summary="The Ed25519 public key that verifies deletion notices (no key needed)",
    responses={200: {"content": {"application/x-pem-file": {}}}},
)
def public_key(
    request: Request,
    format: Annotated[
        Literal["json", "pem"], Query(description="json (default) or pem (the PEM text only).")
    ] = "json",
) -> dict[str, str] | Response:
    info = providers.public_key_info(state(request).settings)
    if format == "pem":
        return PlainTextResponse(info["public_key_pem"], media_type="application/x-pem-file")
    return info


@router.post(
    "/acks",
    response_model=AckOut,
    summary="Confirm that a deletion notice's records were purged (provider key)",
)
async def post_ack(
    request: Request,
    body: AckIn,
    client: ApiClient = Depends(require_scope(providers.ACK_SCOPE)),
) -> AckOut:
    st = state(request)
    view = await run_in_threadpool(
        outbox.acknowledge,
        st.db,
        provider_id=client.provider_id,
        key_id=client.key_id,
        notice_id=body.notice_id,
        now=st.now(),
    )
    return AckOut(
        notice_id=view.id,
        export_id=view.export_id,
        records=view.records,
        state=view.state,
        delivered_at=view.delivered_at,
        acked_at=view.acked_at,
        due_at=view.due_at,
        overdue=view.overdue,
    )
