"""History SQL for incremental eligibility: the watermarks a build records (last ledger
sequence, last country and status row ids) and the members whose rows came after them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from optin.storage.models import (
    ConsentEventRow,
    MemberBirthDateRow,
    MemberCountryRow,
    MemberRow,
    MemberStatusRow,
)

__all__ = ["changed_members", "history_watermarks", "member_ids", "members_born_on"]


def history_watermarks(s: Session) -> dict[str, int]:
    """The last ledger sequence number and the last country/status row ids."""
    return {
        "consent_events": int(s.scalar(select(func.max(ConsentEventRow.seq))) or 0),
        "member_countries": int(s.scalar(select(func.max(MemberCountryRow.id))) or 0),
        "member_statuses": int(s.scalar(select(func.max(MemberStatusRow.id))) or 0),
    }


def member_ids(s: Session) -> list[str]:
    """Every member id (read with the driver's cursor: no row object per member)."""
    raw = s.connection().connection.driver_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        cur.execute("SELECT id FROM members")
        return [m for (m,) in cur.fetchall()]
    finally:
        cur.close()


def members_born_on(s: Session, month_days: Iterable[tuple[int, int]]) -> set[str]:
    """Members whose recorded birth date falls on one of ``month_days`` ((month, day)
    pairs), any year; selected by the database (ISO text on SQLite, a date on
    PostgreSQL)."""
    wanted = sorted({f"{m:02d}-{d:02d}" for m, d in month_days})
    if not wanted:
        return set()
    if s.get_bind().dialect.name == "postgresql":
        md = func.to_char(MemberRow.birth_date, "MM-DD")
    else:
        md = func.substr(MemberRow.birth_date, 6, 5)
    q = select(MemberRow.id).where(MemberRow.birth_date.is_not(None), md.in_(wanted))
    return {str(m) for m in s.scalars(q)}


def changed_members(
    s: Session,
    purpose: str,
    windows: Iterable[tuple[datetime, datetime]],
    marks: dict[str, int],
) -> set[str]:
    """Members with a row written after ``marks`` (ledger sequence, row ids: robust to a
    writer whose clock is behind; a ledger event of any purpose) or, for ``purpose``,
    effective or recorded in one of the ``(lo, hi]`` windows, and every member with a
    birth-date correction."""
    wins = [w for w in windows if w[0] < w[1]]
    ev, co, st = ConsentEventRow, MemberCountryRow, MemberStatusRow
    # one simple select per term, each answered by an index (migration 0015), so the
    # rows read are the changes, not the history: an OR across columns would scan
    parts: list[Any] = [
        # any purpose: a later event of another purpose only decides the member again
        select(ev.member_id).where(ev.seq > int(marks["consent_events"])),
        select(co.member_id).where(co.id > int(marks["member_countries"])),
        select(st.member_id).where(st.id > int(marks["member_statuses"])),
        select(MemberBirthDateRow.member_id),
    ]
    for lo, hi in wins:
        parts += [
            select(ev.member_id).where(ev.purpose == purpose, ev.at > lo, ev.at <= hi),
            select(ev.member_id).where(
                ev.purpose == purpose, ev.recorded_at > lo, ev.recorded_at <= hi
            ),
            select(co.member_id).where(co.since > lo, co.since <= hi),
            select(co.member_id).where(co.recorded_at > lo, co.recorded_at <= hi),
            select(st.member_id).where(st.since > lo, st.since <= hi),
            select(st.member_id).where(st.recorded_at > lo, st.recorded_at <= hi),
        ]
    q = union(*parts)
    return {str(m) for (m,) in s.execute(q)}
