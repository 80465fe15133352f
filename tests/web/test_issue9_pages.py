"""Issue 9 on the pages: the re-consent banner says what changed (the added provider),
and the admin policy page shows every regime and the diff against the previous version."""

from __future__ import annotations

import html as html_lib

from optin.domain.policy import default_policy_text
from tests.web.conftest import World, csrf_of

SETTINGS = "/settings/data-privacy/generative-ai"
AZURE = 'recipients = ["Azure OpenAI Service (Microsoft)"]'


def test_when_a_provider_is_added_then_the_banner_names_it(world: World) -> None:
    alice = world.login("alice")
    r = alice.post(
        SETTINGS,
        data={"purpose": "share_with_providers", "choice": "on", "csrf_token": csrf_of(alice)},
    )
    assert r.status_code == 303
    doc = default_policy_text()
    assert AZURE in doc
    doc = doc.replace(AZURE, AZURE[:-1] + ', "Acme AI Labs"]')
    admin = world.login("admin")
    r = admin.post(
        "/admin/policy",
        data={
            "document": doc,
            "material": ["share_with_providers"],
            "csrf_token": csrf_of(admin, "/admin/policy"),
        },
    )
    assert r.status_code == 303, r.text
    page = html_lib.unescape(alice.get(SETTINGS).text)
    banner = page[page.index('id="policy-banner"') :]
    banner = " ".join(banner[: banner.index("</div>")].split())
    assert "What changed:" in banner and "Acme AI Labs" in banner, banner
    assert "also shares content with" in banner

    # the admin page: every regime, and what the new version changed against the old
    shown = html_lib.unescape(admin.get("/admin/policy").text)
    regimes = shown[shown.index('id="regimes"') :]
    regimes = " ".join(regimes[: regimes.index("</section>")].split())
    for regime in ("excluded", "opt_in", "opt_out"):
        assert regime in regimes
    assert "DE" in regimes  # an excluded country of the shipped policy
    diff = shown[shown.index('id="diff"') :]
    diff = " ".join(diff[: diff.index("</section>")].split())
    assert "against version 1" in diff and "Acme AI Labs" in diff
