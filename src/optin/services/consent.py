"""Record consent choices in the ledger and read them back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from optin.domain.eligibility import (
    Decision,
    PolicySet,
    Reason,
    grant_void_reason,
)
from optin.domain.model import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    PolicyVersion,
)
from optin.errors import InputError, NotFoundError
from optin.services.choices import parse_choice
from optin.services.consent_view import PurposeState, member_not_found, state_from_history
from optin.services.policy import policy_set, require_purpose
from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.db import Session
from optin.storage.members import country_at, get_member, member_history, member_id_for
from optin.storage.repos import consents

#: Tolerated clock skew for "not in the future".
FUTURE_SKEW = timedelta(seconds=5)
#: How far in the past a live choice (web, API, CLI) may be dated: clock skew between
#: the client and the server. Anything older is a backdated event, which only an
#: explicit historical import may record (``optin import consents``).
BACKDATE_SKEW = timedelta(minutes=5)
#: Why a grant is not "on" although it is the latest choice: switching on again records
#: a new grant.
_NOT_ON = frozenset({Reason.GRANT_GIVEN_AS_MINOR, Reason.GRANT_GIVEN_WHILE_EXCLUDED})
#: The purpose a ``Sec-GPC: 1`` signal objects to (sharing with model providers).
GPC_PURPOSE = "share_with_providers"
#: Decisions no switch changes: the member cannot turn such a purpose on or off.
FIXED_REASONS = frozenset(
    {
        Reason.EXCLUDED_JURISDICTION,
        Reason.MINOR,
        Reason.UNKNOWN_AGE,
        Reason.UNKNOWN_JURISDICTION,
        Reason.ACCOUNT_CLOSED,
        Reason.ACCOUNT_SUSPENDED,
        Reason.ERASED,
    }
)


class _Choice(Protocol):
    @property
    def purpose(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def seq(self) -> int: ...


def can_switch(decision: Decision) -> bool:
    """Whether the member's switch for the decision's purpose changes anything: not when
    the jurisdiction, age, account state or erasure decides alone."""
    return decision.reason not in FIXED_REASONS


def gpc_objection_due(events: Iterable[_Choice], policy: PolicyVersion) -> bool:
    """The GPC rule: a ``Sec-GPC: 1`` signal is recorded once as a withdrawal of
    :data:`GPC_PURPOSE` (when the policy in force has it), unless a GPC event is already
    in the member's history or their latest choice for it is already a withdrawal. A
    later explicit grant by the member is respected (the GPC event stays the one)."""
    if GPC_PURPOSE not in policy.purposes:
        return False
    mine = sorted((e for e in events if e.purpose == GPC_PURPOSE), key=lambda e: (e.at, e.seq))
    if any(e.source == ConsentSource.GPC for e in mine):
        return False
    return not (mine and mine[-1].action == ConsentAction.WITHDRAW)


_ACTIONS = {
    **dict.fromkeys(("grant", "on", "yes", "true", "1"), ConsentAction.GRANT),
    **dict.fromkeys(("withdraw", "off", "no", "false", "0"), ConsentAction.WITHDRAW),
}


def parse_action(value: str) -> ConsentAction:
    """'grant'/'on'/'yes'/'true' -> GRANT, 'withdraw'/'off'/'no'/'false' -> WITHDRAW."""
    return parse_choice(
        value,
        _ACTIONS,
        what="unknown consent action",
        field="action",
        allowed="on, off (or grant, withdraw)",
    )


def parse_source(value: ConsentSource | str) -> ConsentSource:
    """A :class:`ConsentSource` from its value ('web', 'api', 'cli' ...)."""
    return parse_choice(
        value, {s.value: s for s in ConsentSource}, what="unknown consent source", field="source"
    )


def backdated(when: datetime, now: datetime, source: ConsentSource | str) -> InputError:
    """The refusal of a backdated live choice."""
    return InputError(
        f"a {source} consent event cannot be backdated: backdated events come only from "
        "`optin import consents` with a declared source (import:<system>, e.g. "
        "import:legacy-system), recorded at the time of the import",
        field="at",
        value=when.isoformat(),
        allowed=f"now (at most {int(BACKDATE_SKEW.total_seconds() // 60)} minutes before "
        f"{now.isoformat()}), or leave it out",
    )


def before_joining(member_id: str, when: datetime, joined_at: datetime) -> InputError:
    return InputError(
        f"the event is dated before member {member_id!r} joined",
        field="at",
        value=when.isoformat(),
        allowed=f"at or after joined_at ({joined_at.isoformat()})",
    )


def resolve_member(db: Database, ref: str) -> str:
    """A member id from an id or a handle (``ada`` or ``@ada``); NotFoundError otherwise."""
    with db.session() as s:
        member_id = member_id_for(s, ref)
    if member_id is None:
        raise member_not_found(ref)
    return member_id


def prepare_consent(
    session: Session,
    ps: PolicySet,
    member_id: str,
    purpose: str,
    action: ConsentAction | str,
    *,
    source: ConsentSource | str,
    now: datetime,
    at: datetime | None = None,
    personal: dict[str, Any] | None = None,
) -> ledger.EventDraft:
    """Validate a consent choice and return the ledger draft that records it.

    The one place the rules live (time not naive and not in the future, known action
    and source, purpose defined by the policy in force, member exists); both
    :func:`record_consent` and the web app's group commit use it. The draft carries the
    policy version in force at ``at`` (default ``now``) and, as encrypted personal
    fields, the member's country at ``at`` plus ``personal``.
    """
    when = at or now
    if when.tzinfo is None:
        raise InputError("time must be timezone-aware (UTC)", field="at", value=str(when))
    if when > now + FUTURE_SKEW:
        raise InputError(
            "a consent event cannot be in the future",
            field="at",
            value=when.isoformat(),
            allowed=f"a time at or before {now.isoformat()}",
        )
    act = parse_action(action) if not isinstance(action, ConsentAction) else action
    src = parse_source(source)
    if when < now - BACKDATE_SKEW:
        raise backdated(when, now, src)
    require_purpose(ps, purpose, when)
    pv = ps.in_force(when)
    assert pv is not None  # require_purpose found the purpose in it
    member = get_member(session, member_id)
    if member is None:
        raise member_not_found(member_id)
    if when < member.joined_at:
        raise before_joining(member_id, when, member.joined_at)
    fields: dict[str, Any] = {}
    country = country_at(session, member_id, when)
    if country is not None:
        fields["country"] = country
    if personal:
        fields.update(personal)
    return ledger.EventDraft(
        member_id=member_id,
        purpose=purpose,
        action=act,
        at=when,
        policy_version=pv.version,
        source=src,
        recorded_at=now,
        personal=fields or None,
    )


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a choice did: ``recorded`` False means it was redundant (the
    member's current choice already was this one) and ``event`` is that existing event."""

    event: ConsentEvent
    recorded: bool = True

    @property
    def note(self) -> str | None:
        """``"already on"`` / ``"already off"`` for a redundant choice, else None."""
        if self.recorded:
            return None
        return "already on" if self.event.action is ConsentAction.GRANT else "already off"


