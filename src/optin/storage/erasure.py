"""Erasure SQL: blanking a member's row, deleting their content and histories, erasing
their transparency-log salts, field-level erasure records, the erased members'
directory markers, and compacting the database so freed pages keep no copy.

Every write takes the caller's session (one transaction); :func:`secure_delete` must
be the first statement of a SQLite transaction that deletes personal data, so freed
cells are zeroed, and :func:`compact` runs afterwards, outside any transaction:

* SQLite: ``PRAGMA secure_delete=ON``, ``temp_store=MEMORY`` (VACUUM's copy stays in
  memory, not in a temporary file), ``VACUUM`` (rebuilds the file without free pages),
  then ``PRAGMA wal_checkpoint(TRUNCATE)`` (the WAL, which holds the old page images, is
  copied back and truncated to zero bytes);
* PostgreSQL: ``VACUUM (FULL, ANALYZE)`` of the tables erasure touched (each is
  rewritten into a new file with fresh indexes, so no dead tuple or index entry keeps a
  value; statistics are resampled without the erased values).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from optin.storage.models import (
    ConsentEventRow,
    ContentRow,
    ErasureRecordRow,
    MemberBirthDateRow,
    MemberCountryRow,
    MemberRow,
    TlogLeafRow,
    WebSessionRow,
    fold_handle,
)
from optin.storage.provider_models import DeletionNoticeRow, ExportRecordRow, ProviderExportRow

__all__ = [
    "COMPACTED_TABLES",
    "COMPACT_WAIT_SECONDS",
    "Compaction",
    "ErasureRecord",
    "add_records",
    "blank_member",
    "compact",
    "content_texts",
    "delete_member_rows",
    "erase_salts",
    "erased_count",
    "export_paths",
    "exports_of_members",
    "iter_markers",
    "iter_other_texts",
    "notices_at",
    "records_of",
    "secure_delete",
    "set_texts",
]

_CHUNK = 900

#: Tables erasure deletes from or rewrites (what PostgreSQL's compaction vacuums): the
#: member's rows, other members' texts that mentioned them, the log salts, and the
#: data-subject request tables (free texts rewritten, download links deleted).
COMPACTED_TABLES = (
    "members",
    "content_items",
    "member_countries",
    "member_birth_dates",
    "web_sessions",
    "tlog_leaves",
    "dsr_requests",
    "dsr_request_events",
    "dsr_downloads",
)


def secure_delete(session: Session) -> None:
    """SQLite: zero freed cells and pages for this connection (first statement of the
    transaction). PostgreSQL: nothing (see :func:`compact`)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete=ON"))


def content_texts(session: Session, member_id: str) -> list[tuple[str, str]]:
    """(content id, text) of every item by ``member_id`` (deleted ones included)."""
    rows = session.execute(
        select(ContentRow.id, ContentRow.text)
        .where(ContentRow.author_id == member_id)
        .order_by(ContentRow.id)
    ).all()
    return [(str(r[0]), str(r[1])) for r in rows]


def iter_other_texts(
    session: Session, exclude_authors: Sequence[str], *, chunk: int = 5000
) -> Iterator[tuple[str, str]]:
    """(content id, text) of every item whose author is not in ``exclude_authors``, by
    id, in keyset pages (bounded memory)."""
    skip = set(exclude_authors)
    last: str | None = None
    while True:
        q = select(ContentRow.id, ContentRow.author_id, ContentRow.text).order_by(ContentRow.id)
        if last is not None:
            q = q.where(ContentRow.id > last)
        rows = session.execute(q.limit(chunk)).all()
        if not rows:
            return
        for cid, author, body in rows:
            if author not in skip:
                yield str(cid), str(body)
        last = str(rows[-1][0])


def set_texts(session: Session, texts: dict[str, str]) -> int:
    """Replace the texts of the given content ids (one executemany); returns how many."""
    if not texts:
        return 0
    t = cast(Table, ContentRow.__table__)
    session.execute(
        update(t).where(t.c.id == bindparam("cid")).values(text=bindparam("body")),
        [{"cid": cid, "body": body} for cid, body in sorted(texts.items())],
    )
    return len(texts)


def blank_member(
    session: Session,
    member_id: str,
    *,
    handle: str,
    display_name: str,
    marker: dict[str, Any],
    now: datetime,
) -> list[str]:
    """Blank the member's profile fields (handle and display name replaced by the given
    placeholders; e-mail, birth date and password hash cleared), set ``erased_at`` and
    the directory marker. Returns the names of the fields that held a value."""
    row = session.get(MemberRow, member_id)
    if row is None:
        return []
    held = [
        name
        for name, value in (
            ("display_name", row.display_name),
            ("handle", row.handle),
            ("email", row.email),
            ("birth_date", row.birth_date),
            ("password_hash", row.password_hash),
        )
        if value not in (None, "")
    ]
    session.execute(
        update(MemberRow)
        .where(MemberRow.id == member_id)
        .values(
            handle=handle,
            handle_folded=fold_handle(handle),
            display_name=display_name,
            email=None,
            birth_date=None,
            password_hash=None,
            erased_at=now,
            erasure_marker=json.dumps(marker, sort_keys=True, separators=(",", ":")),
        )
    )
    session.expire(row)
    return held


