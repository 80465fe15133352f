"""After a withdrawal every surface shows the snapshot ``stale``: the CLI list, the
API (list, one snapshot, lineage), the admin pages and the member's *Your data and AI*."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from optin.cli.main import run
from optin.services import web_auth
from optin.services.consent import record_consent
from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import MemberRow, SnapshotRecordRow
from optin.web import create_app
from tests.web.conftest import login_token

pytestmark = pytest.mark.slow
YOUR_DATA = "/settings/data-privacy/your-data-and-ai"


@pytest.fixture(scope="module")
def withdrawn(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Database, Settings, str, str, int]]:
    home: Path = tmp_path_factory.mktemp("lineage-web")
    settings = Settings(home=home)
    db = Database.open(settings)
    generate_demo(db, members=40, posts=240, seed=3, now=datetime.now(UTC))
    sid = build_snapshot(
        db, settings, "train_own_models", engine="inline", now=datetime.now(UTC)
    ).snapshot_id
    with db.session() as s:
        ada = s.execute(select(MemberRow.id).where(MemberRow.handle == "ada")).scalar_one()
        n = s.execute(
            select(func.count()).where(
                SnapshotRecordRow.snapshot_id == sid, SnapshotRecordRow.author_id == ada
            )
        ).scalar_one()
    assert n > 0
    record_consent(db, ada, "train_own_models", "withdraw", source="web", now=datetime.now(UTC))
    yield db, settings, sid, ada, n
    db.dispose()


def _login(app, handle: str, password: str) -> TestClient:  # type: ignore[no-untyped-def]
    c = TestClient(app, follow_redirects=False)
    r = c.post(
        "/login", data={"handle": handle, "password": password, "csrf_token": login_token(c)}
    )
    assert r.status_code == 303
    return c


def test_every_surface_shows_stale(withdrawn, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    db, settings, sid, ada, n = withdrawn
    app = create_app(settings, db=db)
    # CLI
    capsys.readouterr()
    assert run(["--home", str(settings.home), "snapshot", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "stale" and row["stale"]["records"] == n
    # API
    with db.session() as s:
        token = web_auth.create_api_key(s, "t", ["snapshots:read"], now=datetime.now(UTC)).token
    api = TestClient(app)
    api.headers["Authorization"] = f"Bearer {token}"
    assert [x["status"] for x in api.get("/api/v1/snapshots").json()] == ["stale"]
    one = api.get(f"/api/v1/snapshots/{sid}").json()
    assert one["status"] == "stale" and one["stale"]["reasons"] == {"withdrawal": n}
    lin = api.get(f"/api/v1/lineage/members/{ada}")
    assert lin.status_code == 200, lin.text
    assert lin.json()["snapshots"][0]["status"] == "stale"
    assert lin.json()["snapshots"][0]["member_stale"]["records"] == n
    assert api.get("/api/v1/lineage/members/@ada").json()["member_id"] == ada
    assert api.get(f"/api/v1/lineage/snapshots/{sid}").json()["stale"]["records"] == n
    assert api.get("/api/v1/lineage/snapshots/nope").status_code == 404
    assert TestClient(app).get(f"/api/v1/lineage/snapshots/{sid}").status_code == 401
    # admin pages
    admin = _login(app, "admin", "demo-admin-2024")
    listing = admin.get("/admin/snapshots").text
    assert sid in listing and "stale" in listing
    page = admin.get(f"/admin/snapshots/{sid}").text
    assert '<dd id="snapshot-status">stale</dd>' in page
    assert f"{n} record(s) no longer eligible" in page
    # the member's page
    member = _login(app, "ada", "demo-ada-2024")
    mine = member.get(YOUR_DATA).text
    assert '<td data-label="Status">stale</td>' in mine
    assert f"Your\n{n} item(s) are in 1 snapshot(s)" in mine
    assert "marked stale" in mine and "you withdrew" in mine
    assert "export" not in mine.split('id="lineage-summary"')[1].split("</p>")[0]
