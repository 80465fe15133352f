"""The consent ledger: append-only, hash-chained, verifiable, erasable personal fields.

Every event row carries ``seq`` (1, 2, 3 ...), ``prev_hash`` (the previous row's hash;
64 zeros for seq 1) and ``hash = sha256(prev_hash + canonical_payload)`` where the
canonical payload is sorted-key compact JSON of::

    seq, event_id, member_id, purpose, action, at, recorded_at, policy_version,
    source, personal_sha256

Times are ISO 8601 in UTC with microseconds. ``personal_sha256`` is the SHA-256 of the
encrypted personal fields (or null), so destroying a member's key (crypto-shredding,
:func:`optin.storage.keys.destroy_member_key`) leaves the chain intact.

The single :class:`LedgerHeadRow` (id=1) holds the length and head hash and is the
append lock: on PostgreSQL an append is one statement that takes ``SELECT ... FOR
UPDATE`` on it, computes the hash in SQL (``sha256`` over the same canonical payload),
inserts the event and moves the head, so the lock is held only for that statement and
the commit; on SQLite the first statement of an append is an ``UPDATE`` of that row,
which takes the database's write lock. Either way two writers never compute the same
``seq``. :func:`append_many` (imports, demo) takes the lock once and writes with COPY
(PostgreSQL) or executemany (SQLite). The head row also lets
:func:`verify` notice a truncated tail or rows appended behind the ledger's back.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from optin.domain.model import ConsentAction, ConsentEvent, ConsentSource
from optin.errors import ConfigError, InputError
from optin.storage.keys import KeyRing, destroy_member_key, seal, unseal
from optin.storage.models import ConsentEventRow, LedgerHeadRow, sqlite_datetime

GENESIS = "0" * 64
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


@dataclass(slots=True)
class EventDraft:
    """An event to append; the ledger assigns ``seq`` and the hashes."""

    member_id: str
    purpose: str
    action: ConsentAction | str
    at: datetime
    policy_version: int
    source: ConsentSource | str = ConsentSource.WEB
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    recorded_at: datetime | None = None
    personal: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class LedgerHead:
    seq: int
    hash: str


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


def iso(dt: datetime) -> str:
    """The canonical time format: UTC, microseconds, ``+00:00``."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime in the ledger; use UTC-aware datetimes")
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_payload(
    seq: int,
    event_id: str,
    member_id: str,
    purpose: str,
    action: str,
    at: datetime,
    recorded_at: datetime,
    policy_version: int,
    source: str,
    personal: bytes | None,
) -> str:
    return payload_from_iso(
        seq,
        event_id,
        member_id,
        purpose,
        action,
        iso(at),
        iso(recorded_at),
        policy_version,
        source,
        personal,
    )


def payload_from_iso(
    seq: int,
    event_id: str,
    member_id: str,
    purpose: str,
    action: str,
    at: str,
    recorded_at: str,
    policy_version: int,
    source: str,
    personal: bytes | None,
) -> str:
    """The canonical payload with the times already in canonical ISO form."""
    return _ENCODER.encode(
        {
            "seq": seq,
            "event_id": event_id,
            "member_id": member_id,
            "purpose": purpose,
            "action": action,
            "at": at,
            "recorded_at": recorded_at,
            "policy_version": policy_version,
            "source": source,
            "personal_sha256": hashlib.sha256(personal).hexdigest()
            if personal is not None
            else None,
        }
    )


def chain_hash(prev_hash: str, payload: str) -> str:
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def ledger_head(session: Session) -> LedgerHead:
    """The ledger's current length and head hash (no lock)."""
    row = session.execute(
        select(LedgerHeadRow.seq, LedgerHeadRow.hash).where(LedgerHeadRow.id == 1)
    ).first()
    if row is None:
        return LedgerHead(0, GENESIS)
    return LedgerHead(int(row[0]), str(row[1]))


def ensure_head(session: Session) -> None:
    """Create the head row if missing (called by ``Database.init``)."""
    if session.get(LedgerHeadRow, 1) is None:
        session.add(LedgerHeadRow(id=1, seq=0, hash=GENESIS))
        session.flush()


def _lock_head(session: Session) -> LedgerHead:
    """Take the append lock and return the head under it."""
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(
            text("SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE")
        ).first()
    else:
        # the first write of the transaction takes SQLite's database write lock
        session.execute(text("UPDATE ledger_head SET seq = seq WHERE id = 1"))
        row = session.execute(text("SELECT seq, hash FROM ledger_head WHERE id = 1")).first()
    if row is None:
        raise ConfigError("the consent ledger is not initialised; run `optin init`")
    return LedgerHead(int(row[0]), str(row[1]))


def _set_head(session: Session, head: LedgerHead) -> None:
    session.execute(
        text("UPDATE ledger_head SET seq = :seq, hash = :hash WHERE id = 1"),
        {"seq": head.seq, "hash": head.hash},
    )


