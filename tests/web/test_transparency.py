"""'Your data and AI' and the admin snapshot pages over a real (small) demo snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from optin.services import transparency, web_auth
from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import MemberRow, SnapshotRecordRow
from optin.web import create_app
from tests.web.conftest import CSRF_RE, login_token

pytestmark = pytest.mark.slow
YOUR_DATA = "/settings/data-privacy/your-data-and-ai"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Settings, str]]:
    home: Path = tmp_path_factory.mktemp("demo-home")
    settings = Settings(home=home)
    db = Database.open(settings)
    generate_demo(db, members=40, posts=240, seed=3, now=datetime.now(UTC))
    sid = build_snapshot(
        db, settings, "train_own_models", engine="inline", now=datetime.now(UTC)
    ).snapshot_id
    yield db, settings, sid
    db.dispose()


def _login(app, handle: str, password: str) -> TestClient:  # type: ignore[no-untyped-def]
    c = TestClient(app, follow_redirects=False)
    r = c.post(
        "/login", data={"handle": handle, "password": password, "csrf_token": login_token(c)}
    )
    assert r.status_code == 303
    return c


def test_member_sees_own_items_with_before_and_after(demo) -> None:  # type: ignore[no-untyped-def]
    db, settings, sid = demo
    c = _login(create_app(settings, db=db), "ada", "demo-ada-2024")
    page = c.get(YOUR_DATA).text
    assert sid in page
    detail = c.get(f"{YOUR_DATA}/{sid}")
    assert detail.status_code == 200
    assert detail.text.count('class="compare"') >= 1
    assert "<del>" in detail.text and "<ins>" in detail.text  # something was redacted


def test_member_cannot_open_a_snapshot_without_their_items(demo) -> None:  # type: ignore[no-untyped-def]
    db, settings, sid = demo
    with db.session() as s:
        authors = set(s.scalars(select(SnapshotRecordRow.author_id)).all())
        handles = dict(s.execute(select(MemberRow.handle, MemberRow.id)).all())
    outsider = next(h for h in ("kofi", "grace", "admin") if handles[h] not in authors)
    password = {"kofi": "demo-kofi-2024", "grace": "demo-grace-2024", "admin": "demo-admin-2024"}[
        outsider
    ]
    c = _login(create_app(settings, db=db), outsider, password)
    assert c.get(f"{YOUR_DATA}/{sid}").status_code == 404
    assert sid not in c.get(YOUR_DATA).text
    with pytest.raises(Exception, match="none of your content"):
        transparency.snapshot_items(db, handles[outsider], sid)


def test_admin_verifies_snapshot_and_api_lists_it(demo) -> None:  # type: ignore[no-untyped-def]
    db, settings, sid = demo
    app = create_app(settings, db=db)
    admin = _login(app, "admin", "demo-admin-2024")
    page = admin.get(f"/admin/snapshots/{sid}")
    token = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
    r = admin.post(f"/admin/snapshots/{sid}/verify", data={"csrf_token": token})
    assert r.status_code == 200 and 'id="verify-report"' in r.text
    assert "Verification: passed" in r.text, r.text[:3000]
    assert admin.get("/admin").text.count("<svg") >= 5
    with db.session() as s:
        key = web_auth.create_api_key(s, "t", ["snapshots:read"], now=datetime.now(UTC)).token
    api = TestClient(app)
    api.headers["Authorization"] = f"Bearer {key}"
    snaps = api.get("/api/v1/snapshots").json()
    assert [s["id"] for s in snaps] == [sid]
    assert snaps[0]["excluded"]["EXCLUDED_JURISDICTION"] > 0 and snaps[0]["findings"]
    one = api.get(f"/api/v1/snapshots/{sid}").json()
    assert one["manifest"]["snapshot_id"] == sid
