"""Erasure (``optin.services.erasure``) on the small provider world, SQLite and PostgreSQL:
keys, profile and content, directory marker, ledger entry, log salts, propagation,
derive-and-retire, export purge, model flags, records, repeat runs, batches, hooks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from optin.domain.eligibility import Reason
from optin.errors import InputError, NotFoundError
from optin.services import erasure, provider_exports, providers
from optin.services.consent import consent_history
from optin.services.eligibility import decide_member
from optin.services.exports import export_file
from optin.services.receipts import receipt
from optin.services.tlog import integrate, verify_log
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage import ledger
from optin.storage import lineage as lineage_repo
from optin.storage.database import Database
from optin.storage.models import (
    ConsentEventRow,
    ContentRow,
    MemberRow,
    SnapshotRow,
    TlogLeafRow,
)
from tests.provider_world import EXPORTED, RECIPIENT, SHARE, share_world

ERASED_AT = EXPORTED + timedelta(days=2)


@pytest.fixture()
def world(db: Database, db_settings: Settings) -> tuple[Database, Settings, str, str]:
    sid = share_world(db, db_settings)
    with db.session() as s:  # p1 mentions p2 by name, handle and e-mail
        s.get(ContentRow, "c-p1-0").text = "Lunch with Member p2 (@h-p2, p2@example.org) today"
        s.get(MemberRow, "p2").email = "p2@example.org"
    providers.add_provider(db, RECIPIENT, webhook_url="http://127.0.0.1:9/hook", now=EXPORTED)
    e = provider_exports.create_export(
        db, db_settings, sid, RECIPIENT, "hf-parquet", now=EXPORTED, actor="ops"
    )
    integrate(db, now=EXPORTED)
    return db, db_settings, sid, e.id


def test_when_member_erased_then_every_place_is_reached_and_recorded(world) -> None:
    db, settings, sid, export_id = world
    with db.session() as s:
        lineage_repo.add_edge(s, "model", sid, "model-1", at=EXPORTED)
    r = erasure.erase_member(db, settings, "p2", now=ERASED_AT, request_id=12, actor="admin")
    assert r.key_destroyed and r.content_deleted == 3 and r.mentions_rewritten == 1
    assert set(r.profile_fields) == {"display_name", "handle", "email", "birth_date"}
    assert r.snapshots_retired == (sid,) and len(r.snapshots_derived) == 1
    assert r.exports_stale == (export_id,) and r.notices_queued == 1
    assert r.export_files_deleted >= 1 and r.models_flagged == ("model-1",)
    assert r.tlog_salts_erased >= 1 and r.ledger_seq is not None and r.records > 0
    with db.session() as s:
        m = s.get(MemberRow, "p2")
        assert m.erased_at == ERASED_AT and m.email is None and m.birth_date is None
        assert m.display_name == erasure.ERASED_NAME and "p2" not in m.handle
        assert m.erasure_marker and "member" not in m.erasure_marker
        assert s.scalar(select(func.count()).where(ContentRow.author_id == "p2")) == 0
        assert s.get(ContentRow, "c-p1-0").text == (
            f"Lunch with {erasure.MENTION_MARKER} ({erasure.MENTION_MARKER}, "
            f"{erasure.MENTION_MARKER}) today"
        )
        ev = s.execute(
            select(ConsentEventRow).where(ConsentEventRow.seq == r.ledger_seq)
        ).scalar_one()
        assert (ev.action, ev.purpose, ev.personal) == ("erase", "*", None)
        salts = (
            s.execute(
                select(TlogLeafRow.salt)
                .join(ConsentEventRow, ConsentEventRow.event_id == TlogLeafRow.event_id)
                .where(ConsentEventRow.member_id == "p2")
            )
            .scalars()
            .all()
        )
        assert salts and all(x is None for x in salts)
        parent = s.get(SnapshotRow, sid)
        assert parent.retired_by == r.snapshots_derived[0]
        assert ledger.verify(s).ok
    assert verify_log(db, settings).ok
    assert verify_snapshot(db, settings, r.snapshots_derived[0], now=ERASED_AT).status == "pass"
    assert verify_snapshot(db, settings, sid, now=ERASED_AT).status == "retired"
    d = decide_member(db, "p2", SHARE, ERASED_AT)
    assert not d.eligible and d.reason is Reason.ERASED
    assert all(e.action != "erase" for e in consent_history(db, "p2"))
    with pytest.raises(NotFoundError, match="erasure"):
        receipt(db, ev.event_id)
    export_dir = settings.home / provider_exports.get_export(db, export_id).path
    assert sorted(p.name for p in export_dir.rglob("*") if p.is_file()) == [
        "README.md",
        "datasheet.md",
        "manifest.json",
    ]
    places = {(x.place, x.what, x.action) for x in erasure.erasure_records(db, "p2")}
    assert ("members", "email", "blanked") in places
    assert ("model", "training_records", "flagged_for_retraining") in places
    assert ("keystore", "member_key", "destroyed") in places
    assert {x.request_id for x in erasure.erasure_records(db, "p2")} == {"12"}


def test_when_erased_member_exported_then_consents_reimport_cleanly(world, tmp_path) -> None:
    db, settings, _sid, _e = world
    erasure.erase_member(db, settings, "p2", now=ERASED_AT, actor="admin")
    out = tmp_path / "consents.jsonl"
    export_file(db, "consents", out)
    assert '"erase"' not in out.read_text()


def test_when_erased_twice_then_second_run_only_completes(world) -> None:
    db, settings, _sid, _e = world
    first = erasure.erase_member(db, settings, "p2", now=ERASED_AT, actor="admin")
    again = erasure.erase_member(
        db, settings, "p2", now=ERASED_AT + timedelta(minutes=1), actor="admin"
    )
    assert not first.already_erased and again.already_erased
    assert not again.key_destroyed and again.ledger_seq is None and again.content_deleted == 0
    with db.session() as s:
        n = s.scalar(
            select(func.count()).where(
                ConsentEventRow.member_id == "p2", ConsentEventRow.action == "erase"
            )
        )
    assert n == 1


def test_when_batch_erased_then_one_report_each_and_others_untouched(world) -> None:
    db, settings, sid, _e = world
    reports = erasure.erase_members(db, settings, ["p3", "p2"], now=ERASED_AT, actor="ops")
    assert [r.member_id for r in reports] == ["p2", "p3"]
    assert len({r.erasure_id for r in reports}) == 1
    assert all(r.snapshots_retired == (sid,) for r in reports)
    assert decide_member(db, "p4", SHARE, ERASED_AT).eligible


def test_when_hook_registered_then_it_runs_and_its_counts_are_reported(world) -> None:
    db, settings, _sid, _e = world
    seen: list[Sequence[str]] = []

    def hook(_db: Database, ids: Sequence[str], _now: datetime) -> dict[str, int]:
        seen.append(list(ids))
        return {"dsr_requests": 2}

    erasure.register_hook(hook)
    try:
        r = erasure.erase_member(db, settings, "p2", now=ERASED_AT, actor="admin")
    finally:
        erasure.unregister_hook(hook)
    assert seen == [["p2"]] and r.hooks == (("dsr_requests", 2),)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"member_id": "nobody", "actor": "a"}, NotFoundError, "no member"),
        ({"member_id": "p2", "actor": " "}, InputError, "named"),
    ],
)
def test_when_bad_call_then_clear_error_and_nothing_erased(
    world, kwargs: dict[str, str], error: type[Exception], match: str
) -> None:
    db, settings, _sid, _e = world
    with pytest.raises(error, match=match):
        erasure.erase_member(db, settings, now=ERASED_AT, **kwargs)
    with db.session() as s:
        assert s.get(MemberRow, "p2").erased_at is None


def test_when_handle_given_then_find_member_resolves_it(world) -> None:
    db, *_ = world
    assert erasure.find_member(db, "@H-P2") == "p2"
    with pytest.raises(NotFoundError):
        erasure.find_member(db, "@nobody")


def test_when_access_packages_exist_then_only_the_members_are_shredded(world) -> None:
    db, settings, _sid, _e = world
    dsr = settings.home / "dsr"
    (dsr / "p20").mkdir(parents=True)
    (dsr / "packages").mkdir()
    (dsr / "p20" / "index.html").write_text("someone else")
    (dsr / "packages" / "access-p2.zip").write_bytes(b"PK not really")
    (dsr / "packages" / "req-5.json").write_text('{"member_id": "p2"}')
    (dsr / "packages" / "req-6.json").write_text('{"member_id": "p3"}')
    r = erasure.erase_member(db, settings, "p2", now=ERASED_AT, actor="admin")
    left = sorted(p.relative_to(dsr).as_posix() for p in dsr.rglob("*") if p.is_file())
    assert r.access_files_deleted == 2 and left == ["p20/index.html", "packages/req-6.json"]
