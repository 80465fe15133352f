"""In a real browser (Debian chromium via Playwright), at phone width (390 and 360 px)
and at 1280 px: every member and admin page fits without horizontal page scroll, texts
match the stacked layout, chart labels stay legible; the readable receipt page (its
ISO/IEC TS 27560 groups, ledger position and hash, print stylesheet); and the message
after switching a use off, each claim checked against the member's lineage.
Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.browser import (
    ARTIFACTS,
    BROWSER_MARKS,
    PHONE,
    SMALL_PHONE,
    browser,
    login,
    overflow,
    serve,
)  # fmt: skip

__all__ = ["browser"]

pytestmark = BROWSER_MARKS
TRAIN = "train_own_models"
HISTORY = "/settings/data-privacy/history"
YOUR_DATA = "/settings/data-privacy/your-data-and-ai"
MEMBER_PAGES = [
    "/settings/data-privacy/generative-ai", HISTORY, YOUR_DATA, "/settings/data-privacy/requests",
]  # fmt: skip
ADMIN_PAGES = ["/admin", "/admin/snapshots", "/admin/ledger", "/admin/policy", "/admin/requests"]
RECEIPT_GROUPS = [
    "record", "principal", "notice", "purpose", "processing", "jurisdiction", "event",
    "state", "method", "withdrawal", "proof",
]  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, str]]:
    from optin.services.demo import generate_demo
    from optin.services.snapshots import build_snapshot
    from optin.settings import Settings
    from optin.storage.database import Database
    from optin.web import create_app

    home = tmp_path_factory.mktemp("browser-phone-home")
    settings = Settings(home=home)
    db = Database.open(settings)
    generate_demo(db, members=40, posts=240, seed=3, now=datetime.now(UTC))
    # Ada (US, opt-in) has training switched on in the demo: the snapshot holds her posts
    sid = build_snapshot(db, settings, TRAIN, engine="inline", now=datetime.now(UTC)).snapshot_id
    with serve(create_app(settings, db=db)) as base:
        yield base, db, sid
    db.dispose()


def _pages(page: Any, base: str, sid: str) -> list[str]:
    """The member's pages plus one snapshot detail and one receipt."""
    page.goto(f"{base}{HISTORY}")
    receipt = page.get_by_role("link", name="Read").first.get_attribute("href")
    return [*MEMBER_PAGES, f"{YOUR_DATA}/{sid}", str(receipt)]


@pytest.mark.parametrize("viewport", [PHONE, SMALL_PHONE, {"width": 1280, "height": 900}])
def test_every_page_fits_the_width(world: tuple[str, Any, str], browser: Any, viewport) -> None:  # type: ignore[no-untyped-def]
    base, _db, sid = world
    w = viewport["width"]
    ctx = browser.new_context(viewport=viewport, is_mobile=w < 500)
    page = ctx.new_page()
    wide: dict[str, int] = {}
    page.goto(f"{base}/login")
    if overflow(page) > 0:
        wide["/login"] = overflow(page)
    login(page, base, "ada", "demo-ada-2024")
    for path in _pages(page, base, sid):
        page.goto(f"{base}{path}")
        assert page.locator("main h1").first.is_visible(), path
        if overflow(page) > 0:
            wide[path] = overflow(page)
        name = path.strip("/").replace("/", "-")[-60:]
        if w == 390 and path in (MEMBER_PAGES[0], HISTORY, YOUR_DATA):
            page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
    # the snapshot detail does not speak of left and right panes
    page.goto(f"{base}{YOUR_DATA}/{sid}")
    lead = page.locator("main .lead").inner_text(timeout=3000)
    assert "Left:" not in lead and "Right:" not in lead and "Before" in lead
    admin = browser.new_context(viewport=viewport, is_mobile=w < 500).new_page()
    login(admin, base, "admin", "demo-admin-2024")
    for path in [*ADMIN_PAGES, f"/admin/snapshots/{sid}"]:
        admin.goto(f"{base}{path}")
        if overflow(admin) > 0:
            wide[path] = overflow(admin)
    admin.goto(f"{base}/admin")
    # chart labels keep a legible size (the SVG scrolls inside its box on a phone)
    heights = admin.evaluate(
        "Array.from(document.querySelectorAll('svg.chart text'))"
        ".map(t => t.getBoundingClientRect().height).filter(h => h > 0)"
    )
    assert heights and min(heights) >= 9, min(heights)
    if w == 390:
        admin.screenshot(path=str(ARTIFACTS / "phone-dashboard.png"), full_page=True)
    assert wide == {}, f"pages wider than {w} px (extra px): {wide}"
    ctx.close()
    admin.context.close()


