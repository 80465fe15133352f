"""Appending to the ledger: one event (:func:`append`) or many (:func:`append_many`).

The single :class:`~optin.storage.models.LedgerHeadRow` (id=1) holds the length and
head hash and is the append lock: on PostgreSQL an append is one statement that takes
``SELECT ... FOR UPDATE`` on it, computes the hash in SQL (``sha256`` over the same
canonical payload, :meth:`ChainEntry.sql_parts`), inserts the event and moves the head,
so the lock is held only for that statement and the commit; on SQLite the first
statement of an append is an ``UPDATE`` of that row, which takes the database's write
lock. Either way two writers never compute the same ``seq``. :func:`append_many`
(imports, demo) takes the lock once and writes with COPY (PostgreSQL) or executemany
(SQLite).

Time is a parameter: both take the append's ``now`` (no clock reads in storage).

Bitemporal: every event carries the time it claims (``at``, its effective time) and the
time the ledger recorded it (``recorded_at``), which is the append's ``now`` and never
the caller's: a draft's ``recorded_at`` is honoured only by an explicit historical bulk
load (``append_many(..., historical=True)``: imports of an existing ledger, the demo's
simulated past). ``recorded_at`` is part of the hash payload.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from optin.domain.model import (
    ERASURE_ACTION,
    ERASURE_PURPOSE,
    IMPORT_SYSTEM_HINT,
    ConsentAction,
    ConsentSource,
    canonical_source,
)
from optin.errors import ConfigError, InputError
from optin.storage.keys import KeyRing, seal, unseal
from optin.storage.ledger.chain import GENESIS, ChainEntry
from optin.storage.models import ConsentEventRow, LedgerHeadRow, sqlite_datetime

_COLS = (
    "seq, event_id, member_id, purpose, action, at, recorded_at, policy_version, source, "
    "personal, prev_hash, hash"
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
    #: only for ``append_many(..., historical=True)``; otherwise the append's ``now``
    recorded_at: datetime | None = None
    personal: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class LedgerHead:
    seq: int
    hash: str


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


def _not_initialised() -> ConfigError:
    return ConfigError("the consent ledger is not initialised; run `optin init`")


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
        raise _not_initialised()
    return LedgerHead(int(row[0]), str(row[1]))


def lock(session: Session) -> LedgerHead:
    """Take the ledger's append lock in the caller's transaction and return the head.

    Held until the transaction ends: a check made after it (e.g. "is this choice already
    the member's current one?") cannot race another append. On SQLite it must come
    before the transaction's first read of what it checks."""
    return _lock_head(session)


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
        source = canonical_source(draft.source)
    except ValueError:
        raise InputError(
            "unknown consent source",
            field="source",
            value=draft.source,
            allowed=", ".join(s.value for s in ConsentSource) + f", {IMPORT_SYSTEM_HINT}",
        ) from None
    if draft.at.tzinfo is None:
        raise InputError("time must be timezone-aware (UTC)", field="at", value=str(draft.at))
    return action, source


def _require_aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("naive `now` for a ledger append; pass a UTC-aware datetime")
    return now


def _seal_personal(
    ring: KeyRing, draft: EventDraft, personal: dict[str, Any] | None, now: datetime
) -> bytes | None:
    if not personal:
        return None
    key = ring.key_for_write(draft.member_id, now)
    if key is None:  # the member was erased: never store new personal data
        return None
    return seal(key, draft.event_id, personal)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A checked draft with its canonical values (everything but seq and hashes)."""

    event_id: str
    member_id: str
    purpose: str
    action: str
    at: datetime
    recorded_at: datetime
    policy_version: int
    source: str
    personal: bytes | None

    def entry(self, seq: int) -> ChainEntry:
        return ChainEntry.of(
            seq,
            self.event_id,
            self.member_id,
            self.purpose,
            self.action,
            self.at,
            self.recorded_at,
            self.policy_version,
            self.source,
            self.personal,
        )

    def values(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "member_id": self.member_id,
            "purpose": self.purpose,
            "action": self.action,
            "at": self.at,
            "recorded_at": self.recorded_at,
            "policy_version": self.policy_version,
            "source": self.source,
            "personal": self.personal,
        }

    def row(self, seq: int, prev: str, digest: str) -> tuple[Any, ...]:
        return (
            seq,
            self.event_id,
            self.member_id,
            self.purpose,
            self.action,
            self.at,
            self.recorded_at,
            self.policy_version,
            self.source,
            self.personal,
            prev,
            digest,
        )


def _prepare(
    d: EventDraft,
    checked: tuple[str, str],
    blob: bytes | None,
    now: datetime,
    historical: bool = False,
) -> _Prepared:
    action, source = checked
    return _Prepared(
        d.event_id,
        d.member_id,
        d.purpose,
        action,
        d.at.astimezone(UTC),
        (d.recorded_at if historical and d.recorded_at is not None else now).astimezone(UTC),
        d.policy_version,
        source,
        blob,
    )


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


def append(
    session: Session,
    draft: EventDraft,
    personal: dict[str, Any] | None = None,
    *,
    now: datetime,
) -> ConsentEventRow:
    """Append one event (in the caller's transaction) and return its row.

    ``now`` is the append's time: the event's ``recorded_at`` (a draft's own
    ``recorded_at`` is ignored) and the creation time of a new member key. On
    PostgreSQL the lock, the chain hash (``sha256`` in SQL over the same canonical
    payload), the insert and the head update are one statement, so the head row is
    locked only for that statement and the commit.
    """
    checked = _check(draft)
    now = _require_aware(now)
    ring = KeyRing(session)
    blob = _seal_personal(ring, draft, personal if personal is not None else draft.personal, now)
    return _append_prepared(session, _prepare(draft, checked, blob, now))


def append_erasure(
    session: Session, member_id: str, *, policy_version: int, now: datetime
) -> ConsentEventRow:
    """Append the ledger entry of an erasure of ``member_id`` at ``now`` (action
    :data:`~optin.domain.model.ERASURE_ACTION`, purpose
    :data:`~optin.domain.model.ERASURE_PURPOSE`, source ``system``, no personal fields):
    chained and hashed like every event, never a consent choice (readers of choices skip
    it). Only the erasure service appends it; :func:`append` refuses the action."""
    now = _require_aware(now)
    p = _Prepared(
        str(uuid.uuid4()),
        member_id,
        ERASURE_PURPOSE,
        ERASURE_ACTION,
        now.astimezone(UTC),
        now.astimezone(UTC),
        policy_version,
        ConsentSource.SYSTEM.value,
        None,
    )
    return _append_prepared(session, p)


def _append_prepared(session: Session, p: _Prepared) -> ConsentEventRow:
    values = p.values()
    if session.get_bind().dialect.name == "postgresql":
        prefix, suffix = p.entry(-1).sql_parts()
        got = session.execute(_PG_APPEND, {**values, "prefix": prefix, "suffix": suffix}).first()
        if got is None:
            raise _not_initialised()
        return ConsentEventRow(seq=int(got[0]), prev_hash=got[1], hash=got[2], **values)
    head = _lock_head(session)
    seq = head.seq + 1
    digest = p.entry(seq).digest(head.hash)
    row = ConsentEventRow(seq=seq, prev_hash=head.hash, hash=digest, **values)
    session.add(row)
    session.flush()
    _set_head(session, LedgerHead(seq, digest))
    return row


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
    session: Session,
    drafts: Sequence[EventDraft],
    *,
    now: datetime,
    historical: bool = False,
    batch: int = 20000,
) -> LedgerHead:
    """Append many events fast (imports, demo): one lock, the chain computed in Python,
    rows written in bulk on the session's connection. Returns the new head.
    All-or-nothing with the caller's transaction. ``now`` as in :func:`append`;
    ``historical=True`` (an explicit historical load) keeps each draft's own
    ``recorded_at`` where it has one."""
    if not drafts:
        return ledger_head(session)
    now = _require_aware(now)
    checked = [_check(d) for d in drafts]
    ring = KeyRing(session)
    with_personal = {d.member_id for d in drafts if d.personal}
    if with_personal:
        ring.create_missing(with_personal, now)
    head = _lock_head(session)
    write = _bulk_writer(session)
    seq, prev = head.seq, head.hash
    rows: list[tuple[Any, ...]] = []
    for d, c in zip(drafts, checked, strict=True):
        seq += 1
        blob = _seal_personal(ring, d, d.personal, now) if d.personal else None
        p = _prepare(d, c, blob, now, historical)
        digest = p.entry(seq).digest(prev)
        rows.append(p.row(seq, prev, digest))
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
