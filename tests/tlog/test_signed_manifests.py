"""Snapshot and export manifests are signed notes that pin a cosigned checkpoint;
``snapshot verify`` checks the signature with the trusted manifest key and proves every
consent event the records rely on against the pinned tree (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from optin.services import provider_exports as pe
from optin.services import providers
from optin.services import tlog as svc
from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot
from optin.services.verify import Trust, VerifyReport, verify_directory, verify_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import SnapshotRecordRow
from optin.tlog.checkpoint import Checkpoint
from optin.tlog.note import NoteError, Verifier, generate_signer_key, open_note, sign_note
from tests.provider_world import EXPORTED, RECIPIENT, share_world
from tests.tlog.test_log_service import _rechain

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db.url, log_origin="optin.test/log")


def _demo_snapshot(db: Database, settings: Settings, *, keys: bool = True) -> tuple[str, Path]:
    generate_demo(db, members=16, posts=48, seed=7, now=NOW)
    if keys:
        svc.keygen(settings)
    snap = build_snapshot(db, settings, "train_own_models", engine="inline", now=NOW)
    return snap.snapshot_id, snap.path


def _check(report: VerifyReport, name: str):  # type: ignore[no-untyped-def]
    return next(c for c in report.checks if c.name == name)


def _verify(db: Database, settings: Settings, sid: str, **trust: object) -> VerifyReport:
    return verify_snapshot(
        db,
        settings,
        sid,
        now=NOW,
        rescan=False,
        trust=Trust.of(settings, **trust),  # type: ignore[arg-type]
    )


def test_manifest_is_a_signed_note_pinning_a_checkpoint(db: Database, tmp_path: Path) -> None:
    settings = _settings(db, tmp_path)
    sid, path = _demo_snapshot(db, settings)
    manifest_bytes = (path / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    mkey = Verifier.parse(svc.manifest_vkey(settings) or "")
    # the note's text is manifest.json byte for byte, signed by the manifest key (not the log's)
    note = (path / "manifest.note").read_text("utf-8")
    body, sigs = open_note(note, [mkey])
    assert body.encode("utf-8") == manifest_bytes
    assert [s.name for s in sigs] == ["optin.test/manifests"] != [settings.log_origin]
    with pytest.raises(NoteError):
        open_note(note, [svc.log_signer(settings).verifier])
    assert manifest["signed_note"]["key"] == mkey.vkey
    pin = manifest["ledger"]["transparency_log"]
    cp, _ = Checkpoint.open(pin["checkpoint"], [svc.log_signer(settings).verifier])
    assert cp.size >= manifest["ledger"]["length"] > 0

    report = _verify(db, settings, sid)
    assert report.ok, [c.problems for c in report.checks]
    sig = _check(report, "signature")
    assert sig.state == "ok" and sig.detail.startswith("signed note by optin.test/manifests")
    inc = _check(report, "log_inclusion")
    with db.session() as s:
        relied = set(
            s.execute(
                select(SnapshotRecordRow.consent_event_id).where(
                    SnapshotRecordRow.snapshot_id == sid
                )
            ).scalars()
        )
    assert inc.state == "ok" and inc.counts["events"] == len(relied) > 0
    assert inc.counts["proved"] == inc.counts["opened"] == len(relied)


@pytest.mark.parametrize(
    ("tamper", "expect"),
    [
        ("flip_signature", "not a note signed by the trusted key"),
        ("other_key", "not a note signed by the trusted key"),
        ("edit_note_text", "not a note signed by the trusted key"),
        ("edit_manifest", "the signed text is not"),
        ("drop_note", "is missing, but the manifest says it was signed"),
    ],
)
def test_a_tampered_manifest_signature_fails(
    sqlite_db: Database, tmp_path: Path, tamper: str, expect: str
) -> None:
    settings = _settings(sqlite_db, tmp_path)
    sid, path = _demo_snapshot(sqlite_db, settings)
    note_path = path / "manifest.note"
    note = note_path.read_text("utf-8")
    if tamper == "flip_signature":
        body, _, sig = note.rpartition(" ")
        note_path.write_text(body + " " + ("A" if sig[0] != "A" else "B") + sig[1:], "utf-8")
    elif tamper == "other_key":  # an insider signs with a key of the same name
        other = generate_signer_key("optin.test/manifests", b"\x07" * 32)
        text_ = (path / "manifest.json").read_text("utf-8")
        note_path.write_text(sign_note(text_, other), "utf-8")
    elif tamper == "edit_note_text":
        note_path.write_text(note.replace('"purpose"', '"purpose" ', 1), "utf-8")
    elif tamper == "edit_manifest":  # the signed note stays, manifest.json is edited
        mpath = path / "manifest.json"
        mpath.write_text(mpath.read_text("utf-8").replace('"purpose"', '"purpose" ', 1))
    else:
        note_path.unlink()
    report = _verify(sqlite_db, settings, sid)
    sig = _check(report, "signature")
    assert sig.state == "fail" and expect in sig.problems[0], sig.problems
    assert report.status == "fail"


def test_a_manifest_from_before_signing_passes_with_a_note_unless_strict(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = _settings(sqlite_db, tmp_path)
    sid, path = _demo_snapshot(sqlite_db, settings, keys=False)  # the log was not set up
    assert not (path / "manifest.note").exists()
    assert "transparency_log" not in json.loads((path / "manifest.json").read_text())["ledger"]
    svc.keygen(settings)  # set up later: the old snapshot stays valid
    report = _verify(sqlite_db, settings, sid)
    assert report.status == "pass", [c.problems for c in report.checks]
    sig = _check(report, "signature")
    assert sig.state == "ok" and sig.detail.startswith("unsigned (built 2026-06-01")
    assert _check(report, "log_inclusion").state == "skipped"
    strict = _verify(sqlite_db, settings, sid, strict=True)
    assert strict.status == "fail"
    assert _check(strict, "signature").problems == ["the manifest is unsigned (--strict)"]
    assert "pins no transparency-log checkpoint" in _check(strict, "ledger").problems[0]
    assert _check(strict, "log_inclusion").state == "fail"


def test_strict_wants_the_witness_quorum_on_the_pinned_checkpoint(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = _settings(sqlite_db, tmp_path)
    sid, _ = _demo_snapshot(sqlite_db, settings)
    wkey, _, _ = svc.keygen(settings, path=tmp_path / "w.key", name="w.test/w1", alg=4)
    settings.log_witnesses = [f"http://127.0.0.1:9 {wkey}"]  # configured after the build
    report = _verify(sqlite_db, settings, sid)
    assert report.ok and "0 cosignatures" in _check(report, "ledger").detail
    strict = _verify(sqlite_db, settings, sid, strict=True)
    assert not strict.ok and "quorum is 1 (--strict)" in _check(strict, "ledger").problems[0]


def _relied_event(db: Database, sid: str) -> str:
    with db.session() as s:
        got = s.execute(
            select(SnapshotRecordRow.consent_event_id)
            .where(SnapshotRecordRow.snapshot_id == sid)
            .limit(1)
        ).scalar_one()
    return str(got)


def test_an_edited_relied_on_event_fails_log_inclusion(db: Database, tmp_path: Path) -> None:
    """An insider edits an event a record relies on and recomputes the chain and head:
    the pinned head hash no longer matches (ledger), and the event no longer opens its
    leaf in the pinned tree (log_inclusion), which still has the pinned root."""
    settings = _settings(db, tmp_path)
    sid, _ = _demo_snapshot(db, settings)
    eid = _relied_event(db, sid)
    with db.session() as s:
        s.execute(
            text("UPDATE consent_events SET source = 'import' WHERE event_id = :e"), {"e": eid}
        )
    _rechain(db)
    report = _verify(db, settings, sid)
    ledger_check = _check(report, "ledger")
    assert "not a point of the current chain" in ledger_check.problems[0]
    assert not any("rewritten" in p for p in ledger_check.problems)  # the tree is unchanged
    inc = _check(report, "log_inclusion")
    assert inc.state == "fail" and "no longer match their leaf" in inc.problems[0]
    assert eid in inc.problems[0]

    svc.rebuild(db, now=NOW, force=True)  # and the tree rebuilt over the rewritten chain
    report = _verify(db, settings, sid)
    assert any("rewritten" in p for p in _check(report, "ledger").problems)
    inc = _check(report, "log_inclusion")
    assert inc.state == "fail" and "does not verify against the pinned root" in inc.problems[0]


def test_an_event_after_the_pin_is_not_below_the_pinned_size(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = _settings(sqlite_db, tmp_path)
    sid, _ = _demo_snapshot(sqlite_db, settings)
    from optin.storage import ledger

    later = ledger.EventDraft(
        member_id="m-later", purpose="train_own_models", action="grant", at=NOW,
        policy_version=1, source="web",
    )  # fmt: skip
    with sqlite_db.session() as s:
        ledger.append_many(s, [later], now=NOW)
    svc.publish_checkpoint(sqlite_db, settings, now=NOW, force=True)
    with sqlite_db.session() as s:  # provenance rewritten to name the later event
        s.execute(
            text("UPDATE snapshot_records SET consent_event_id = :e WHERE snapshot_id = :s"),
            {"e": later.event_id, "s": sid},
        )
    inc = _check(_verify(sqlite_db, settings, sid), "log_inclusion")
    assert inc.state == "fail" and "not below the pinned tree size" in inc.problems[0]


def test_verify_without_a_database_checks_the_signature_with_the_given_key(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = _settings(sqlite_db, tmp_path)
    _, path = _demo_snapshot(sqlite_db, settings)
    vkey = svc.manifest_vkey(settings)
    elsewhere = Settings(home=tmp_path / "nothing")  # a machine without the keys
    given = Trust.of(elsewhere, manifest_key=vkey)
    report = verify_directory(None, elsewhere, path, now=NOW, rescan=False, trust=given)
    assert _check(report, "signature").state == "ok"
    report = verify_directory(None, elsewhere, path, now=NOW, rescan=False)
    assert _check(report, "signature").state == "skipped"
    other = generate_signer_key("optin.test/manifests", b"\x05" * 32).verifier.vkey
    report = verify_directory(
        None, elsewhere, path, now=NOW, rescan=False, trust=Trust.of(elsewhere, manifest_key=other)
    )
    assert _check(report, "signature").state == "fail"


def test_export_manifest_is_signed_and_pins_the_checkpoint(
    db: Database, db_settings: Settings
) -> None:
    svc.keygen(db_settings)
    sid = share_world(db, db_settings)
    providers.add_provider(db, RECIPIENT, webhook_url="http://127.0.0.1:9/hook", now=EXPORTED)
    e = pe.create_export(db, db_settings, sid, RECIPIENT, "hf-parquet", now=EXPORTED, actor="ops")
    root = db_settings.home / e.path
    manifest_bytes = (root / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    mkey = Verifier.parse(manifest["signed_note"]["key"])
    assert mkey == svc.trusted_manifest_key(db_settings)
    body, _ = open_note((root / "manifest.note").read_text("utf-8"), [mkey])
    assert body.encode("utf-8") == manifest_bytes
    pinned = manifest["ledger"]
    assert pinned["transparency_log"]["tree_size"] >= pinned["length"] > 0
    assert svc.check_manifest_pin(db, pinned, svc.trusted_log_key(db_settings)) is None
