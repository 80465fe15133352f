"""The provider API: the published public key verifies notices; a provider-bound key
acknowledges its own notices (recorded with the time) and nothing else; the admin
dashboard shows overdue notices. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from optin.services import outbox, provider_exports, providers
from optin.services.outbox import OutboxWorker, RetryPolicy
from optin.storage.provider_models import DeletionNoticeRow
from tests.provider_stub import ProviderStub
from tests.provider_world import EXPORTED, RECIPIENT, WITHDRAWN, Clock, share_world, withdraw
from tests.web.conftest import World

ACKS = "/api/v1/provider/acks"


@pytest.fixture()
def delivered(any_world: World):
    """A share_with_providers export to the recipient, p2 withdrawn, its notice delivered
    to a stub that verified it with the key from GET /api/v1/provider/public-key."""
    w = any_world
    clock = Clock(WITHDRAWN)
    w.app.state.optin.clock = clock
    w.app.state.optin.api_key_ttl = 0
    key = w.client().get("/api/v1/provider/public-key").json()
    stub = ProviderStub(key["public_key"]).up()
    try:
        sid = share_world(w.db, w.settings)
        providers.add_provider(w.db, RECIPIENT, webhook_url=stub.url, now=EXPORTED)
        providers.add_provider(w.db, "Mistral AI", webhook_url=stub.url, now=EXPORTED)
        provider_exports.create_export(
            w.db, w.settings, sid, RECIPIENT, "openai-chat-jsonl", now=EXPORTED, actor="t"
        )
        withdraw(w.db, "p2")
        assert provider_exports.on_members_ineligible(
            w.db, ["p2"], reason="consent withdrawn", now=WITHDRAWN
        )
        worker = OutboxWorker(w.db, w.settings, clock=clock, policy=RetryPolicy())
        try:
            assert worker.run(once=True).delivered == 1
        finally:
            worker.close()
        [notice_id] = list(stub.notices)
        yield w, clock, notice_id
    finally:
        stub.down()


def _key(w: World, provider: str) -> dict[str, str]:
    token = providers.create_provider_key(w.db, provider, now=EXPORTED).token
    return {"Authorization": f"Bearer {token}"}


def test_public_key_is_published_and_matches_the_cli(any_world: World) -> None:
    body = any_world.client().get("/api/v1/provider/public-key").json()
    assert body == providers.public_key_info(any_world.settings)
    assert body["algorithm"] == "Ed25519" and body["signature_header"] == "X-Optin-Signature"
    Ed25519PublicKey.from_public_bytes(base64.b64decode(body["public_key"]))  # a valid key
    pem = any_world.client().get("/api/v1/provider/public-key?format=pem")
    assert pem.text == body["public_key_pem"] and "pem" in pem.headers["content-type"]
    assert (
        any_world.settings.keys_dir / providers.SIGNING_KEY_FILE
    ).stat().st_mode & 0o777 == 0o600


def test_when_provider_acks_its_notice_then_recorded_with_the_time(delivered) -> None:
    w, clock, notice_id = delivered
    clock.advance(days=3)
    c = w.client()
    r = c.post(ACKS, json={"notice_id": notice_id}, headers=_key(w, RECIPIENT))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "acknowledged" and body["records"] == 3 and not body["overdue"]
    with w.db.session() as s:
        row = s.execute(select(DeletionNoticeRow)).scalar_one()
    assert row.acked_at == WITHDRAWN + timedelta(days=3) and row.acked_by is not None
    assert outbox.notice_counts(w.db, now=clock.now)["acknowledged"] == 1
    # acknowledging again keeps the first time
    clock.advance(days=1)
    again = c.post(ACKS, json={"notice_id": notice_id}, headers=_key(w, RECIPIENT))
    assert again.status_code == 200 and again.json()["acked_at"] == body["acked_at"]


def test_when_another_providers_key_acks_then_404_and_nothing_recorded(delivered) -> None:
    w, _, notice_id = delivered
    c = w.client()
    r = c.post(ACKS, json={"notice_id": notice_id}, headers=_key(w, "Mistral AI"))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem")
    r = c.post(ACKS, json={"notice_id": "dn_unknown"}, headers=_key(w, RECIPIENT))
    assert r.status_code == 404
    unbound = {"Authorization": f"Bearer {w.api_key('provider:ack')}"}
    r = c.post(ACKS, json={"notice_id": notice_id}, headers=unbound)
    assert r.status_code == 403 and "not bound to a provider" in r.json()["detail"]
    other_scope = {"Authorization": f"Bearer {w.api_key('snapshots:read')}"}
    assert c.post(ACKS, json={"notice_id": notice_id}, headers=other_scope).status_code == 403
    assert c.post(ACKS, json={"notice_id": notice_id}).status_code == 401
    with w.db.session() as s:
        assert s.execute(select(DeletionNoticeRow.acked_at)).scalar_one() is None


def test_when_notice_overdue_then_admin_dashboard_shows_it(delivered) -> None:
    w, clock, notice_id = delivered
    admin = w.login("admin")
    page = admin.get("/admin").text
    assert "Deletion notices to providers" in page and "<strong>0 overdue</strong>" in page
    clock.advance(days=31)
    admin = w.login("admin")  # sessions last 12 hours
    page = admin.get("/admin").text
    assert "<strong>1 overdue</strong>" in page and notice_id in page
    w.client().post(ACKS, json={"notice_id": notice_id}, headers=_key(w, RECIPIENT))
    page = admin.get("/admin").text
    assert "<strong>0 overdue</strong>" in page and notice_id not in page
