"""JSON API: behaviour and RFC 9457 problem bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from optin.services import consent
from optin.storage import ledger
from tests.web.conftest import World

ALL = ("consents:write", "eligibility:read", "receipts:read", "snapshots:read")


@pytest.fixture()
def world(any_world: World) -> World:
    """These tests run on SQLite and again on PostgreSQL."""
    return any_world


def _c(world: World):
    c = world.client()
    c.headers["Authorization"] = f"Bearer {world.api_key(*ALL)}"
    return c


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_when_consent_posted_then_201_event_in_ledger_and_receipt(world: World) -> None:
    c = _c(world)
    r = c.post(
        "/api/v1/consents",
        json={"member_id": "m-alice", "purpose": "train_own_models", "action": "grant"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["source"] == "api" and body["policy_version"] == 1 and body["seq"] == 1
    assert r.headers["location"] == f"/api/v1/receipts/{body['event_id']}"
    assert [e.event_id for e in consent.consent_history(world.db, "m-alice")] == [body["event_id"]]
    rec = c.get(body["receipt"])
    assert rec.status_code == 200 and body["event_id"] in rec.text
    d = c.get("/api/v1/members/m-alice/eligibility", params={"purpose": "train_own_models"})
    assert d.json()["eligible"] is True and d.json()["reason"] == "ELIGIBLE"
    assert d.json()["consent_event_id"] == body["event_id"]


def test_when_batch_then_decisions_in_order_and_unknown_listed(world: World) -> None:
    c = _c(world)
    r = c.post(
        "/api/v1/eligibility/batch",
        json={
            "purpose": "share_with_providers",
            "member_ids": ["m-eve", "m-alice", "ghost", "m-kid"],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["member_id"] for d in body["decisions"]] == ["m-eve", "m-alice", "m-kid"]
    assert [d["reason"] for d in body["decisions"]] == [
        "EXCLUDED_JURISDICTION",
        "NO_CONSENT",
        "MINOR",
    ]
    assert body["unknown_member_ids"] == ["ghost"]
    assert (
        c.post(
            "/api/v1/eligibility:batch",
            json={"purpose": "share_with_providers", "member_ids": ["m-alice"]},
        ).status_code
        == 200
    )


def test_when_body_invalid_then_422_problem_names_the_field(world: World) -> None:
    c = _c(world)
    b = _problem(
        c.post(
            "/api/v1/consents",
            json={"member_id": "m-alice", "purpose": "train_own_models", "action": "maybe"},
        ),
        422,
    )
    assert "action" in b["detail"] and b["errors"][0]["field"] == "action"
    _problem(
        c.post(
            "/api/v1/consents", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
    )
    _problem(
        c.post(
            "/api/v1/consents",
            json={"member_id": "m-alice", "purpose": "x", "action": "grant", "extra": 1},
        ),
        422,
    )


def test_when_member_or_purpose_unknown_then_404_problem(world: World) -> None:
    c = _c(world)
    b = _problem(
        c.post(
            "/api/v1/consents",
            json={"member_id": "ghost", "purpose": "train_own_models", "action": "grant"},
        ),
        404,
    )
    assert "ghost" in b["detail"]
    b = _problem(
        c.post(
            "/api/v1/consents", json={"member_id": "m-alice", "purpose": "nope", "action": "grant"}
        ),
        404,
    )
    assert "train_own_models" in b["detail"]  # lists the valid purposes
    _problem(c.get("/api/v1/receipts/00000000-0000-0000-0000-000000000000"), 404)
    _problem(c.get("/api/v1/snapshots/none"), 404)
    _problem(c.get("/api/v1/nothing-here"), 404)


def test_when_time_in_future_or_naive_then_422(world: World) -> None:
    c = _c(world)
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    _problem(
        c.post(
            "/api/v1/consents",
            json={
                "member_id": "m-alice",
                "purpose": "train_own_models",
                "action": "grant",
                "at": future,
            },
        ),
        422,
    )
    _problem(
        c.post(
            "/api/v1/consents",
            json={
                "member_id": "m-alice",
                "purpose": "train_own_models",
                "action": "grant",
                "at": "2025-01-01T00:00:00",
            },
        ),
        422,
    )


def test_when_method_not_allowed_then_405_problem(world: World) -> None:
    _problem(_c(world).delete("/api/v1/consents"), 405)


def test_openapi_lists_the_routes_and_bearer_auth(world: World) -> None:
    schema = world.client().get("/api/v1/openapi.json").json()
    paths = set(schema["paths"])
    assert {
        "/api/v1/consents",
        "/api/v1/eligibility/batch",
        "/api/v1/receipts/{event_id}",
        "/api/v1/snapshots",
        "/api/v1/snapshots/{snapshot_id}",
        "/api/v1/members/{member_id}/eligibility",
    } <= paths
    assert not any(p.startswith(("/admin", "/settings", "/login")) for p in paths)
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert "Problem" in schema["components"]["schemas"]


def test_when_many_api_events_then_ledger_verifies(world: World) -> None:
    c = _c(world)
    for i in range(10):
        r = c.post(
            "/api/v1/consents",
            json={
                "member_id": "m-bob",
                "purpose": "train_own_models",
                "action": "grant" if i % 2 == 0 else "withdraw",
            },
        )
        assert r.status_code == 201
    with world.db.session() as s:
        rep = ledger.verify(s)
    assert rep.ok and rep.length == 10
