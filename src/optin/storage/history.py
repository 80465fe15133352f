"""History SQL for incremental eligibility: the watermarks a build records (last ledger
sequence, last country and status row ids) and the members whose rows came after them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, text, union
from sqlalchemy.orm import Session

from optin.storage.models import (
    ConsentEventRow,
    MemberBirthDateRow,
    MemberCountryRow,
    MemberStatusRow,
)

__all__ = ["changed_members", "history_watermarks", "member_birth_dates"]


def history_watermarks(s: Session) -> dict[str, int]:
    """The last ledger sequence number and the last country/status row ids."""
    return {
        "consent_events": int(s.scalar(select(func.max(ConsentEventRow.seq))) or 0),
        "member_countries": int(s.scalar(select(func.max(MemberCountryRow.id))) or 0),
        "member_statuses": int(s.scalar(select(func.max(MemberStatusRow.id))) or 0),
    }


def member_birth_dates(s: Session) -> list[tuple[str, Any]]:
    """Every member id with its raw birth date (ISO text on SQLite, a date on PostgreSQL)."""
    return [(str(m), b) for m, b in s.execute(text("SELECT id, birth_date FROM members"))]


def changed_members(
    s: Session,
    purpose: str,
    windows: Iterable[tuple[datetime, datetime]],
    marks: dict[str, int],
) -> set[str]:
    """Members with a row written after ``marks`` (ledger sequence, row ids: robust to a
    writer whose clock is behind) or effective or recorded in one of the ``(lo, hi]``
    windows, and every member with a birth-date correction."""
    wins = [w for w in windows if w[0] < w[1]]

    def within(after: Any, mark: str, *cols: Any) -> Any:
        return or_(
            after > int(marks[mark]), *(and_(c > lo, c <= hi) for c in cols for lo, hi in wins)
        )

    q = union(
        select(ConsentEventRow.member_id).where(
            ConsentEventRow.purpose == purpose,
            within(
                ConsentEventRow.seq,
                "consent_events",
                ConsentEventRow.at,
                ConsentEventRow.recorded_at,
            ),
        ),
        select(MemberCountryRow.member_id).where(
            within(
                MemberCountryRow.id,
                "member_countries",
                MemberCountryRow.since,
                MemberCountryRow.recorded_at,
            )
        ),
        select(MemberStatusRow.member_id).where(
            within(
                MemberStatusRow.id,
                "member_statuses",
                MemberStatusRow.since,
                MemberStatusRow.recorded_at,
            )
        ),
        select(MemberBirthDateRow.member_id),
    )
    return {str(m) for (m,) in s.execute(q)}