def test_history_rows_are_labelled_cards_on_a_phone(
    world: tuple[str, Any, str], browser: Any
) -> None:
    base, _db, _sid = world
    ctx = browser.new_context(viewport=PHONE, is_mobile=True)
    page = ctx.new_page()
    login(page, base, "ada", "demo-ada-2024")
    page.goto(f"{base}{HISTORY}")
    row = page.locator("#history tbody tr").first
    # every cell, Policy and Receipt included, is on screen with its column's name
    for cell in row.locator("td").all():
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        label = cell.evaluate("c => getComputedStyle(c, '::before').content")
        assert label.strip('"') == cell.get_attribute("data-label")
    assert row.get_by_role("link", name="Read").is_visible()
    assert row.get_by_role("link", name="Proof").is_visible()
    ctx.close()


def test_receipt_page_reads_prints_and_matches_the_json(
    world: tuple[str, Any, str], browser: Any
) -> None:
    base, _db, _sid = world
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    page = ctx.new_page()
    login(page, base, "ada", "demo-ada-2024")
    page.goto(f"{base}{HISTORY}")
    page.get_by_role("link", name="Read").first.click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Consent receipt").is_visible()
    for g in RECEIPT_GROUPS:
        assert page.locator(f"#receipt-{g}").is_visible(), g
    event_id = page.url.rstrip("/").split("/")[-2]
    body = page.request.get(f"{base}{HISTORY}/{event_id}/receipt.json").json()
    proof = page.locator("#receipt-proof").inner_text()
    assert body["proof"]["hash"] in proof
    assert f"event {body['proof']['ledger_seq']:,}" in proof
    assert body["record"]["dct:identifier"] in page.locator("#receipt-record").inner_text()
    state = page.locator("#receipt-state").inner_text()
    assert ("switched this use on" in state) == (body["state"]["value"] == "given")
    # the JSON and the proof file sit beside the page
    assert page.get_by_role("link", name="JSON").get_attribute("href", timeout=2000)
    assert page.get_by_role("link", name="proof file").count() == 1
    assert page.get_by_role("button", name="Print this receipt").is_visible()
    page.screenshot(path=str(ARTIFACTS / "receipt.png"), full_page=True)
    # on paper: no navigation, no buttons; the groups stay
    page.emulate_media(media="print")
    assert not page.locator("header, .top").first.is_visible()
    assert not page.get_by_role("button", name="Print this receipt").is_visible()
    assert page.locator("#receipt-proof").is_visible()
    page.pdf(path=str(ARTIFACTS / "receipt.pdf"))
    ctx.close()
    phone = browser.new_context(viewport=PHONE, is_mobile=True).new_page()
    login(phone, base, "ada", "demo-ada-2024")
    phone.goto(f"{base}{HISTORY}/{event_id}/receipt")
    assert overflow(phone) <= 0
    phone.screenshot(path=str(ARTIFACTS / "receipt-phone.png"), full_page=True)
    phone.context.close()


def test_switching_off_names_what_already_holds_the_content(
    world: tuple[str, Any, str], browser: Any
) -> None:
    """Runs last: Ada switches training off; the message's claims are her lineage's."""
    from optin.services.lineage import member_lineage

    base, db, sid = world
    ctx = browser.new_context(viewport=PHONE, is_mobile=True)
    page = ctx.new_page()
    login(page, base, "ada", "demo-ada-2024")
    page.goto(f"{base}/settings/data-privacy/generative-ai")
    switch = page.get_by_role("switch", name="Use my content to train content-creation AI")
    assert switch.is_checked()
    with page.expect_navigation():
        page.locator(f"label[for=t-{TRAIN}]").click()
    box = page.locator("#withdrawal-feedback")
    assert box.is_visible()
    page.screenshot(path=str(ARTIFACTS / "withdrawal-feedback-phone.png"), full_page=True)
    lineage = member_lineage(db, "@ada")
    held = {
        s["id"]: s
        for s in lineage["snapshots"]
        if s["purpose"] == TRAIN and s["status"] != "retired" and s["member_records"] > 0
    }
    assert sid in held
    items = box.locator("li.held-snapshot").all()
    assert {li.get_attribute("data-id") for li in items} == set(held)
    for li in items:
        s = held[li.get_attribute("data-id") or ""]
        text = " ".join(li.inner_text().split())
        n = s["member_records"]
        assert li.get_attribute("data-items") == str(n)
        assert f"holds {n} of your item" in text
        assert s["member_stale"] is not None  # "it is now marked stale" is true
        assert "marked stale" in text and s["as_of"][:10] in text
    summary = box.locator("p").first.inner_text()
    assert f"already in {len(held)} built training set(s)" in summary
    assert box.locator("li.held-export").count() == 0 == len(lineage["exports"])
    ctx.close()