def _check(draft: EventDraft) -> tuple[str, str]:
    try:
        action = ConsentAction(draft.action).value
    except ValueError:
        raise InputError(
            "unknown consent action",
            field="action",
            value=draft.action,
            allowed=", ".join(a.value for a in ConsentAction),
        ) from None
    try:
        source = ConsentSource(draft.source).value
    except ValueError:
        raise InputError(
            "unknown consent source",
            field="source",
            value=draft.source,
            allowed=", ".join(s.value for s in ConsentSource),
        ) from None
    if draft.at.tzinfo is None:
        raise InputError("time must be timezone-aware (UTC)", field="at", value=str(draft.at))
    return action, source


def _seal_personal(
    ring: KeyRing, draft: EventDraft, personal: dict[str, Any] | None, now: datetime
) -> bytes | None:
    if not personal:
        return None
    key = ring.key_for_write(draft.member_id, now)
    if key is None:  # the member was erased: never store new personal data
        return None
    return seal(key, draft.event_id, personal)


_PG_APPEND = text("""
WITH h AS (SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE),
n AS (
  SELECT h.seq + 1 AS seq, h.hash AS prev,
         encode(sha256(convert_to(h.hash || :prefix || (h.seq + 1)::text || :suffix, 'UTF8')),
                'hex') AS hash
  FROM h
),
ins AS (
  INSERT INTO consent_events (seq, event_id, member_id, purpose, action, at, recorded_at,
                              policy_version, source, personal, prev_hash, hash)
  SELECT n.seq, :event_id, :member_id, :purpose, :action, :at, :recorded_at,
         :policy_version, :source, :personal, n.prev, n.hash
  FROM n
  RETURNING seq, prev_hash, hash
)
UPDATE ledger_head SET seq = ins.seq, hash = ins.hash FROM ins WHERE ledger_head.id = 1
RETURNING ins.seq, ins.prev_hash, ins.hash
""")
_SEQ_MARK = ',"seq":-1,"source":'


def _split_payload(payload: str) -> tuple[str, str]:
    """Split a payload built with seq=-1 around the seq value (keys are sorted, so
    ``"seq"`` sits between ``"recorded_at"`` and ``"source"``)."""
    assert payload.count(_SEQ_MARK) == 1
    head, _, tail = payload.partition(_SEQ_MARK)
    return head + ',"seq":', ',"source":' + tail


def append(
    session: Session, draft: EventDraft, personal: dict[str, Any] | None = None
) -> ConsentEventRow:
    """Append one event (in the caller's transaction) and return its row.

    On PostgreSQL the lock, the chain hash (``sha256`` in SQL over the same canonical
    payload), the insert and the head update are one statement, so the head row is
    locked only for that statement and the commit.
    """
    action, source = _check(draft)
    now = datetime.now(UTC)
    recorded = draft.recorded_at or now
    at = draft.at.astimezone(UTC)
    ring = KeyRing(session)
    blob = _seal_personal(ring, draft, personal if personal is not None else draft.personal, now)
    values: dict[str, Any] = {
        "event_id": draft.event_id,
        "member_id": draft.member_id,
        "purpose": draft.purpose,
        "action": action,
        "at": at,
        "recorded_at": recorded.astimezone(UTC),
        "policy_version": draft.policy_version,
        "source": source,
        "personal": blob,
    }
    if session.get_bind().dialect.name == "postgresql":
        prefix, suffix = _split_payload(
            canonical_payload(
                -1,
                draft.event_id,
                draft.member_id,
                draft.purpose,
                action,
                at,
                recorded,
                draft.policy_version,
                source,
                blob,
            )
        )
        got = session.execute(_PG_APPEND, {**values, "prefix": prefix, "suffix": suffix}).first()
        if got is None:
            raise ConfigError("the consent ledger is not initialised; run `optin init`")
        return ConsentEventRow(seq=int(got[0]), prev_hash=got[1], hash=got[2], **values)
    head = _lock_head(session)
    seq = head.seq + 1
    payload = canonical_payload(
        seq,
        draft.event_id,
        draft.member_id,
        draft.purpose,
        action,
        at,
        recorded,
        draft.policy_version,
        source,
        blob,
    )
    digest = chain_hash(head.hash, payload)
    row = ConsentEventRow(seq=seq, prev_hash=head.hash, hash=digest, **values)
    session.add(row)
    session.flush()
    _set_head(session, LedgerHead(seq, digest))
    return row


_COLS = (
    "seq, event_id, member_id, purpose, action, at, recorded_at, policy_version, source, "
    "personal, prev_hash, hash"
)


