"""The consent transparency log on the web: the latest checkpoint, consistency proofs,
public inclusion proofs, and a member's own proof file (receipt + salt + proof)."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from optin.errors import NotFoundError
from optin.services import tlog
from optin.services.receipts import receipt
from optin.services.web_auth import WebUser
from optin.web.deps import current_user
from optin.web.state import state

# not in the JSON API schema (/api/v1): these are plain-text C2SP endpoints, errors as pages
router = APIRouter(include_in_schema=False)

TEXT = "text/plain; charset=utf-8"
HISTORY = "/settings/data-privacy/history"


@router.get("/log/checkpoint", response_class=Response)
async def checkpoint(request: Request) -> Response:
    """The latest checkpoint as a signed note with its witness cosignatures (a new one
    is signed when events arrived and the last is older than the checkpoint interval)."""
    st = state(request)
    note = await run_in_threadpool(tlog.latest_note, st.db, st.settings, now=st.now())
    return Response(note, media_type=TEXT, headers={"Cache-Control": "no-store"})


@router.get("/log/consistency", response_class=Response)
async def consistency(
    request: Request,
    old: int = Query(..., ge=0, description="Older tree size."),
    new: int = Query(..., ge=0, description="Newer tree size."),
) -> Response:
    """The RFC 6962 consistency proof from tree size ``old`` to ``new``, one base64 hash
    a line."""
    st = state(request)
    proof = await run_in_threadpool(tlog.consistency, st.db, old, new)
    body = "".join(base64.b64encode(h).decode("ascii") + "\n" for h in proof)
    return Response(body, media_type=TEXT)


@router.get("/log/proof/{event_id}", response_class=Response)
async def proof(request: Request, event_id: str) -> Response:
    """The public inclusion proof of a ledger event (``c2sp.org/tlog-proof``; no salt)."""
    st = state(request)
    if len(event_id) > 64:
        raise NotFoundError("no such ledger event")
    pf = await run_in_threadpool(
        tlog.inclusion_proof_file, st.db, st.settings, event_id, now=st.now()
    )
    return Response(pf.encode(), media_type=TEXT)


def _member_file(request: Request, user: WebUser, event_id: str) -> str:
    st = state(request)
    if len(event_id) > 64:
        raise NotFoundError("no such consent event in your history")
    now = st.now()
    pf = tlog.member_proof_file(
        st.db, st.settings, user.member_id, event_id, now=now, receipt=receipt(st.db, event_id)
    )
    return pf.encode()


@router.get(HISTORY + "/{event_id}/receipt.tlog-proof")
async def member_proof(
    request: Request, event_id: str, user: WebUser = Depends(current_user)
) -> Response:
    """The member's proof file: the receipt, its salt and the inclusion proof in one
    ``.tlog-proof`` file that ``optin log verify FILE --key KEY`` checks offline."""
    body = await run_in_threadpool(_member_file, request, user, event_id)
    return Response(
        body,
        media_type=TEXT,
        headers={
            "Content-Disposition": f'attachment; filename="consent-{event_id}.tlog-proof"',
            "Cache-Control": "no-store",
        },
    )
