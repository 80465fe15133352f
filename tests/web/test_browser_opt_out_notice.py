"""In a real browser (Debian chromium via Playwright): an admin publishes an opt-out
change with the acknowledgement; a member in that country sees, during the notice
period, a banner with the date and the exact change; nothing is eligible by default
before the period ends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser import ARTIFACTS, BROWSER_MARKS, launch, serve
from tests.browser import login as _login

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    from optin.services.demo import generate_demo
    from optin.settings import Settings
    from optin.storage.database import Database
    from optin.web import create_app

    home = tmp_path_factory.mktemp("browser-optout-home")
    settings = Settings(home=home)
    db = Database.open(settings)
    generate_demo(db, members=30, posts=60, seed=5, now=datetime.now(UTC))
    with serve(create_app(settings, db=db)) as base:
        yield base, db
    db.dispose()


def test_admin_publishes_opt_out_and_member_sees_the_notice(world) -> None:  # type: ignore[no-untyped-def]
    from optin.domain.eligibility import Reason
    from optin.services.eligibility import decide_all
    from optin.services.policy import policy_document, policy_set

    base, db = world
    ARTIFACTS.mkdir(exist_ok=True)
    latest = policy_set(db).latest()
    assert latest is not None
    doc = policy_document(db, latest.version)
    doc = re.sub(r"(?m)^opt_out = \[\]$", 'opt_out = ["US"]', doc)
    assert 'opt_out = ["US"]' in doc
    with launch() as browser:
        admin = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        _login(admin, base, "admin", "demo-admin-2024")
        admin.goto(f"{base}/admin/policy")
        assert "opt_out" in admin.locator("#regimes").inner_text()
        admin.locator("#document").fill(doc)
        for pid in ("train_own_models", "share_with_providers"):
            admin.locator(f"input[name=material][value={pid}]").check()
        # without the acknowledgement: refused, naming the flag
        admin.get_by_role("button", name="Publish new version").click()
        admin.wait_for_load_state()
        assert "i-understand-opt-out" in admin.locator("[role=alert]").inner_text()
        admin.locator("#i_understand_opt_out").check()
        admin.get_by_role("button", name="Publish new version").click()
        admin.wait_for_load_state()
        assert "Published policy version" in admin.content()
        assert "notice period" in admin.content()
        assert "US" in admin.locator("#regimes").inner_text()
        admin.screenshot(path=str(ARTIFACTS / "policy-opt-out.png"), full_page=True)

        pv = policy_set(db).latest()
        assert pv is not None and pv.in_force_at is not None
        day = pv.in_force_at.date().isoformat()
        member = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        _login(member, base, "ada", "demo-ada-2024")  # Ada lives in the US
        member.goto(f"{base}/settings/data-privacy/generative-ai")
        notice = member.locator(f"#policy-notice-{pv.version}")
        assert notice.is_visible()
        text = " ".join(notice.inner_text().split())
        assert f"From {day}" in text and "United States" in text
        assert "included by default" in text
        member.screenshot(path=str(ARTIFACTS / "opt-out-notice.png"), full_page=True)
    # nothing is eligible by default during the notice period; afterwards it is
    now = datetime.now(UTC)
    for purpose in ("train_own_models", "share_with_providers"):
        during = {d.reason for d in decide_all(db, purpose, now)}
        assert Reason.ELIGIBLE_OPT_OUT_DEFAULT not in during
    after = {d.reason for d in decide_all(db, "train_own_models", pv.in_force_at + timedelta(1))}
    assert Reason.ELIGIBLE_OPT_OUT_DEFAULT in after
