"""Accessibility in a real browser (Debian chromium via Playwright): axe-core, injected
into each page, finds no serious or critical violation on any member or admin page at
390 px and at 1280 px; and the keyboard reaches the main controls in a sensible order with a
visible focus ring.

axe-core is the copy bundled by the PyPI package ``axe-playwright-python`` (dev extra): read
from the installed package at test time, nothing fetched. Its version is printed with any
failure. The rules run are axe's defaults (WCAG 2.0/2.1/2.2 A and AA plus best practices);
the test fails on the ``serious`` and ``critical`` impacts, and writes every finding, minor
and moderate included, to ``test-artifacts/axe-<width>.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser import ARTIFACTS, BROWSER_MARKS, PHONE, browser, login, serve

__all__ = ["browser"]

pytestmark = BROWSER_MARKS
TRAIN = "train_own_models"
SETTINGS = "/settings/data-privacy/generative-ai"
HISTORY = "/settings/data-privacy/history"
YOUR_DATA = "/settings/data-privacy/your-data-and-ai"
REQUESTS = "/settings/data-privacy/requests"
MEMBER_PAGES = [SETTINGS, HISTORY, YOUR_DATA, REQUESTS]
ADMIN_PAGES = [
    "/admin", "/admin/snapshots", "/admin/ledger", "/admin/policy", "/admin/requests",
]  # fmt: skip
BLOCKING = {"serious", "critical"}
DESKTOP = {"width": 1280, "height": 900}


def axe_source() -> tuple[str, str]:
    """The bundled axe.min.js and its version (from its banner comment)."""
    import axe_playwright_python as pkg  # the dev extra; a missing install fails, never skips

    text = (Path(pkg.__file__).parent / "axe.min.js").read_text(encoding="utf-8")
    m = re.search(r"axe v(\d+\.\d+\.\d+)", text[:200])
    return text, m.group(1) if m else "?"


def scan(page: Any) -> list[dict[str, Any]]:
    """Inject axe into the page (through the debugging protocol, so the app's CSP stays as it
    is) and return its violations: id, impact, help, and each node's target and summary."""
    source, _version = axe_source()
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [
                {"target": n["target"], "summary": n.get("failureSummary", "")} for n in v["nodes"]
            ],
        }
        for v in result["violations"]
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, str]]:
    from optin.services.demo import generate_demo
    from optin.services.snapshots import build_snapshot
    from optin.settings import Settings
    from optin.storage.database import Database
    from optin.web import create_app

    home = tmp_path_factory.mktemp("browser-a11y-home")
    settings = Settings(home=home)
    db = Database.open(settings)
    generate_demo(db, members=40, posts=240, seed=3, now=datetime.now(UTC))
    sid = build_snapshot(db, settings, TRAIN, engine="inline", now=datetime.now(UTC)).snapshot_id
    with serve(create_app(settings, db=db)) as base:
        yield base, db, sid
    db.dispose()


def _member_pages(page: Any, base: str, sid: str) -> list[str]:
    page.goto(f"{base}{HISTORY}")
    receipt = page.get_by_role("link", name="Read").first.get_attribute("href")
    return [*MEMBER_PAGES, f"{YOUR_DATA}/{sid}", str(receipt)]


