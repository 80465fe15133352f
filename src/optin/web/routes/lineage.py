"""JSON API ``/api/v1/lineage``: where a member's content, one content item or one
snapshot went (scope ``snapshots:read``; errors are problem+json like the rest of the
API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from optin.services import lineage as lineage_service
from optin.services.web_auth import ApiClient
from optin.web.deps import require_scope
from optin.web.routes.api import ERRORS, ID
from optin.web.state import state

router = APIRouter(prefix="/api/v1/lineage", tags=["v1"], responses=ERRORS)


@router.get("/members/{member_id}", summary="Where a member's content went")
def member_lineage(
    request: Request,
    member_id: ID,
    client: ApiClient = Depends(require_scope("snapshots:read")),
) -> dict[str, Any]:
    """Snapshots holding the member's records (stale or not), their exports and models,
    and the member's withdrawals. ``member_id`` may be ``@handle``."""
    return lineage_service.member_lineage(state(request).db, member_id)


@router.get("/snapshots/{snapshot_id}", summary="A snapshot's parent, children and exports")
def snapshot_lineage(
    request: Request,
    snapshot_id: ID,
    client: ApiClient = Depends(require_scope("snapshots:read")),
) -> dict[str, Any]:
    return lineage_service.snapshot_lineage(state(request).db, snapshot_id)


@router.get("/content/{content_id}", summary="The records made from one content item")
def content_lineage(
    request: Request,
    content_id: ID,
    client: ApiClient = Depends(require_scope("snapshots:read")),
) -> dict[str, Any]:
    return lineage_service.content_lineage(state(request).db, content_id)