def counts_as_on(
    ps: PolicySet,
    grant_at: datetime,
    policy_version: int,
    purpose: str,
    birth_date: date | None,
    country_then: str | None,
    now: datetime,
) -> bool:
    """Whether a grant is "on": not void (given as a minor or while excluded) and not
    stale (older than the purpose's latest material change in force at ``now``)."""
    void = grant_void_reason(birth_date, country_then, grant_at, ps, now)
    if void in _NOT_ON:
        return False
    required = ps.required_version(purpose, now)
    return required is None or policy_version >= required


def is_redundant(
    session: Session,
    ps: PolicySet,
    draft: ledger.EventDraft,
    last: ConsentEvent | None,
    now: datetime,
) -> bool:
    """Whether appending ``draft`` changes nothing: the member's latest choice for the
    purpose is the same action, and (for a grant) that grant counts. Call it under the
    ledger lock (:func:`optin.storage.ledger.lock`) so that it cannot race an append."""
    if last is None or last.action is not ConsentAction(draft.action):
        return False
    if last.action is ConsentAction.WITHDRAW:
        return True
    member = get_member(session, draft.member_id)
    birth = member.birth_date if member is not None else None
    return counts_as_on(
        ps,
        last.at,
        last.policy_version,
        draft.purpose,
        birth,
        country_at(session, draft.member_id, last.at),
        now,
    )


