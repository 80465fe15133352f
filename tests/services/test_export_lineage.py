"""Provider exports in the lineage graph (SQLite and PostgreSQL): the edge snapshot ->
export written with each export, the member's and content's exports (only those that
included their records), when removal was requested, delivered and confirmed, and the
backfill of edges for older exports by ``optin lineage refresh``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from optin.cli.main import run
from optin.services import outbox, propagation, providers
from optin.services import provider_exports as pe
from optin.services.lineage import content_lineage, member_lineage, snapshot_lineage
from optin.services.outbox import OutboxWorker, RetryPolicy
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import LineageEdgeRow, SnapshotRecordRow
from optin.storage.provider_models import DeletionNoticeRow
from tests.provider_stub import ProviderStub
from tests.provider_world import EXPORTED, RECIPIENT, WITHDRAWN, Clock, share_world, withdraw


@pytest.fixture()
def stub(db_settings: Settings) -> Iterator[ProviderStub]:
    s = ProviderStub(providers.public_key_info(db_settings)["public_key"]).up()
    yield s
    s.down()


@pytest.fixture()
def exported(db: Database, db_settings: Settings, stub: ProviderStub):
    """p1 withdrew before the export; the export holds p2..p6 (15 records)."""
    sid = share_world(db, db_settings)
    withdraw(db, "p1", at=EXPORTED - timedelta(hours=1))
    providers.add_provider(db, RECIPIENT, webhook_url=stub.url, now=EXPORTED)
    e = pe.create_export(db, db_settings, sid, RECIPIENT, "hf-parquet", now=EXPORTED, actor="t")
    return db, db_settings, sid, e


def _record_ids(db: Database, sid: str, member: str) -> list[str]:
    with db.session() as s:
        return sorted(
            s.execute(
                select(SnapshotRecordRow.record_id).where(
                    SnapshotRecordRow.snapshot_id == sid, SnapshotRecordRow.author_id == member
                )
            ).scalars()
        )


def test_when_exported_then_edge_and_every_lineage_query_names_it(exported) -> None:
    db, _settings, sid, e = exported
    with db.session() as s:
        [edge] = s.execute(select(LineageEdgeRow).where(LineageEdgeRow.kind == "export")).scalars()
    assert (edge.src, edge.dst, edge.at) == (sid, e.id, EXPORTED)
    assert json.loads(edge.meta) == {
        "provider": RECIPIENT,
        "provider_id": e.provider_id,
        "format": "hf-parquet",
        "records": 15,
    }
    [x] = snapshot_lineage(db, sid)["exports"]
    assert (x["export_id"], x["provider"], x["status"], x["records"]) == (
        e.id,
        RECIPIENT,
        "complete",
        15,
    )
    [m] = member_lineage(db, "p2")["exports"]
    assert m["export_id"] == e.id and m["included_records"] == 3 and m["removal"] is None
    assert member_lineage(db, "p1")["exports"] == []  # left out of the export: not named
    [c] = content_lineage(db, "c-p2-0")["exports"]
    assert c["export_id"] == e.id and c["included_records"] == 1
    assert content_lineage(db, "c-p1-0")["exports"] == []


def test_when_withdrawn_then_removal_requested_delivered_and_confirmed(
    exported, stub: ProviderStub
) -> None:
    db, settings, sid, e = exported
    withdraw(db, "p2")  # propagation: the export goes stale and a notice is queued
    [m] = member_lineage(db, "p2")["exports"]
    assert m["status"] == "stale" and m["stale_records"] == 3 and m["noticed_records"] == 3
    removal = m["removal"]
    assert removal["requested_at"] == WITHDRAWN.isoformat()
    assert removal["due_at"] == (WITHDRAWN + timedelta(days=30)).isoformat()
    assert removal["delivered_at"] is None and removal["confirmed_at"] is None
    assert member_lineage(db, "p3")["exports"][0]["removal"] is None  # still sharing
    clock = Clock(WITHDRAWN + timedelta(seconds=5))
    w = OutboxWorker(db, settings, clock=clock, policy=RetryPolicy(timeout_seconds=5))
    try:
        assert w.run(once=True).delivered == 1
    finally:
        w.close()
    [(notice_id, body)] = stub.notices.items()
    assert body["record_ids"] == _record_ids(db, sid, "p2")
    removal = member_lineage(db, "p2")["exports"][0]["removal"]
    assert removal["delivered_at"] == clock.now.isoformat() and removal["confirmed_at"] is None
    acked = WITHDRAWN + timedelta(days=2)
    outbox.acknowledge(db, provider_id=e.provider_id, key_id="k1", notice_id=notice_id, now=acked)
    removal = member_lineage(db, "p2")["exports"][0]["removal"]
    assert removal["confirmed_at"] == acked.isoformat()
    assert [n["state"] for n in removal["notices"]] == ["acknowledged"]


def test_when_one_purge_is_split_into_notices_then_a_member_gets_only_those_naming_them(
    exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _settings, sid, _e = exported
    propagation.unregister_hook(propagation.provider_notices)
    try:
        withdraw(db, "p2")
        withdraw(db, "p5")
    finally:
        propagation.register_hook(propagation.provider_notices)
    monkeypatch.setattr(pe, "NOTICE_MAX_RECORDS", 2)
    assert pe.on_members_ineligible(db, ["p2", "p5"], reason="withdrawal", now=WITHDRAWN) == 3
    with db.session() as s:
        notices = {
            n.id: set(json.loads(n.payload)["record_ids"])
            for n in s.execute(select(DeletionNoticeRow)).scalars()
        }
    assert len({n.created_at for n in _notices(db)}) == 1  # one transaction
    for member in ("p2", "p5"):
        mine = set(_record_ids(db, sid, member))
        expected = sorted(nid for nid, ids in notices.items() if ids & mine)
        got = member_lineage(db, member)["exports"][0]["removal"]["notices"]
        assert sorted(n["notice_id"] for n in got) == expected


def _notices(db: Database) -> list[DeletionNoticeRow]:
    with db.session() as s:
        return list(s.execute(select(DeletionNoticeRow)).scalars())


def test_lineage_refresh_adds_the_edges_of_older_exports(
    exported, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, settings, sid, e = exported
    with db.session() as s:  # an export made before exports wrote edges
        s.execute(delete(LineageEdgeRow).where(LineageEdgeRow.kind == "export"))
    assert snapshot_lineage(db, sid)["exports"] == []
    monkeypatch.setenv("OPTIN_DATABASE_URL", db.url)
    capsys.readouterr()
    assert run(["--home", str(settings.home), "lineage", "refresh", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["export_edges_added"] == 1
    [x] = snapshot_lineage(db, sid)["exports"]
    assert x["export_id"] == e.id and x["provider"] == RECIPIENT and x["at"] == EXPORTED.isoformat()
    assert run(["--home", str(settings.home), "lineage", "refresh", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["export_edges_added"] == 0
