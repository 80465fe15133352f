"""Member pages: login, the switches, history and receipts, GPC, regimes, re-consent."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from optin.domain.policy import default_policy_text
from optin.services import consent, policy
from optin.storage.models import WebSessionRow
from tests.web.conftest import PASSWORDS, World, csrf_of, login_token

SETTINGS = "/settings/data-privacy/generative-ai"
HISTORY = "/settings/data-privacy/history"


@pytest.fixture()
def world(any_world: World) -> World:
    """These tests run on SQLite and again on PostgreSQL."""
    return any_world


def _toggle(c, purpose: str, choice: str):
    return c.post(SETTINGS, data={"purpose": purpose, "choice": choice, "csrf_token": csrf_of(c)})


def _switch(html: str, purpose: str) -> str:
    m = re.search(rf'<input type="checkbox" role="switch" id="t-{purpose}"[^>]*>', html)
    assert m, f"no switch for {purpose}"
    return m.group(0)


def test_when_login_succeeds_then_cookie_is_httponly_lax_and_stored_hashed(world: World) -> None:
    c = world.client()
    r = c.post(
        "/login",
        data={"handle": "alice", "password": PASSWORDS["alice"], "csrf_token": login_token(c)},
    )
    assert r.status_code == 303 and r.headers["location"] == SETTINGS
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("optin_session="))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # plain http in tests; https sets it
    token = cookie.split(";")[0].split("=", 1)[1]
    with world.db.session() as s:
        stored = s.scalars(select(WebSessionRow.id_hash)).all()
    assert token not in stored and len(stored) == 1 and len(stored[0]) == 64


def test_when_password_wrong_then_401_and_after_5_failures_429(world: World) -> None:
    c = world.client()
    for _ in range(5):
        r = c.post(
            "/login", data={"handle": "alice", "password": "nope", "csrf_token": login_token(c)}
        )
        assert r.status_code == 401
        assert "do not match" in r.text
    r = c.post(
        "/login",
        data={"handle": "alice", "password": PASSWORDS["alice"], "csrf_token": login_token(c)},
    )
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # another handle from the same client is not blocked
    r = c.post(
        "/login", data={"handle": "bob", "password": PASSWORDS["bob"], "csrf_token": login_token(c)}
    )
    assert r.status_code == 303


def test_when_logged_out_then_session_no_longer_works(world: World) -> None:
    c = world.login("alice")
    r = c.post("/logout", data={"csrf_token": csrf_of(c)})
    assert r.status_code == 303
    assert c.get(SETTINGS).status_code == 303


def test_when_opt_in_member_has_not_chosen_then_switches_are_off_with_explanations(
    world: World,
) -> None:
    html = world.login("alice").get(SETTINGS).text
    for pid in ("train_own_models", "share_with_providers"):
        sw = _switch(html, pid)
        assert "checked" not in sw and "disabled" not in sw
        assert f'<label class="switch" for="t-{pid}">' in html
    assert "public posts, articles and comments" in html
    assert "Never: Private messages" in html
    assert "Azure OpenAI Service (Microsoft)" in html  # named provider from the policy
    assert "If you switch this off" in html
    assert "Default: ON" not in html


def test_when_switched_off_and_on_then_ledger_grows_and_receipts_download(world: World) -> None:
    c = world.login("alice")
    r = _toggle(c, "train_own_models", "on")
    assert r.status_code == 303 and "saved=" in r.headers["location"]
    page = c.get(r.headers["location"]).text
    assert "checked" in _switch(page, "train_own_models")
    assert "is now\n<strong>ON</strong>" in page or "<strong>ON</strong>" in page
    _toggle(c, "train_own_models", "off")
    _toggle(c, "train_own_models", "on")
    events = consent.consent_history(world.db, "m-alice")
    assert [e.action.value for e in events] == ["grant", "withdraw", "grant"]
    assert all(e.source.value == "web" for e in events)
    hist = c.get(HISTORY).text
    assert '<strong id="event-count">3</strong>' in hist
    r = c.get(f"{HISTORY}/{events[0].event_id}/receipt.json")
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment;")
    body = json.loads(r.text)
    assert events[0].event_id in json.dumps(body)


def test_when_choice_unchanged_then_no_event(world: World) -> None:
    c = world.login("alice")
    r = _toggle(c, "train_own_models", "off")
    assert r.status_code == 303 and "saved=none" in r.headers["location"]
    assert consent.consent_history(world.db, "m-alice") == []


def test_when_unknown_purpose_then_404(world: World) -> None:
    c = world.login("alice")  # one rule for an unknown purpose: NotFoundError, HTTP 404
    r = _toggle(c, "sell_my_soul", "on")
    assert r.status_code == 404 and "sell_my_soul" in r.text and "train_own_models" in r.text


def test_when_member_in_excluded_country_then_switch_disabled_and_post_refused(
    world: World,
) -> None:
    c = world.login("eve")
    html = c.get(SETTINGS).text
    assert "disabled" in _switch(html, "train_own_models")
    assert "never used for this purpose" in html and "Germany" in html
    r = _toggle(c, "train_own_models", "on")
    assert r.status_code == 422
    assert consent.consent_history(world.db, "m-eve") == []


def test_when_member_is_a_minor_then_switch_disabled_with_reason(world: World) -> None:
    html = world.login("kid").get(SETTINGS).text
    assert "disabled" in _switch(html, "share_with_providers")
    assert "under 18" in html


def test_when_regime_is_opt_out_then_page_says_default_is_on(world: World) -> None:
    text = default_policy_text().replace("opt_out = []", 'opt_out = ["US"]')
    # published (material, acknowledged) 31 days ago: its 30-day notice is over
    published = datetime.now(UTC) - timedelta(days=31)
    pv = policy.publish_policy(
        world.db,
        text,
        now=published,
        material={"train_own_models", "share_with_providers"},
        acknowledge_opt_out=True,
    )
    assert pv.in_force_from < datetime.now(UTC)
    c = world.login("alice")
    html = c.get(SETTINGS).text
    assert "Default: ON." in html and "opt-out" in html
    assert "checked" in _switch(html, "train_own_models")
    r = _toggle(c, "train_own_models", "off")
    assert r.status_code == 303
    assert [e.action.value for e in consent.consent_history(world.db, "m-alice")] == ["withdraw"]
    assert "checked" not in _switch(c.get(SETTINGS).text, "train_own_models")


def test_when_material_change_then_banner_and_reconsent_clears_it(world: World) -> None:
    alice = world.login("alice")
    _toggle(alice, "share_with_providers", "on")
    assert 'id="policy-banner"' not in alice.get(SETTINGS).text
    admin = world.login("admin")
    doc = admin.get("/admin/policy").text
    assert "Publish a new version" in doc
    r = admin.post(
        "/admin/policy",
        data={
            "document": default_policy_text(),
            "material": ["share_with_providers"],
            "csrf_token": csrf_of(admin, "/admin/policy"),
        },
    )
    assert r.status_code == 303, r.text
    html = alice.get(SETTINGS).text
    assert 'id="policy-banner"' in html and "Please choose again" in html
    assert 'id="policy-banner"' in alice.get(HISTORY).text  # on every member page
    r = alice.post(
        SETTINGS,
        data={"purpose": "share_with_providers", "choice": "on", "csrf_token": csrf_of(alice)},
    )
    assert r.status_code == 303
    html = alice.get(SETTINGS).text
    assert 'id="policy-banner"' not in html
    assert "checked" in _switch(html, "share_with_providers")
    last = consent.consent_history(world.db, "m-alice")[-1]
    assert last.action.value == "grant" and last.policy_version == 2


def test_when_policy_form_is_invalid_then_422_with_message(world: World) -> None:
    admin = world.login("admin")
    r = admin.post(
        "/admin/policy",
        data={"document": "[purposes", "csrf_token": csrf_of(admin, "/admin/policy")},
    )
    assert r.status_code == 422 and "invalid TOML" in r.text
    assert len(policy.policy_set(world.db)) == 1


def test_when_browser_sends_gpc_then_objection_recorded_once_and_shown(world: World) -> None:
    c = world.login("alice")
    _toggle(c, "share_with_providers", "on")
    gpc = {"Sec-GPC": "1"}
    html = c.get(SETTINGS, headers=gpc).text
    assert "Global Privacy Control" in html
    c.get(SETTINGS, headers=gpc)
    c.get(HISTORY, headers=gpc)
    events = consent.consent_history(world.db, "m-alice")
    gpc_events = [e for e in events if e.source.value == "gpc"]
    assert len(gpc_events) == 1 and gpc_events[0].purpose == "share_with_providers"
    assert gpc_events[0].action.value == "withdraw"
    assert "browser privacy signal (GPC)" in c.get(HISTORY).text
    # a later explicit grant is respected: the signal is not re-applied
    c.post(
        SETTINGS, data={"purpose": "share_with_providers", "choice": "on", "csrf_token": csrf_of(c)}
    )
    c.get(SETTINGS, headers=gpc)
    assert consent.consent_history(world.db, "m-alice")[-1].action.value == "grant"


def test_when_already_withdrawn_then_gpc_records_nothing(world: World) -> None:
    c = world.login("alice")
    _toggle(c, "share_with_providers", "on")
    _toggle(c, "share_with_providers", "off")
    c.get(SETTINGS, headers={"Sec-GPC": "1"})
    assert [e.source.value for e in consent.consent_history(world.db, "m-alice")] == ["web", "web"]


def test_security_headers_on_pages_api_and_errors(world: World) -> None:
    c = world.client()
    for path in ("/login", "/api/v1/snapshots", "/nope", "/static/app.css"):
        r = c.get(path)
        h = r.headers
        assert "script-src 'self'" in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"


def test_pages_have_no_inline_scripts_or_styles(world: World) -> None:
    c = world.login("admin")
    for path in (SETTINGS, HISTORY, "/admin", "/admin/policy", "/admin/ledger", "/login"):
        html = c.get(path).text
        assert "style=" not in html and "<style" not in html, path
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, path
        assert " on" + "click=" not in html


def test_admin_ledger_verify_and_dashboard_charts(world: World) -> None:
    alice = world.login("alice")
    _toggle(alice, "train_own_models", "on")
    admin = world.login("admin")
    r = admin.post("/admin/ledger/verify", data={"csrf_token": csrf_of(admin, "/admin/ledger")})
    assert r.status_code == 200 and "Chain intact" in r.text
    html = admin.get("/admin").text
    assert html.count("<svg") >= 3
    assert "Consent over time: share of members who can choose that switched" in html
    assert "Eligibility over time" in html


def test_next_parameter_cannot_redirect_off_site(world: World) -> None:
    c = world.client()
    r = c.post(
        "/login",
        data={
            "handle": "alice",
            "password": PASSWORDS["alice"],
            "csrf_token": login_token(c),
            "next": "//evil.example/x",
        },
    )
    assert r.headers["location"] == SETTINGS
