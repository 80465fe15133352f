"""Eligibility of members' content for a purpose at a time: one member, or all of them.

``decide_all`` streams one decision per member from a single projection query
(:mod:`optin.storage.projection`). Decisions come from
:func:`optin.domain.eligibility.decide`, memoised: for a fixed (purpose, T, policies) a
decision depends on a member's state only through (status, country, age at T, last
action, last policy version); the member id and the justifying event id are copied in.
So each distinct combination is decided once by the domain rule and reused, which keeps
the hot loop to a dict lookup and one object per member. Tests check that ``decide_all``
equals ``decide_member`` for every member on random histories on both backends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from optin.domain.eligibility import (
    Decision,
    MemberState,
    PolicySet,
    Reason,
    age_on,
    decide,
    eligibility,
    grant_void_reason,
)
from optin.domain.model import AccountStatus, ConsentAction, MemberHistory, Regime
from optin.services.consent import member_not_found
from optin.services.policy import policy_set, require_purpose
from optin.storage.database import Database
from optin.storage.members import member_histories as _member_histories
from optin.storage.members import member_history
from optin.storage.projection import iter_state_rows


def decide_member(db: Database, member_id: str, purpose: str, at: datetime) -> Decision:
    """The decision for one member at ``at``, from their full history."""
    when = at
    ps = policy_set(db)
    require_purpose(ps, purpose, when, any_version=True)
    with db.session() as s:
        history = member_history(s, member_id)
    if history is None:
        raise member_not_found(member_id)
    return eligibility(history, purpose, when, ps)


def decide_all(
    db: Database,
    purpose: str,
    at: datetime,
    *,
    member_ids: Iterable[str] | None = None,
    member_range: tuple[str | None, str | None] | None = None,
) -> Iterator[Decision]:
    """One decision per member (ordered by member id), streamed.

    ``member_ids`` limits the run to those members (for small sets; unknown ids are
    skipped); ``member_range`` ``(lo, hi]`` to the members with ids in that range (one
    partition, read in one query: ``storage.projection.member_bounds``). Unknown
    purposes raise NotFoundError before anything is streamed.
    """
    ps = policy_set(db)
    require_purpose(ps, purpose, at, any_version=True)
    ids = sorted(set(member_ids)) if member_ids is not None else None
    if ids is not None and not ids:
        return iter(())
    rows = iter_state_rows(db.engine, purpose, at, member_ids=ids, member_range=member_range)
    return _decide_rows(rows, purpose, at, ps)


_STATUS = {s.value: s for s in AccountStatus}
_ACTION = {a.value: a for a in ConsentAction}
_GRANT_REASONS = frozenset({Reason.ELIGIBLE, Reason.STALE_POLICY})


def _state(
    mid: str,
    status: str | None,
    country: str | None,
    birth: Any,
    text_birth: bool,
    action: str | None,
    eid: str | None,
    pv: str | None,
) -> MemberState:
    st = _STATUS.get(status) if status is not None else None
    return MemberState(
        mid,
        st is not None,
        st,
        country,
        (date.fromisoformat(birth) if text_birth else birth) if birth is not None else None,
        _ACTION[action] if action is not None else None,
        eid,
        int(pv) if pv is not None else None,
    )


class _Capacity:
    """Applies the domain's capacity rule (:func:`grant_void_reason`) to projection rows.

    Most grants are given by adults in offered countries: a set lookup and one age
    check against the highest minimum age of any version rule those out before the
    exact rule runs.
    """

    def __init__(self, ps: PolicySet, at: datetime) -> None:
        self.ps = ps
        self.at = at
        self.excluded = {
            c
            for v in ps.versions
            for c, r in v.jurisdictions.regimes.items()
            if r is Regime.EXCLUDED
        }
        self.any_excluded_default = any(
            v.jurisdictions.default_regime is Regime.EXCLUDED for v in ps.versions
        )
        self.max_age = max(
            (
                max([v.jurisdictions.minimum_age, *v.jurisdictions.minimum_age_overrides.values()])
                for v in ps.versions
            ),
            default=0,
        )
        self.births: dict[object, date] = {}
        self.majority: dict[object, str] = {}

    def void_key(
        self, key: tuple[object, ...], birth: Any, text_birth: bool, parts: list[str]
    ) -> tuple[object, ...] | None:
        """``key`` extended by the void reason, or None when the grant is not void."""
        then = parts[4] or None
        maybe = self.any_excluded_default or then in self.excluded
        if not maybe and birth is not None:
            # given before the highest minimum age? (ISO dates compare as text; the
            # shifted date of a 29 February birth is exactly age_on's boundary)
            majority = self.majority.get(birth)
            if majority is None:
                iso = birth if text_birth else birth.isoformat()
                majority = self.majority[birth] = f"{int(iso[:4]) + self.max_age:04d}{iso[4:]}"
            maybe = parts[2] < majority
        if not maybe:
            return None
        birth_d = self._birth(birth, text_birth)
        given = datetime.fromisoformat(f"{parts[2]}T{parts[3]}").replace(tzinfo=UTC)
        void = grant_void_reason(birth_d, then, given, self.ps, self.at)
        return None if void is None else (*key, void)

    def full_state(self, state: MemberState, parts: list[str]) -> MemberState:
        given = datetime.fromisoformat(f"{parts[2]}T{parts[3]}").replace(tzinfo=UTC)
        return replace(state, last_at=given, last_country=parts[4] or None)

    def _birth(self, birth: Any, text_birth: bool) -> date | None:
        if birth is None or not text_birth:
            return birth
        d = self.births.get(birth)
        if d is None:
            d = self.births[birth] = date.fromisoformat(birth)
        return d


def decide_with_rows(
    db: Database, purpose: str, at: datetime
) -> Iterator[tuple[tuple[Any, ...], Decision]]:
    """Every member's projection row ``(member id, birth date, country, status, last
    choice as 'action policy_version event_id' or None)`` with its decision, streamed by
    member id; the decisions are :func:`decide_all`'s (same memoised path). For
    statistics that also need the country and the last choice."""
    ps = policy_set(db)
    require_purpose(ps, purpose, at, any_version=True)
    for rows, text_birth in iter_state_rows(db.engine, purpose, at):
        yield from zip(rows, _decide_rows([(rows, text_birth)], purpose, at, ps), strict=True)


def _decide_rows(
    batches: Iterable[tuple[list[Any], bool]], purpose: str, at: datetime, ps: PolicySet
) -> Iterator[Decision]:
    at_date = at.date()
    ages: dict[object, int] = {}
    templates: dict[tuple[object, ...], Decision] = {}
    cap = _Capacity(ps, at)
    fromiso = date.fromisoformat
    for rows, text_birth in batches:
        for mid, birth, country, status, last in rows:
            if last is None:
                action = pv = eid = None
            else:
                parts = last.split(" ", 5)
                action, pv, eid = parts[0], parts[1], parts[5]
            if birth is None:
                age = None
            else:
                age = ages.get(birth)
                if age is None:
                    age = ages[birth] = age_on(fromiso(birth) if text_birth else birth, at_date)
            key: tuple[object, ...] = (status, country, age, action, pv)
            tpl = templates.get(key)
            if tpl is None:
                tpl = templates[key] = decide(
                    _state(mid, status, country, birth, text_birth, action, eid, pv),
                    purpose,
                    at,
                    ps,
                )
            if action == "grant" and tpl.reason in _GRANT_REASONS:
                # the grant may be void (given as a minor or while excluded): the domain's
                # capacity rule on the grant's own facts, after a cheap pre-check
                vkey = cap.void_key(key, birth, text_birth, parts)
                if vkey is not None:
                    tpl = templates.get(vkey) or templates.setdefault(
                        vkey,
                        decide(
                            cap.full_state(
                                _state(mid, status, country, birth, text_birth, action, eid, pv),
                                parts,
                            ),
                            purpose,
                            at,
                            ps,
                        ),
                    )
            yield Decision(
                mid,
                purpose,
                at,
                tpl.eligible,
                tpl.reason,
                tpl.regime,
                tpl.country,
                eid if tpl.consent_event_id is not None else None,
                tpl.policy_version,
            )


def member_histories(db: Database, member_ids: Iterable[str]) -> dict[str, MemberHistory]:
    """Full histories of the given members (absent ids are left out); for re-checking
    decisions one by one, e.g. when verifying a snapshot."""
    with db.session() as s:
        return _member_histories(s, member_ids)
