"""Rules that used to live in the web layer: the GPC rule, whether a purpose can be
switched, and the one choice parser."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pytest

from optin.domain.eligibility import Decision, Reason
from optin.domain.policy import default_policy_text, parse_policy
from optin.errors import InputError
from optin.services.choices import parse_choice, parse_enum
from optin.services.consent import GPC_PURPOSE, can_switch, gpc_objection_due, parse_action

T = datetime(2025, 1, 1, tzinfo=UTC)
POLICY = parse_policy(default_policy_text(), version=1, effective_at=T - timedelta(days=99))


@dataclass
class Ev:
    purpose: str
    action: str
    source: str
    at: datetime
    seq: int


def test_gpc_objection_is_due_once_and_never_after_a_withdrawal() -> None:
    assert gpc_objection_due([], POLICY)
    granted = [Ev(GPC_PURPOSE, "grant", "web", T, 1)]
    assert gpc_objection_due(granted, POLICY)
    withdrawn = [*granted, Ev(GPC_PURPOSE, "withdraw", "web", T + timedelta(days=1), 2)]
    assert not gpc_objection_due(withdrawn, POLICY)
    gpc_then_grant = [
        Ev(GPC_PURPOSE, "withdraw", "gpc", T, 1),
        Ev(GPC_PURPOSE, "grant", "web", T + timedelta(days=1), 2),
    ]
    assert not gpc_objection_due(gpc_then_grant, POLICY)  # the member's later grant stands
    other = [Ev("train_own_models", "withdraw", "web", T, 1)]
    assert gpc_objection_due(other, POLICY)


def test_gpc_objection_is_not_due_when_the_policy_lacks_the_purpose() -> None:
    kept = {k: v for k, v in POLICY.purposes.items() if k != GPC_PURPOSE}
    assert not gpc_objection_due([], dataclasses.replace(POLICY, purposes=kept))


@pytest.mark.parametrize(
    ("reason", "switchable"),
    [
        (Reason.ELIGIBLE, True),
        (Reason.NO_CONSENT, True),
        (Reason.WITHDRAWN, True),
        (Reason.STALE_POLICY, True),
        (Reason.EXCLUDED_JURISDICTION, False),
        (Reason.MINOR, False),
        (Reason.ACCOUNT_CLOSED, False),
        (Reason.ERASED, False),
    ],
)
def test_can_switch(reason: Reason, switchable: bool) -> None:
    assert can_switch(Decision("m1", "train_own_models", T, False, reason)) is switchable


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


def test_choice_parser_accepts_case_and_space_and_names_what_is_allowed() -> None:
    assert parse_choice(" On ", {"on": True, "off": False}, field="choice") is True
    assert parse_enum("BLUE", Colour, field="colour") is Colour.BLUE
    assert parse_enum(Colour.RED, Colour, field="colour") is Colour.RED
    with pytest.raises(InputError) as e:
        parse_enum("green", Colour, field="colour")
    assert "field 'colour'" in str(e.value) and "allowed: red, blue" in str(e.value)
    assert parse_action("off").value == "withdraw"
