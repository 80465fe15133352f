"""Issue 9 #5: the member lifecycle API and idempotent consent posts (issue 10 #1)."""

from __future__ import annotations

import threading

from optin.storage import ledger
from tests.web.conftest import World


def _auth(world: World, *scopes: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.api_key(*scopes)}"}


def test_when_a_move_is_posted_then_it_is_recorded_and_shown(world: World) -> None:
    c = world.client()
    h = _auth(world, "members:write", "members:read")
    r = c.post("/api/v1/members/@ALICE/events", json={"country": "DE"}, headers=h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["member_id"] == "m-alice" and body["source"] == "api"
    assert body["changes"] == [{"kind": "country", "value": "DE", "recorded": True}]
    again = c.post(
        "/api/v1/members/m-alice/events",
        json={"country": "DE", "effective_at": body["effective_at"]},
        headers=h,
    )
    assert again.status_code == 200 and again.json()["changes"][0]["recorded"] is False
    shown = c.get("/api/v1/members/m-alice", headers=h).json()
    assert shown["country"] == "DE" and shown["handle"] == "alice"
    assert [x["value"] for x in shown["changes"] if x["kind"] == "country"] == ["US", "DE"]


def test_when_a_member_event_is_bad_then_a_problem_names_the_field(world: World) -> None:
    c = world.client()
    h = _auth(world, "members:write")
    r = c.post(
        "/api/v1/members/m-alice/events",
        json={"status": "closed", "effective_at": "2020-01-01T00:00:00Z"},
        headers=h,
    )
    assert r.status_code == 422 and "joined" in r.json()["detail"]
    assert c.post("/api/v1/members/m-alice/events", json={}, headers=h).status_code == 422
    assert (
        c.post("/api/v1/members/ghost/events", json={"country": "US"}, headers=h).status_code == 404
    )
    r = c.post(
        "/api/v1/members/m-alice/events",
        json={"country": "US"},
        headers=_auth(world, "members:read"),
    )
    assert r.status_code == 403


def test_when_32_identical_consent_posts_race_then_one_grant(world: World) -> None:
    h = _auth(world, "consents:write")
    body = {"member_id": "m-bob", "purpose": "train_own_models", "action": "grant"}
    codes: list[int] = []
    start = threading.Barrier(32)

    def one() -> None:
        c = world.client()
        start.wait()
        codes.append(c.post("/api/v1/consents", json=body, headers=h).status_code)

    threads = [threading.Thread(target=one) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(codes) == [200] * 31 + [201]
    with world.db.session() as s:
        rows = [r for r in ledger.iter_rows(s) if r.member_id == "m-bob"]
        assert len(rows) == 1 and ledger.verify(s).ok
    r = world.client().post("/api/v1/consents", json=body, headers=h)
    assert r.status_code == 200 and r.json()["note"] == "already on"
    assert r.json()["recorded"] is False


def test_when_an_api_consent_is_backdated_then_422(world: World) -> None:
    h = _auth(world, "consents:write")
    body = {
        "member_id": "m-bob",
        "purpose": "train_own_models",
        "action": "grant",
        "at": "2024-05-01T00:00:00Z",
    }
    r = world.client().post("/api/v1/consents", json=body, headers=h)
    assert r.status_code == 422 and "backdated" in r.json()["detail"]


def test_when_erasure_is_posted_then_it_needs_the_scope_and_confirmation(world: World) -> None:
    c = world.client()
    r = c.post(
        "/api/v1/members/@alice/erasure",
        json={"confirm": True},
        headers=_auth(world, "members:write"),
    )
    assert r.status_code == 403
    h = _auth(world, "members:erase")
    assert c.post("/api/v1/members/@alice/erasure", json={}, headers=h).status_code == 422
    assert (
        c.post("/api/v1/members/ghost/erasure", json={"confirm": True}, headers=h).status_code
        == 404
    )
    r = c.post(
        "/api/v1/members/@alice/erasure", json={"confirm": True, "request_id": "R1"}, headers=h
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["member_id"] == "m-alice" and body["request_id"] == "R1"
    assert body["actor"].startswith("api:") and body["content_deleted"] >= 0
