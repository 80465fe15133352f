"""What a member's consent settings show, from their history: the part of
:mod:`optin.services.consent` that imports no storage, shared with the read-only SQLite
path (:mod:`optin.services.quick`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from optin.domain.eligibility import Decision, PolicySet, decide, project
from optin.domain.model import ConsentAction, ConsentEvent, MemberHistory
from optin.errors import NotFoundError


def member_not_found(member_id: str) -> NotFoundError:
    return NotFoundError(
        f"member {member_id!r} does not exist; `optin member list` lists members "
        "(by id and @handle)"
    )


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


__all__ = ["PurposeState", "member_not_found", "state_from_history"]
