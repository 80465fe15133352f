"""Snapshot manifests pin a checkpoint; ``snapshot verify`` checks it against the tree."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from optin.services import tlog as svc
from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from tests.tlog.test_log_service import _rechain


def test_manifest_pins_checkpoint_and_verify_catches_a_rewrite(
    sqlite_db: Database, tmp_path: Path
) -> None:
    db = sqlite_db
    settings = Settings(home=tmp_path / "home", database_url=db.url)
    now = datetime.now(UTC)
    generate_demo(db, members=20, posts=60, seed=4, now=now)
    svc.keygen(settings)
    snap = build_snapshot(db, settings, "train_own_models", engine="inline", now=now)
    sid, manifest = snap.snapshot_id, snap.manifest
    on_disk = json.loads((snap.path / "manifest.json").read_text("utf-8"))
    assert on_disk["ledger"] == manifest["ledger"]
    pin = manifest["ledger"]["transparency_log"]
    assert pin["tree_size"] >= manifest["ledger"]["length"] > 0
    assert verify_snapshot(db, settings, sid, rescan=False, now=datetime.now(UTC)).ok

    with db.session() as s:  # the insider rewrites an early event, the chain and the tree
        s.execute(text("UPDATE consent_events SET source = 'import' WHERE seq = 1"))
    _rechain(db)
    svc.rebuild(db, now=now, force=True)
    report = verify_snapshot(db, settings, sid, rescan=False, now=datetime.now(UTC))
    assert not report.ok
    ledger_check = next(c for c in report.checks if c.name == "ledger")
    assert any("rewritten" in p for p in ledger_check.problems)
