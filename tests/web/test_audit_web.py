"""The leak-audit review routes refuse what they must (issue 17 point 3): members who
are not administrators, a missing CSRF token, a record outside the sample, a bad verdict;
nothing is saved when they do."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from optin.services import snapshot_audit as sa
from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.web import create_app
from tests.web.conftest import CSRF_RE, login_token

pytestmark = pytest.mark.slow


def _login(c: TestClient, handle: str, password: str) -> None:
    r = c.post("/login", data={"handle": handle, "password": password,
                               "csrf_token": login_token(c)})  # fmt: skip
    assert r.status_code == 303


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_review_routes_refuse_and_save_nothing(db: Database, db_settings: Settings) -> None:
    now = datetime.now(UTC)
    generate_demo(db, members=30, posts=90, seed=3, now=now)
    built = build_snapshot(db, db_settings, "train_own_models", engine="inline", now=now)
    sid = built.snapshot_id
    st = sa.start_audit(db, db_settings, sid, size=2, seed=0, by="t", now=now)
    rid = (sa.read_audit(built.path) or {})["sample"][0]
    before = (built.path / sa.FILE).read_bytes()
    app = create_app(db_settings, db=db)

    member = TestClient(app, follow_redirects=False)
    _login(member, "ada", "demo-ada-2024")
    assert member.get(f"/admin/snapshots/{sid}/audit").status_code == 403

    admin = TestClient(app, follow_redirects=False)
    _login(admin, "admin", "demo-admin-2024")
    page = admin.get(f"/admin/snapshots/{sid}/audit")
    assert page.status_code == 200 and "In progress" in page.text and st.sample == 2
    token = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
    url = f"/admin/snapshots/{sid}/audit/{rid}"
    assert admin.post(url, data={"verdict": "clean"}).status_code == 403  # no CSRF token
    r = admin.post(url, data={"verdict": "maybe", "csrf_token": token})
    assert r.status_code == 422 and "unknown verdict" in r.text
    r = admin.post(
        url, data={"verdict": "leak", "label": "PERSON", "span": "", "csrf_token": token}
    )
    assert r.status_code == 422
    r = admin.post(f"/admin/snapshots/{sid}/audit/{'0' * 32}",
                   data={"verdict": "clean", "csrf_token": token})  # fmt: skip
    assert r.status_code == 404
    assert (built.path / sa.FILE).read_bytes() == before
    r = admin.post(url, data={"verdict": "clean", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].endswith(f"#r-{rid}")
    assert (sa.read_audit(built.path) or {})["reviews"][rid]["by"] == "admin:admin"