def delete_member_rows(session: Session, member_id: str) -> dict[str, int]:
    """Delete the member's content, country history, birth-date corrections and web
    sessions; returns rows deleted per table."""
    out: dict[str, int] = {}
    for table, stmt in (
        ("content_items", delete(ContentRow).where(ContentRow.author_id == member_id)),
        (
            "member_countries",
            delete(MemberCountryRow).where(MemberCountryRow.member_id == member_id),
        ),
        (
            "member_birth_dates",
            delete(MemberBirthDateRow).where(MemberBirthDateRow.member_id == member_id),
        ),
        ("web_sessions", delete(WebSessionRow).where(WebSessionRow.member_id == member_id)),
    ):
        out[table] = int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
    return out


def erase_salts(session: Session, member_id: str) -> int:
    """Clear the sealed transparency-log salts of the member's events (their leaves stay,
    so every proof stays valid; the leaves can no longer be opened)."""
    events = select(ConsentEventRow.event_id).where(ConsentEventRow.member_id == member_id)
    res = session.execute(
        update(TlogLeafRow)
        .where(TlogLeafRow.event_id.in_(events), TlogLeafRow.salt.is_not(None))
        .values(salt=None)
    )
    return int(res.rowcount)  # type: ignore[attr-defined]


def iter_markers(session: Session) -> Iterator[str]:
    """The directory markers (JSON) of erased members, by id."""
    for marker in session.execute(
        select(MemberRow.erasure_marker)
        .where(MemberRow.erased_at.is_not(None), MemberRow.erasure_marker.is_not(None))
        .order_by(MemberRow.id)
    ).scalars():
        if marker:
            yield marker


@dataclass(frozen=True, slots=True)
class ErasureRecord:
    """One row of ``erasure_records`` (no personal data; see the model)."""

    erasure_id: str
    member_id: str
    request_id: str | None
    actor: str
    at: datetime
    place: str
    what: str
    action: str
    target: str | None = None
    count: int = 0
    detail: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "member_id": self.member_id,
            "request_id": self.request_id,
            "actor": self.actor,
            "at": self.at.isoformat(),
            "place": self.place,
            "what": self.what,
            "action": self.action,
            "target": self.target,
            "count": self.count,
            "detail": self.detail or {},
        }


def add_records(session: Session, records: Iterable[ErasureRecord]) -> int:
    rows = [
        {
            "erasure_id": r.erasure_id,
            "member_id": r.member_id,
            "request_id": r.request_id,
            "actor": r.actor[:200],
            "at": r.at,
            "place": r.place,
            "what": r.what,
            "action": r.action,
            "target": r.target,
            "count": r.count,
            "detail": json.dumps(r.detail or {}, sort_keys=True),
        }
        for r in records
    ]
    if rows:
        session.execute(insert(ErasureRecordRow), rows)
    return len(rows)


def records_of(session: Session, member_id: str) -> list[ErasureRecord]:
    """The erasure records of a member, oldest first."""
    rows = session.execute(
        select(ErasureRecordRow)
        .where(ErasureRecordRow.member_id == member_id)
        .order_by(ErasureRecordRow.at, ErasureRecordRow.id)
    ).scalars()
    return [
        ErasureRecord(
            r.erasure_id,
            r.member_id,
            r.request_id,
            r.actor,
            r.at,
            r.place,
            r.what,
            r.action,
            r.target,
            int(r.count),
            json.loads(r.detail or "{}"),
        )
        for r in rows
    ]


def erased_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(MemberRow).where(MemberRow.erased_at.is_not(None))
        )
        or 0
    )


@dataclass(frozen=True, slots=True)
class Compaction:
    """What :func:`compact` did."""

    backend: str
    steps: tuple[str, ...]
    #: every freed page and dead row is gone. False: SQLite, a reader held the WAL (it is
    #: not truncated); PostgreSQL, ``holders`` other sessions held a snapshot older than
    #: the erasure, so ``VACUUM FULL`` had to keep the row versions they may still see.
    #: Either way: run ``optin dsr compact`` again once they have ended.
    complete: bool
    #: PostgreSQL: sessions that still held an older snapshot when compaction ran
    holders: int = 0
    #: PostgreSQL: tables not vacuumed because another session held a lock on them
    locked: tuple[str, ...] = ()

    @property
    def problem(self) -> str | None:
        """What the operator must know when compaction is incomplete (None when complete)."""
        if self.complete:
            return None
        if self.backend == "sqlite":
            return (
                "compaction incomplete: another reader held the SQLite WAL, which still "
                "holds old page images; run `optin dsr compact` when the platform is idle"
            )
        why = []
        if self.holders:
            why.append(
                f"{self.holders} other PostgreSQL session(s) held a transaction snapshot "
                "older than the erasure, so VACUUM FULL kept the old row versions they may "
                "still read"
            )
        if self.locked:
            why.append(
                "other sessions held locks on " + ", ".join(self.locked) + ", which were "
                "not vacuumed"
            )
        return (
            "compaction incomplete: " + "; ".join(why) + "; end those sessions "
            "(pg_stat_activity: backend_xmin, pg_locks) and run `optin dsr compact`"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "steps": list(self.steps),
            "complete": self.complete,
            "holders": self.holders,
            "locked": list(self.locked),
            "problem": self.problem,
        }


