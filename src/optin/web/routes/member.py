"""Member pages. Every handler acts on the session's member only: no member id is ever
read from the URL or the form."""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from optin.domain.eligibility import Reason
from optin.domain.model import ConsentAction, ConsentSource
from optin.errors import InputError, NotFoundError
from optin.services import consent, policy, transparency
from optin.services import lineage as lineage_service
from optin.services.choices import parse_choice
from optin.services.web_auth import WebUser
from optin.web import backend
from optin.web.deps import check_csrf, current_user
from optin.web.pages import HistoryEvent, PurposeCard, card_for, receipt_view, withdrawal_feedback
from optin.web.state import WebState, state

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

SETTINGS = "/settings/data-privacy/generative-ai"
HISTORY = "/settings/data-privacy/history"
YOUR_DATA = "/settings/data-privacy/your-data-and-ai"


def honour_gpc(request: Request, st: WebState, user: WebUser) -> HistoryEvent | None:
    """``Sec-GPC: 1`` is an objection to sharing with providers: record it once, unless
    the member already withdrew. A later explicit grant by the member is respected."""
    if request.headers.get("sec-gpc", "").strip() != "1":
        return None
    now = st.now()
    pv = backend.current_policy(st.db, now)
    if not consent.gpc_objection_due(backend.history(st.db, user.member_id), pv):
        return None
    saved = backend.record(
        st.db,
        user.member_id,
        consent.GPC_PURPOSE,
        ConsentAction.WITHDRAW.value,
        source=ConsentSource.GPC.value,
        now=now,
        committer=st.committer,
    )
    if saved.note is not None:  # already withdrawn meanwhile
        return None
    log.info("recorded a Sec-GPC objection as event %s", saved.event.event_id)
    return saved.event


def purpose_cards(st: WebState, user: WebUser) -> tuple[list[PurposeCard], list[HistoryEvent]]:
    now = st.now()
    pv = backend.current_policy(st.db, now)
    events = backend.history(st.db, user.member_id)
    cards = [
        card_for(p, backend.decide(st.db, user.member_id, p.id, now), events, pv)
        for p in pv.purposes.values()
    ]
    return cards, events


def member_context(request: Request, st: WebState, user: WebUser, **extra: object) -> dict:
    """Context every member page shares, including the re-consent banner."""
    now = st.now()
    pv = backend.current_policy(st.db, now)
    ps = backend.policies(st.db)
    decisions = [backend.decide(st.db, user.member_id, pid, now) for pid in pv.purposes]
    stale_ds = [d for d in decisions if d.reason is Reason.STALE_POLICY]
    stale = [pv.purposes[d.purpose].title for d in stale_ds]
    # what changed, in the versions that made the member's consent stale
    stale_changes: list[str] = []
    for version in sorted({d.policy_version for d in stale_ds if d.policy_version}):
        wanted = {d.purpose for d in stale_ds if d.policy_version == version}
        stale_changes += policy.version_changes(ps, version, purposes=wanted)
    country = next((d.country for d in decisions if d.country), None)
    return {
        "user": user,
        "csrf_token": user.csrf_token,
        "policy": pv,
        "stale": stale,
        "stale_changes": stale_changes,
        "notices": policy.pending_notices(ps, country, now),
        "nav": request.url.path,
        **extra,
    }


@router.get(SETTINGS)
def settings_page(
    request: Request, saved: str = "", user: WebUser = Depends(current_user)
) -> Response:
    st = state(request)
    gpc_now = honour_gpc(request, st, user)
    cards, events = purpose_cards(st, user)
    saved_event = next((e for e in events if e.event_id == saved), None) if saved else None
    held = None
    if saved_event is not None and saved_event.action != ConsentAction.GRANT.value:
        lineage = lineage_service.member_lineage(st.db, user.member_id)
        held = withdrawal_feedback(lineage, saved_event.purpose)
    ctx = member_context(
        request,
        st,
        user,
        cards=cards,
        saved=saved_event,
        held=held,
        gpc_now=gpc_now,
        gpc_header=request.headers.get("sec-gpc") == "1",
    )
    return st.templates.TemplateResponse(request, "settings_ai.html", ctx)