def test_axe_is_injected_and_sees_a_known_fault(browser: Any) -> None:
    """The scan is not vacuous: on a page with an unlabelled field, a bare image and grey on
    grey text, the injected axe reports each with its impact."""
    page = browser.new_page()
    page.set_content(
        '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
        '<h1>Faults</h1><input id="x"><img src="data:,">'
        '<p style="color:#999;background:#aaa">faint</p></main></body></html>'
    )
    found = {v["id"]: v["impact"] for v in scan(page)}
    page.close()
    assert found.get("label") == "critical", found
    assert found.get("image-alt") == "critical", found
    assert found.get("color-contrast") == "serious", found


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_axe_finds_no_serious_or_critical_violation(
    world: tuple[str, Any, str], browser: Any, viewport: dict[str, int]
) -> None:
    base, _db, sid = world
    _source, version = axe_source()
    mobile = viewport["width"] < 500
    found: dict[str, list[dict[str, Any]]] = {}
    ctx = browser.new_context(viewport=viewport, is_mobile=mobile)
    page = ctx.new_page()
    page.goto(f"{base}/login")
    found["/login"] = scan(page)
    page.goto(f"{base}/no-such-page")
    found["404"] = scan(page)
    login(page, base, "ada", "demo-ada-2024")
    pages = _member_pages(page, base, sid)
    for path in pages:
        page.goto(f"{base}{path}")
        found[path] = scan(page)
    # the page after a change (the saved message and what happens to built training sets)
    page.goto(f"{base}{SETTINGS}")
    with page.expect_navigation():
        page.locator(f"label[for=t-{TRAIN}]").click()
    assert page.locator("#withdrawal-feedback").is_visible()
    found[f"{SETTINGS} (after switching off)"] = scan(page)
    with page.expect_navigation():
        page.locator(f"label[for=t-{TRAIN}]").click()  # back on: the next run starts alike
    # the requests page with an open request in its table (and the admin's queue below)
    page.goto(f"{base}{REQUESTS}")
    with page.expect_navigation():
        page.get_by_role("button", name="Request a copy of my data").click()
    found[f"{REQUESTS} (after a request)"] = scan(page)
    ctx.close()
    # the other demo members' settings: an opt-out default (GB) and another regime (NG)
    for handle in ("grace", "kofi"):
        other = browser.new_context(viewport=viewport, is_mobile=mobile)
        op = other.new_page()
        login(op, base, handle, f"demo-{handle}-2024")
        found[f"{SETTINGS} (@{handle})"] = scan(op)
        other.close()
    admin_ctx = browser.new_context(viewport=viewport, is_mobile=mobile)
    admin = admin_ctx.new_page()
    login(admin, base, "admin", "demo-admin-2024")
    for path in [*ADMIN_PAGES, f"/admin/snapshots/{sid}", f"/admin/snapshots/{sid}/audit"]:
        admin.goto(f"{base}{path}")
        found[path] = scan(admin)
    # the pages that answer the two Verify buttons
    for path, button in [
        ("/admin/ledger", "Verify the whole chain"),
        (f"/admin/snapshots/{sid}", "Verify this snapshot"),
    ]:
        admin.goto(f"{base}{path}")
        with admin.expect_navigation():
            admin.get_by_role("button", name=button).click()
        found[f"{path} (after {button})"] = scan(admin)
    admin_ctx.close()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe-{viewport['width']}.json").write_text(
        json.dumps({"axe": version, "pages": found}, indent=1)
    )
    assert len(found) >= 16
    blocking = {
        path: [f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes'][:3]}" for v in bad]
        for path, vs in found.items()
        if (bad := [v for v in vs if v["impact"] in BLOCKING])
    }
    assert blocking == {}, f"axe {version} at {viewport['width']} px: {blocking}"


FOCUS_RING = r"""() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  // a switch draws its ring on the track beside the (invisible) checkbox
  const t = e.matches('.switch input') ? e.nextElementSibling : e;
  const s = getComputedStyle(t);
  const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)
    || (s.boxShadow && s.boxShadow !== 'none');
  const r = t.getBoundingClientRect();
  return {tag: e.tagName.toLowerCase(), role: e.getAttribute('role'), name:
    (e.getAttribute('aria-label') || (e.labels && e.labels[0] && e.labels[0].innerText)
     || e.innerText || e.value || '').replace(/\s+/g, ' ').trim().slice(0, 80),
    ring: ring, visible: r.width > 0 && r.height > 0, main: !!e.closest('main')};
}"""


def _tab_through(page: Any, presses: int) -> list[dict[str, Any]]:
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        info = page.evaluate(FOCUS_RING)
        if info is None:
            break
        seen.append(info)
    return seen


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_keyboard_reaches_the_main_controls_with_a_visible_focus(
    world: tuple[str, Any, str], browser: Any, viewport: dict[str, int]
) -> None:
    base, _db, _sid = world
    ctx = browser.new_context(viewport=viewport, is_mobile=viewport["width"] < 500)
    page = ctx.new_page()
    # the login form by keyboard alone: the handle field has the focus on arrival, then
    # Tab goes to the password and the button, each with its ring
    page.goto(f"{base}/login")
    assert page.evaluate("document.activeElement.id") == "handle"
    stops = _tab_through(page, 2)
    assert [(s["tag"], s["name"]) for s in stops] == [("input", "Password"), ("button", "Log in")]
    assert all(s["ring"] and s["visible"] for s in stops), stops
    page.goto(f"{base}/login")
    # the page's autofocus lands after load: type only once the handle has the focus
    page.wait_for_function("document.activeElement && document.activeElement.id === 'handle'")
    page.keyboard.type("ada")
    page.keyboard.press("Tab")
    page.keyboard.type("demo-ada-2024")
    assert page.input_value("#handle") == "ada"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(SETTINGS)
    # the settings page: skip link, the navigation, then every purpose's switch, in page order
    stops = _tab_through(page, 40)
    assert stops[0]["name"] == "Skip to content"
    assert all(s["ring"] and s["visible"] for s in stops), [
        s for s in stops if not (s["ring"] and s["visible"])
    ]
    nav = [s["name"] for s in stops if not s["main"] and s["tag"] == "a"]
    assert nav[:5] == [
        "Skip to content",
        "optin",
        "AI settings",
        "Consent history",
        "Your data and AI",
    ]
    switches = [s["name"] for s in stops if s["role"] == "switch"]
    titles = page.locator("main section.purpose h2").all_inner_texts()
    enabled = page.locator("main input[role=switch]:not([disabled])").count()
    assert len(switches) == enabled >= 2, switches
    order = [next(i for i, t in enumerate(titles) if s.startswith(t)) for s in switches]
    assert order == sorted(order), switches
    # Space on the focused switch changes it (and the page says so)
    page.goto(f"{base}{SETTINGS}")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('role')") == "switch":
            break
    sw = page.evaluate("document.activeElement.id")
    before = page.locator(f"#{sw}").is_checked()
    with page.expect_navigation():
        page.keyboard.press("Space")
    assert page.locator(f"#{sw}").is_checked() is not before
    assert page.get_by_role("status").first.is_visible()
    with page.expect_navigation():
        page.locator(f"label[for={sw}]").click()  # restore
    # the history table: the receipt links are reachable and ringed
    page.goto(f"{base}{HISTORY}")
    stops = _tab_through(page, 30)
    reads = [s for s in stops if s["name"].startswith("Read the receipt for the event of")]
    assert reads and all(s["ring"] and s["visible"] for s in reads), [s["name"] for s in stops]
    ctx.close()
