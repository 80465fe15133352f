"""The settings page's purpose cards tell the truth about capacity: a void grant (given
as a minor or while excluded) shows as off with why; a minor's text uses the country's
own minimum age and, in an opt-out country, says that use starts by default."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from optin.domain.eligibility import Decision, Reason
from optin.domain.model import Regime
from optin.domain.policy import default_policy_text, parse_policy
from optin.web.pages import HistoryEvent, card_for

AT = datetime(2025, 6, 1, tzinfo=UTC)
P = "train_own_models"


def _policy(text: str = default_policy_text()):  # type: ignore[no-untyped-def]
    return parse_policy(text, version=1, effective_at=datetime(2024, 1, 1, tzinfo=UTC))


def _grant() -> HistoryEvent:
    return HistoryEvent("e1", 1, P, "grant", datetime(2024, 6, 1, tzinfo=UTC), None, "web", 1)


@pytest.mark.parametrize(
    ("reason", "needle"),
    [
        (Reason.GRANT_GIVEN_AS_MINOR, "under the minimum age"),
        (Reason.GRANT_GIVEN_WHILE_EXCLUDED, "does not use members' content"),
    ],
)
def test_when_grant_is_void_then_card_off_with_explanation(reason: Reason, needle: str) -> None:
    pv = _policy()
    d = Decision("m1", P, AT, False, reason, Regime.OPT_IN, "US", "e1", 1)
    card = card_for(pv.purposes[P], d, [_grant()], pv)
    assert card.checked is False and card.disabled is False
    assert card.void_reason is not None and needle in card.void_reason
    assert "switch it on again" in card.void_reason


def test_when_minor_in_country_with_own_age_then_text_names_that_age() -> None:
    text = default_policy_text().replace(
        "[jurisdictions.minimum_age]", "[jurisdictions.minimum_age]\nUS = 21"
    )
    pv = _policy(text)
    d = Decision("m1", P, AT, False, Reason.MINOR, Regime.OPT_IN, "US")
    card = card_for(pv.purposes[P], d, [], pv)
    assert card.disabled and card.disabled_reason is not None
    assert "under 21" in card.disabled_reason
    assert "only if you switch it on after that" in card.disabled_reason


def test_when_minor_in_opt_out_country_then_text_says_default_on_at_that_age() -> None:
    pv = _policy(default_policy_text().replace("opt_out = []", 'opt_out = ["BR"]'))
    d = Decision("m1", P, AT, False, Reason.MINOR, Regime.OPT_OUT, "BR")
    card = card_for(pv.purposes[P], d, [], pv)
    assert card.disabled_reason is not None
    assert "under 18" in card.disabled_reason and "Brazil" in card.disabled_reason
    assert "by default unless you switch it off" in card.disabled_reason
    assert "only if you switch it on" not in card.disabled_reason