_PG_HOLDERS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL "
    "AND age(backend_xmin) >= age(CAST(:x AS xid))"
)


#: How long PostgreSQL compaction waits for older snapshots to end before it vacuums.
COMPACT_WAIT_SECONDS = 30.0


def compact(
    engine: Engine,
    tables: Sequence[str] = COMPACTED_TABLES,
    *,
    wait_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Compaction:
    """Leave no copy of deleted values in the database files (see the module docstring).

    PostgreSQL keeps dead rows that an open transaction may still see, even through
    ``VACUUM FULL``: compaction first waits (up to ``wait_seconds``) until no other
    session of the database holds a snapshot older than the erasure; if one still does,
    it vacuums anyway and answers ``complete=False`` with how many sessions held one
    (run it again when they end). ``wait_seconds`` defaults to
    :data:`COMPACT_WAIT_SECONDS`."""
    if wait_seconds is None:
        wait_seconds = COMPACT_WAIT_SECONDS
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
            # a checkpoint waits (busy handler) for readers to finish: as long as PostgreSQL
            # waits for older snapshots, then it answers "busy"
            old = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(wait_seconds * 1000)}")
            try:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("VACUUM")
                got = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(old or 0)}")
            busy = bool(got[0]) if got is not None else True
            steps = ("secure_delete=ON", "VACUUM", "wal_checkpoint(TRUNCATE)")
            return Compaction("sqlite", steps, not busy)
        xid = conn.exec_driver_sql(
            "SELECT mod(pg_current_xact_id()::text::bigint, 4294967296)::text"
        ).scalar_one()
        waited, holders = 0.0, 1
        while True:
            holders = int(conn.execute(_PG_HOLDERS, {"x": xid}).scalar_one())
            if holders == 0 or waited >= wait_seconds:
                break
            sleep(0.2)
            waited += 0.2
        done, locked = [], []
        # a session that read a table holds a lock VACUUM FULL waits for: wait a while,
        # then leave that table for the next `optin dsr compact` rather than hang
        ms = max(1000, int(wait_seconds * 1000))
        conn.exec_driver_sql(f"SET lock_timeout = {ms}")
        for t in tables:
            try:
                conn.exec_driver_sql(f'VACUUM (FULL, ANALYZE) "{t}"')
            except DBAPIError as e:
                if getattr(e.orig, "sqlstate", None) != "55P03":  # lock_not_available
                    raise
                locked.append(t)
                continue
            done.append(f"VACUUM (FULL, ANALYZE) {t}")
        conn.exec_driver_sql("RESET lock_timeout")
        return Compaction(
            engine.dialect.name, tuple(done), holders == 0 and not locked, holders, tuple(locked)
        )


def exports_of_members(session: Session, member_ids: Sequence[str]) -> dict[str, set[str]]:
    """export id -> the members among ``member_ids`` with records in it."""
    out: dict[str, set[str]] = {}
    ids = list(member_ids)
    for i in range(0, len(ids), _CHUNK):
        for eid, mid in session.execute(
            select(ExportRecordRow.export_id, ExportRecordRow.member_id)
            .where(ExportRecordRow.member_id.in_(ids[i : i + _CHUNK]))
            .distinct()
        ):
            out.setdefault(str(eid), set()).add(str(mid))
    return out


def export_paths(session: Session, export_ids: Sequence[str]) -> dict[str, str]:
    """export id -> its stored path (relative to the data directory)."""
    rows = session.execute(
        select(ProviderExportRow.id, ProviderExportRow.path).where(
            ProviderExportRow.id.in_(list(export_ids))
        )
    ).all()
    return {str(r[0]): str(r[1]) for r in rows}


def notices_at(session: Session, export_ids: Sequence[str], at: datetime) -> dict[str, int]:
    """export id -> deletion notices created at ``at`` for it."""
    rows = session.execute(
        select(DeletionNoticeRow.export_id, func.count())
        .where(
            DeletionNoticeRow.export_id.in_(list(export_ids)), DeletionNoticeRow.created_at == at
        )
        .group_by(DeletionNoticeRow.export_id)
    ).all()
    return {str(r[0]): int(r[1]) for r in rows}
