"""Point-in-time eligibility: may member M's content be used for purpose P at time T?

Pure and deterministic. The per-member function :func:`eligibility` is, by
construction, :func:`decide` applied to :func:`project` of the member's history, and
the bulk form :func:`decide_bulk` is :func:`decide` applied to states that storage
computes in one query (tests check that storage's projection equals :func:`project`).

Order of checks (the first that fails gives the reason)::

    NO_POLICY -> UNKNOWN_PURPOSE -> NOT_A_MEMBER / ACCOUNT_CLOSED / ERASED / SUSPENDED
    -> UNKNOWN_JURISDICTION -> EXCLUDED_JURISDICTION -> UNKNOWN_AGE -> MINOR
    -> WITHDRAWN -> NO_CONSENT -> STALE_POLICY -> ELIGIBLE | ELIGIBLE_OPT_OUT_DEFAULT
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from optin.domain.countries import is_country
from optin.domain.model import (
    AccountStatus,
    ConsentAction,
    ConsentEvent,
    MemberHistory,
    PolicyVersion,
    Regime,
)


class Reason(StrEnum):
    ELIGIBLE = "ELIGIBLE"
    ELIGIBLE_OPT_OUT_DEFAULT = "ELIGIBLE_OPT_OUT_DEFAULT"  # opt-out regime, no objection
    NO_POLICY = "NO_POLICY"
    UNKNOWN_PURPOSE = "UNKNOWN_PURPOSE"
    NOT_A_MEMBER = "NOT_A_MEMBER"
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
    ACCOUNT_SUSPENDED = "ACCOUNT_SUSPENDED"
    ERASED = "ERASED"
    UNKNOWN_JURISDICTION = "UNKNOWN_JURISDICTION"
    EXCLUDED_JURISDICTION = "EXCLUDED_JURISDICTION"
    UNKNOWN_AGE = "UNKNOWN_AGE"
    MINOR = "MINOR"
    WITHDRAWN = "WITHDRAWN"
    NO_CONSENT = "NO_CONSENT"
    STALE_POLICY = "STALE_POLICY"


ELIGIBLE_REASONS = frozenset({Reason.ELIGIBLE, Reason.ELIGIBLE_OPT_OUT_DEFAULT})

_EXPLAIN: dict[Reason, str] = {
    Reason.ELIGIBLE: "the member granted consent for this purpose under the policy in force",
    Reason.ELIGIBLE_OPT_OUT_DEFAULT: (
        "OPT-OUT REGIME: used by default because the member has not objected"
    ),
    Reason.NO_POLICY: "no policy version was in force at that time",
    Reason.UNKNOWN_PURPOSE: "the policy in force does not define this purpose",
    Reason.NOT_A_MEMBER: "the account did not exist at that time",
    Reason.ACCOUNT_CLOSED: "the account was closed",
    Reason.ACCOUNT_SUSPENDED: "the account was suspended",
    Reason.ERASED: "the member's data was erased",
    Reason.UNKNOWN_JURISDICTION: "the member's country at that time is unknown",
    Reason.EXCLUDED_JURISDICTION: "the member's country is excluded from AI training use",
    Reason.UNKNOWN_AGE: "the member's birth date is unknown, so age cannot be checked",
    Reason.MINOR: "the member was under the minimum age",
    Reason.WITHDRAWN: "the member withdrew consent (or objected)",
    Reason.NO_CONSENT: "the member never granted consent for this purpose",
    Reason.STALE_POLICY: "consent was given under an older policy that has since changed "
    "materially; the member must consent again",
}

_BLOCKING_STATUS = {
    AccountStatus.CLOSED: Reason.ACCOUNT_CLOSED,
    AccountStatus.SUSPENDED: Reason.ACCOUNT_SUSPENDED,
    AccountStatus.ERASED: Reason.ERASED,
}


@dataclass(frozen=True, slots=True)
class Decision:
    """An eligibility decision that explains itself."""

    member_id: str
    purpose: str
    at: datetime
    eligible: bool
    reason: Reason
    regime: Regime | None = None
    country: str | None = None
    consent_event_id: str | None = None
    policy_version: int | None = None

    @property
    def explanation(self) -> str:
        return _EXPLAIN[self.reason]

    def to_dict(self) -> dict[str, object]:
        return {
            "member_id": self.member_id,
            "purpose": self.purpose,
            "at": self.at.isoformat(),
            "eligible": self.eligible,
            "reason": str(self.reason),
            "explanation": self.explanation,
            "regime": str(self.regime) if self.regime else None,
            "country": self.country,
            "consent_event_id": self.consent_event_id,
            "policy_version": self.policy_version,
        }


@dataclass(frozen=True, slots=True)
class MemberState:
    """What matters about one member for one purpose at one time T.

    ``last_*`` describe the latest consent event for the purpose at or before T
    (by event time, then ledger sequence), or are None when there is none.
    """

    member_id: str
    joined: bool
    status: AccountStatus | None
    country: str | None
    birth_date: date | None
    last_action: ConsentAction | None = None
    last_event_id: str | None = None
    last_policy_version: int | None = None


class PolicySet:
    """All policy versions, with fast point-in-time lookups."""

    def __init__(self, versions: Iterable[PolicyVersion]) -> None:
        self.versions: tuple[PolicyVersion, ...] = tuple(
            sorted(versions, key=lambda v: (v.effective_at, v.version))
        )
        self._times = [v.effective_at for v in self.versions]

    def __len__(self) -> int:
        return len(self.versions)

    def in_force(self, at: datetime) -> PolicyVersion | None:
        i = bisect.bisect_right(self._times, at)
        return self.versions[i - 1] if i else None

    def latest(self) -> PolicyVersion | None:
        return self.versions[-1] if self.versions else None

    def by_version(self, version: int) -> PolicyVersion | None:
        for v in self.versions:
            if v.version == version:
                return v
        return None

    def required_version(self, purpose: str, at: datetime) -> int | None:
        """The newest version in force by ``at`` that changed ``purpose`` materially.

        A grant given under an older version no longer counts at ``at``.
        """
        req: int | None = None
        for v in self.versions:
            if v.effective_at > at:
                break
            if purpose in v.material:
                req = v.version
        return req


def age_on(birth: date, at: date) -> int:
    return at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))


def _latest(pairs: Sequence[tuple[datetime, object]], at: datetime) -> object | None:
    best: tuple[datetime, object] | None = None
    for since, value in pairs:
        if since <= at and (best is None or since >= best[0]):
            best = (since, value)
    return best[1] if best else None


def project(history: MemberHistory, purpose: str, at: datetime) -> MemberState:
    """The member's state for ``purpose`` at ``at``; events after ``at`` are ignored."""
    joined = any(since <= at for since, _ in history.statuses)
    status = _latest(history.statuses, at)
    country = _latest(history.countries, at)
    last: ConsentEvent | None = None
    for ev in history.events:
        if ev.purpose != purpose or ev.at > at:
            continue
        if last is None or (ev.at, ev.seq) > (last.at, last.seq):
            last = ev
    return MemberState(
        member_id=history.member_id,
        joined=joined,
        status=AccountStatus(str(status)) if status is not None else None,
        country=str(country) if country is not None else None,
        birth_date=history.birth_date,
        last_action=last.action if last else None,
        last_event_id=last.event_id if last else None,
        last_policy_version=last.policy_version if last else None,
    )


