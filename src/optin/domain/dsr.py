"""Data-subject requests (DSRs): kinds, states, the legal transitions and the deadline
arithmetic. Pure: no I/O, no clock; every time is a parameter.

Kinds: ``access`` (a copy of what the platform holds and where it went), ``erasure``,
``objection`` (Art. 21 style: stop every training use).

States::

    received ──> verified ──> in_progress ──> completed
       │            │              │
       └────────────┴──────────────┴──> refused (reason)
       └────────────┴──────────────┴──> extended (reason, notice) ──> verified |
                                                                     in_progress |
                                                                     completed | refused

``completed`` and ``refused`` are final. A request is extended at most once, and only
before its first deadline has passed (the member must be told within the first period).
A request that was never verified cannot be started or completed.

Deadlines (:class:`DeadlineRule`, data in the policy's ``[dsr]`` table): a period of
whole calendar months (GDPR style: "one month", extendable by two more) or of days (CCPA
style: 45 days, extendable by 45). **Time zone**: the receipt time is read in the rule's
zone (``timezone``, default UTC; optin keeps no zone per member, and a rule covers a
legal area, so the deadline is the same for every member it covers). The day of receipt
does not count; the period ends at the end (24:00) of the last day, local time:

* months: the day in the ``n``-th following month with the same number as the day of
  receipt, or that month's last day when it has no such day (31 Jan + 1 month = 28 Feb,
  29 Feb in a leap year); an extension counts from the day of receipt too (31 Jan + 1 +
  2 months = 30 Apr, not 28 Apr), so clamping never compounds;
* days: the ``n``-th day after the day of receipt.

Deadlines are returned as aware UTC datetimes (the first instant *after* the period:
local midnight at the end of the last day), so "overdue" is simply ``now >= due``.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from optin.errors import ConflictError, InputError


class DsrKind(StrEnum):
    ACCESS = "access"
    ERASURE = "erasure"
    OBJECTION = "objection"


class DsrState(StrEnum):
    RECEIVED = "received"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    EXTENDED = "extended"
    COMPLETED = "completed"
    REFUSED = "refused"


FINAL_STATES = frozenset({DsrState.COMPLETED, DsrState.REFUSED})
OPEN_STATES = frozenset(DsrState) - FINAL_STATES

#: Where each state may go (before the extra conditions of :func:`check_transition`).
TRANSITIONS: Mapping[DsrState, frozenset[DsrState]] = {
    DsrState.RECEIVED: frozenset({DsrState.VERIFIED, DsrState.REFUSED, DsrState.EXTENDED}),
    DsrState.VERIFIED: frozenset(
        {DsrState.IN_PROGRESS, DsrState.COMPLETED, DsrState.REFUSED, DsrState.EXTENDED}
    ),
    DsrState.IN_PROGRESS: frozenset({DsrState.COMPLETED, DsrState.REFUSED, DsrState.EXTENDED}),
    DsrState.EXTENDED: frozenset(
        {DsrState.VERIFIED, DsrState.IN_PROGRESS, DsrState.COMPLETED, DsrState.REFUSED}
    ),
    DsrState.COMPLETED: frozenset(),
    DsrState.REFUSED: frozenset(),
}

#: States that need a reason.
NEEDS_REASON = frozenset({DsrState.REFUSED, DsrState.EXTENDED})


def parse_kind(value: str) -> DsrKind:
    try:
        return DsrKind(value.strip().lower())
    except ValueError:
        raise InputError(
            "unknown request kind",
            field="kind",
            value=value,
            allowed=", ".join(k.value for k in DsrKind),
        ) from None


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the transition rule needs to know about a request."""

    state: DsrState
    verified: bool
    extended: bool
    due_at: datetime
    linked: bool = False


