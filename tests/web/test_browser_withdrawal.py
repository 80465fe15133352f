"""End to end, on SQLite and PostgreSQL, in a real browser (Debian chromium via
Playwright): withdrawal reaches every dataset and the provider, and comes back.

demo (small) -> snapshot for ``share_with_providers`` -> ``optin export create`` to
Mistral AI -> a real HTTP provider stub on 127.0.0.1 (tests/provider_stub.py: verifies
each notice's Ed25519 signature with the published key, stores notices by idempotency
key) -> Ada switches sharing off in the browser -> the snapshot and the export are
``stale`` on every surface (CLI, API, admin snapshot page, Ada's *Your data and AI*) ->
the delivery worker inside the app posts a notice naming exactly Ada's record ids ->
the stub acknowledges through ``POST /api/v1/provider/acks`` with its provider key ->
Ada's page shows the confirmation with its date -> ``optin snapshot derive
--drop-ineligible`` -> ``optin snapshot verify`` passes on the child.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from optin.cli.main import run
from optin.services import providers, web_auth
from optin.services.consent import record_consent
from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import MemberRow, SnapshotRecordRow
from optin.storage.provider_models import DeletionNoticeRow, ExportRecordRow
from optin.web import create_app
from optin.web.templating import fmt_dt
from tests.browser import ARTIFACTS, BROWSER_MARKS, browser, serve
from tests.browser import login as _login
from tests.provider_stub import ProviderStub

SHARE = "share_with_providers"
PROVIDER = "Mistral AI"  # a recipient of share_with_providers in the demo's policy v2
YOUR_DATA = "/settings/data-privacy/your-data-and-ai"

__all__ = ["browser"]

pytestmark = BROWSER_MARKS


@pytest.fixture()
def server(db: Database, db_settings: Settings) -> Iterator[str]:
    """The app with its delivery worker (as ``optin serve`` runs it) on 127.0.0.1."""
    app = create_app(db_settings, db=db, delivery_worker=True)
    with serve(app, lifespan="on", join=15) as base:
        yield base


def _cli(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> Any:
    capsys.readouterr()
    code = run(["--home", str(home), *argv, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def _wait(what: str, cond: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _setup(db: Database, settings: Settings) -> tuple[str, str, list[str]]:
    """The demo, Ada sharing, a share_with_providers snapshot holding her items."""
    now = datetime.now(UTC)
    generate_demo(db, members=40, posts=240, seed=3, now=now)
    with db.session() as s:
        ada = s.execute(select(MemberRow.id).where(MemberRow.handle == "ada")).scalar_one()
    # Ada shares with providers (already on: no new event; the toggles are idempotent)
    record_consent(db, ada, SHARE, "grant", source="web", now=now)
    sid = build_snapshot(db, settings, SHARE, engine="inline", now=datetime.now(UTC)).snapshot_id
    with db.session() as s:
        mine = sorted(
            s.execute(
                select(SnapshotRecordRow.record_id).where(
                    SnapshotRecordRow.snapshot_id == sid, SnapshotRecordRow.author_id == ada
                )
            ).scalars()
        )
    assert mine, "Ada has no items in the share_with_providers snapshot"
    return ada, sid, mine


def test_withdrawal_reaches_every_surface_and_the_provider(
    db: Database,
    db_settings: Settings,
    server: str,
    browser: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    backend = db.engine.dialect.name
    home = db_settings.home
    monkeypatch.setenv("OPTIN_DATABASE_URL", db.url)
    ada, sid, ada_records = _setup(db, db_settings)

    # the provider: a real HTTP server that verifies signatures with the published key
    published = httpx.get(f"{server}/api/v1/provider/public-key").json()
    assert published["public_key"] == providers.public_key_info(db_settings)["public_key"]
    stub = ProviderStub(published["public_key"]).up()
    try:
        _cli(capsys, home, "provider", "add", PROVIDER, "--webhook-url", stub.url)
        export = _cli(
            capsys, home, "export", "create", sid, "--provider", PROVIDER, "--format", "hf-parquet"
        )
        export_id = export["id"]
        with db.session() as s:
            exported_ada = sorted(
                s.execute(
                    select(ExportRecordRow.record_id).where(
                        ExportRecordRow.export_id == export_id, ExportRecordRow.member_id == ada
                    )
                ).scalars()
            )
        assert exported_ada == ada_records  # she was eligible: all her records went
        provider_token = _cli(capsys, home, "provider", "key", PROVIDER)["key"]

        # the lineage graph has the edge snapshot -> export
        lin = _cli(capsys, home, "lineage", "snapshot", sid)
        assert [(e["export_id"], e["provider"]) for e in lin["exports"]] == [(export_id, PROVIDER)]

        # Ada, in the browser: her page names the export; then she switches sharing off
        ctx = browser.new_context(viewport={"width": 1100, "height": 900})
        page = ctx.new_page()
        _login(page, server, "ada", "demo-ada-2024")
        page.goto(f"{server}{YOUR_DATA}")
        summary = page.locator("#lineage-summary").inner_text()
        assert f"and 1 export to {PROVIDER}" in summary, summary
        assert page.locator(f"#export-{export_id} .export-status").inner_text() == "complete"
        page.goto(f"{server}/settings/data-privacy/generative-ai")
        switch = page.get_by_role("switch", name="Share my content with third-party")
        assert switch.is_checked()
        with page.expect_navigation():
            page.locator(f"label[for=t-{SHARE}]").click()
        assert not page.get_by_role("switch", name="Share my content with third-party").is_checked()
        lineage = _cli(capsys, home, "lineage", "member", "@ada")
        [w] = [x for x in lineage["withdrawals"] if x["purpose"] == SHARE]
        withdrawn_at = datetime.fromisoformat(w["at"])

        # stale on every surface: CLI ...
        snaps = {r["id"]: r for r in _cli(capsys, home, "snapshot", "list")}
        assert snaps[sid]["status"] == "stale"
        assert snaps[sid]["stale"]["records"] == len(ada_records)
        [ex] = _cli(capsys, home, "export", "list")
        assert ex["status"] == "stale" and ex["stale_count"] == len(ada_records)
        [le] = lineage["exports"]
        assert le["status"] == "stale" and le["included_records"] == len(ada_records)
        assert le["removal"]["requested_at"] is not None
        # ... the API ...
        with db.session() as s:
            token = web_auth.create_api_key(
                s, "e2e", ["snapshots:read"], now=datetime.now(UTC)
            ).token
        api = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"})
        one = api.get(f"/api/v1/snapshots/{sid}").json()
        assert one["status"] == "stale" and one["stale"]["reasons"] == {
            "withdrawal": len(ada_records)
        }
        [api_export] = api.get(f"/api/v1/lineage/snapshots/{sid}").json()["exports"]
        assert api_export["export_id"] == export_id and api_export["status"] == "stale"
        assert api_export["stale_records"] == len(ada_records)
        # ... the admin snapshot page ...
        actx = browser.new_context(viewport={"width": 1280, "height": 1000})
        admin = actx.new_page()
        _login(admin, server, "admin", "demo-admin-2024")
        admin.goto(f"{server}/admin/snapshots/{sid}")
        assert admin.locator("#snapshot-status").inner_text() == "stale"
        assert admin.locator(f"#export-{export_id} .export-status").inner_text() == "stale"
        admin.screenshot(path=str(ARTIFACTS / f"withdrawal-admin-{backend}.png"), full_page=True)
        # ... and Ada's page
        page.goto(f"{server}{YOUR_DATA}")
        assert page.locator("td:text-is('stale')").count() >= 1
        assert page.locator(f"#export-{export_id} .export-status").inner_text() == "stale"
        assert "Removal of your items was requested on" in page.locator("#exports").inner_text()

        # the worker inside the app delivers the notice: exactly Ada's record ids, signed
        _wait("the notice at the stub", lambda: len(stub.notices) == 1)
        [(notice_id, body)] = stub.notices.items()
        assert body["record_ids"] == ada_records and body["export_id"] == export_id
        assert stub.bad_signatures == 0 and stub.duplicates == 0

        def delivered() -> bool:
            with db.session() as s:
                row = s.get(DeletionNoticeRow, notice_id)
                return row is not None and row.delivered_at is not None

        _wait("the delivery recorded", delivered)
        page.goto(f"{server}{YOUR_DATA}")
        text = page.locator(f"#export-{export_id}").inner_text()
        assert f"the request reached {PROVIDER} on" in text and "awaiting" in text

        # the provider purged and acknowledges with its own key
        [ack] = stub.ack(server, provider_token)
        assert ack["notice_id"] == notice_id and ack["state"] == "acknowledged"
        with db.session() as s:
            acked_at = s.get(DeletionNoticeRow, notice_id).acked_at  # type: ignore[union-attr]
        assert acked_at is not None and acked_at >= withdrawn_at
        page.goto(f"{server}{YOUR_DATA}")
        confirmed = page.locator(f"#export-{export_id} .confirmed").inner_text()
        assert confirmed == f"confirmed by {PROVIDER} on {fmt_dt(acked_at)}"
        summary = page.locator("#lineage-summary").inner_text()
        assert "you withdrew from" in summary and fmt_dt(withdrawn_at, False) in summary, summary
        assert f"confirmed by {PROVIDER} on {fmt_dt(acked_at, False)}" in summary
        page.screenshot(path=str(ARTIFACTS / f"withdrawal-your-data-{backend}.png"), full_page=True)

        # derive the child without Ada's records; verify passes on it
        child = _cli(capsys, home, "snapshot", "derive", sid, "--drop-ineligible")
        assert child["removed"] == len(ada_records)
        report = _cli(capsys, home, "snapshot", "verify", child["snapshot_id"])
        assert report["status"] == "pass", report
        with db.session() as s:
            left = s.execute(
                select(SnapshotRecordRow.record_id).where(
                    SnapshotRecordRow.snapshot_id == child["snapshot_id"],
                    SnapshotRecordRow.author_id == ada,
                )
            ).all()
        assert left == []
        for c in (ctx, actx):
            c.close()
        api.close()
    finally:
        stub.down()
