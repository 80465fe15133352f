"""Record consent choices in the ledger and read them back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from optin.domain.eligibility import Decision, PolicySet, decide, project
from optin.domain.model import ConsentAction, ConsentEvent, ConsentSource, MemberHistory
from optin.errors import InputError, NotFoundError
from optin.services.database import Database
from optin.services.policy import policy_set
from optin.storage import ledger
from optin.storage.members import country_at, get_member, member_history, member_id_for
from optin.storage.models import ConsentEventRow

#: Tolerated clock skew for "not in the future".
FUTURE_SKEW = timedelta(seconds=5)


def parse_action(value: str) -> ConsentAction:
    """'grant'/'on'/'yes'/'true' -> GRANT, 'withdraw'/'off'/'no'/'false' -> WITHDRAW."""
    v = str(value).strip().lower()
    if v in ("grant", "on", "yes", "true", "1"):
        return ConsentAction.GRANT
    if v in ("withdraw", "off", "no", "false", "0"):
        return ConsentAction.WITHDRAW
    raise InputError(
        "unknown consent action",
        field="action",
        value=value,
        allowed="on, off (or grant, withdraw)",
    )


def _purpose_error(purpose: str, ps: PolicySet, at: datetime) -> NotFoundError:
    pv = ps.in_force(at)
    valid = ", ".join(sorted(pv.purposes)) if pv else "none (no policy in force)"
    return NotFoundError(
        f"unknown purpose {purpose!r} at {at.isoformat()}; valid purposes: {valid}"
    )


def member_not_found(member_id: str) -> NotFoundError:
    return NotFoundError(
        f"member {member_id!r} does not exist; list members with "
        "`optin import` / `optin demo` or check the id"
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
    at: datetime | None = None,
    personal: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> ledger.EventDraft:
    """Validate a consent choice and return the ledger draft that records it.

    The one place the rules live (time not naive and not in the future, known action
    and source, purpose defined by the policy in force, member exists); both
    :func:`record_consent` and the web app's group commit use it. The draft carries the
    policy version in force at ``at`` and, as encrypted personal fields, the member's
    country at ``at`` plus ``personal``.
    """
    now = now or datetime.now(UTC)
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
    try:
        src = ConsentSource(source)
    except ValueError:
        raise InputError(
            "unknown consent source",
            field="source",
            value=source,
            allowed=", ".join(s.value for s in ConsentSource),
        ) from None
    pv = ps.in_force(when)
    if pv is None or purpose not in pv.purposes:
        raise _purpose_error(purpose, ps, when)
    if get_member(session, member_id) is None:
        raise member_not_found(member_id)
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


def record_consent(
    db: Database,
    member_id: str,
    purpose: str,
    action: ConsentAction | str,
    *,
    source: ConsentSource | str,
    at: datetime | None = None,
    personal: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> ConsentEvent:
    """Append a grant or withdrawal for (member, purpose) and return the event.

    The event records the policy version in force at ``at`` (default now). ``personal``
    (IP, user agent ...) is stored encrypted with the member's key, together with the
    member's country at ``at``.
    """
    ps = policy_set(db)
    with db.session() as s:
        draft = prepare_consent(
            s, ps, member_id, purpose, action, source=source, at=at, personal=personal
        )
        if event_id is not None:
            draft.event_id = event_id
        row = ledger.append(s, draft, now=draft.recorded_at or datetime.now(UTC))
        return ledger.row_to_event(row)


def consent_history(db: Database, member_id: str) -> list[ConsentEvent]:
    """All the member's consent events, ordered by (time, seq)."""
    with db.session() as s:
        if get_member(s, member_id) is None:
            raise member_not_found(member_id)
        rows = (
            s.execute(
                select(ConsentEventRow)
                .where(ConsentEventRow.member_id == member_id)
                .order_by(ConsentEventRow.at, ConsentEventRow.seq)
            )
            .scalars()
            .all()
        )
        return [ledger.row_to_event(r) for r in rows]


def get_event(db: Database, event_id: str) -> ConsentEvent:
    with db.session() as s:
        row = s.execute(
            select(ConsentEventRow).where(ConsentEventRow.event_id == event_id)
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"consent event {event_id!r} does not exist")
        return ledger.row_to_event(row)


@dataclass(frozen=True, slots=True)
class PurposeState:
    """One purpose of a member's settings page at a time."""

    purpose: str
    title: str
    switched_on: bool
    decision: Decision
    last_event: ConsentEvent | None

    def to_dict(self) -> dict[str, object]:
        ev = self.last_event
        return {
            "purpose": self.purpose,
            "title": self.title,
            "switched_on": self.switched_on,
            "decision": self.decision.to_dict(),
            "last_event": None
            if ev is None
            else {
                "event_id": ev.event_id,
                "action": str(ev.action),
                "at": ev.at.isoformat(),
                "policy_version": ev.policy_version,
                "source": str(ev.source),
                "seq": ev.seq,
            },
        }


def state_from_history(history: MemberHistory, ps: PolicySet, at: datetime) -> list[PurposeState]:
    pv = ps.in_force(at) or ps.latest()
    purposes = dict(pv.purposes) if pv else {}
    for ev in history.events:  # purposes the member once chose but the policy dropped
        purposes.setdefault(ev.purpose, None)  # type: ignore[arg-type]
    out = []
    for pid in sorted(purposes):
        st = project(history, pid, at)
        last = None
        if st.last_event_id is not None:
            last = next(e for e in history.events if e.event_id == st.last_event_id)
        p = purposes[pid]
        out.append(
            PurposeState(
                purpose=pid,
                title=p.title if p is not None else pid,
                switched_on=st.last_action is ConsentAction.GRANT,
                decision=decide(st, pid, at, ps),
                last_event=last,
            )
        )
    return out


def consent_state(db: Database, member_id: str, at: datetime | None = None) -> list[PurposeState]:
    """Per purpose: is the switch on, and is the member's content eligible, at ``at``."""
    when = at or datetime.now(UTC)
    ps = policy_set(db)
    with db.session() as s:
        history = member_history(s, member_id)
    if history is None:
        raise member_not_found(member_id)
    return state_from_history(history, ps, when)
