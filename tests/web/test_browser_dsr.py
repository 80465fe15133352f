"""Data-subject requests in a real browser (Debian chromium via Playwright): a member
requests a copy of their data, the admin completes it from the queue, the member
downloads the package, opens index.html from the extracted zip (file://, offline) and
sees their own posts; then requests erasure and sees its state and deadline."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser import ARTIFACTS, BROWSER_MARKS, browser, serve
from tests.browser import login as _login

__all__ = ["browser"]

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    from optin.services.demo import generate_demo
    from optin.settings import Settings
    from optin.storage.database import Database
    from optin.web import create_app

    home = tmp_path_factory.mktemp("browser-dsr-home")
    settings = Settings(home=home)
    db = Database.open(settings)
    generate_demo(db, members=20, posts=120, seed=5, now=datetime.now(UTC))
    with serve(create_app(settings, db=db)) as base:
        yield base, db
    db.dispose()


def _a_post_of(db: Any, handle: str) -> str:
    from sqlalchemy import select

    from optin.storage.models import ContentRow, MemberRow

    with db.session() as s:
        mid = s.scalar(select(MemberRow.id).where(MemberRow.handle == handle))
        texts = list(
            s.scalars(
                select(ContentRow.text).where(ContentRow.author_id == mid).order_by(ContentRow.id)
            )
        )
    assert texts, f"the demo gave @{handle} no content"
    return texts[0]


def test_access_download_offline_index_then_erasure(
    server: tuple[str, Any], browser: Any, tmp_path: Path
) -> None:
    base, db = server
    ARTIFACTS.mkdir(exist_ok=True)
    member = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 900})
    page = member.new_page()
    _login(page, base, "ada", "demo-ada-2024")
    page.get_by_role("link", name="Your requests").click()
    page.wait_for_load_state()
    with page.expect_navigation():
        page.get_by_role("button", name="Request a copy of my data").click()
    assert page.get_by_role("status").first.is_visible()
    assert "access" in page.locator("#requests").inner_text()

    admin_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    admin = admin_ctx.new_page()
    _login(admin, base, "admin", "demo-admin-2024")
    admin.goto(f"{base}/admin/requests")
    assert admin.locator("#queue .left").first.is_visible()
    admin.screenshot(path=str(ARTIFACTS / "dsr-queue.png"), full_page=True)
    with admin.expect_navigation():
        admin.get_by_role("button", name="Complete access").first.click()
    assert "updated" in admin.content()

    page.reload()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download your data").click()
    zpath = tmp_path / "package.zip"
    dl.value.save_as(zpath)
    out = tmp_path / "package"
    with zipfile.ZipFile(zpath) as z:
        z.extractall(out)
    assert (out / "data.json").is_file()

    offline = browser.new_context(offline=True)
    view = offline.new_page()
    requests_made: list[str] = []
    view.on("request", lambda r: requests_made.append(r.url))
    view.goto((out / "index.html").as_uri())
    assert view.get_by_role("heading", name="Your data on this platform").is_visible()
    post = _a_post_of(db, "ada")
    assert view.get_by_text(post[:40]).first.is_visible()
    view.screenshot(path=str(ARTIFACTS / "dsr-package-index.png"), full_page=True)
    assert all(u.startswith("file://") for u in requests_made), requests_made

    # erasure: confirm, submit, see the state and the deadline
    page.goto(f"{base}/settings/data-privacy/requests")
    page.get_by_label("I want my data erased").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Request erasure of my data").click()
    row = page.locator("#requests tbody tr", has_text="erasure").first
    text = row.inner_text()
    assert "verified" in text and "day(s) left" in text and "UTC" in text
    assert row.locator(".dsr-deadline").is_visible()
    page.screenshot(path=str(ARTIFACTS / "dsr-member.png"), full_page=True)
    for ctx in (member, admin_ctx, offline):
        ctx.close()
