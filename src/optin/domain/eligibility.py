"""Point-in-time eligibility: may member M's content be used for purpose P at time T?

Pure and deterministic. The per-member function :func:`eligibility` is, by
construction, :func:`decide` applied to :func:`project` of the member's history, and
the bulk form :func:`decide_bulk` is :func:`decide` applied to states that storage
computes in one query (tests check that storage's projection equals :func:`project`).

Order of checks (the first that fails gives the reason)::

    NO_POLICY -> UNKNOWN_PURPOSE -> NOT_A_MEMBER / ACCOUNT_CLOSED / ERASED / SUSPENDED
    -> UNKNOWN_JURISDICTION -> EXCLUDED_JURISDICTION -> UNKNOWN_AGE -> MINOR
    -> WITHDRAWN -> NO_CONSENT / GRANT_GIVEN_WHILE_EXCLUDED -> GRANT_GIVEN_AS_MINOR
    -> STALE_POLICY -> ELIGIBLE | ELIGIBLE_OPT_OUT_DEFAULT

The four reasons after WITHDRAWN say why there is no grant that counts; under an
opt-out regime a member without an objection is ELIGIBLE_OPT_OUT_DEFAULT instead.

The member's latest consent event for the purpose decides. A grant counts only if the
member had capacity when giving it (:class:`~optin.domain.model.CapacityRules`, judged
under the policy in force at the grant's time, for the country the member lived in
then): a grant given while excluded or as a minor is void for good, and so is a grant
under a version older than the latest material change of the purpose (stale).

Bitemporal: a decision as of T uses only what the ledger knew at T: consent events,
dated country/status changes that carry a recorded time and birth-date corrections,
whose effective time and recorded time are both at or before T. Policy versions apply
from their in-force time (``in_force_at``: publication plus the notice period when they
introduce an opt-out).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from optin.domain.countries import is_country
from optin.domain.model import (
    AccountStatus,
    BirthDateCorrection,
    CapacityRules,
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
    GRANT_GIVEN_AS_MINOR = "GRANT_GIVEN_AS_MINOR"
    GRANT_GIVEN_WHILE_EXCLUDED = "GRANT_GIVEN_WHILE_EXCLUDED"


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
    Reason.GRANT_GIVEN_AS_MINOR: "consent was given while the member was under the minimum "
    "age, so it does not count; the member must switch it on again",
    Reason.GRANT_GIVEN_WHILE_EXCLUDED: "consent was given while the member lived in a "
    "jurisdiction excluded from AI training use, so it does not count; the member must "
    "be asked again",
}

_BLOCKING_STATUS = {
    AccountStatus.CLOSED: Reason.ACCOUNT_CLOSED,
    AccountStatus.SUSPENDED: Reason.ACCOUNT_SUSPENDED,
    AccountStatus.ERASED: Reason.ERASED,
}


class Decision(NamedTuple):
    """An eligibility decision that explains itself.

    Immutable; a named tuple rather than a dataclass because bulk runs make one per
    member (a million per snapshot build) and a tuple is built several times faster.
    """

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

    ``last_*`` describe the latest consent event for the purpose known at T (effective
    and recorded at or before T; by event time, then ledger sequence), or are None when
    there is none. ``last_at`` is that event's effective time and, when it is a grant,
    ``last_country`` the member's country at that time as known at T (None for a
    withdrawal, or when unknown); they let the capacity rules judge the grant. With
    ``last_at`` None (a caller that does not project it) the capacity rules are not
    applied.
    """

    member_id: str
    joined: bool
    status: AccountStatus | None
    country: str | None
    birth_date: date | None
    last_action: ConsentAction | None = None
    last_event_id: str | None = None
    last_policy_version: int | None = None
    last_at: datetime | None = None
    last_country: str | None = None


class PolicySet:
    """All policy versions, with fast point-in-time lookups.

    Versions are ordered, and looked up, by the time they start to apply
    (:attr:`PolicyVersion.in_force_from`): a version in its notice period is not in force.
    """

    def __init__(self, versions: Iterable[PolicyVersion]) -> None:
        self.versions: tuple[PolicyVersion, ...] = tuple(
            sorted(versions, key=lambda v: (v.in_force_from, v.version))
        )
        self._times = [v.in_force_from for v in self.versions]

    def __len__(self) -> int:
        return len(self.versions)

    def in_force(self, at: datetime) -> PolicyVersion | None:
        i = bisect.bisect_right(self._times, at)
        return self.versions[i - 1] if i else None

    def latest(self) -> PolicyVersion | None:
        return self.versions[-1] if self.versions else None

    def pending(self, at: datetime) -> tuple[PolicyVersion, ...]:
        """Versions published by ``at`` but not yet in force (in their notice period)."""
        return tuple(v for v in self.versions if v.effective_at <= at < v.in_force_from)

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
            if v.in_force_from > at:
                break
            if purpose in v.material:
                req = v.version
        return req