def check_transition(
    facts: RequestFacts, target: DsrState, *, now: datetime, reason: str | None = None
) -> None:
    """Raise :class:`ConflictError` (or :class:`InputError` for a missing reason) when a
    request in ``facts`` may not move to ``target`` at ``now``; the message says why and
    what is allowed."""
    if facts.linked:
        raise ConflictError(
            "this request is linked to an earlier open request of the same kind for the "
            "same member and follows it; act on that request instead"
        )
    allowed = TRANSITIONS[facts.state]
    if target is DsrState.EXTENDED and facts.extended and facts.state not in FINAL_STATES:
        raise ConflictError("the request was already extended once; it cannot be again")
    if target not in allowed:
        if facts.state in FINAL_STATES:
            raise ConflictError(
                f"the request is already {facts.state.value}: a {facts.state.value} request "
                "cannot change state; open a new request instead"
            )
        raise ConflictError(
            f"a request cannot go from {facts.state.value} to {target.value}; from "
            f"{facts.state.value} it can go to: " + ", ".join(sorted(s.value for s in allowed))
        )
    if target in NEEDS_REASON and not (reason and reason.strip()):
        raise InputError(
            f"a reason is required to mark a request {target.value}",
            field="reason",
            allowed="a short text the member will see (no personal data)",
        )
    if target is DsrState.VERIFIED and facts.verified:
        raise ConflictError("the request's identity check is already recorded")
    if target in (DsrState.IN_PROGRESS, DsrState.COMPLETED) and not facts.verified:
        raise ConflictError(
            f"the request cannot be {target.value.replace('_', ' ')} before the member's "
            "identity is verified; verify it first (`optin dsr verify ID --method ...`)"
        )
    if target is DsrState.EXTENDED:
        if facts.extended:
            raise ConflictError("the request was already extended once; it cannot be again")
        if now >= facts.due_at:
            raise ConflictError(
                f"the deadline ({facts.due_at.isoformat()}) has passed: an extension must "
                "be decided, and the member told, within the first period"
            )


# -- deadlines -----------------------------------------------------------------------


class PeriodUnit(StrEnum):
    MONTHS = "months"
    DAYS = "days"


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    """How long a jurisdiction gives to answer a request, and the one extension."""

    id: str
    title: str
    unit: PeriodUnit
    period: int
    extension: int
    timezone: str = "UTC"
    countries: frozenset[str] = frozenset()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def describe(self) -> str:
        return f"{self.period} {_unit(self.unit, self.period)}, extendable by " + (
            f"{self.extension} {_unit(self.unit, self.extension)}"
        )


def _unit(unit: PeriodUnit, n: int) -> str:
    word = "month" if unit is PeriodUnit.MONTHS else "day"
    return word if n == 1 else word + "s"


#: The rule used when a policy has no ``[dsr]`` table: GDPR style, in UTC.
FALLBACK_RULE = DeadlineRule(
    id="default",
    title="One calendar month, extendable by two more",
    unit=PeriodUnit.MONTHS,
    period=1,
    extension=2,
)


@dataclass(frozen=True, slots=True)
class DsrRules:
    """The policy's deadline rules: one per legal area, a default for other countries."""

    default: DeadlineRule = FALLBACK_RULE
    rules: Mapping[str, DeadlineRule] = field(default_factory=dict)

    def rule_for(self, country: str | None) -> DeadlineRule:
        if country:
            for r in self.rules.values():
                if country in r.countries:
                    return r
        return self.default

    def by_id(self, rule_id: str) -> DeadlineRule | None:
        if rule_id == self.default.id:
            return self.default
        return self.rules.get(rule_id)


def add_months(day: date, months: int) -> date:
    """The day ``months`` calendar months after ``day``: the same day number, or the
    month's last day when the month is shorter (31 Jan + 1 = 28/29 Feb)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def local_day(at: datetime, zone: ZoneInfo) -> date:
    """The calendar day of instant ``at`` in ``zone``."""
    if at.tzinfo is None:
        raise InputError("time must be timezone-aware (UTC)", field="received_at", value=str(at))
    return at.astimezone(zone).date()


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The instant the local ``day`` ends in ``zone`` (the next local midnight), in UTC."""
    nxt = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return nxt.astimezone(UTC)


def last_day(rule: DeadlineRule, received_at: datetime, *, extended: bool = False) -> date:
    """The last local day of the period (with the extension when ``extended``)."""
    start = local_day(received_at, rule.zone)
    n = rule.period + (rule.extension if extended else 0)
    if rule.unit is PeriodUnit.MONTHS:
        return add_months(start, n)
    return start + timedelta(days=n)


def deadline(rule: DeadlineRule, received_at: datetime, *, extended: bool = False) -> datetime:
    """When the answer is due: the end of :func:`last_day`, as an aware UTC datetime."""
    return end_of_day(last_day(rule, received_at, extended=extended), rule.zone)


def days_left(due_at: datetime, now: datetime, zone: ZoneInfo | str = "UTC") -> int:
    """Whole local days from today to the last day of the period: 0 on the last day,
    negative once overdue."""
    z = ZoneInfo(zone) if isinstance(zone, str) else zone
    last = (due_at.astimezone(z) - timedelta(microseconds=1)).date()
    today = now.astimezone(z).date()
    return (last - today).days


