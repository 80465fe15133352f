"""Queries and writes of data-subject requests (:mod:`optin.services.dsr`): the request
queue, its dated history, single-use download links, and what an access package reads
(a member's content, exported records and the deletion notices naming them)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from optin.storage.models import (
    ContentRow,
    DsrDownloadRow,
    DsrRequestEventRow,
    DsrRequestRow,
    MemberRow,
)
from optin.storage.provider_models import (
    DeletionNoticeRow,
    ExportRecordRow,
    ProviderExportRow,
    ProviderRow,
)

_CHUNK = 900


def lock_member(session: Session, member_id: str) -> bool:
    """Serialise request openings for one member for this transaction (PostgreSQL:
    ``FOR UPDATE`` on the member row; SQLite: a no-op write takes the write lock), so
    two concurrent duplicates are linked, never both run. False when no such member."""
    if session.get_bind().dialect.name == "sqlite":
        res = session.execute(
            update(MemberRow).where(MemberRow.id == member_id).values(role=MemberRow.role)
        )
        return bool(res.rowcount)  # type: ignore[attr-defined]
    found = session.execute(
        select(MemberRow.id).where(MemberRow.id == member_id).with_for_update()
    ).scalar_one_or_none()
    return found is not None


def add_request(session: Session, **fields: Any) -> DsrRequestRow:
    row = DsrRequestRow(**fields)
    session.add(row)
    session.flush()
    return row


def add_event(session: Session, **fields: Any) -> None:
    session.add(DsrRequestEventRow(**fields))
    session.flush()


def get_request(session: Session, request_id: str, *, lock: bool = False) -> DsrRequestRow | None:
    """One request; ``lock`` takes it for this transaction (a no-op write on SQLite)."""
    if not lock:
        return session.get(DsrRequestRow, request_id)
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(DsrRequestRow)
            .where(DsrRequestRow.id == request_id)
            .values(state=DsrRequestRow.state)
        )
        return session.get(DsrRequestRow, request_id)
    return session.execute(
        select(DsrRequestRow).where(DsrRequestRow.id == request_id).with_for_update()
    ).scalar_one_or_none()


def first_open(
    session: Session, member_id: str, kind: str, open_states: Sequence[str]
) -> DsrRequestRow | None:
    """The earliest open, not itself linked, request of ``kind`` for the member."""
    return session.execute(
        select(DsrRequestRow)
        .where(
            DsrRequestRow.member_id == member_id,
            DsrRequestRow.kind == kind,
            DsrRequestRow.state.in_(list(open_states)),
            DsrRequestRow.duplicate_of.is_(None),
        )
        .order_by(DsrRequestRow.received_at, DsrRequestRow.id)
        .limit(1)
    ).scalar_one_or_none()


def list_requests(
    session: Session,
    *,
    states: Sequence[str] | None = None,
    kind: str | None = None,
    member_id: str | None = None,
    limit: int = 1000,
) -> list[DsrRequestRow]:
    """Requests, soonest deadline first (then by receipt)."""
    q = select(DsrRequestRow)
    if states is not None:
        q = q.where(DsrRequestRow.state.in_(list(states)))
    if kind is not None:
        q = q.where(DsrRequestRow.kind == kind)
    if member_id is not None:
        q = q.where(DsrRequestRow.member_id == member_id)
    q = q.order_by(DsrRequestRow.due_at, DsrRequestRow.received_at, DsrRequestRow.id)
    return list(session.execute(q.limit(limit)).scalars())


def linked_requests(session: Session, request_id: str) -> list[DsrRequestRow]:
    return list(
        session.execute(
            select(DsrRequestRow)
            .where(DsrRequestRow.duplicate_of == request_id)
            .order_by(DsrRequestRow.received_at, DsrRequestRow.id)
        ).scalars()
    )


def events_of(session: Session, request_ids: Sequence[str]) -> list[DsrRequestEventRow]:
    out: list[DsrRequestEventRow] = []
    ids = list(request_ids)
    for i in range(0, len(ids), _CHUNK):
        out.extend(
            session.execute(
                select(DsrRequestEventRow)
                .where(DsrRequestEventRow.request_id.in_(ids[i : i + _CHUNK]))
                .order_by(DsrRequestEventRow.request_id, DsrRequestEventRow.id)
            ).scalars()
        )
    return out


# -- access packages and their download links -------------------------------------------


def expired_packages(session: Session, now: datetime) -> list[DsrRequestRow]:
    return list(
        session.execute(
            select(DsrRequestRow).where(
                DsrRequestRow.package_path.is_not(None),
                DsrRequestRow.package_removed_at.is_(None),
                DsrRequestRow.package_expires_at <= now,
            )
        ).scalars()
    )


def member_packages(session: Session, member_id: str) -> list[DsrRequestRow]:
    """The member's requests whose package file has not been removed yet."""
    return list(
        session.execute(
            select(DsrRequestRow).where(
                DsrRequestRow.member_id == member_id,
                DsrRequestRow.package_path.is_not(None),
                DsrRequestRow.package_removed_at.is_(None),
            )
        ).scalars()
    )