def age_on(birth: date, at: date) -> int:
    return at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))


def _known_changes(
    changes: Sequence[tuple[Any, ...]], at: datetime, known_at: datetime
) -> Iterator[tuple[datetime, object]]:
    """(since, value) of the dated changes effective by ``at`` and recorded by ``known_at``."""
    for change in changes:
        since = change[0]
        if since > at:
            continue
        recorded = change[2] if len(change) > 2 else None
        if recorded is not None and recorded > known_at:
            continue
        yield since, change[1]


def _latest(
    changes: Sequence[tuple[Any, ...]], at: datetime, known_at: datetime | None = None
) -> object | None:
    """The value of the latest change at ``at`` (ties: the later listed), known at
    ``known_at`` (default ``at``)."""
    best: tuple[datetime, object] | None = None
    for since, value in _known_changes(changes, at, at if known_at is None else known_at):
        if best is None or since >= best[0]:
            best = (since, value)
    return best[1] if best else None


def birth_date_at(history: MemberHistory, at: datetime) -> date | None:
    """The member's birth date as known at ``at``.

    Without corrections, ``history.birth_date``. Otherwise the value set by the latest
    correction (by recorded time, then the order written) effective and recorded by
    ``at``, or, before any is known, the value the first correction written replaced.
    """
    fixes = history.birth_corrections
    if not fixes:
        return history.birth_date
    known: tuple[datetime, int, BirthDateCorrection] | None = None
    for i, fix in enumerate(fixes):
        known_at = fix.effective_at <= at and fix.recorded_at <= at
        if known_at and (known is None or (fix.recorded_at, i) > known[:2]):
            known = (fix.recorded_at, i, fix)
    return known[2].birth_date if known is not None else fixes[0].previous


def _last_event(events: Iterable[ConsentEvent], purpose: str, at: datetime) -> ConsentEvent | None:
    """The latest event for ``purpose`` known at ``at`` (by event time, then seq)."""
    last: ConsentEvent | None = None
    for ev in events:
        if ev.purpose != purpose or ev.at > at or ev.known_from > at:
            continue
        if last is None or (ev.at, ev.seq) > (last.at, last.seq):
            last = ev
    return last


def project(history: MemberHistory, purpose: str, at: datetime) -> MemberState:
    """The member's state for ``purpose`` as known at ``at``: events and changes effective
    after ``at``, or recorded after ``at``, are ignored."""
    joined = any(True for _ in _known_changes(history.statuses, at, at))
    birth = birth_date_at(history, at)
    status = _latest(history.statuses, at)
    country = _latest(history.countries, at)
    last = _last_event(history.events, purpose, at)
    if last is None:
        return MemberState(
            member_id=history.member_id,
            joined=joined,
            status=AccountStatus(str(status)) if status is not None else None,
            country=str(country) if country is not None else None,
            birth_date=birth,
        )
    then = _latest(history.countries, last.at, at) if last.action is ConsentAction.GRANT else None
    return MemberState(
        member_id=history.member_id,
        joined=joined,
        status=AccountStatus(str(status)) if status is not None else None,
        country=str(country) if country is not None else None,
        birth_date=birth,
        last_action=last.action,
        last_event_id=last.event_id,
        last_policy_version=last.policy_version,
        last_at=last.at,
        last_country=str(then) if then is not None else None,
    )


class _Context:
    """Per (purpose, T) facts, computed once for a bulk run."""

    __slots__ = ("at", "at_date", "policies", "policy", "purpose", "purpose_ok", "required")

    def __init__(self, policies: PolicySet, purpose: str, at: datetime) -> None:
        self.at = at
        self.at_date = at.date()
        self.purpose = purpose
        self.policies = policies
        self.policy = policies.in_force(at)
        self.purpose_ok = self.policy is not None and purpose in self.policy.purposes
        self.required = policies.required_version(purpose, at)


