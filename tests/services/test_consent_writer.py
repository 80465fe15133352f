"""Group commit on PostgreSQL: concurrent consent requests through the API are all
recorded exactly once, the chain verifies, and a bad request in a batch fails alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from optin.errors import NotFoundError
from optin.services import web_auth
from optin.services.consent_writer import ConsentWriter
from optin.settings import Settings
from optin.storage import ledger
from optin.storage.database import Database
from optin.web import create_app
from tests.factories import add_members


@pytest.mark.postgres
def test_when_many_clients_post_at_once_then_every_ack_is_in_the_ledger(
    pg_db: Database, tmp_path
) -> None:
    add_members(pg_db, [{"id": f"m{i}"} for i in range(20)])
    app = create_app(Settings(home=tmp_path, database_url=pg_db.url), db=pg_db)
    assert app.state.optin.committer is not None  # on by default for PostgreSQL
    with pg_db.session() as s:
        key = web_auth.create_api_key(s, "t", ["consents:write"], now=datetime.now(UTC)).token
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {key}"

    def post(i: int) -> int:
        member = f"m{i % 20}" if i % 10 else "ghost"  # every 10th is refused (404)
        r = client.post(
            "/api/v1/consents",
            json={"member_id": member, "purpose": "train_own_models", "action": "grant"},
        )
        return r.status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(post, range(120)))
    # every member's first grant is recorded (201); the repeats are redundant (200,
    # "already on", nothing appended: issue 9). m0 and m10 are only ever "ghost" posts
    # (i % 10 == 0), so 18 members are granted.
    assert codes.count(201) == 18 and codes.count(200) == 90 and codes.count(404) == 12
    with pg_db.session() as s:
        rep = ledger.verify(s)
    assert rep.ok and rep.length == 18


@pytest.mark.postgres
def test_when_request_invalid_then_only_it_fails(pg_db: Database) -> None:
    add_members(pg_db, [{"id": "a"}])
    gc = ConsentWriter(pg_db, clock=lambda: datetime.now(UTC))
    now = datetime.now(UTC)
    ev = gc.record("a", "train_own_models", "grant", source="api", now=now)
    with pytest.raises(NotFoundError):
        gc.record("nobody", "train_own_models", "grant", source="api", now=now)
    ev2 = gc.record("a", "train_own_models", "withdraw", source="api", now=now)
    assert ev2.seq == ev.seq + 1


@pytest.mark.postgres
def test_group_committed_event_matches_record_consent(pg_db: Database) -> None:
    from optin.services import consent, receipts

    # two members: the same grant twice for one member would be redundant (issue 9)
    add_members(pg_db, [{"id": "a", "country": "BR"}, {"id": "b", "country": "BR"}])
    now = datetime.now(UTC)
    via_service = consent.record_consent(
        pg_db, "a", "train_own_models", "grant", source="api", now=now
    )
    via_group = ConsentWriter(pg_db, clock=lambda: datetime.now(UTC)).record(
        "b", "train_own_models", "grant", source="api", now=now
    )
    assert via_group.seq == via_service.seq + 1
    assert (via_group.policy_version, via_group.source, via_group.action) == (
        via_service.policy_version,
        via_service.source,
        via_service.action,
    )
    r1 = receipts.receipt(pg_db, via_service.event_id)
    r2 = receipts.receipt(pg_db, via_group.event_id)
    assert "BR" in str(r1) and "BR" in str(r2)  # the country went into the personal fields
    assert set(r1) == set(r2)