def all_package_paths(session: Session) -> list[str]:
    """Stored paths of every package not yet recorded as removed."""
    rows = session.execute(
        select(DsrRequestRow.package_path).where(
            DsrRequestRow.package_path.is_not(None),
            DsrRequestRow.package_removed_at.is_(None),
        )
    ).scalars()
    return [p for p in rows if p is not None]


def add_download(session: Session, **fields: Any) -> None:
    session.add(DsrDownloadRow(**fields))
    session.flush()


def get_download(session: Session, token_hash: str) -> DsrDownloadRow | None:
    return session.get(DsrDownloadRow, token_hash)


def use_download(session: Session, token_hash: str, member_id: str, now: datetime) -> bool:
    """Consume the link: True for the one caller that marks it used (not expired, not
    used before, the member's own); concurrent callers get False."""
    res = session.execute(
        update(DsrDownloadRow)
        .where(
            DsrDownloadRow.token_hash == token_hash,
            DsrDownloadRow.member_id == member_id,
            DsrDownloadRow.used_at.is_(None),
            DsrDownloadRow.expires_at > now,
        )
        .values(used_at=now)
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]


def delete_downloads(
    session: Session, *, before: datetime | None = None, request_ids: Sequence[str] = ()
) -> int:
    """Delete links that expired before ``before``, and every link of ``request_ids``."""
    n = 0
    if before is not None:
        res = session.execute(delete(DsrDownloadRow).where(DsrDownloadRow.expires_at <= before))
        n += int(res.rowcount)  # type: ignore[attr-defined]
    ids = list(request_ids)
    for i in range(0, len(ids), _CHUNK):
        res = session.execute(
            delete(DsrDownloadRow).where(DsrDownloadRow.request_id.in_(ids[i : i + _CHUNK]))
        )
        n += int(res.rowcount)  # type: ignore[attr-defined]
    return n


# -- erasure: the free texts of requests ------------------------------------------------

#: The free-text columns of the request tables (the operator's and the member's words):
#: what erasure scans for the erased members' personal data.
TEXT_COLUMNS = {
    "dsr_requests": ("identity_method", "reason"),
    "dsr_request_events": ("reason", "notice"),
}


def iter_request_texts(session: Session) -> Iterator[tuple[str, str, str, str, str]]:
    """(table, row key, column, member id, text) of every non-empty free text of the
    request tables (requests and their history), by table and key."""
    req = select(
        DsrRequestRow.id, DsrRequestRow.member_id, DsrRequestRow.identity_method,
        DsrRequestRow.reason,
    ).order_by(DsrRequestRow.id)  # fmt: skip
    for rid, mid, method, reason in session.execute(req):
        for col, value in (("identity_method", method), ("reason", reason)):
            if value:
                yield "dsr_requests", str(rid), col, str(mid), str(value)
    ev = (
        select(
            DsrRequestEventRow.id,
            DsrRequestRow.member_id,
            DsrRequestEventRow.reason,
            DsrRequestEventRow.notice,
        )
        .join(DsrRequestRow, DsrRequestRow.id == DsrRequestEventRow.request_id)
        .order_by(DsrRequestEventRow.id)
    )
    for eid, mid, reason, notice in session.execute(ev):
        for col, value in (("reason", reason), ("notice", notice)):
            if value:
                yield "dsr_request_events", str(eid), col, str(mid), str(value)