class Urgency(StrEnum):
    OVERDUE = "overdue"
    URGENT = "urgent"  # at most URGENT_DAYS left
    SOON = "soon"  # at most SOON_DAYS left
    OK = "ok"
    DONE = "done"


URGENT_DAYS = 3
SOON_DAYS = 10


def urgency(state: DsrState, left: int) -> Urgency:
    """How urgent an open request is, from its days left (closed ones are ``done``)."""
    if state in FINAL_STATES:
        return Urgency.DONE
    if left < 0:
        return Urgency.OVERDUE
    if left <= URGENT_DAYS:
        return Urgency.URGENT
    if left <= SOON_DAYS:
        return Urgency.SOON
    return Urgency.OK


# -- the policy's [dsr] table ----------------------------------------------------------

_PERIOD_RANGE = {PeriodUnit.MONTHS: (1, 12), PeriodUnit.DAYS: (1, 365)}


def _rule(rid: str, raw: object, source: str, countries_ok: frozenset[str]) -> DeadlineRule:
    where = f"dsr.rules.{rid}"
    if not isinstance(raw, dict):
        raise InputError("must be a table", file=source, field=where)
    unit_keys = [u for u in PeriodUnit if u.value in raw]
    if len(unit_keys) != 1:
        raise InputError(
            "give exactly one period: months = N or days = N",
            file=source,
            field=where,
            allowed="months = 1..12 or days = 1..365",
        )
    unit = unit_keys[0]
    lo, hi = _PERIOD_RANGE[unit]
    vals: dict[str, int] = {}
    for key, low in ((unit.value, lo), ("extension", 0)):
        v = raw.get(key, 0 if key == "extension" else None)
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= hi:
            raise InputError(
                f"must be a whole number of {unit.value}",
                file=source,
                field=f"{where}.{key}",
                value=v,
                allowed=f"{low}..{hi}",
            )
        vals[key] = v
    tz = raw.get("timezone", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            "unknown time zone",
            file=source,
            field=f"{where}.timezone",
            value=tz,
            allowed="an IANA zone name, e.g. UTC, Europe/Brussels, America/Los_Angeles",
        ) from None
    countries = raw.get("countries", [])
    if not isinstance(countries, list):
        countries = [countries]
    for c in countries:
        if c not in countries_ok:
            raise InputError(
                "not an ISO 3166-1 alpha-2 country code",
                file=source,
                field=f"{where}.countries",
                value=c,
                allowed="two upper-case letters, e.g. US",
            )
    return DeadlineRule(
        id=rid,
        title=str(raw.get("title", rid)),
        unit=unit,
        period=vals[unit.value],
        extension=vals["extension"],
        timezone=str(tz),
        countries=frozenset(countries),
    )


def parse_dsr_rules(raw: object, *, source: str, countries_ok: frozenset[str]) -> DsrRules:
    """The ``[dsr]`` table of a policy document (absent: :data:`FALLBACK_RULE` for all)."""
    if raw is None:
        return DsrRules()
    if not isinstance(raw, dict):
        raise InputError("must be a table", file=source, field="dsr")
    rules_raw = raw.get("rules", {})
    if not isinstance(rules_raw, dict) or not rules_raw:
        raise InputError(
            "a [dsr] table needs at least one [dsr.rules.<id>] table",
            file=source,
            field="dsr.rules",
        )
    rules = {rid: _rule(rid, r, source, countries_ok) for rid, r in rules_raw.items()}
    seen: dict[str, str] = {}
    for r in rules.values():
        for c in r.countries:
            if c in seen:
                raise InputError(
                    f"country in two deadline rules ({seen[c]} and {r.id})",
                    file=source,
                    field="dsr.rules",
                    value=c,
                )
            seen[c] = r.id
    default_id = raw.get("default")
    if default_id not in rules:
        raise InputError(
            "the default rule must name one of the [dsr.rules.<id>] tables",
            file=source,
            field="dsr.default",
            value=default_id,
            allowed=", ".join(sorted(rules)),
        )
    return DsrRules(default=rules[default_id], rules=rules)


__all__ = [
    "FALLBACK_RULE",
    "FINAL_STATES",
    "NEEDS_REASON",
    "OPEN_STATES",
    "SOON_DAYS",
    "TRANSITIONS",
    "URGENT_DAYS",
    "DeadlineRule",
    "DsrKind",
    "DsrRules",
    "DsrState",
    "PeriodUnit",
    "RequestFacts",
    "Urgency",
    "add_months",
    "check_transition",
    "days_left",
    "deadline",
    "end_of_day",
    "last_day",
    "local_day",
    "parse_dsr_rules",
    "parse_kind",
    "urgency",
]
