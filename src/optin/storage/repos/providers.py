"""Provider registry, provider exports, export records and the deletion-notice outbox:
the only SQL the provider services use (see :mod:`optin.storage.provider_models`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session, defer

from optin.storage.provider_models import (
    DeletionNoticeRow,
    ExportRecordRow,
    ProviderExportRow,
    ProviderKeyRow,
    ProviderRow,
)

_CHUNK = 900  # ids per IN (...) (SQLite's historical 999-variable limit)
_INSERT_CHUNK = 5_000

__all__ = [
    "ClaimedNotice",
    "add_export",
    "add_notice",
    "add_provider",
    "add_provider_key",
    "claim_due",
    "export_record_ids",
    "exports_by_ids",
    "get_export",
    "get_notice",
    "get_provider",
    "insert_export_records",
    "list_exports",
    "list_notices",
    "list_providers",
    "lock_export",
    "mark_noticed",
    "mark_stale",
    "member_export_counts",
    "member_notices",
    "notice_counts",
    "provider_by_name",
    "provider_of_key",
    "record_acked",
    "record_delivered",
    "record_failure",
    "unnoticed_records",
    "unnoticed_records_of_members",
]


# -- providers -------------------------------------------------------------------------


def add_provider(
    session: Session,
    *,
    provider_id: str,
    name: str,
    webhook_url: str,
    deadline_days: int,
    created_at: datetime,
) -> ProviderRow:
    row = ProviderRow(
        id=provider_id,
        name=name,
        webhook_url=webhook_url,
        deadline_days=deadline_days,
        created_at=created_at,
    )
    session.add(row)
    session.flush()
    return row


def get_provider(session: Session, provider_id: str) -> ProviderRow | None:
    return session.get(ProviderRow, provider_id)


def provider_by_name(session: Session, name: str) -> ProviderRow | None:
    """The provider whose name equals ``name`` ignoring case."""
    return session.execute(
        select(ProviderRow).where(func.lower(ProviderRow.name) == name.lower())
    ).scalar_one_or_none()


def list_providers(session: Session) -> list[ProviderRow]:
    return list(session.execute(select(ProviderRow).order_by(ProviderRow.name)).scalars())


def add_provider_key(session: Session, key_id: str, provider_id: str) -> None:
    session.add(ProviderKeyRow(key_id=key_id, provider_id=provider_id))


def provider_of_key(session: Session, key_id: str) -> str | None:
    row = session.get(ProviderKeyRow, key_id)
    return None if row is None else row.provider_id


# -- exports ---------------------------------------------------------------------------


def add_export(session: Session, **fields: Any) -> ProviderExportRow:
    row = ProviderExportRow(**fields)
    session.add(row)
    session.flush()
    return row


def insert_export_records(session: Session, export_id: str, rows: Iterable[dict[str, Any]]) -> int:
    """Bulk insert of (record_id, member_id, content_id, consent_event_id) rows."""
    n = 0
    chunk: list[dict[str, Any]] = []
    for r in rows:
        chunk.append({"export_id": export_id, "noticed_at": None, **r})
        if len(chunk) >= _INSERT_CHUNK:
            session.execute(insert(ExportRecordRow), chunk)
            n += len(chunk)
            chunk = []
    if chunk:
        session.execute(insert(ExportRecordRow), chunk)
        n += len(chunk)
    return n


def get_export(session: Session, export_id: str) -> tuple[ProviderExportRow, ProviderRow] | None:
    row = session.execute(
        select(ProviderExportRow, ProviderRow)
        .join(ProviderRow, ProviderRow.id == ProviderExportRow.provider_id)
        .where(ProviderExportRow.id == export_id)
    ).first()
    return None if row is None else (row[0], row[1])


def list_exports(
    session: Session, *, snapshot_id: str | None = None
) -> list[tuple[ProviderExportRow, ProviderRow]]:
    """Exports with their provider, newest first."""
    q = select(ProviderExportRow, ProviderRow).join(
        ProviderRow, ProviderRow.id == ProviderExportRow.provider_id
    )
    if snapshot_id is not None:
        q = q.where(ProviderExportRow.snapshot_id == snapshot_id)
    rows = session.execute(q.order_by(ProviderExportRow.created_at.desc(), ProviderExportRow.id))
    return [(r[0], r[1]) for r in rows]


def export_record_ids(session: Session, export_id: str) -> list[str]:
    return list(
        session.execute(
            select(ExportRecordRow.record_id)
            .where(ExportRecordRow.export_id == export_id)
            .order_by(ExportRecordRow.record_id)
        ).scalars()
    )


def exports_by_ids(
    session: Session, export_ids: Sequence[str]
) -> dict[str, tuple[ProviderExportRow, ProviderRow]]:
    """export id -> (export row, provider row) for those of ``export_ids`` that exist."""
    out: dict[str, tuple[ProviderExportRow, ProviderRow]] = {}
    ids = sorted(set(export_ids))
    for i in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(ProviderExportRow, ProviderRow)
            .join(ProviderRow, ProviderRow.id == ProviderExportRow.provider_id)
            .where(ProviderExportRow.id.in_(ids[i : i + _CHUNK]))
        )
        out.update({r[0].id: (r[0], r[1]) for r in rows})
    return out


def member_export_counts(
    session: Session, *, member_id: str | None = None, content_id: str | None = None
) -> list[Any]:
    """Per export holding records of the member (or made from the content item): rows
    of (export_id, records, noticed) - how many such records, how many of them a
    deletion notice has named."""
    r = ExportRecordRow
    q = select(
        r.export_id,
        func.count().label("records"),
        func.count(r.noticed_at).label("noticed"),
    )
    if member_id is not None:
        q = q.where(r.member_id == member_id)
    if content_id is not None:
        q = q.where(r.content_id == content_id)
    return list(session.execute(q.group_by(r.export_id).order_by(r.export_id)).all())


def member_notices(session: Session, member_id: str) -> list[tuple[DeletionNoticeRow, str]]:
    """The deletion notices that name records of the member, with the provider's name,
    oldest first. A notice names the records noticed in its transaction (the records'
    ``noticed_at`` is the notice's ``created_at``); where one transaction wrote several
    notices (more than ``NOTICE_MAX_RECORDS`` records), only those whose record ids
    include the member's are returned."""
    n, r = DeletionNoticeRow, ExportRecordRow
    hits = session.execute(
        select(n.id, n.export_id, n.created_at)
        .join(r, and_(r.export_id == n.export_id, r.noticed_at == n.created_at))
        .where(r.member_id == member_id)
        .distinct()
    ).all()
    groups: dict[tuple[str, datetime], list[str]] = {}
    for nid, export_id, created in hits:
        groups.setdefault((export_id, created), []).append(nid)
    keep: list[str] = []
    for (export_id, created), ids in groups.items():
        if len(ids) == 1:
            keep.extend(ids)
            continue
        mine = set(
            session.execute(
                select(r.record_id).where(
                    r.export_id == export_id, r.member_id == member_id, r.noticed_at == created
                )
            ).scalars()
        )
        for nid, payload in session.execute(select(n.id, n.payload).where(n.id.in_(ids))):
            if mine & set(json.loads(payload).get("record_ids", [])):
                keep.append(nid)
    if not keep:
        return []
    rows = session.execute(
        select(n, ProviderRow.name)
        .join(ProviderRow, ProviderRow.id == n.provider_id)
        .where(n.id.in_(keep))
        .options(defer(n.payload))
        .order_by(n.created_at, n.id)
    )
    return [(row[0], row[1]) for row in rows]


# -- propagation -----------------------------------------------------------------------

_RECORD_COLS = (
    ExportRecordRow.export_id,
    ExportRecordRow.record_id,
    ExportRecordRow.member_id,
    ExportRecordRow.content_id,
)


def unnoticed_records_of_members(session: Session, member_ids: Sequence[str]) -> list[Any]:
    """Exported records of these members that no deletion notice has named yet:
    rows of (export_id, record_id, member_id, content_id)."""
    out: list[Any] = []
    ids = list(member_ids)
    for i in range(0, len(ids), _CHUNK):
        out.extend(
            session.execute(
                select(*_RECORD_COLS).where(
                    ExportRecordRow.member_id.in_(ids[i : i + _CHUNK]),
                    ExportRecordRow.noticed_at.is_(None),
                )
            ).all()
        )
    return out


def lock_export(session: Session, export_id: str) -> ProviderExportRow | None:
    """The export row, locked for this transaction (PostgreSQL: ``FOR UPDATE``; SQLite:
    a no-op write takes the database's write lock), so concurrent propagation runs
    serialise per export and never notice a record twice."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(ProviderExportRow)
            .where(ProviderExportRow.id == export_id)
            .values(stale_count=ProviderExportRow.stale_count)
        )
        return session.get(ProviderExportRow, export_id)
    return session.execute(
        select(ProviderExportRow).where(ProviderExportRow.id == export_id).with_for_update()
    ).scalar_one_or_none()


def unnoticed_records(session: Session, export_id: str, record_ids: Sequence[str]) -> list[str]:
    """Which of ``record_ids`` in the export have not been named by a notice yet."""
    out: list[str] = []
    ids = list(record_ids)
    for i in range(0, len(ids), _CHUNK):
        out.extend(
            session.execute(
                select(ExportRecordRow.record_id).where(
                    ExportRecordRow.export_id == export_id,
                    ExportRecordRow.record_id.in_(ids[i : i + _CHUNK]),
                    ExportRecordRow.noticed_at.is_(None),
                )
            ).scalars()
        )
    return sorted(out)


def mark_noticed(session: Session, export_id: str, record_ids: Sequence[str], at: datetime) -> None:
    ids = list(record_ids)
    for i in range(0, len(ids), _CHUNK):
        session.execute(
            update(ExportRecordRow)
            .where(
                ExportRecordRow.export_id == export_id,
                ExportRecordRow.record_id.in_(ids[i : i + _CHUNK]),
            )
            .values(noticed_at=at)
        )


def mark_stale(session: Session, export_id: str, count: int, reason: str, at: datetime) -> None:
    """Add ``count`` to the export's stale count and record the latest reason."""
    session.execute(
        update(ProviderExportRow)
        .where(ProviderExportRow.id == export_id)
        .values(
            status="stale",
            stale_count=ProviderExportRow.stale_count + count,
            stale_reason=reason,
            stale_at=at,
        )
    )


def add_notice(session: Session, **fields: Any) -> None:
    session.add(DeletionNoticeRow(**fields))


# -- the outbox ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedNotice:
    id: str
    payload: str
    webhook_url: str
    attempts: int


def claim_due(
    session: Session, *, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedNotice]:
    """Lease up to ``limit`` undelivered notices whose next attempt is due and that no
    live lease holds (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers never wait on
    each other); their ``locked_until`` becomes ``lease_until``."""
    due = and_(
        DeletionNoticeRow.delivered_at.is_(None),
        DeletionNoticeRow.next_attempt_at <= now,
        or_(DeletionNoticeRow.locked_until.is_(None), DeletionNoticeRow.locked_until <= now),
    )
    q = (
        select(
            DeletionNoticeRow.id,
            DeletionNoticeRow.payload,
            DeletionNoticeRow.attempts,
            DeletionNoticeRow.provider_id,
        )
        .where(due)
        .order_by(DeletionNoticeRow.next_attempt_at, DeletionNoticeRow.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name != "sqlite":
        q = q.with_for_update(skip_locked=True, of=DeletionNoticeRow)
    else:
        # nothing due: answer from a read, without taking SQLite's write lock
        if session.execute(select(DeletionNoticeRow.id).where(due).limit(1)).first() is None:
            return []
        # take the write lock first, so two workers never read the same due rows
        session.execute(
            update(DeletionNoticeRow).where(DeletionNoticeRow.id == "").values(attempts=0)
        )
    rows = session.execute(q).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    session.execute(
        update(DeletionNoticeRow)
        .where(DeletionNoticeRow.id.in_(ids))
        .values(locked_until=lease_until)
    )
    urls = dict(
        session.execute(
            select(ProviderRow.id, ProviderRow.webhook_url).where(
                ProviderRow.id.in_({r.provider_id for r in rows})
            )
        ).all()
    )
    return [ClaimedNotice(r.id, r.payload, urls[r.provider_id], int(r.attempts)) for r in rows]


def record_delivered(session: Session, notice_ids: Sequence[str], at: datetime) -> None:
    ids = list(notice_ids)
    for i in range(0, len(ids), _CHUNK):
        session.execute(
            update(DeletionNoticeRow)
            .where(DeletionNoticeRow.id.in_(ids[i : i + _CHUNK]))
            .values(
                delivered_at=func.coalesce(DeletionNoticeRow.delivered_at, at),
                attempts=DeletionNoticeRow.attempts + 1,
                locked_until=None,
                last_error=None,
            )
        )


def record_failure(
    session: Session, notice_id: str, *, next_attempt_at: datetime, error: str
) -> None:
    session.execute(
        update(DeletionNoticeRow)
        .where(DeletionNoticeRow.id == notice_id, DeletionNoticeRow.delivered_at.is_(None))
        .values(
            attempts=DeletionNoticeRow.attempts + 1,
            next_attempt_at=next_attempt_at,
            locked_until=None,
            last_error=error[:500],
        )
    )


def get_notice(session: Session, notice_id: str) -> DeletionNoticeRow | None:
    return session.get(DeletionNoticeRow, notice_id)


def record_acked(session: Session, row: DeletionNoticeRow, *, at: datetime, key_id: str) -> None:
    """The provider confirmed the purge; an ack also proves delivery."""
    if row.acked_at is None:
        row.acked_at = at
        row.acked_by = key_id
    if row.delivered_at is None:
        row.delivered_at = at
        row.locked_until = None
    session.flush()


def list_notices(
    session: Session,
    *,
    export_id: str | None = None,
    overdue_at: datetime | None = None,
    limit: int | None = None,
) -> list[tuple[DeletionNoticeRow, str]]:
    """Notices with their provider's name, oldest first; ``overdue_at``: only those not
    acknowledged whose deadline passed before that time."""
    q = select(DeletionNoticeRow, ProviderRow.name).join(
        ProviderRow, ProviderRow.id == DeletionNoticeRow.provider_id
    )
    if export_id is not None:
        q = q.where(DeletionNoticeRow.export_id == export_id)
    if overdue_at is not None:
        q = q.where(DeletionNoticeRow.acked_at.is_(None), DeletionNoticeRow.due_at < overdue_at)
    q = q.order_by(DeletionNoticeRow.created_at, DeletionNoticeRow.id)
    if limit is not None:
        q = q.limit(limit)
    return [(r[0], r[1]) for r in session.execute(q)]


def notice_counts(session: Session, *, now: datetime) -> dict[str, int]:
    """Notices by state: ``pending`` (not yet delivered), ``delivered`` (awaiting the
    provider's acknowledgement), ``acknowledged``, and ``overdue`` (not acknowledged,
    deadline passed; also counted in pending or delivered)."""
    n = DeletionNoticeRow
    row = session.execute(
        select(
            func.count().filter(n.delivered_at.is_(None)),
            func.count().filter(n.delivered_at.is_not(None), n.acked_at.is_(None)),
            func.count().filter(n.acked_at.is_not(None)),
            func.count().filter(n.acked_at.is_(None), n.due_at < now),
        )
    ).one()
    return {
        "pending": int(row[0]),
        "delivered": int(row[1]),
        "acknowledged": int(row[2]),
        "overdue": int(row[3]),
    }
