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
from datetime import date, datetime
from typing import Any

from optin.domain.eligibility import (
    Decision,
    MemberState,
    PolicySet,
    age_on,
    decide,
    eligibility,
)
from optin.domain.model import AccountStatus, ConsentAction, MemberHistory
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
) -> Iterator[Decision]:
    """One decision per member (ordered by member id), streamed.

    ``member_ids`` limits the run to those members (for small sets; unknown ids are
    skipped). Unknown purposes raise NotFoundError before anything is streamed.
    """
    ps = policy_set(db)
    require_purpose(ps, purpose, at, any_version=True)
    ids = sorted(set(member_ids)) if member_ids is not None else None
    if ids is not None and not ids:
        return iter(())
    return _decide_rows(iter_state_rows(db.engine, purpose, at, member_ids=ids), purpose, at, ps)


_STATUS = {s.value: s for s in AccountStatus}
_ACTION = {a.value: a for a in ConsentAction}


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
    fromiso = date.fromisoformat
    for rows, text_birth in batches:
        for mid, birth, country, status, last in rows:
            if last is None:
                action = pv = eid = None
            else:
                action, pv, eid = last.split(" ", 2)
            if birth is None:
                age = None
            else:
                age = ages.get(birth)
                if age is None:
                    age = ages[birth] = age_on(fromiso(birth) if text_birth else birth, at_date)
            key = (status, country, age, action, pv)
            tpl = templates.get(key)
            if tpl is None:
                st = _STATUS.get(status) if status is not None else None
                state = MemberState(
                    mid,
                    st is not None,
                    st,
                    country,
                    (fromiso(birth) if text_birth else birth) if birth is not None else None,
                    _ACTION[action] if action is not None else None,
                    eid,
                    int(pv) if pv is not None else None,
                )
                tpl = templates[key] = decide(state, purpose, at, ps)
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
