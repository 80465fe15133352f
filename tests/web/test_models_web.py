"""*Your data and AI* names the model versions that held the member's records, the
guarantee of each, and the versions that no longer hold them (registry rows written
directly: no torch needed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import MemberRow, SnapshotRecordRow
from optin.storage.repos import models as repo
from optin.web import create_app
from tests.web.conftest import login_token

pytestmark = pytest.mark.slow
YOUR_DATA = "/settings/data-privacy/your-data-and-ai"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Settings, int]]:
    home: Path = tmp_path_factory.mktemp("models-web")
    settings = Settings(home=home)
    db = Database.open(settings)
    now = datetime.now(UTC)
    generate_demo(db, members=40, posts=240, seed=3, now=now)
    sid = build_snapshot(db, settings, "train_own_models", engine="inline", now=now).snapshot_id
    with db.session() as s:
        ada = s.execute(select(MemberRow.id).where(MemberRow.handle == "ada")).scalar_one()
        rows = s.execute(
            select(SnapshotRecordRow.record_id, SnapshotRecordRow.author_id).where(
                SnapshotRecordRow.snapshot_id == sid
            )
        ).all()
        mine = [(sid, r) for r, a in rows if a == ada]
        others = [(sid, r) for r, a in rows if a != ada]
        assert mine and others
        repo.add_model(
            s,
            id="model-x",
            created_at=now,
            purpose="train_own_models",
            base="tiny",
            shards=0,
            status="active",
            current_version=2,
            needs_retrain_records=0,
            path="models/model-x",
        )
        dp = json.dumps({"unit": "member", "epsilon": 7.95, "delta": 1e-05})
        for v, status in ((1, "superseded"), (2, "current")):
            repo.add_version(
                s,
                model_id="model-x",
                version=v,
                snapshot_id=sid,
                created_at=now + timedelta(minutes=v),
                status=status,
                path=f"models/model-x/v{v}",
                privacy=dp,
                card="{}",
            )
        repo.add_component(
            s,
            records=mine + others,
            id="model-x/model-v1",
            model_id="model-x",
            name="model-v1",
            cohort=None,
            trained_in=1,
            snapshot_id=sid,
            members=30,
            status="destroyed",
        )
        repo.add_component(
            s,
            records=others,
            id="model-x/model-v2",
            model_id="model-x",
            name="model-v2",
            cohort=None,
            trained_in=2,
            snapshot_id=sid,
            members=29,
            status="live",
        )
        repo.link(s, "model-x", 1, ["model-x/model-v1"])
        repo.link(s, "model-x", 2, ["model-x/model-v2"])
    yield db, settings, len(mine)
    db.dispose()


def _login(app, handle: str, password: str) -> TestClient:  # type: ignore[no-untyped-def]
    c = TestClient(app, follow_redirects=False)
    r = c.post(
        "/login", data={"handle": handle, "password": password, "csrf_token": login_token(c)}
    )
    assert r.status_code == 303
    return c


def test_member_page_shows_which_versions_held_their_content(world) -> None:  # type: ignore[no-untyped-def]
    db, settings, n = world
    app = create_app(settings, db=db)
    page = _login(app, "ada", "demo-ada-2024").get(YOUR_DATA).text
    table = page.split('id="model-versions"')[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]
    assert len(rows) == 2
    assert f"held: {n}" in rows[0] and "superseded, weights deleted" in rows[0]
    assert "no longer held" in rows[1] and '<td data-label="Status">current</td>' in rows[1]
    assert "member-level differential privacy, ε = 7.95" in rows[0]
    assert "records no models yet" not in page


def test_admin_dashboard_lists_models_with_their_epsilon_and_audit(world) -> None:  # type: ignore[no-untyped-def]
    from optin.services.models import record_audit

    db, settings, _n = world
    app = create_app(settings, db=db)
    admin = _login(app, "admin", "demo-admin-2024")
    section = admin.get("/admin").text.split('id="models"')[1].split("</section>")[0]
    assert "<code>model-x</code>" in section and "member-level DP, ε = 7.95" in section
    assert "not audited" in section
    verdict = {
        "checks": [{"name": "max_exposure_bits[1]", "limit": 8.0, "measured": 9.5, "passed": False}]
    }
    now = datetime.now(UTC)
    record_audit(db, "model-x", audit={"verdict": verdict}, passed=False, now=now)
    try:
        section = admin.get("/admin").text.split('id="models"')[1].split("</section>")[0]
        assert (
            "<strong>failed</strong>" in section and "max_exposure_bits[1] 9.5 &gt; 8.0" in section
        )
        assert "<strong>blocked</strong>: cannot be exported" in section
        # the member sees the same model as blocked on their page
        page = _login(app, "ada", "demo-ada-2024").get(YOUR_DATA).text
        assert "blocked: failed its privacy audit" in page
    finally:
        record_audit(db, "model-x", audit={}, passed=True, now=now)
