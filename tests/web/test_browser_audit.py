"""The admin leak-audit review page in a real browser (issue 17 point 3): draw a
sample, mark records "no personal data left" or mark the characters left (selected in
the text), see the leak rate; at 1280 px and 390 px, nothing wider than the window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from optin.services import snapshot_audit as sa
from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.web import create_app
from tests.browser import ARTIFACTS, BROWSER_MARKS, PHONE, browser, login, overflow, serve

__all__ = ["browser"]

pytestmark = BROWSER_MARKS


@pytest.fixture()
def world(db: Database, db_settings: Settings) -> Iterator[tuple[str, str, Any]]:
    now = datetime.now(UTC)
    generate_demo(db, members=30, posts=90, seed=3, now=now)
    built = build_snapshot(db, db_settings, "train_own_models", engine="inline", now=now)
    with serve(create_app(db_settings, db=db)) as base:
        yield base, built.snapshot_id, built.path


def _fits(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"audit-{name}.png"), full_page=True)
    assert overflow(page) <= 0, f"{name}: the page is {overflow(page)} px wider than the window"


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, PHONE], ids=["desktop", "390px"]
)
def test_review_page_marks_the_sample_and_shows_the_leak_rate(
    world: tuple[str, str, Any], browser: Any, db: Database, db_settings: Settings,
    viewport: dict[str, int],
) -> None:  # fmt: skip
    base, sid, path = world
    tag = str(viewport["width"])
    page = browser.new_page(viewport=viewport)
    login(page, base, "admin", "demo-admin-2024")
    page.goto(f"{base}/admin/snapshots/{sid}")
    assert "not audited" in page.locator("#snapshot-audit").inner_text()
    page.locator("#snapshot-audit a", has_text="review page").click()
    page.wait_for_load_state()
    assert page.locator("#audit-none").is_visible()
    _fits(page, f"none-{tag}")

    page.get_by_label("Records to sample").fill("3")
    page.get_by_role("button", name="Draw the sample").click()
    page.wait_for_load_state()
    assert page.locator("#audit-progress").inner_text() == "0 of 3"
    items = page.locator("li.audit-item")
    assert items.count() == 3
    _fits(page, f"todo-{tag}")

    # record 1: a span is left; select it in the text (the script fills the field)
    first = items.nth(0)
    rid = first.get_attribute("id")[2:]  # type: ignore[index]
    word = first.locator("pre").evaluate(
        """pre => { const t = pre.firstChild; const w = t.data.split(/\\s+/)[0];
                   const r = document.createRange(); r.setStart(t, 0); r.setEnd(t, w.length);
                   const s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
                   pre.dispatchEvent(new MouseEvent('mouseup', {bubbles: true})); return w; }"""
    )
    assert first.locator("input[name=span]").input_value() == word
    first.get_by_label("Kind").select_option("PERSON")
    first.get_by_role("button", name="Mark as left").click()
    page.wait_for_load_state()

    # a span that is not in the text: a clear error, nothing saved
    second = page.locator("li.audit-item").nth(1)
    second.locator("input[name=span]").fill("not-in-this-record-zzz")
    second.get_by_role("button", name="Mark as left").click()
    page.wait_for_load_state()
    assert "do not occur in record" in page.locator("#audit-error").inner_text()
    assert page.locator("#audit-progress").inner_text() == "1 of 3"
    _fits(page, f"error-{tag}")

    for i in (1, 2):
        page.locator("li.audit-item").nth(i).get_by_role(
            "button", name="No personal data left"
        ).click()
        page.wait_for_load_state()
    result = page.locator("#audit-result")
    assert "Leak rate 33.3%" in result.inner_text()
    assert page.locator("#audit-leaks").inner_text() == "1"
    assert "reviewed by people" in result.inner_text()
    marked = page.locator(f"#r-{rid} .audit-spans").inner_text()
    assert word in marked and "PERSON" in marked
    _fits(page, f"done-{tag}")

    audit = sa.read_audit(path)
    assert audit is not None and audit["reviews"][rid]["by"] == "admin:admin"
    assert audit["reviews"][rid]["verdict"] == "leak"
    assert audit["result"]["with_personal_data"] == 1 and audit["result"]["source"] == "people"
    assert "1 of 3 sampled records (33.3%)" in (path / "datasheet.md").read_text()
    doc = json.loads((path / "croissant.json").read_text())
    assert doc["optin:leakAudit"]["@value"]["records_reviewed"] == 3
    assert verify_snapshot(db, db_settings, sid, now=datetime.now(UTC)).status == "pass"
    page.goto(f"{base}/admin/snapshots/{sid}")
    assert "leak rate 33.3%" in page.locator("#snapshot-audit").inner_text()
    _fits(page, f"snapshot-{tag}")
    page.close()
