"""docs/lineage.md tells an auditor how to re-derive record ids from the data directory's
install key; this does exactly that, written from the doc (not from the build code), for
a snapshot and for a child derived from it."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from optin.services.derive import derive_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import SnapshotRecordRow
from tests.provider_world import WITHDRAWN, share_world, withdraw


def _by_doc(settings: Settings, snapshot_id: str, content_ids: list[str]) -> list[str]:
    install = (settings.home / "keys" / "snapshot-records.key").read_bytes()[:32]
    k = hmac.new(install, f"record-id:{snapshot_id}".encode(), hashlib.sha256).digest()
    return [hmac.new(k, c.encode(), hashlib.sha256).hexdigest()[:32] for c in content_ids]


def _rows(db: Database, sid: str) -> list[tuple[str, str]]:
    with db.session() as s:
        return sorted(
            s.execute(
                select(SnapshotRecordRow.content_id, SnapshotRecordRow.record_id).where(
                    SnapshotRecordRow.snapshot_id == sid
                )
            ).all()
        )


def test_an_auditor_recomputes_record_ids_from_the_install_key(
    sqlite_db: Database, tmp_path: Path
) -> None:
    home = sqlite_db.home or tmp_path
    settings = Settings(home=home, database_url=sqlite_db.url)
    sid = share_world(sqlite_db, settings)
    rows = _rows(sqlite_db, sid)
    assert [r for _, r in rows] == _by_doc(settings, sid, [c for c, _ in rows])
    withdraw(sqlite_db, "p3")
    child = derive_snapshot(sqlite_db, settings, sid, now=WITHDRAWN + timedelta(hours=1))
    manifest = json.loads((settings.home / child.path / "manifest.json").read_text())
    assert manifest["record_id_key_of"] == sid
    kept = _rows(sqlite_db, child.snapshot_id)
    assert len(kept) == len(rows) - 3
    assert [r for _, r in kept] == _by_doc(settings, sid, [c for c, _ in kept])
