"""Data-subject requests, the pure part: deadline table (month ends, leap years,
extensions, time zones), days left, urgency, the state machine, the policy's [dsr] table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optin.domain.dsr import (
    FALLBACK_RULE,
    DeadlineRule,
    DsrState,
    PeriodUnit,
    RequestFacts,
    add_months,
    check_transition,
    days_left,
    deadline,
    last_day,
    urgency,
)
from optin.domain.policy import default_policy_text, parse_policy
from optin.errors import ConflictError, InputError

GDPR = DeadlineRule("gdpr", "GDPR", PeriodUnit.MONTHS, 1, 2, "Europe/Brussels")
CCPA = DeadlineRule("ccpa", "CCPA", PeriodUnit.DAYS, 45, 45, "America/Los_Angeles")
UTC_RULE = FALLBACK_RULE


def Z(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


DEADLINES = [
    # (case, rule, received (UTC), extended, last local day, due (UTC))
    ("mid month", GDPR, "2024-01-15T10:00", False, date(2024, 2, 15), "2024-02-15T23:00"),
    ("31 Jan -> 28 Feb", GDPR, "2025-01-31T10:00", False, date(2025, 2, 28), "2025-02-28T23:00"),
    (
        "31 Jan -> 29 Feb leap",
        GDPR,
        "2024-01-31T10:00",
        False,
        date(2024, 2, 29),
        "2024-02-29T23:00",
    ),
    (
        "31 Mar -> 30 Apr (CEST)",
        GDPR,
        "2024-03-31T10:00",
        False,
        date(2024, 4, 30),
        "2024-04-30T22:00",
    ),
    ("year wrap", GDPR, "2024-12-31T10:00", False, date(2025, 1, 31), "2025-01-31T23:00"),
    ("29 Feb -> 29 Mar", GDPR, "2024-02-29T10:00", False, date(2024, 3, 29), "2024-03-29T23:00"),
    # the receipt is read in the rule's zone: 23:30 UTC on 31 Jan is already 1 Feb in Brussels
    (
        "late UTC is next day locally",
        GDPR,
        "2025-01-31T23:30",
        False,
        date(2025, 3, 1),
        "2025-03-01T23:00",
    ),
    # DST: the period ends at local midnight, which is 22:00 UTC in summer
    ("ends in summer time", GDPR, "2025-03-01T12:00", False, date(2025, 4, 1), "2025-04-01T22:00"),
    # extension: 1 + 2 months counted from the receipt, clamping never compounds
    ("31 Jan + 3 -> 30 Apr", GDPR, "2025-01-31T10:00", True, date(2025, 4, 30), "2025-04-30T22:00"),
    (
        "30 Nov + 3 -> 29 Feb leap",
        GDPR,
        "2023-11-30T10:00",
        True,
        date(2024, 2, 29),
        "2024-02-29T23:00",
    ),
    ("30 Nov + 3 -> 28 Feb", GDPR, "2024-11-30T10:00", True, date(2025, 2, 28), "2025-02-28T23:00"),
    ("CCPA 45 days", CCPA, "2025-01-01T12:00", False, date(2025, 2, 15), "2025-02-16T08:00"),
    # 05:00 UTC on 2 Jan is still 1 Jan in Los Angeles
    ("CCPA local day", CCPA, "2025-01-02T05:00", False, date(2025, 2, 15), "2025-02-16T08:00"),
    ("CCPA over 29 Feb", CCPA, "2024-01-20T18:00", False, date(2024, 3, 5), "2024-03-06T08:00"),
    ("CCPA + 45 (PDT)", CCPA, "2025-01-01T12:00", True, date(2025, 4, 1), "2025-04-02T07:00"),
    ("UTC fallback", UTC_RULE, "2023-01-31T00:00", False, date(2023, 2, 28), "2023-03-01T00:00"),
    ("UTC fallback + 2", UTC_RULE, "2023-01-31T00:00", True, date(2023, 4, 30), "2023-05-01T00:00"),
]


@pytest.mark.parametrize(
    ("case", "rule", "received", "extended", "last", "due"),
    DEADLINES,
    ids=[d[0] for d in DEADLINES],
)
def test_deadline_table(case, rule, received, extended, last, due) -> None:  # type: ignore[no-untyped-def]
    assert last_day(rule, Z(received), extended=extended) == last
    got = deadline(rule, Z(received), extended=extended)
    assert got == Z(due), case
    assert got.tzinfo is not None


@given(st.dates(min_value=date(1971, 1, 1), max_value=date(2400, 12, 31)), st.integers(0, 36))
def test_add_months_keeps_the_day_or_clamps_to_month_end(d: date, n: int) -> None:
    r = add_months(d, n)
    assert (r.year * 12 + r.month) - (d.year * 12 + d.month) == n
    assert r.day <= d.day
    if r.day != d.day:  # clamped: the month has no such day, so r is its last day
        assert (r + timedelta(days=1)).day == 1


@given(st.dates(min_value=date(1971, 1, 1), max_value=date(2400, 12, 31)))
def test_extended_deadline_is_never_earlier(d: date) -> None:
    t = datetime(d.year, d.month, d.day, 12, tzinfo=UTC)
    for rule in (GDPR, CCPA, UTC_RULE):
        assert deadline(rule, t) < deadline(rule, t, extended=True)
        assert deadline(rule, t) > t


DAYS_LEFT = [
    # due is the end of 28 Feb 2025 in Brussels (23:00 UTC)
    ("a week before", "2025-02-21T12:00", 7),
    ("the day before", "2025-02-27T12:00", 1),
    ("on the last day", "2025-02-28T12:00", 0),
    ("last minute", "2025-02-28T22:59", 0),
    ("at the deadline", "2025-02-28T23:00", -1),
    ("two days late", "2025-03-02T10:00", -2),
]


@pytest.mark.parametrize(("case", "now", "left"), DAYS_LEFT, ids=[d[0] for d in DAYS_LEFT])
def test_days_left(case: str, now: str, left: int) -> None:
    due = deadline(GDPR, Z("2025-01-31T10:00"))
    assert days_left(due, Z(now), "Europe/Brussels") == left


@pytest.mark.parametrize(
    ("state", "left", "want"),
    [
        (DsrState.RECEIVED, -1, "overdue"),
        (DsrState.VERIFIED, 0, "urgent"),
        (DsrState.IN_PROGRESS, 3, "urgent"),
        (DsrState.EXTENDED, 4, "soon"),
        (DsrState.RECEIVED, 10, "soon"),
        (DsrState.RECEIVED, 11, "ok"),
        (DsrState.COMPLETED, -5, "done"),
        (DsrState.REFUSED, 30, "done"),
    ],
)
def test_urgency(state: DsrState, left: int, want: str) -> None:
    assert urgency(state, left).value == want


NOW = Z("2025-01-10T00:00")
DUE = Z("2025-02-10T00:00")


def facts(
    state: DsrState, *, verified: bool = False, extended: bool = False, linked: bool = False
) -> RequestFacts:
    return RequestFacts(state, verified, extended, DUE, linked)


ILLEGAL = [
    (
        "completed is final",
        facts(DsrState.COMPLETED, verified=True),
        DsrState.REFUSED,
        "x",
        "already completed",
    ),
    ("refused is final", facts(DsrState.REFUSED), DsrState.VERIFIED, None, "already refused"),
    (
        "no skipping verification",
        facts(DsrState.RECEIVED),
        DsrState.COMPLETED,
        None,
        "from received it can go to: extended, refused, verified",
    ),
    (
        "no going back",
        facts(DsrState.IN_PROGRESS, verified=True),
        DsrState.VERIFIED,
        None,
        "cannot go from in_progress to verified",
    ),
    (
        "extended but never verified",
        facts(DsrState.EXTENDED, extended=True),
        DsrState.COMPLETED,
        None,
        "before the member's identity is verified",
    ),
    (
        "verified twice",
        facts(DsrState.EXTENDED, verified=True, extended=True),
        DsrState.VERIFIED,
        None,
        "already recorded",
    ),
    (
        "one extension only",
        facts(DsrState.EXTENDED, verified=True, extended=True),
        DsrState.IN_PROGRESS,
        None,
        None,
    ),
    (
        "linked follows its first",
        facts(DsrState.RECEIVED, linked=True),
        DsrState.VERIFIED,
        None,
        "linked",
    ),
]


@pytest.mark.parametrize(
    ("case", "f", "target", "reason", "msg"), ILLEGAL, ids=[c[0] for c in ILLEGAL]
)
def test_illegal_transitions_are_refused_clearly(case, f, target, reason, msg) -> None:  # type: ignore[no-untyped-def]
    if msg is None:  # the control case: allowed
        check_transition(f, target, now=NOW, reason=reason)
        return
    with pytest.raises(ConflictError, match=msg):
        check_transition(f, target, now=NOW, reason=reason)


def test_refusal_and_extension_need_a_reason() -> None:
    for target in (DsrState.REFUSED, DsrState.EXTENDED):
        with pytest.raises(InputError, match="reason is required"):
            check_transition(facts(DsrState.VERIFIED, verified=True), target, now=NOW, reason=" ")


def test_extension_only_once_and_before_the_deadline() -> None:
    f = facts(DsrState.IN_PROGRESS, verified=True, extended=True)
    with pytest.raises(ConflictError, match="already extended once"):
        check_transition(
            RequestFacts(DsrState.VERIFIED, True, True, DUE), DsrState.EXTENDED, now=NOW, reason="r"
        )
    with pytest.raises(ConflictError, match=r"deadline .* has passed"):
        check_transition(
            facts(DsrState.VERIFIED, verified=True), DsrState.EXTENDED, now=DUE, reason="r"
        )
    check_transition(
        facts(DsrState.VERIFIED, verified=True), DsrState.EXTENDED, now=NOW, reason="r"
    )
    assert f.extended


def test_default_policy_has_gdpr_and_ccpa_rules() -> None:
    pv = parse_policy(default_policy_text(), version=1, effective_at=Z("2024-01-01T00:00"))
    assert pv.dsr.rule_for("DE").id == "gdpr"
    assert pv.dsr.rule_for("GB").id == "gdpr"
    assert pv.dsr.rule_for("US").id == "ccpa"
    assert pv.dsr.rule_for("IN").id == "gdpr"  # the default
    assert pv.dsr.rule_for(None).id == "gdpr"
    assert pv.dsr.rule_for("US").period == 45 and pv.dsr.rule_for("US").unit is PeriodUnit.DAYS


def test_policy_without_dsr_table_uses_the_fallback() -> None:
    text = default_policy_text().split("[dsr]")[0]
    pv = parse_policy(text, version=1, effective_at=Z("2024-01-01T00:00"))
    assert pv.dsr.rule_for("US") == FALLBACK_RULE


BAD_DSR = [
    (
        "both units",
        '[dsr]\ndefault = "a"\n[dsr.rules.a]\nmonths = 1\ndays = 3\n',
        "dsr.rules.a",
        "exactly one period",
    ),
    (
        "no unit",
        '[dsr]\ndefault = "a"\n[dsr.rules.a]\nextension = 1\n',
        "dsr.rules.a",
        "exactly one period",
    ),
    (
        "zero months",
        '[dsr]\ndefault = "a"\n[dsr.rules.a]\nmonths = 0\n',
        "dsr.rules.a.months",
        "1..12",
    ),
    (
        "bad zone",
        '[dsr]\ndefault = "a"\n[dsr.rules.a]\ndays = 3\ntimezone = "Mars/Olympus"\n',
        "dsr.rules.a.timezone",
        "IANA",
    ),
    (
        "bad country",
        '[dsr]\ndefault = "a"\n[dsr.rules.a]\ndays = 3\ncountries = ["XX"]\n',
        "dsr.rules.a.countries",
        "ISO 3166",
    ),
    (
        "unknown default",
        '[dsr]\ndefault = "b"\n[dsr.rules.a]\ndays = 3\n',
        "dsr.default",
        "allowed: a",
    ),
    (
        "country twice",
        '[dsr]\ndefault = "a"\n[dsr.rules.a]\ndays = 3\ncountries = ["US"]\n[dsr.rules.b]\ndays = 3\ncountries = ["US"]\n',
        "dsr.rules",
        "two deadline rules",
    ),
]


@pytest.mark.parametrize(("case", "table", "field", "msg"), BAD_DSR, ids=[c[0] for c in BAD_DSR])
def test_bad_dsr_table_names_file_and_field(case: str, table: str, field: str, msg: str) -> None:
    text = default_policy_text().split("[dsr]")[0] + table
    with pytest.raises(InputError) as e:
        parse_policy(text, version=1, effective_at=Z("2024-01-01T00:00"), source="p.toml")
    assert e.value.field == field and e.value.file == "p.toml"
    assert msg in str(e.value)