def set_request_texts(session: Session, changes: dict[tuple[str, str, str], str]) -> int:
    """Replace free texts: ``(table, row key, column) -> new text``; returns how many."""
    for (table, key, col), value in sorted(changes.items()):
        if col not in TEXT_COLUMNS.get(table, ()):
            raise ValueError(f"{table}.{col} is not a free-text column of the request tables")
        if table == "dsr_requests":
            session.execute(
                update(DsrRequestRow).where(DsrRequestRow.id == key).values({col: value})
            )
        else:
            session.execute(
                update(DsrRequestEventRow)
                .where(DsrRequestEventRow.id == int(key))
                .values({col: value})
            )
    return len(changes)


def retire_member_packages(session: Session, member_ids: Sequence[str], now: datetime) -> int:
    """Record every live package of ``member_ids`` as removed and delete their download
    links (the files themselves are shredded by the caller); returns how many requests."""
    n = 0
    for mid in member_ids:
        rows = member_packages(session, mid)
        for row in rows:
            row.package_removed_at = now
        delete_downloads(session, request_ids=[r.id for r in rows])
        n += len(rows)
    ids = list(member_ids)
    for i in range(0, len(ids), _CHUNK):  # links of packages already removed, too
        session.execute(
            delete(DsrDownloadRow).where(DsrDownloadRow.member_id.in_(ids[i : i + _CHUNK]))
        )
    return n


# -- what an access package reads ------------------------------------------------------


def iter_member_content(engine: Engine, member_id: str, *, chunk: int = 2000) -> Iterator[Any]:
    """Every content item the member authored (deleted ones too), oldest first."""
    with engine.connect() as conn:
        result = conn.execute(
            select(
                ContentRow.id,
                ContentRow.kind,
                ContentRow.visibility,
                ContentRow.language,
                ContentRow.created_at,
                ContentRow.edited_at,
                ContentRow.deleted_at,
                ContentRow.text,
            )
            .where(ContentRow.author_id == member_id)
            .order_by(ContentRow.created_at, ContentRow.id)
            .execution_options(yield_per=chunk)
        )
        yield from result


def member_exports(session: Session, member_id: str) -> list[Any]:
    """Per provider export holding the member's records: export id, provider name,
    snapshot, time, status, and the member's records (ids, and when a notice named each)."""
    return list(
        session.execute(
            select(
                ExportRecordRow.export_id,
                ExportRecordRow.record_id,
                ExportRecordRow.noticed_at,
                ProviderExportRow.snapshot_id,
                ProviderExportRow.created_at,
                ProviderExportRow.status,
                ProviderExportRow.format,
                ProviderRow.name.label("provider"),
            )
            .join(ProviderExportRow, ProviderExportRow.id == ExportRecordRow.export_id)
            .join(ProviderRow, ProviderRow.id == ProviderExportRow.provider_id)
            .where(ExportRecordRow.member_id == member_id)
            .order_by(ExportRecordRow.export_id, ExportRecordRow.record_id)
        ).all()
    )


def notices_of_exports(session: Session, export_ids: Sequence[str]) -> list[DeletionNoticeRow]:
    out: list[DeletionNoticeRow] = []
    ids = list(export_ids)
    for i in range(0, len(ids), _CHUNK):
        out.extend(
            session.execute(
                select(DeletionNoticeRow)
                .where(DeletionNoticeRow.export_id.in_(ids[i : i + _CHUNK]))
                .order_by(DeletionNoticeRow.created_at, DeletionNoticeRow.id)
            ).scalars()
        )
    return out


__all__ = [
    "TEXT_COLUMNS",
    "add_download",
    "add_event",
    "add_request",
    "all_package_paths",
    "delete_downloads",
    "events_of",
    "expired_packages",
    "first_open",
    "get_download",
    "get_request",
    "iter_member_content",
    "iter_request_texts",
    "linked_requests",
    "list_requests",
    "lock_member",
    "member_exports",
    "member_packages",
    "notices_of_exports",
    "retire_member_packages",
    "set_request_texts",
    "use_download",
]
