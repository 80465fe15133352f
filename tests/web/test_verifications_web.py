"""The admin Verify button keeps its result and the snapshot page shows the latest one
with its time and who ran it (issue 16), on both backends."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from optin.services import verifications
from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot, snapshot_dir
from optin.settings import Settings
from optin.storage.database import Database
from optin.web import create_app
from tests.web.conftest import CSRF_RE, login_token

pytestmark = pytest.mark.slow


def test_verify_button_keeps_the_result_and_the_page_shows_it(
    db: Database, db_settings: Settings
) -> None:
    now = datetime.now(UTC)
    generate_demo(db, members=30, posts=90, seed=3, now=now)
    built = build_snapshot(db, db_settings, "train_own_models", engine="inline", now=now)
    sid = built.snapshot_id
    c = TestClient(create_app(db_settings, db=db), follow_redirects=False)
    r = c.post("/login", data={"handle": "admin", "password": "demo-admin-2024",
                               "csrf_token": login_token(c)})  # fmt: skip
    assert r.status_code == 303
    page = c.get(f"/admin/snapshots/{sid}").text
    assert re.search(r'id="snapshot-verified">never', page)
    assert re.search(
        r'id="snapshot-redaction">operator <code>surrogate</code>; records dropped when '
        r"too_little_text_left: fewer than 3 words",
        page,
    )
    token = CSRF_RE.search(page).group(1)  # type: ignore[union-attr]
    r = c.post(f"/admin/snapshots/{sid}/verify", data={"csrf_token": token})
    assert r.status_code == 200 and "Verification: passed" in r.text
    with db.session() as s:
        from optin.storage.models import SnapshotRow

        stored = s.get(SnapshotRow, sid).path  # type: ignore[union-attr]
    kept = verifications.latest(snapshot_dir(db_settings.home, stored))
    assert kept is not None and kept["result"] == "pass" and kept["by"].startswith("admin:")
    assert {c["name"] for c in kept["checks"]} >= {"files", "ledger", "eligibility"}
    again = c.get(f"/admin/snapshots/{sid}").text
    shown = re.search(r'id="snapshot-verified">(.*?)</dd>', again, re.S)
    assert shown is not None
    assert 'class="verify-result">pass</span>' in shown.group(1)
    assert f'datetime="{kept["at"]}"' in shown.group(1) and kept["by"] in shown.group(1)
