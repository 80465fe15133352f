"""Consent event reads: a member's events, one event, its owner, its personal fields."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from optin.domain.model import ConsentEvent
from optin.storage.keys import KeyRing, unseal
from optin.storage.ledger import is_erasure, row_to_event
from optin.storage.models import ConsentEventRow


def member_events(session: Session, member_id: str) -> list[ConsentEvent]:
    """The member's consent events ordered by (time, seq) (an erasure's ledger entry is
    not one)."""
    rows = session.scalars(
        select(ConsentEventRow)
        .where(ConsentEventRow.member_id == member_id)
        .order_by(ConsentEventRow.at, ConsentEventRow.seq)
    ).all()
    return [row_to_event(r) for r in rows if not is_erasure(r)]


def latest_event(session: Session, member_id: str, purpose: str) -> ConsentEvent | None:
    """The member's latest event for ``purpose`` (by effective time, then seq): their
    current choice."""
    row = session.execute(
        select(ConsentEventRow)
        .where(ConsentEventRow.member_id == member_id, ConsentEventRow.purpose == purpose)
        .order_by(ConsentEventRow.at.desc(), ConsentEventRow.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if row is None else row_to_event(row)


def event_row(session: Session, event_id: str) -> ConsentEventRow | None:
    return session.execute(
        select(ConsentEventRow).where(ConsentEventRow.event_id == event_id)
    ).scalar_one_or_none()


def get_event(session: Session, event_id: str) -> ConsentEvent | None:
    """The consent event ``event_id`` (None when there is none, or it records an
    erasure)."""
    row = event_row(session, event_id)
    return None if row is None or is_erasure(row) else row_to_event(row)


def event_owner(session: Session, event_id: str) -> str | None:
    """The member id of event ``event_id``, or None when there is no such event."""
    return session.scalar(
        select(ConsentEventRow.member_id).where(ConsentEventRow.event_id == event_id)
    )


def personal_of(session: Session, row: ConsentEventRow) -> tuple[dict[str, Any] | None, bool]:
    """The event's decrypted personal fields and whether they were erased (sealed
    fields whose member key is destroyed)."""
    key = KeyRing(session).key_for_read(row.member_id)
    personal = unseal(key, row.event_id, row.personal)
    return personal, row.personal is not None and personal is None
