"""Reading and verifying the ledger: rows in order, and a full re-check of the chain.

:func:`verify` recomputes every hash through :class:`ChainEntry` (the same payload as
the appends) and compares the head row, so it notices an edited, deleted, inserted or
reordered row, a truncated tail and rows appended behind the ledger's back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from optin.storage.ledger.append import _COLS
from optin.storage.ledger.chain import GENESIS, ChainEntry, iso
from optin.storage.models import ConsentEventRow, LedgerHeadRow

_CHUNK = 5000
_COLUMNS = (
    ConsentEventRow.seq,
    ConsentEventRow.event_id,
    ConsentEventRow.member_id,
    ConsentEventRow.purpose,
    ConsentEventRow.action,
    ConsentEventRow.at,
    ConsentEventRow.recorded_at,
    ConsentEventRow.policy_version,
    ConsentEventRow.source,
    ConsentEventRow.personal,
    ConsentEventRow.prev_hash,
    ConsentEventRow.hash,
)


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """The result of :func:`verify`."""

    ok: bool
    length: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "length": self.length,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }


def iter_rows(session: Session, *, chunk: int = _CHUNK) -> Iterator[Any]:
    """All event rows in ``seq`` order, fetched in chunks (bounded memory)."""
    last = None
    while True:
        q = select(*_COLUMNS).order_by(ConsentEventRow.seq).limit(chunk)
        if last is not None:
            q = q.where(ConsentEventRow.seq > last)
        rows = session.execute(q).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def _sqlite_iso(value: Any) -> str:
    """SQLite's stored 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC) -> canonical ISO."""
    if isinstance(value, str) and len(value) == 26 and value[10] == " ":
        return f"{value[:10]}T{value[11:]}+00:00"
    if isinstance(value, str):
        try:
            return iso(datetime.fromisoformat(value).replace(tzinfo=UTC))
        except ValueError:
            return value  # garbage: the hash check reports the row
    return iso(value.replace(tzinfo=UTC) if value.tzinfo is None else value)


def _iter_canonical(session: Session, chunk: int) -> Iterator[tuple[ChainEntry, str, str]]:
    """``(entry, prev_hash, hash)`` per row in ``seq`` order, read through the raw DBAPI
    cursor with the times as canonical ISO text."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    pg = session.get_bind().dialect.name == "postgresql"
    mark = "%s" if pg else "?"
    sql = f"SELECT {_COLS} FROM consent_events WHERE seq > {mark} ORDER BY seq LIMIT {int(chunk)}"
    conv = iso if pg else _sqlite_iso
    last = 0
    cur = raw.cursor()
    try:
        while True:
            cur.execute(sql, (last,))
            rows = cur.fetchall()
            if not rows:
                return
            for r in rows:
                entry = ChainEntry(
                    int(r[0]),
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    conv(r[5]),
                    conv(r[6]),
                    int(r[7]),
                    r[8],
                    None if r[9] is None else bytes(r[9]),
                )
                yield entry, r[10], r[11]
            last = rows[-1][0]
    finally:
        cur.close()


def _row_problem(expected: int, prev: str, entry: ChainEntry, prev_hash: str) -> str | None:
    """Why the row at position ``expected`` does not continue the chain (hash aside)."""
    seq = entry.seq
    if seq != expected:
        kind = "missing (deleted?)" if seq > expected else "out of order"
        return f"seq {expected} is {kind}: found seq {seq} after {expected - 1}"
    if prev_hash != prev:
        return (
            f"seq {seq}: prev_hash does not match the hash of seq {seq - 1} "
            "(a row was deleted, inserted or reordered)"
        )
    return None


def _head_report(session: Session, length: int, prev: str) -> LedgerReport:
    """Compare the head row with the verified chain of ``length`` rows ending in ``prev``."""
    head = session.execute(
        select(LedgerHeadRow.seq, LedgerHeadRow.hash).where(LedgerHeadRow.id == 1)
    ).first()
    if head is None:
        return LedgerReport(
            False, length, prev, length + 1 if length else 1, "the ledger head row is missing"
        )
    hseq, hhash = int(head[0]), str(head[1])
    if hseq > length:
        return LedgerReport(
            False,
            length,
            prev,
            length + 1,
            f"events {length + 1}..{hseq} are missing at the end "
            f"(the head records {hseq} events, the ledger holds {length})",
        )
    if hseq < length:
        return LedgerReport(
            False,
            length,
            prev,
            hseq + 1,
            f"seq {hseq + 1}..{length} were added behind the ledger's back "
            f"(the head records {hseq} events)",
        )
    if hhash != prev:
        return LedgerReport(
            False,
            length,
            prev,
            length or 1,
            f"the head hash does not match the hash of seq {length}",
        )
    return LedgerReport(True, length, prev)


def verify(session: Session, *, chunk: int = _CHUNK) -> LedgerReport:
    """Re-check the whole chain; report the first bad sequence number."""
    expected = 1
    prev = GENESIS
    for entry, prev_hash, stored in _iter_canonical(session, chunk):
        problem = _row_problem(expected, prev, entry, prev_hash)
        if problem is not None:
            return LedgerReport(False, expected - 1, prev, expected, problem)
        digest = entry.digest(prev)
        if digest != stored:
            return LedgerReport(
                False,
                expected - 1,
                prev,
                entry.seq,
                f"seq {entry.seq}: content does not match its hash (the row was edited)",
            )
        prev = digest
        expected += 1
    return _head_report(session, expected - 1, prev)
