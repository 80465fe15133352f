"""Admin pages (role ``admin`` only): dashboard, snapshots with verify, policy
publishing, ledger status. Every POST carries the session's CSRF token."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from optin.errors import InputError, OptinError
from optin.services import ledger as ledger_service
from optin.services import lineage as lineage_service
from optin.services import policy as policy_service
from optin.services import snapshots as snapshot_service
from optin.services import tlog as tlog_service
from optin.services.snapshots import SnapshotSummary
from optin.services.web_auth import WebUser
from optin.web import backend, dashboard
from optin.web.deps import admin_user, check_csrf
from optin.web.state import WebState, state

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", include_in_schema=False)


def _ctx(request: Request, user: WebUser, **extra: Any) -> dict[str, Any]:
    return {
        "user": user,
        "csrf_token": user.csrf_token,
        "nav": request.url.path,
        "stale": [],
        **extra,
    }


def _render(
    st: WebState, request: Request, name: str, ctx: dict[str, Any], status: int = 200
) -> Response:
    return st.templates.TemplateResponse(request, name, ctx, status_code=status)


@router.get("")
def dashboard_page(request: Request, user: WebUser = Depends(admin_user)) -> Response:
    st = state(request)
    dash = dashboard.build(st.db, st.now())
    return _render(st, request, "admin/dashboard.html", _ctx(request, user, d=dash))


@router.get("/snapshots")
def snapshots_page(request: Request, user: WebUser = Depends(admin_user)) -> Response:
    st = state(request)
    snaps = snapshot_service.list_snapshots(st.db, limit=200)
    return _render(st, request, "admin/snapshots.html", _ctx(request, user, snapshots=snaps))


def _snapshot(st: WebState, snapshot_id: str) -> tuple[SnapshotSummary, dict[str, Any]]:
    summary = snapshot_service.get_snapshot(st.db, snapshot_id)
    return summary, summary.manifest or {}


@router.get("/snapshots/{snapshot_id}")
def snapshot_page(
    request: Request, snapshot_id: str, user: WebUser = Depends(admin_user)
) -> Response:
    return _snapshot_response(state(request), request, user, snapshot_id, verify=False)


@router.post("/snapshots/{snapshot_id}/verify")
def snapshot_verify(
    request: Request,
    snapshot_id: str,
    csrf_token: str = Form("", max_length=200),
    user: WebUser = Depends(admin_user),
) -> Response:
    check_csrf(user, csrf_token)
    return _snapshot_response(state(request), request, user, snapshot_id, verify=True)


def _snapshot_response(
    st: WebState, request: Request, user: WebUser, snapshot_id: str, *, verify: bool
) -> Response:
    """The snapshot detail page, with a fresh verify report when asked for."""
    summary, manifest = _snapshot(st, snapshot_id)
    report = (
        backend.verify_snapshot(
            st.db, st.settings, snapshot_id, now=st.now(), actor=f"admin:{user.member_id}"
        )
        if verify
        else None
    )
    return _render(
        st,
        request,
        "admin/snapshot.html",
        _ctx(
            request,
            user,
            snap=summary,
            exports=lineage_service.snapshot_lineage(st.db, snapshot_id)["exports"],
            manifest=json.dumps(manifest, indent=2, default=str)[:20000],
            report=report,
            verified=backend.latest_verification(st.settings, summary.path),
            leak_audit=backend.leak_audit(st.settings, summary.path),
        ),
    )


# -- leak audit (issue 17) ----------------------------------------------------------------


def _audit_response(
    st: WebState,
    request: Request,
    user: WebUser,
    snapshot_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    summary, _ = _snapshot(st, snapshot_id)
    audit, items = backend.audit_view(st.db, st.settings, snapshot_id)
    todo = [i for i in items if i.review is None]
    ctx = _ctx(
        request, user, snap=summary, audit=audit, items=items, todo=len(todo),
        labels=backend.AUDIT_LABELS, error=error,
    )  # fmt: skip
    return _render(st, request, "admin/audit.html", ctx, status=status)


@router.get("/snapshots/{snapshot_id}/audit")
def audit_page(request: Request, snapshot_id: str, user: WebUser = Depends(admin_user)) -> Response:
    return _audit_response(state(request), request, user, snapshot_id)


@router.post("/snapshots/{snapshot_id}/audit")
def audit_start(
    request: Request,
    snapshot_id: str,
    sample: int = Form(200, ge=1, le=100_000),
    seed: int = Form(0, ge=0, le=2**31),
    csrf_token: str = Form("", max_length=200),
    user: WebUser = Depends(admin_user),
) -> Response:
    check_csrf(user, csrf_token)
    st = state(request)
    try:
        backend.start_audit(
            st.db, st.settings, snapshot_id, size=sample, seed=seed,
            by=f"admin:{user.handle}", now=st.now(),
        )  # fmt: skip
    except OptinError as e:
        return _audit_response(st, request, user, snapshot_id, error=str(e), status=409)
    return RedirectResponse(f"/admin/snapshots/{snapshot_id}/audit", status_code=303)


@router.post("/snapshots/{snapshot_id}/audit/{record_id}")
def audit_review(
    request: Request,
    snapshot_id: str,
    record_id: str,
    verdict: str = Form(..., max_length=8),
    span: str = Form("", max_length=2000),
    label: str = Form("", max_length=20),
    csrf_token: str = Form("", max_length=200),
    user: WebUser = Depends(admin_user),
) -> Response:
    check_csrf(user, csrf_token)
    st = state(request)
    try:
        backend.review_record(
            st.db, st.settings, snapshot_id, record_id, verdict=verdict, span=span,
            label=label, by=f"admin:{user.handle}", now=st.now(),
        )  # fmt: skip
    except InputError as e:
        return _audit_response(st, request, user, snapshot_id, error=str(e), status=422)
    return RedirectResponse(f"/admin/snapshots/{snapshot_id}/audit#r-{record_id}", status_code=303)


def _policy_ctx(st: WebState, request: Request, user: WebUser, **extra: Any) -> dict[str, Any]:
    now = st.now()
    pv = backend.current_policy(st.db, now)
    rows = policy_service.version_listing(st.db)
    extra.setdefault("document", policy_service.policy_document(st.db, pv.version))
    extra.setdefault("material", [])
    extra.setdefault("opt_out_ack", False)
    latest = max((v.version for v in backend.policies(st.db).versions), default=pv.version)
    return _ctx(
        request,
        user,
        current=pv,
        versions=rows,
        regimes=policy_service.regimes(policy_service.get_policy(st.db, latest)),
        diff=policy_service.policy_diff(st.db, latest),
        pending=policy_service.policies_pending(st.db, now),
        error=None,
        published=None,
        **extra,
    )


@router.get("/policy")
def policy_page(
    request: Request, published: int = 0, user: WebUser = Depends(admin_user)
) -> Response:
    st = state(request)
    ctx = _policy_ctx(st, request, user)
    ctx["published"] = published or None
    return _render(st, request, "admin/policy.html", ctx)


@router.post("/policy")
def policy_publish(
    request: Request,
    document: str = Form(..., max_length=200_000),
    material: list[str] = Form(default_factory=list),
    effective_at: str = Form("", max_length=40),
    i_understand_opt_out: str = Form("", max_length=8),
    csrf_token: str = Form("", max_length=200),
    user: WebUser = Depends(admin_user),
) -> Response:
    check_csrf(user, csrf_token)
    ack = i_understand_opt_out == "yes"
    st = state(request)
    now = st.now()
    try:
        eff = _parse_time(effective_at) if effective_at.strip() else now
        pv = policy_service.publish_policy(
            st.db,
            document.replace("\r\n", "\n"),
            effective_at=eff,
            material=frozenset(material),
            now=now,
            source="the policy form",
            acknowledge_opt_out=ack,
        )
    except OptinError as e:
        ctx = _policy_ctx(st, request, user, document=document, material=material, opt_out_ack=ack)
        ctx["error"] = str(e)
        return _render(st, request, "admin/policy.html", ctx, status=422)
    log.info("policy version %d published from the web", pv.version)
    return RedirectResponse(f"/admin/policy?published={pv.version}", status_code=303)


def _parse_time(raw: str) -> datetime:
    try:
        t = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(
            "not a date and time",
            field="effective_at",
            value=raw,
            allowed="ISO 8601, e.g. 2026-11-01T00:00 (UTC)",
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@router.get("/ledger")
def ledger_page(request: Request, user: WebUser = Depends(admin_user)) -> Response:
    st = state(request)
    head = ledger_service.ledger_status(st.db)
    tlog_status = tlog_service.log_status(st.db, st.settings)  # transparency log (issue 13)
    ctx = _ctx(request, user, head=head, report=None, tlog=tlog_status, **_publisher(st))
    return _render(st, request, "admin/ledger.html", ctx)


def _publisher(st: WebState) -> dict[str, Any]:
    """Whether this process publishes checkpoints in the background, and how often."""
    return {
        "publisher": st.log_publisher is not None,
        "interval": st.settings.log_checkpoint_interval,
    }


@router.post("/ledger/verify")
def ledger_verify(
    request: Request,
    csrf_token: str = Form("", max_length=200),
    user: WebUser = Depends(admin_user),
) -> Response:
    check_csrf(user, csrf_token)
    st = state(request)
    head = ledger_service.ledger_status(st.db)
    report = ledger_service.verify_ledger(st.db)
    tlog_status = tlog_service.log_status(st.db, st.settings)  # transparency log (issue 13)
    ctx = _ctx(request, user, head=head, report=report, tlog=tlog_status, **_publisher(st))
    return _render(st, request, "admin/ledger.html", ctx)
