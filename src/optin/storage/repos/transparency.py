"""Which snapshots hold a member's records, and those records with their content."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from optin.storage.models import ContentRow, SnapshotRecordRow, SnapshotRow


def snapshots_with_author(session: Session, member_id: str) -> list[tuple[SnapshotRow, int]]:
    """Every snapshot holding records by ``member_id`` with their count, newest first."""
    rows = session.execute(
        select(SnapshotRow, func.count(SnapshotRecordRow.record_id))
        .join(SnapshotRecordRow, SnapshotRecordRow.snapshot_id == SnapshotRow.id)
        .where(SnapshotRecordRow.author_id == member_id)
        .group_by(SnapshotRow.id)
        .order_by(SnapshotRow.as_of.desc(), SnapshotRow.id)
    ).all()
    return [(r, int(n)) for r, n in rows]


def get_snapshot_row(session: Session, snapshot_id: str) -> SnapshotRow | None:
    return session.get(SnapshotRow, snapshot_id)


def author_record_count(session: Session, snapshot_id: str, member_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SnapshotRecordRow)
            .where(
                SnapshotRecordRow.snapshot_id == snapshot_id,
                SnapshotRecordRow.author_id == member_id,
            )
        )
        or 0
    )


def author_records(
    session: Session, snapshot_id: str, member_id: str, *, limit: int
) -> Sequence[tuple[Any, Any]]:
    """(record row, content row or None) of the member's records, by content id."""
    rows = session.execute(
        select(SnapshotRecordRow, ContentRow)
        .join(ContentRow, ContentRow.id == SnapshotRecordRow.content_id, isouter=True)
        .where(
            SnapshotRecordRow.snapshot_id == snapshot_id,
            SnapshotRecordRow.author_id == member_id,
        )
        .order_by(SnapshotRecordRow.content_id)
        .limit(limit)
    ).all()
    return [(rec, content) for rec, content in rows]