def keep_order(draft: ledger.EventDraft, last: ConsentEvent | None) -> None:
    """A live choice is the member's newest: never dated before their latest event for
    the purpose (a concurrent request with a slightly later clock may have appended
    first), so the ledger order and the effective order agree."""
    if last is not None and last.at > draft.at:
        draft.at = last.at


def record_choice(
    db: Database,
    member_id: str,
    purpose: str,
    action: ConsentAction | str,
    *,
    source: ConsentSource | str,
    now: datetime,
    at: datetime | None = None,
    personal: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> Recorded:
    """Record a grant or withdrawal unless it is redundant (see :func:`is_redundant`,
    decided under the ledger lock, so concurrent identical choices record one event)."""
    ps = policy_set(db)
    with db.session() as s:
        draft = prepare_consent(
            s, ps, member_id, purpose, action, source=source, now=now, at=at, personal=personal
        )
        if event_id is not None:
            draft.event_id = event_id
        ledger.lock(s)
        last = consents.latest_event(s, member_id, purpose)
        if is_redundant(s, ps, draft, last, now):
            assert last is not None
            return Recorded(last, recorded=False)
        keep_order(draft, last)
        row = ledger.append(s, draft, now=now)
        event = ledger.row_to_event(row)
    _propagate(db, [member_id], now)
    return Recorded(event)


def record_consent(
    db: Database,
    member_id: str,
    purpose: str,
    action: ConsentAction | str,
    *,
    source: ConsentSource | str,
    now: datetime,
    at: datetime | None = None,
    personal: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> ConsentEvent:
    """Append a grant or withdrawal for (member, purpose) and return the event (the
    existing one when the choice is redundant: see :func:`record_choice`).

    The event records the policy version in force at ``at`` (default ``now``; a live
    choice is never backdated by more than :data:`BACKDATE_SKEW`). ``personal`` (IP,
    user agent ...) is stored encrypted with the member's key, together with the
    member's country at ``at``.
    """
    return record_choice(
        db,
        member_id,
        purpose,
        action,
        source=source,
        now=now,
        at=at,
        personal=personal,
        event_id=event_id,
    ).event


def _propagate(db: Database, member_ids: list[str], now: datetime) -> None:
    """Consent changed: re-judge the members' records in every snapshot (a withdrawal
    makes them stale; a new grant can make them eligible again)."""
    from optin.services.propagation import propagate

    propagate(db, member_ids=member_ids, reason="withdrawal", now=now)


def consent_history(db: Database, member_id: str) -> list[ConsentEvent]:
    """All the member's consent events, ordered by (time, seq)."""
    with db.session() as s:
        if get_member(s, member_id) is None:
            raise member_not_found(member_id)
        return consents.member_events(s, member_id)


def get_event(db: Database, event_id: str) -> ConsentEvent:
    with db.session() as s:
        ev = consents.get_event(s, event_id)
    if ev is None:
        raise NotFoundError(f"consent event {event_id!r} does not exist")
    return ev


def event_owner(db: Database, event_id: str) -> str | None:
    """The member id of consent event ``event_id`` (None when there is none)."""
    with db.session() as s:
        return consents.event_owner(s, event_id)


def consent_state(db: Database, member_id: str, at: datetime) -> list[PurposeState]:
    """Per purpose: is the switch on, and is the member's content eligible, at ``at``."""
    when = at
    ps = policy_set(db)
    with db.session() as s:
        history = member_history(s, member_id)
    if history is None:
        raise member_not_found(member_id)
    return state_from_history(history, ps, when)