@router.post(SETTINGS)
def settings_save(
    request: Request,
    purpose: str = Form(..., max_length=64),
    choice: str = Form("off", max_length=8),
    csrf_token: str = Form("", max_length=200),
    user: WebUser = Depends(current_user),
) -> Response:
    check_csrf(user, csrf_token)
    st = state(request)
    now = st.now()
    policy.require_purpose(backend.policies(st.db), purpose, now)
    want_on = parse_choice(
        choice, {"on": True, "off": False}, field="choice", what="choice must be on or off"
    )
    cards, _ = purpose_cards(st, user)
    card = next(c for c in cards if c.id == purpose)
    if card.disabled:
        raise InputError(
            card.disabled_reason or "this purpose cannot be changed", field="purpose", value=purpose
        )
    # a void grant (given as a minor or while excluded) is not "on": switching on again
    # records a new grant
    void = card.decision.reason in (Reason.GRANT_GIVEN_AS_MINOR, Reason.GRANT_GIVEN_WHILE_EXCLUDED)
    if want_on == card.checked and not card.stale and not (want_on and void):
        return RedirectResponse(f"{SETTINGS}?saved=none#p-{purpose}", status_code=303)
    action = ConsentAction.GRANT if want_on else ConsentAction.WITHDRAW
    saved = backend.record(
        st.db,
        user.member_id,
        purpose,
        action.value,
        source=ConsentSource.WEB.value,
        now=now,
        committer=st.committer,
    )
    if saved.note is not None:  # a concurrent identical post recorded it: nothing new
        return RedirectResponse(f"{SETTINGS}?saved=none#p-{purpose}", status_code=303)
    return RedirectResponse(f"{SETTINGS}?saved={saved.event.event_id}#p-{purpose}", status_code=303)


@router.get(HISTORY)
def history_page(request: Request, user: WebUser = Depends(current_user)) -> Response:
    st = state(request)
    honour_gpc(request, st, user)
    events = backend.history(st.db, user.member_id)
    ctx = member_context(request, st, user, events=events)
    return st.templates.TemplateResponse(request, "history.html", ctx)


@router.get(HISTORY + "/{event_id}/receipt")
def receipt_page(
    request: Request, event_id: str, user: WebUser = Depends(current_user)
) -> Response:
    """The receipt as a page a member can read and print (the JSON's field groups in
    plain language, with the ledger position and hash)."""
    st = state(request)
    if len(event_id) > 64:
        raise NotFoundError("no such consent event in your history")
    body = backend.receipt_for_member(st.db, user.member_id, event_id)
    ctx = member_context(request, st, user, event_id=event_id, receipt=receipt_view(body))
    return st.templates.TemplateResponse(request, "receipt.html", ctx)


@router.get(HISTORY + "/{event_id}/receipt.json")
def receipt_download(
    request: Request, event_id: str, user: WebUser = Depends(current_user)
) -> Response:
    st = state(request)
    if len(event_id) > 64:
        raise NotFoundError("no such consent event in your history")
    body = backend.receipt_for_member(st.db, user.member_id, event_id)
    return Response(
        json.dumps(body, indent=2, ensure_ascii=False, default=str),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="consent-receipt-{event_id}.json"'},
    )


@router.get(YOUR_DATA)
def your_data(request: Request, user: WebUser = Depends(current_user)) -> Response:
    st = state(request)
    honour_gpc(request, st, user)
    uses = transparency.snapshot_uses(st.db, user.member_id)
    lineage = lineage_service.member_lineage(st.db, user.member_id)
    ctx = member_context(request, st, user, uses=uses, lineage=lineage)
    return st.templates.TemplateResponse(request, "your_data.html", ctx)


@router.get(YOUR_DATA + "/{snapshot_id}")
def your_data_snapshot(
    request: Request, snapshot_id: str, user: WebUser = Depends(current_user)
) -> Response:
    st = state(request)
    detail = transparency.snapshot_items(st.db, user.member_id, snapshot_id, limit=200)
    ctx = member_context(request, st, user, detail=detail)
    return st.templates.TemplateResponse(request, "your_data_snapshot.html", ctx)
