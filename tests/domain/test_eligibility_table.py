"""Table-driven eligibility decisions: each reason, with its justification."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from optin.domain import (
    AccountStatus,
    ConsentAction,
    ConsentEvent,
    MemberHistory,
    PolicySet,
    Reason,
    Regime,
    default_policy_text,
    eligibility,
    parse_policy,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = datetime(2024, 6, 1, tzinfo=UTC)  # material change to share_with_providers
NOW = datetime(2024, 9, 1, tzinfo=UTC)
OPT_OUT_POLICY = default_policy_text().replace("opt_out = []", 'opt_out = ["BR"]')


def policies(text: str = default_policy_text()) -> PolicySet:
    return PolicySet(
        [
            parse_policy(text, version=1, effective_at=T0),
            parse_policy(
                text, version=2, effective_at=T1, material=frozenset({"share_with_providers"})
            ),
        ]
    )


def ev(i: int, purpose: str, action: str, at: datetime, version: int) -> ConsentEvent:
    return ConsentEvent(f"e{i}", "m", purpose, ConsentAction(action), at, version, seq=i)


def member(
    country: str | None = "US",
    birth: date | None = date(1990, 5, 5),
    events: tuple[ConsentEvent, ...] = (),
    status: AccountStatus = AccountStatus.ACTIVE,
    joined: datetime = datetime(2024, 1, 2, tzinfo=UTC),
) -> MemberHistory:
    statuses = [(joined, AccountStatus.ACTIVE)]
    if status is not AccountStatus.ACTIVE:
        statuses.append((datetime(2024, 8, 1, tzinfo=UTC), status))
    return MemberHistory(
        "m", birth, ((joined, country),) if country else (), tuple(statuses), events
    )


GRANT_OWN = ev(1, "train_own_models", "grant", datetime(2024, 2, 1, tzinfo=UTC), 1)
GRANT_SHARE_V1 = ev(2, "share_with_providers", "grant", datetime(2024, 2, 1, tzinfo=UTC), 1)
GRANT_SHARE_V2 = ev(3, "share_with_providers", "grant", datetime(2024, 7, 1, tzinfo=UTC), 2)
WITHDRAW_OWN = ev(4, "train_own_models", "withdraw", datetime(2024, 3, 1, tzinfo=UTC), 1)

CASES = [
    (
        "granted_us_member",
        member(events=(GRANT_OWN,)),
        "train_own_models",
        NOW,
        True,
        Reason.ELIGIBLE,
        "e1",
    ),
    ("never_consented", member(), "train_own_models", NOW, False, Reason.NO_CONSENT, None),
    (
        "withdrawn_after_grant",
        member(events=(GRANT_OWN, WITHDRAW_OWN)),
        "train_own_models",
        NOW,
        False,
        Reason.WITHDRAWN,
        "e4",
    ),
    (
        "granted_before_withdrawal_at_t",
        member(events=(GRANT_OWN, WITHDRAW_OWN)),
        "train_own_models",
        datetime(2024, 2, 15, tzinfo=UTC),
        True,
        Reason.ELIGIBLE,
        "e1",
    ),
    (
        "excluded_country",
        member(country="DE", events=(GRANT_OWN,)),
        "train_own_models",
        NOW,
        False,
        Reason.EXCLUDED_JURISDICTION,
        None,
    ),
    (
        "swiss_excluded",
        member(country="CH", events=(GRANT_OWN,)),
        "train_own_models",
        NOW,
        False,
        Reason.EXCLUDED_JURISDICTION,
        None,
    ),
    (
        "minor",
        member(birth=date(2010, 1, 1), events=(GRANT_OWN,)),
        "train_own_models",
        NOW,
        False,
        Reason.MINOR,
        None,
    ),
    (
        "unknown_age",
        member(birth=None, events=(GRANT_OWN,)),
        "train_own_models",
        NOW,
        False,
        Reason.UNKNOWN_AGE,
        None,
    ),
    (
        "unknown_country",
        member(country=None, events=(GRANT_OWN,)),
        "train_own_models",
        NOW,
        False,
        Reason.UNKNOWN_JURISDICTION,
        None,
    ),
    (
        "invalid_country_code",
        member(country="XX", events=(GRANT_OWN,)),
        "train_own_models",
        NOW,
        False,
        Reason.UNKNOWN_JURISDICTION,
        None,
    ),
    (
        "closed_account",
        member(events=(GRANT_OWN,), status=AccountStatus.CLOSED),
        "train_own_models",
        NOW,
        False,
        Reason.ACCOUNT_CLOSED,
        None,
    ),
    (
        "erased",
        member(events=(GRANT_OWN,), status=AccountStatus.ERASED),
        "train_own_models",
        NOW,
        False,
        Reason.ERASED,
        None,
    ),
    (
        "before_joining",
        member(events=(GRANT_OWN,)),
        "train_own_models",
        datetime(2024, 1, 1, 12, tzinfo=UTC),
        False,
        Reason.NOT_A_MEMBER,
        None,
    ),
    (
        "stale_after_material_change",
        member(events=(GRANT_SHARE_V1,)),
        "share_with_providers",
        NOW,
        False,
        Reason.STALE_POLICY,
        "e2",
    ),
    (
        "stale_grant_valid_before_change",
        member(events=(GRANT_SHARE_V1,)),
        "share_with_providers",
        datetime(2024, 5, 1, tzinfo=UTC),
        True,
        Reason.ELIGIBLE,
        "e2",
    ),
    (
        "reconsented_after_material_change",
        member(events=(GRANT_SHARE_V1, GRANT_SHARE_V2)),
        "share_with_providers",
        NOW,
        True,
        Reason.ELIGIBLE,
        "e3",
    ),
    (
        "unknown_purpose",
        member(events=(GRANT_OWN,)),
        "sell_to_brokers",
        NOW,
        False,
        Reason.UNKNOWN_PURPOSE,
        None,
    ),
    (
        "no_policy_yet",
        member(events=(GRANT_OWN,)),
        "train_own_models",
        datetime(2023, 1, 1, tzinfo=UTC),
        False,
        Reason.NO_POLICY,
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "history", "purpose", "at", "eligible", "reason", "event"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_decision_table(name, history, purpose, at, eligible, reason, event) -> None:
    d = eligibility(history, purpose, at, policies())
    assert (d.eligible, d.reason, d.consent_event_id) == (eligible, reason, event)
    assert d.explanation


def test_when_opt_out_regime_then_decision_says_so() -> None:
    ps = policies(OPT_OUT_POLICY)
    d = eligibility(member(country="BR"), "train_own_models", NOW, ps)
    assert d.eligible and d.reason is Reason.ELIGIBLE_OPT_OUT_DEFAULT
    assert d.regime is Regime.OPT_OUT
    assert "OPT-OUT" in d.explanation
    w = ev(9, "train_own_models", "withdraw", datetime(2024, 3, 1, tzinfo=UTC), 1)
    d2 = eligibility(member(country="BR", events=(w,)), "train_own_models", NOW, ps)
    assert not d2.eligible and d2.reason is Reason.WITHDRAWN


def test_when_same_time_events_then_ledger_order_decides() -> None:
    t = datetime(2024, 2, 1, tzinfo=UTC)
    g = ev(1, "train_own_models", "grant", t, 1)
    w = ev(2, "train_own_models", "withdraw", t, 1)
    assert (
        eligibility(member(events=(w, g)), "train_own_models", NOW, policies()).reason
        is Reason.WITHDRAWN
    )


def test_decision_serialises_with_justification() -> None:
    d = eligibility(member(events=(GRANT_OWN,)), "train_own_models", NOW, policies())
    data = d.to_dict()
    assert data["reason"] == "ELIGIBLE" and data["consent_event_id"] == "e1"
    assert data["policy_version"] == 1 and data["regime"] == "opt_in"