def _no(
    s: MemberState,
    c: _Context,
    reason: Reason,
    regime: Regime | None = None,
    event_id: str | None = None,
    version: int | None = None,
) -> Decision:
    pv = version if version is not None else (c.policy.version if c.policy else None)
    return Decision(s.member_id, c.purpose, c.at, False, reason, regime, s.country, event_id, pv)


def _gate(s: MemberState, c: _Context, pol: PolicyVersion) -> Decision | Regime:
    """Policy, membership, jurisdiction and age at T: a refusal, or the member's regime."""
    if not c.purpose_ok:
        return _no(s, c, Reason.UNKNOWN_PURPOSE)
    if not s.joined or s.status is None:
        return _no(s, c, Reason.NOT_A_MEMBER)
    blocked = _BLOCKING_STATUS.get(s.status)
    if blocked is not None:
        return _no(s, c, blocked)
    country = s.country
    if country is None or not is_country(country):
        return _no(s, c, Reason.UNKNOWN_JURISDICTION)
    rules = pol.jurisdictions
    regime = rules.regime(country)
    if regime is Regime.EXCLUDED:
        return _no(s, c, Reason.EXCLUDED_JURISDICTION, regime)
    if s.birth_date is None:
        return _no(s, c, Reason.UNKNOWN_AGE, regime)
    if age_on(s.birth_date, c.at_date) < rules.min_age(country):
        return _no(s, c, Reason.MINOR, regime)
    return regime


def grant_void_reason(
    birth_date: date | None,
    country: str | None,
    given_at: datetime,
    policies: PolicySet,
    at: datetime,
) -> Reason | None:
    """Why a grant given at ``given_at`` (member living in ``country`` then) is void as of
    ``at``, or None when it may count.

    The switches are those of the policy in force at ``at``; the facts (excluded
    jurisdictions, minimum ages) those of the policy in force when the grant was given
    (the one at ``at`` if none was). An unknown country or birth date voids nothing
    here (the decision at ``at`` refuses unknowns on its own).
    """
    now = policies.in_force(at)
    if now is None:
        return None
    return _void(now.capacity, policies.in_force(given_at) or now, birth_date, country, given_at)


def _void(
    cap: CapacityRules,
    then: PolicyVersion,
    birth_date: date | None,
    country: str | None,
    given_at: datetime,
) -> Reason | None:
    rules = then.jurisdictions
    if (
        cap.void_grants_given_while_excluded
        and country is not None
        and rules.regime(country) is Regime.EXCLUDED
    ):
        return Reason.GRANT_GIVEN_WHILE_EXCLUDED
    if cap.void_grants_given_as_minor and birth_date is not None:
        minimum = rules.min_age(country) if country is not None else rules.minimum_age
        if age_on(birth_date, given_at.date()) < minimum:
            return Reason.GRANT_GIVEN_AS_MINOR
    return None


def _grant_void(s: MemberState, c: _Context, pol: PolicyVersion) -> Reason | None:
    if s.last_at is None:
        return None
    then = c.policies.in_force(s.last_at) or pol
    return _void(pol.capacity, then, s.birth_date, s.last_country, s.last_at)


def _consent(s: MemberState, c: _Context, pol: PolicyVersion, regime: Regime) -> Decision:
    """The member's own choice, given that nothing at T forbids use."""
    action = s.last_action
    if action is ConsentAction.WITHDRAW:
        return _no(s, c, Reason.WITHDRAWN, regime, s.last_event_id)
    void = _grant_void(s, c, pol) if action is ConsentAction.GRANT else None
    current = c.required is None or (s.last_policy_version or 0) >= c.required
    if action is ConsentAction.GRANT and void is None and current:
        return Decision(
            s.member_id,
            c.purpose,
            c.at,
            True,
            Reason.ELIGIBLE,
            regime,
            s.country,
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
            s.country,
            None,
            pol.version,
        )
    if action is None:
        return _no(s, c, Reason.NO_CONSENT, regime)
    if void is not None:
        return _no(s, c, void, regime, s.last_event_id)
    return _no(s, c, Reason.STALE_POLICY, regime, s.last_event_id, c.required)


def _decide(s: MemberState, c: _Context) -> Decision:
    pol = c.policy
    if pol is None:
        return Decision(s.member_id, c.purpose, c.at, False, Reason.NO_POLICY)
    gate = _gate(s, c, pol)
    if isinstance(gate, Decision):
        return gate
    return _consent(s, c, pol, gate)


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
