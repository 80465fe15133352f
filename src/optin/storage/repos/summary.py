"""Counts and listings for the platform summary."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from optin.storage.models import MemberRow, SnapshotRow


def member_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(MemberRow)) or 0)


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