class _Context:
    """Per (purpose, T) facts, computed once for a bulk run."""

    __slots__ = ("at", "at_date", "policy", "purpose", "purpose_ok", "required")

    def __init__(self, policies: PolicySet, purpose: str, at: datetime) -> None:
        self.at = at
        self.at_date = at.date()
        self.purpose = purpose
        self.policy = policies.in_force(at)
        self.purpose_ok = self.policy is not None and purpose in self.policy.purposes
        self.required = policies.required_version(purpose, at)


def _decide(s: MemberState, c: _Context) -> Decision:
    pol = c.policy
    if pol is None:
        return Decision(s.member_id, c.purpose, c.at, False, Reason.NO_POLICY)
    pv = pol.version
    if not c.purpose_ok:
        return Decision(
            s.member_id, c.purpose, c.at, False, Reason.UNKNOWN_PURPOSE, None, s.country, None, pv
        )
    if not s.joined or s.status is None:
        return Decision(
            s.member_id, c.purpose, c.at, False, Reason.NOT_A_MEMBER, None, s.country, None, pv
        )
    blocked = _BLOCKING_STATUS.get(s.status)
    if blocked is not None:
        return Decision(s.member_id, c.purpose, c.at, False, blocked, None, s.country, None, pv)
    country = s.country
    if country is None or not is_country(country):
        return Decision(
            s.member_id,
            c.purpose,
            c.at,
            False,
            Reason.UNKNOWN_JURISDICTION,
            None,
            country,
            None,
            pv,
        )
    rules = pol.jurisdictions
    regime = rules.regime(country)
    if regime is Regime.EXCLUDED:
        return Decision(
            s.member_id,
            c.purpose,
            c.at,
            False,
            Reason.EXCLUDED_JURISDICTION,
            regime,
            country,
            None,
            pv,
        )
    if s.birth_date is None:
        return Decision(
            s.member_id, c.purpose, c.at, False, Reason.UNKNOWN_AGE, regime, country, None, pv
        )
    if age_on(s.birth_date, c.at_date) < rules.min_age(country):
        return Decision(
            s.member_id, c.purpose, c.at, False, Reason.MINOR, regime, country, None, pv
        )
    action = s.last_action
    if action is ConsentAction.WITHDRAW:
        return Decision(
            s.member_id,
            c.purpose,
            c.at,
            False,
            Reason.WITHDRAWN,
            regime,
            country,
            s.last_event_id,
            pv,
        )
    grant_ok = action is ConsentAction.GRANT and (
        c.required is None or (s.last_policy_version or 0) >= c.required
    )
    if grant_ok:
        return Decision(
            s.member_id,
            c.purpose,
            c.at,
            True,
            Reason.ELIGIBLE,
            regime,
            country,
            s.last_event_id,
            s.last_policy_version,
        )
    if regime is Regime.OPT_OUT:
        return Decision(
            s.member_id,
            c.purpose,
            c.at,
            True,
            Reason.ELIGIBLE_OPT_OUT_DEFAULT,
            regime,
            country,
            None,
            pv,
        )
    if action is None:
        return Decision(
            s.member_id, c.purpose, c.at, False, Reason.NO_CONSENT, regime, country, None, pv
        )
    return Decision(
        s.member_id,
        c.purpose,
        c.at,
        False,
        Reason.STALE_POLICY,
        regime,
        country,
        s.last_event_id,
        c.required,
    )


def decide(state: MemberState, purpose: str, at: datetime, policies: PolicySet) -> Decision:
    """Decide from an already-projected state."""
    return _decide(state, _Context(policies, purpose, at))


def eligibility(
    history: MemberHistory, purpose: str, at: datetime, policies: PolicySet
) -> Decision:
    """Is this member's content usable for ``purpose`` at ``at``, and why."""
    return decide(project(history, purpose, at), purpose, at, policies)


def decide_bulk(
    states: Iterable[MemberState], purpose: str, at: datetime, policies: PolicySet
) -> Iterator[Decision]:
    """Decide for many members in one pass (same rule as :func:`eligibility`)."""
    ctx = _Context(policies, purpose, at)
    for s in states:
        yield _decide(s, ctx)
