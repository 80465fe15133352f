"""Counts and listings for the platform summary."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from optin.storage.models import MemberRow, SnapshotRow

#: The role of platform members; every other role (``admin``) is a staff account.
MEMBER_ROLE = "member"


def member_count(session: Session) -> int:
    """Platform members, staff accounts (the admin) not counted."""
    q = select(func.count()).select_from(MemberRow).where(MemberRow.role == MEMBER_ROLE)
    return int(session.scalar(q) or 0)


def staff_ids(session: Session) -> frozenset[str]:
    """Ids of the staff accounts (any role but ``member``): a handful of rows."""
    return frozenset(session.scalars(select(MemberRow.id).where(MemberRow.role != MEMBER_ROLE)))


def latest_snapshots(session: Session, limit: int = 5) -> list[dict[str, Any]]:
    """The newest snapshots by ``as_of``: id, purpose, as_of (ISO), status, records."""
    return [
        {
            "id": r.id,
            "purpose": r.purpose,
            "as_of": r.as_of.isoformat(),
            "status": r.status,
            "records": r.record_count,
        }
        for r in session.scalars(
            select(SnapshotRow).order_by(SnapshotRow.as_of.desc()).limit(limit)
        )
    ]
