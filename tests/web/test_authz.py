"""Authorization for every route: no session, wrong role, missing/bad/foreign CSRF token,
member A against member B's data, API keys without the scope, bad and revoked keys."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from optin.services import consent, web_auth
from tests.web.conftest import World, csrf_of

SETTINGS = "/settings/data-privacy/generative-ai"

MEMBER_GETS = [
    SETTINGS,
    "/settings/data-privacy/history",
    "/settings/data-privacy/your-data-and-ai",
    "/settings/data-privacy/your-data-and-ai/snap-x",
    "/settings/data-privacy/history/ev-x/receipt.json",
    "/settings/data-privacy/requests",
    "/settings/data-privacy/requests/package/not-a-real-token",
]
ADMIN_GETS = [
    "/admin",
    "/admin/snapshots",
    "/admin/snapshots/snap-x",
    "/admin/policy",
    "/admin/ledger",
    "/admin/requests",
]
# (path, form without csrf) for every state-changing HTML route
POSTS = [
    (SETTINGS, {"purpose": "train_own_models", "choice": "on"}),
    ("/logout", {}),
    ("/admin/policy", {"document": "x"}),
    ("/admin/ledger/verify", {}),
    ("/admin/snapshots/snap-x/verify", {}),
    ("/settings/data-privacy/requests", {"kind": "access"}),
    ("/settings/data-privacy/requests/dsr_x/download", {}),
    ("/admin/requests", {"member": "m-alice", "kind": "access", "identity_method": "x"}),
    ("/admin/requests/dsr_x/verify", {"text": "x"}),
]
ADMIN_POSTS = [p for p in POSTS if p[0].startswith("/admin")]


@pytest.mark.parametrize("path", MEMBER_GETS + ADMIN_GETS)
def test_when_no_session_then_pages_redirect_to_login(world: World, path: str) -> None:
    r = world.client().get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")


@pytest.mark.parametrize(("path", "form"), POSTS)
def test_when_no_session_then_posts_do_nothing(world: World, path: str, form: dict) -> None:
    r = world.client().post(path, data={**form, "csrf_token": "x"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert consent.consent_history(world.db, "m-alice") == []


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_when_member_opens_admin_page_then_403(world: World, path: str) -> None:
    r = world.login("alice").get(path)
    assert r.status_code == 403
    assert "administrators" in r.text


@pytest.mark.parametrize(("path", "form"), ADMIN_POSTS)
def test_when_member_posts_admin_form_then_403(world: World, path: str, form: dict) -> None:
    c = world.login("alice")
    r = c.post(path, data={**form, "csrf_token": csrf_of(c)})
    assert r.status_code == 403


@pytest.mark.parametrize("token", [None, "", "forged-token"])
@pytest.mark.parametrize(("path", "form"), POSTS)
def test_when_csrf_missing_or_wrong_then_403(
    world: World, path: str, form: dict, token: str | None
) -> None:
    c = world.login("admin")
    data = dict(form)
    if token is not None:
        data["csrf_token"] = token
    r = c.post(path, data=data)
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert consent.consent_history(world.db, "m-admin") == []


def test_when_csrf_token_of_another_session_then_403(world: World) -> None:
    bob = world.login("bob")
    alice = world.login("alice")
    r = alice.post(
        SETTINGS, data={"purpose": "train_own_models", "choice": "on", "csrf_token": csrf_of(bob)}
    )
    assert r.status_code == 403
    assert consent.consent_history(world.db, "m-alice") == []


def test_when_login_form_lacks_its_csrf_cookie_then_403(world: World) -> None:
    r = world.client().post(
        "/login", data={"handle": "alice", "password": "x", "csrf_token": "abc"}
    )
    assert r.status_code == 403


def test_when_member_asks_for_another_members_receipt_then_404(world: World) -> None:
    ev = consent.record_consent(
        world.db, "m-bob", "train_own_models", "grant", source="web", now=datetime.now(UTC)
    )
    alice = world.login("alice")
    r = alice.get(f"/settings/data-privacy/history/{ev.event_id}/receipt.json")
    assert r.status_code == 404
    assert ev.event_id not in alice.get("/settings/data-privacy/history").text


def test_when_member_posts_a_member_id_then_it_is_ignored(world: World) -> None:
    alice = world.login("alice")
    r = alice.post(
        SETTINGS,
        data={
            "purpose": "train_own_models",
            "choice": "on",
            "member_id": "m-bob",
            "csrf_token": csrf_of(alice),
        },
    )
    assert r.status_code == 303
    assert consent.consent_history(world.db, "m-bob") == []
    assert len(consent.consent_history(world.db, "m-alice")) == 1


# ------------------------------------------------------------------------------- API

API = [
    (
        "POST",
        "/api/v1/consents",
        "consents:write",
        {"member_id": "m-alice", "purpose": "train_own_models", "action": "grant"},
    ),
    (
        "GET",
        "/api/v1/members/m-alice/eligibility?purpose=train_own_models",
        "eligibility:read",
        None,
    ),
    (
        "POST",
        "/api/v1/eligibility/batch",
        "eligibility:read",
        {"purpose": "train_own_models", "member_ids": ["m-alice"]},
    ),
    (
        "POST",
        "/api/v1/eligibility:batch",
        "eligibility:read",
        {"purpose": "train_own_models", "member_ids": ["m-alice"]},
    ),
    ("GET", "/api/v1/receipts/ev-x", "receipts:read", None),
    ("GET", "/api/v1/snapshots", "snapshots:read", None),
    ("GET", "/api/v1/snapshots/snap-x", "snapshots:read", None),
    ("POST", "/api/v1/dsr", "dsr:write", {"member_id": "m-alice", "kind": "access"}),
    ("GET", "/api/v1/dsr", "dsr:read", None),
    ("GET", "/api/v1/dsr/dsr_x", "dsr:read", None),
    ("POST", "/api/v1/dsr/dsr_x/verify", "dsr:write", {"text": "x"}),
]
ALL = web_auth.API_SCOPES


def _call(world: World, method: str, path: str, body: dict | None, key: str | None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return world.client().request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "scope", "body"), API)
def test_when_api_key_missing_then_401_problem(world, method, path, scope, body) -> None:
    r = _call(world, method, path, body, None)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 401 and "API key" in r.json()["detail"]


@pytest.mark.parametrize("bad", ["optin_nope_secret", "garbage", "optin_x", "Basic abc"])
@pytest.mark.parametrize(("method", "path", "scope", "body"), API[:2])
def test_when_api_key_bad_then_401(world, method, path, scope, body, bad) -> None:
    world.api_key(*ALL)
    r = _call(world, method, path, body, bad)
    assert r.status_code == 401


@pytest.mark.parametrize(("method", "path", "scope", "body"), API)
def test_when_api_key_lacks_scope_then_403(world, method, path, scope, body) -> None:
    key = world.api_key(*[s for s in ALL if s != scope])
    r = _call(world, method, path, body, key)
    assert r.status_code == 403
    assert scope in r.json()["detail"]


@pytest.mark.parametrize(("method", "path", "scope", "body"), API)
def test_when_api_key_revoked_then_401(world, method, path, scope, body) -> None:
    key = world.api_key(scope)
    with world.db.session() as s:
        web_auth.revoke_api_key(s, key.split("_")[1], now=datetime.now(UTC))
    r = _call(world, method, path, body, key)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


@pytest.mark.parametrize(("method", "path", "scope", "body"), API)
def test_when_api_key_has_scope_then_authorized(world, method, path, scope, body) -> None:
    key = world.api_key(scope)
    r = _call(world, method, path, body, key)
    assert r.status_code not in (401, 403), r.text
    assert r.status_code < 500


def test_when_key_secret_is_wrong_then_401(world: World) -> None:
    key = world.api_key("snapshots:read")
    prefix = key.rsplit("_", 1)[0] if key.count("_") == 2 else "_".join(key.split("_")[:2])
    r = _call(world, "GET", "/api/v1/snapshots", None, prefix + "_wrongsecret")
    assert r.status_code == 401


def test_when_key_revoked_while_cached_then_refused_after_the_ttl(world: World) -> None:
    import time

    world.app.state.optin.api_key_ttl = 0.2
    key = world.api_key("snapshots:read")
    assert _call(world, "GET", "/api/v1/snapshots", None, key).status_code == 200
    with world.db.session() as s:
        web_auth.revoke_api_key(s, key.split("_")[1], now=datetime.now(UTC))
    time.sleep(0.25)
    assert _call(world, "GET", "/api/v1/snapshots", None, key).status_code == 401