def _bulk_writer(session: Session) -> Callable[[list[tuple[Any, ...]]], None]:
    """Insert row tuples on the session's own DBAPI connection (same transaction):
    PostgreSQL COPY, SQLite executemany; no per-value ORM/Core processing."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    if session.get_bind().dialect.name == "postgresql":

        def write_pg(rows: list[tuple[Any, ...]]) -> None:
            with raw.cursor() as cur, cur.copy(f"COPY consent_events ({_COLS}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)

        return write_pg

    def write_sqlite(rows: list[tuple[Any, ...]]) -> None:
        cur = raw.cursor()
        try:
            cur.executemany(
                f"INSERT INTO consent_events ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(*r[:5], sqlite_datetime(r[5]), sqlite_datetime(r[6]), *r[7:]) for r in rows],
            )
        finally:
            cur.close()

    return write_sqlite


def append_many(
    session: Session, drafts: Sequence[EventDraft], *, batch: int = 20000
) -> LedgerHead:
    """Append many events fast (imports, demo): one lock, the chain computed in Python,
    rows written in bulk on the session's connection. Returns the new head.
    All-or-nothing with the caller's transaction."""
    if not drafts:
        return ledger_head(session)
    now = datetime.now(UTC)
    checked = [_check(d) for d in drafts]
    ring = KeyRing(session)
    with_personal = {d.member_id for d in drafts if d.personal}
    if with_personal:
        ring.create_missing(with_personal, now)
    head = _lock_head(session)
    write = _bulk_writer(session)
    seq, prev = head.seq, head.hash
    rows: list[tuple[Any, ...]] = []
    sha = hashlib.sha256
    for d, (action, source) in zip(drafts, checked, strict=True):
        seq += 1
        blob = _seal_personal(ring, d, d.personal, now) if d.personal else None
        recorded = (d.recorded_at or now).astimezone(UTC)
        at = d.at.astimezone(UTC)
        payload = canonical_payload(
            seq,
            d.event_id,
            d.member_id,
            d.purpose,
            action,
            at,
            recorded,
            d.policy_version,
            source,
            blob,
        )
        digest = sha((prev + payload).encode("utf-8")).hexdigest()
        rows.append(
            (
                seq,
                d.event_id,
                d.member_id,
                d.purpose,
                action,
                at,
                recorded,
                d.policy_version,
                source,
                blob,
                prev,
                digest,
            )
        )
        prev = digest
        if len(rows) >= batch:
            write(rows)
            rows = []
    if rows:
        write(rows)
    new_head = LedgerHead(seq, prev)
    _set_head(session, new_head)
    return new_head


def personal_fields(session: Session, row: Any) -> dict[str, Any] | None:
    """Decrypt an event row's personal fields (None: none stored, or the member's key was
    destroyed). ``row`` needs ``member_id``, ``event_id`` and ``personal``."""
    if row.personal is None:
        return None
    return unseal(KeyRing(session).key_for_read(row.member_id), row.event_id, row.personal)


__all__ = [
    "GENESIS",
    "EventDraft",
    "LedgerHead",
    "LedgerReport",
    "append",
    "append_many",
    "canonical_payload",
    "chain_hash",
    "destroy_member_key",
    "ensure_head",
    "iter_rows",
    "ledger_head",
    "payload_from_iso",
    "personal_fields",
    "row_to_event",
    "verify",
]


def row_to_event(row: Any) -> ConsentEvent:
    return ConsentEvent(
        event_id=row.event_id,
        member_id=row.member_id,
        purpose=row.purpose,
        action=ConsentAction(row.action),
        at=row.at,
        policy_version=int(row.policy_version),
        source=ConsentSource(row.source),
        seq=int(row.seq),
    )


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


def _iter_canonical(session: Session, chunk: int) -> Iterator[tuple[Any, ...]]:
    """Rows for verification through the raw DBAPI cursor, times as canonical ISO text:
    ``(seq, event_id, member_id, purpose, action, at, recorded_at, policy_version,
    source, personal, prev_hash, hash)``."""
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
                yield (
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    conv(r[5]),
                    conv(r[6]),
                    r[7],
                    r[8],
                    None if r[9] is None else bytes(r[9]),
                    r[10],
                    r[11],
                )
            last = rows[-1][0]
    finally:
        cur.close()


def verify(session: Session, *, chunk: int = _CHUNK) -> LedgerReport:
    """Re-check the whole chain; report the first bad sequence number."""
    expected = 1
    prev = GENESIS
    sha = hashlib.sha256
    for r in _iter_canonical(session, chunk):
        seq = int(r[0])
        if seq != expected:
            kind = "missing (deleted?)" if seq > expected else "out of order"
            return LedgerReport(
                False,
                expected - 1,
                prev,
                expected,
                f"seq {expected} is {kind}: found seq {seq} after {expected - 1}",
            )
        if r[10] != prev:
            return LedgerReport(
                False,
                expected - 1,
                prev,
                seq,
                f"seq {seq}: prev_hash does not match the hash of seq {seq - 1} "
                "(a row was deleted, inserted or reordered)",
            )
        payload = payload_from_iso(seq, r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]), r[8], r[9])
        digest = sha((prev + payload).encode("utf-8")).hexdigest()
        if digest != r[11]:
            return LedgerReport(
                False,
                expected - 1,
                prev,
                seq,
                f"seq {seq}: content does not match its hash (the row was edited)",
            )
        prev = digest
        expected += 1
    length = expected - 1
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
