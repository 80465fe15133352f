"""Provider registry and exports: formats, the recipient rule, the sharing record, and
the propagation hook that marks exports stale and writes deletion notices (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from optin.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from optin.pipeline.merkle import merkle_root
from optin.services import provider_exports as pe
from optin.services import providers
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import ContentRow, SnapshotRecordRow
from optin.storage.provider_models import DeletionNoticeRow
from tests.provider_world import EXPORTED, RECIPIENT, WITHDRAWN, share_world, withdraw


@pytest.fixture()
def world(db: Database, db_settings: Settings) -> tuple[Database, Settings, str]:
    sid = share_world(db, db_settings)
    providers.add_provider(db, RECIPIENT, webhook_url="http://127.0.0.1:9/hook", now=EXPORTED)
    return db, db_settings, sid


def _records_of(db: Database, sid: str, member: str) -> list[str]:
    with db.session() as s:
        return sorted(
            s.execute(
                select(SnapshotRecordRow.record_id).where(
                    SnapshotRecordRow.snapshot_id == sid, SnapshotRecordRow.author_id == member
                )
            ).scalars()
        )


def test_when_provider_added_then_listed_with_defaults(world) -> None:
    db, _, _ = world
    [p] = providers.list_providers(db)
    assert p.name == RECIPIENT and p.deadline_days == 30 and p.id.startswith("prv_")
    assert providers.get_provider(db, "azure openai service (microsoft)").id == p.id
    assert providers.get_provider(db, p.id).name == RECIPIENT
    with pytest.raises(ConflictError):
        providers.add_provider(db, RECIPIENT.upper(), webhook_url="https://x.example", now=EXPORTED)
    with pytest.raises(InputError, match="webhook"):
        providers.add_provider(db, "Other", webhook_url="ftp://x", now=EXPORTED)
    with pytest.raises(InputError, match="deadline"):
        providers.add_provider(
            db, "Other", webhook_url="https://x.example", deadline_days=0, now=EXPORTED
        )


def test_when_hf_parquet_export_then_files_manifest_datasheet_and_sharing_record(world) -> None:
    db, settings, sid = world
    e = pe.create_export(db, settings, sid, RECIPIENT, "hf-parquet", now=EXPORTED, actor="ops")
    root = settings.home / e.path
    assert not Path(e.path).is_absolute() and root.is_dir()
    assert not list(root.parent.glob(".*.partial"))
    manifest = json.loads((root / "manifest.json").read_text("utf-8"))
    assert manifest["record_count"] == e.records == 18
    shipped = []
    for f in manifest["files"]:
        shipped += pq.read_table(root / f["path"])["record_id"].to_pylist()
    assert sorted(shipped) == sorted(pe.export_record_ids(db, e.id))
    assert manifest["merkle"]["root"] == merkle_root(shipped)
    assert pq.read_schema(root / manifest["files"][0]["path"]).names == [
        "record_id",
        "text",
        "kind",
        "language",
        "created_month",
    ]
    card = (root / "README.md").read_text("utf-8")
    assert card.startswith("---\nconfigs:") and "data/train-*.parquet" in card
    sheet = (root / "datasheet.md").read_text("utf-8")
    assert RECIPIENT in sheet and "Ed25519" in sheet and "consent" in sheet
    rec = e.sharing_record
    assert rec["shared_by"] == "ops" and rec["shared_at"] == EXPORTED.isoformat()
    assert rec["policy_version"] == 1 and rec["legal_basis"]["basis"] == "consent"
    assert rec["legal_basis"]["consent_events"] == 6  # one grant per author
    assert rec["record_ids"]["merkle_root"] == manifest["merkle"]["root"]
    assert e.status == "complete" and e.legal_basis == "consent"
    assert [x.id for x in pe.list_exports(db)] == [e.id]
    assert pe.get_export(db, e.id).sharing_record == rec


def test_when_hf_parquet_export_then_datasets_loads_it_offline(
    world, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    db, settings, sid = world
    e = pe.create_export(db, settings, sid, RECIPIENT, "hf-parquet", now=EXPORTED, actor="ops")
    root = settings.home / e.path
    ds = datasets.load_dataset(
        "parquet",
        data_files=str(root / "data" / "*.parquet"),
        split="train",
        cache_dir=str(tmp_path / "cache"),
    )
    assert ds.num_rows == 18 and set(ds.column_names) >= {"record_id", "text"}
    assert sorted(ds["record_id"]) == pe.export_record_ids(db, e.id)


def test_when_openai_chat_jsonl_export_then_messages_and_record_index(world) -> None:
    db, settings, sid = world
    e = pe.create_export(
        db, settings, sid, RECIPIENT, "openai-chat-jsonl", now=EXPORTED, actor="ops"
    )
    root = settings.home / e.path
    lines = (root / "train.jsonl").read_text("utf-8").splitlines()
    ids = (root / "record_ids.txt").read_text("utf-8").splitlines()
    assert len(lines) == len(ids) == 18 and sorted(ids) == pe.export_record_ids(db, e.id)
    with db.session() as s:
        texts = {c.text for c in s.execute(select(ContentRow)).scalars()}
    for line in lines:
        ex = json.loads(line)
        assert list(ex) == ["messages"]
        user, assistant = ex["messages"]
        assert user["role"] == "user" and "post" in user["content"]
        assert assistant["role"] == "assistant" and assistant["content"] in texts
    sheet = (root / "datasheet.md").read_text("utf-8")
    assert "How a post becomes a chat example" in sheet
    assert not (root / "README.md").exists()


def test_when_provider_not_a_recipient_then_refused_with_the_allowed_list(world) -> None:
    db, settings, sid = world
    providers.add_provider(db, "Acme AI", webhook_url="https://acme.example/hook", now=EXPORTED)
    with pytest.raises(PermissionDeniedError, match=r"allowed: Azure OpenAI Service \(Microsoft\)"):
        pe.create_export(db, settings, sid, "Acme AI", "hf-parquet", now=EXPORTED, actor="ops")
    with pytest.raises(NotFoundError, match="registered: Acme AI"):
        pe.create_export(db, settings, sid, "Nobody", "hf-parquet", now=EXPORTED, actor="ops")
    with pytest.raises(InputError, match="hf-parquet, openai-chat-jsonl"):
        pe.create_export(db, settings, sid, RECIPIENT, "csv", now=EXPORTED, actor="ops")
    assert pe.list_exports(db) == []
    assert not (settings.home / "exports").exists() or not any(
        (settings.home / "exports").iterdir()
    )


def test_when_snapshot_is_for_another_purpose_then_refused(world) -> None:
    from optin.services.snapshots import build_snapshot
    from tests.provider_world import AS_OF, BUILT

    db, settings, _ = world
    other = build_snapshot(db, settings, "train_own_models", AS_OF, engine="inline", now=BUILT)
    with pytest.raises(InputError, match="share_with_providers"):
        pe.create_export(
            db, settings, other.snapshot_id, RECIPIENT, "hf-parquet", now=EXPORTED, actor="x"
        )


def test_when_author_withdrew_before_export_then_their_records_are_left_out(world) -> None:
    db, settings, sid = world
    withdraw(db, "p1", at=EXPORTED - timedelta(hours=1))
    e = pe.create_export(db, settings, sid, RECIPIENT, "hf-parquet", now=EXPORTED, actor="ops")
    assert e.records == 15
    assert e.sharing_record["excluded_since_snapshot"] == {"author_not_eligible_now": 3}
    assert not set(_records_of(db, sid, "p1")) & set(pe.export_record_ids(db, e.id))


def test_when_members_become_ineligible_then_exports_stale_and_notices_enqueued(world) -> None:
    db, settings, sid = world
    a = pe.create_export(db, settings, sid, RECIPIENT, "hf-parquet", now=EXPORTED, actor="ops")
    b = pe.create_export(
        db, settings, sid, RECIPIENT, "openai-chat-jsonl", now=EXPORTED, actor="ops"
    )
    assert pe.on_members_ineligible(db, ["p3"], reason="consent withdrawn", now=WITHDRAWN) == 0
    withdraw(db, "p2")
    n = pe.on_members_ineligible(db, ["p2", "p3"], reason="consent withdrawn", now=WITHDRAWN)
    assert n == 2  # one per export; p3 is still eligible
    for e in (pe.get_export(db, a.id), pe.get_export(db, b.id)):
        assert e.status == "stale" and e.stale_count == 3
        assert e.stale_reason == "consent withdrawn" and e.stale_at == WITHDRAWN
    with db.session() as s:
        notices = list(s.execute(select(DeletionNoticeRow)).scalars())
    assert {x.export_id for x in notices} == {a.id, b.id}
    expected = _records_of(db, sid, "p2")
    for x in notices:
        body = json.loads(x.payload)
        assert body["record_ids"] == expected and body["notice_id"] == x.id
        assert x.due_at == WITHDRAWN + timedelta(days=30) and x.delivered_at is None
    # calling again, or for the same records under another reason, enqueues nothing
    assert pe.on_members_ineligible(db, ["p2"], reason="account closed", now=WITHDRAWN) == 0
    assert pe.get_export(db, a.id).stale_count == 3


def test_when_content_deleted_then_only_that_record_is_noticed(world) -> None:
    from sqlalchemy import update

    db, settings, sid = world
    e = pe.create_export(db, settings, sid, RECIPIENT, "hf-parquet", now=EXPORTED, actor="ops")
    with db.session() as s:
        s.execute(update(ContentRow).where(ContentRow.id == "c-p4-0").values(deleted_at=WITHDRAWN))
        rid = s.execute(
            select(SnapshotRecordRow.record_id).where(
                SnapshotRecordRow.snapshot_id == sid, SnapshotRecordRow.content_id == "c-p4-0"
            )
        ).scalar_one()
    assert pe.on_members_ineligible(db, ["p4"], reason="content deleted", now=WITHDRAWN) == 1
    with db.session() as s:
        [x] = s.execute(select(DeletionNoticeRow)).scalars()
    assert json.loads(x.payload)["record_ids"] == [rid]
    assert pe.get_export(db, e.id).stale_count == 1
