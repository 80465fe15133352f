"""End to end in a real browser (Debian chromium via Playwright): a member switches a
purpose off and on, the ledger grows, a receipt downloads, an admin publishes a material
policy change, the member sees the banner and consents again, the admin dashboard shows
its charts. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.browser import ARGS, ARTIFACTS, BROWSER_MARKS, CHROMIUM, browser, overflow, serve
from tests.browser import login as _login

__all__ = ["ARGS", "ARTIFACTS", "CHROMIUM", "browser"]

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from optin.services.demo import generate_demo
    from optin.services.snapshots import build_snapshot
    from optin.settings import Settings
    from optin.storage.database import Database
    from optin.web import create_app

    home = tmp_path_factory.mktemp("browser-home")
    settings = Settings(home=home)
    db = Database.open(settings)
    generate_demo(db, members=40, posts=240, seed=3, now=datetime.now(UTC))
    build_snapshot(db, settings, "train_own_models", engine="inline", now=datetime.now(UTC))
    with serve(create_app(settings, db=db)) as base:
        yield base
    db.dispose()


def _count(page, base: str) -> int:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/settings/data-privacy/history")
    return int(page.locator("#event-count").inner_text())


def test_member_and_admin_journey(server: str, browser) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    csp_errors: list[str] = []
    member_ctx = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 900})
    page = member_ctx.new_page()
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    _login(page, server, "ada", "demo-ada-2024")
    assert "/settings/data-privacy/generative-ai" in page.url
    page.screenshot(path=str(ARTIFACTS / "settings.png"), full_page=True)
    before = _count(page, server)

    settings_url = f"{server}/settings/data-privacy/generative-ai"
    page.goto(settings_url)
    switch = page.get_by_role("switch", name="Use my content to train content-creation AI")
    was_on = switch.is_checked()
    # off and on again: mouse click, then keyboard (Space) - JS submits on change
    with page.expect_navigation():
        page.locator("label[for=t-train_own_models]").click()
    assert page.get_by_role("switch", name="Use my content to train").is_checked() != was_on
    page.get_by_role("switch", name="Use my content to train").focus()
    with page.expect_navigation():
        page.keyboard.press("Space")
    assert page.get_by_role("switch", name="Use my content to train").is_checked() == was_on
    assert page.get_by_role("status").first.is_visible()
    assert _count(page, server) == before + 2

    with page.expect_download() as dl:
        page.get_by_role("link", name="Download").first.click()
    receipt = json.loads(Path(dl.value.path()).read_text("utf-8"))
    assert receipt and dl.value.suggested_filename.startswith("consent-receipt-")

    # the admin publishes a material change to train_own_models
    admin_ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    admin = admin_ctx.new_page()
    _login(admin, server, "admin", "demo-admin-2024")
    admin.goto(f"{server}/admin/policy")
    admin.locator("input[name=material][value=train_own_models]").check()
    admin.get_by_role("button", name="Publish new version").click()
    admin.wait_for_load_state()
    assert "Published policy version" in admin.content()

    # the member sees the banner and consents again
    page.goto(settings_url)
    banner = page.locator("#policy-banner")
    assert banner.is_visible()
    page.screenshot(path=str(ARTIFACTS / "settings-banner.png"), full_page=True)
    page.get_by_role("link", name="Review and choose").click()
    page.get_by_role("button", name="I agree to the new terms").first.click()
    page.wait_for_load_state()
    assert page.locator("#policy-banner").count() == 0
    assert _count(page, server) == before + 3

    # phone-sized view of the settings page
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    pp = phone.new_page()
    _login(pp, server, "ada", "demo-ada-2024")
    pp.screenshot(path=str(ARTIFACTS / "settings-phone.png"), full_page=True)
    assert overflow(pp) <= 1

    # "Your data and AI": before/after of the member's items in the snapshot
    page.goto(f"{server}/settings/data-privacy/your-data-and-ai")
    page.locator("table a").first.click()
    page.wait_for_load_state()
    assert page.locator(".compare").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "your-data.png"), full_page=True)

    admin.goto(f"{server}/admin")
    assert admin.locator("svg.chart").count() >= 4
    admin.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    admin.goto(f"{server}/admin/snapshots")
    admin.locator("table a").first.click()
    admin.get_by_role("button", name="Verify this snapshot").click()
    admin.wait_for_load_state()
    assert admin.locator("#verify-report").is_visible()
    admin.screenshot(path=str(ARTIFACTS / "snapshot-verify.png"), full_page=True)
    admin.goto(f"{server}/admin/ledger")
    admin.get_by_role("button", name="Verify the whole chain").click()
    admin.wait_for_load_state()
    assert "Chain intact" in admin.content()
    assert csp_errors == []
    for ctx in (member_ctx, admin_ctx, phone):
        ctx.close()
