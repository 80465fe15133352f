"""Storage of the transparency log over the ledger (``tlog_*`` tables).

* :func:`integrate` - append every ledger event not yet in the tree, in ``seq`` order
  (leaf ``idx = seq - 1``), under the ``tlog_state`` row lock. Each leaf's data is the
  salted commitment of :mod:`optin.tlog.leaf`; the salt is sealed with the member's key
  (:mod:`optin.storage.keys`), so erasure destroys it. Appends are ``O(log n)``: the
  tree's right frontier (one perfect subtree per binary digit of the size) is read,
  extended and every newly completed perfect subtree is stored in ``tlog_nodes``.
* :func:`node_getter` - proofs read only the ``O(log n)`` stored subtree hashes they
  need, in one query (:func:`fetch_nodes`), never recomputing the tree.
* checkpoints: :func:`add_checkpoint`, :func:`latest_checkpoint`, :func:`checkpoint_at`.
* :func:`iter_leaf_hashes`, :func:`iter_verification_rows` and
  :func:`checkpoint_roots` for full verification (:mod:`optin.services.log_verify`).

Time is a parameter (``now``: the creation time of a member key).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from optin.errors import IntegrityError
from optin.storage.keys import KeyRing, seal, unseal
from optin.storage.ledger.chain import ChainEntry
from optin.storage.models import (
    ConsentEventRow,
    TlogCheckpointRow,
    TlogLeafRow,
    TlogNodeRow,
    TlogStateRow,
)
from optin.tlog import merkle
from optin.tlog.leaf import SALT_BYTES, commitment

__all__ = [
    "CheckpointRecord",
    "TreeState",
    "add_checkpoint",
    "canonical_bytes",
    "checkpoint_at",
    "checkpoint_roots",
    "checkpoints",
    "event_leaf",
    "fetch_nodes",
    "integrate",
    "iter_leaf_hashes",
    "iter_leaves_with_events",
    "iter_verification_rows",
    "latest_checkpoint",
    "leaf_and_checkpoint",
    "leaf_salt",
    "leaves_for_events",
    "ledger_head_seq",
    "ledger_length",
    "node_getter",
    "open_salt",
    "reset",
    "set_cosigned",
    "tree_state",
]

_EVENT_COLUMNS = (
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
)
_SALT_AAD = "tlog-salt:"


@dataclass(frozen=True, slots=True)
class TreeState:
    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    size: int
    root: bytes
    created_at: datetime
    note: str
    cosigned: str
    cosigners: tuple[str, ...]


def canonical_bytes(row: Any) -> bytes:
    """The ledger's canonical payload of an event row: what a leaf commits to."""
    return (
        ChainEntry.of(
            int(row.seq),
            row.event_id,
            row.member_id,
            row.purpose,
            row.action,
            row.at,
            row.recorded_at,
            int(row.policy_version),
            row.source,
            None if row.personal is None else bytes(row.personal),
        )
        .payload()
        .encode("utf-8")
    )


def tree_state(session: Session) -> TreeState:
    row = session.execute(select(TlogStateRow.size, TlogStateRow.root)).first()
    if row is None:
        return TreeState(0, merkle.EMPTY_ROOT)
    return TreeState(int(row[0]), bytes(row[1]))


def _lock_state(session: Session) -> TreeState:
    if session.get(TlogStateRow, 1) is None:
        session.add(TlogStateRow(id=1, size=0, root=merkle.EMPTY_ROOT))
        session.flush()
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(text("SELECT size, root FROM tlog_state WHERE id = 1 FOR UPDATE"))
    else:
        session.execute(text("UPDATE tlog_state SET size = size WHERE id = 1"))
        row = session.execute(text("SELECT size, root FROM tlog_state WHERE id = 1"))
    got = row.first()
    assert got is not None
    return TreeState(int(got[0]), bytes(got[1]))


def _frontier_keys(size: int) -> list[tuple[int, int]]:
    """``(level, idx)`` of the perfect subtrees that make up a tree of ``size``, left
    to right (largest first)."""
    keys = []
    pos = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, pos >> level))
            pos += 1 << level
    return keys


_PG_NODES = (
    "SELECT level, idx, hash FROM tlog_nodes WHERE (level, idx) IN "
    "(SELECT * FROM unnest(%s::int[], %s::bigint[]))"
)


def fetch_nodes(session: Session, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes of ``keys``: one query per 500 keys on the session's own DBAPI
    connection (a prepared statement on PostgreSQL; proofs need a few dozen keys)."""
    wanted = sorted(set(keys))
    out: dict[tuple[int, int], bytes] = {}
    raw = session.connection().connection.driver_connection
    assert raw is not None
    pg = session.get_bind().dialect.name == "postgresql"
    cur = raw.cursor()
    try:
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            if pg:
                cur.execute(_PG_NODES, ([k[0] for k in chunk], [k[1] for k in chunk]), prepare=True)
            else:
                cond = " OR ".join(["(level = ? AND idx = ?)"] * len(chunk))
                cur.execute(
                    f"SELECT level, idx, hash FROM tlog_nodes WHERE {cond}",
                    [v for k in chunk for v in k],
                )
            for lv, ix, h in cur.fetchall():
                out[(int(lv), int(ix))] = bytes(h)
    finally:
        cur.close()
    return out


def _frontier(session: Session, size: int) -> list[tuple[int, int, bytes]]:
    keys = _frontier_keys(size)
    found = fetch_nodes(session, keys)
    missing = [k for k in keys if k not in found]
    if missing:
        raise IntegrityError(
            f"the transparency log is missing stored subtree hashes {missing[:3]}; "
            "run `optin log rebuild`"
        )
    return [(lv, ix, found[(lv, ix)]) for lv, ix in keys]


def _seal_salts(
    session: Session, rows: Sequence[Any], now: datetime
) -> tuple[list[bytes], list[bytes | None]]:
    ring = KeyRing(session)
    members = {r.member_id for r in rows}
    ring.create_missing(members, now)
    salts, sealed = [], []
    for r in rows:
        salt = os.urandom(SALT_BYTES)
        key = ring.key_for_read(r.member_id)
        salts.append(salt)
        sealed.append(None if key is None else seal(key, _SALT_AAD + r.event_id, {"s": salt.hex()}))
    return salts, sealed


def _write(session: Session, leaves: list[tuple[Any, ...]], nodes: list[tuple[Any, ...]]) -> None:
    """Insert leaf and node rows on the session's own connection (same transaction):
    COPY on PostgreSQL, executemany on SQLite."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    tables = (
        ("tlog_leaves (idx, event_id, data, salt)", leaves),
        ("tlog_nodes (level, idx, hash)", nodes),
    )
    if session.get_bind().dialect.name == "postgresql":
        with raw.cursor() as cur:
            for table, rows in tables:
                with cur.copy(f"COPY {table} FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
        return
    cur = raw.cursor()
    try:
        for table, rows in tables:
            marks = ",".join("?" * len(rows[0])) if rows else ""
            if rows:
                cur.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    finally:
        cur.close()


def integrate(
    session: Session,
    *,
    now: datetime,
    batch: int = 5000,
    limit: int | None = None,
    upto: int | None = None,
) -> TreeState:
    """Append the ledger events not yet in the tree (all, at most ``limit``, or up to
    tree size ``upto``), in order, in the caller's transaction; returns the new tree
    state. A caller racing live appends passes ``upto`` (the ledger head it read), so
    the transaction ends instead of chasing the head."""
    state = _lock_state(session)
    stack = [(lv, h) for lv, _ix, h in _frontier(session, state.size)]
    size = state.size
    done = 0
    while (limit is None or done < limit) and (upto is None or size < upto):
        take = batch if limit is None else min(batch, limit - done)
        if upto is not None:
            take = min(take, upto - size)
        rows = session.execute(
            select(*_EVENT_COLUMNS)
            .where(ConsentEventRow.seq > size)
            .order_by(ConsentEventRow.seq)
            .limit(take)
        ).all()
        if not rows:
            break
        salts, sealed = _seal_salts(session, rows, now)
        leaves: list[tuple[Any, ...]] = []
        nodes: list[tuple[Any, ...]] = []
        for r, salt, blob in zip(rows, salts, sealed, strict=True):
            if int(r.seq) != size + 1:
                raise IntegrityError(
                    f"ledger seq {size + 1} is missing (found {r.seq}); the tree follows "
                    "the ledger in order: check `optin ledger verify`"
                )
            data = commitment(salt, canonical_bytes(r))
            leaves.append((size, r.event_id, data, blob))
            h = merkle.leaf_hash(data)
            nodes.append((0, size, h))
            level, idx = 0, size
            while stack and stack[-1][0] == level:
                h = merkle.node_hash(stack.pop()[1], h)
                level, idx = level + 1, idx >> 1
                nodes.append((level, idx, h))
            stack.append((level, h))
            size += 1
        _write(session, leaves, nodes)
        done += len(rows)
    root = _root_of(stack)
    session.execute(update(TlogStateRow).where(TlogStateRow.id == 1).values(size=size, root=root))
    return TreeState(size, root)


def _root_of(stack: list[tuple[int, bytes]]) -> bytes:
    if not stack:
        return merkle.EMPTY_ROOT
    acc = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        acc = merkle.node_hash(h, acc)
    return acc


def reset(session: Session) -> None:
    """Drop the tree (not the checkpoints) so :func:`integrate` rebuilds it from seq 1."""
    _lock_state(session)
    session.execute(delete(TlogNodeRow))
    session.execute(delete(TlogLeafRow))
    session.execute(
        update(TlogStateRow).where(TlogStateRow.id == 1).values(size=0, root=merkle.EMPTY_ROOT)
    )


def node_getter(session: Session, plan: Iterable[tuple[int, int]]) -> merkle.NodeGetter:
    """A getter over the stored hashes of ``plan`` (fetched in one query)."""
    found = fetch_nodes(session, plan)

    def get(level: int, idx: int) -> bytes:
        try:
            return found[(level, idx)]
        except KeyError:
            raise IntegrityError(
                f"stored subtree ({level}, {idx}) is missing; run `optin log rebuild`"
            ) from None

    return get


def event_leaf(session: Session, event_id: str) -> tuple[int, str] | None:
    """``(leaf index, member id)`` of a ledger event in the tree, or None."""
    row = session.execute(
        select(TlogLeafRow.idx, ConsentEventRow.member_id)
        .join(ConsentEventRow, ConsentEventRow.event_id == TlogLeafRow.event_id)
        .where(TlogLeafRow.event_id == event_id)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


def leaf_and_checkpoint(
    session: Session, event_id: str
) -> tuple[tuple[int, str] | None, CheckpointRecord | None]:
    """``(leaf index, member id)`` of an event (None: not in the tree) and the latest
    checkpoint, in one query (both primary-key / unique-index lookups)."""
    row = session.execute(
        text(
            "SELECT (SELECT idx FROM tlog_leaves WHERE event_id = :e) AS idx, "
            "(SELECT member_id FROM consent_events WHERE event_id = :e) AS member_id, "
            "c.size, c.root, c.created_at, c.note, c.cosigned, c.cosigners "
            "FROM (SELECT 1 AS one) AS o "
            "LEFT JOIN (SELECT * FROM tlog_checkpoints ORDER BY size DESC LIMIT 1) AS c "
            "ON 1 = 1"
        ).columns(created_at=TlogCheckpointRow.__table__.c.created_at.type),
        {"e": event_id},
    ).one()
    leaf = None if row.idx is None or row.member_id is None else (int(row.idx), str(row.member_id))
    return leaf, None if row.size is None else _record(row)


def leaf_salt(session: Session, event_id: str) -> tuple[bytes | None, bytes, Any] | None:
    """``(salt or None when erased, canonical bytes, event row)`` of an event's leaf."""
    row = session.execute(
        select(*_EVENT_COLUMNS, TlogLeafRow.salt)
        .join(TlogLeafRow, TlogLeafRow.event_id == ConsentEventRow.event_id)
        .where(ConsentEventRow.event_id == event_id)
    ).first()
    if row is None:
        return None
    return open_salt(KeyRing(session), row), canonical_bytes(row), row


def iter_leaf_hashes(session: Session, *, chunk: int = 20000) -> Iterator[tuple[int, bytes]]:
    """``(idx, stored level-0 hash)`` in order, chunked."""
    last = -1
    while True:
        rows = session.execute(
            select(TlogNodeRow.idx, TlogNodeRow.hash)
            .where(TlogNodeRow.level == 0, TlogNodeRow.idx > last)
            .order_by(TlogNodeRow.idx)
            .limit(chunk)
        ).all()
        if not rows:
            return
        for idx, h in rows:
            yield int(idx), bytes(h)
        last = int(rows[-1][0])


#: The columns of :func:`iter_verification_rows`, in order.
VERIFY_COLUMNS = (
    "idx",
    "leaf_event_id",
    "data",
    "salt",
    "leaf_hash",
    "seq",
    "event_id",
    "member_id",
    "purpose",
    "action",
    "at",
    "recorded_at",
    "policy_version",
    "source",
    "personal",
    "prev_hash",
    "hash",
)


def iter_verification_rows(session: Session, *, chunk: int = 20000) -> Iterator[tuple[Any, ...]]:
    """One pass for full verification: every leaf in ``idx`` order beside its stored
    level-0 hash and the ledger row it names (NULLs where either is gone), as raw driver
    tuples in :data:`VERIFY_COLUMNS` order (times as text: ISO 8601 UTC with
    microseconds formatted by PostgreSQL, the stored ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC
    on SQLite).
    Chunked by ``idx`` on the session's own DBAPI connection (one query per chunk)."""
    raw = session.connection().connection.driver_connection
    assert raw is not None
    pg = session.get_bind().dialect.name == "postgresql"
    mark = "%s" if pg else "?"
    at, recorded = (_pg_iso("e.at"), _pg_iso("e.recorded_at")) if pg else ("e.at", "e.recorded_at")
    sql = (
        "SELECT l.idx, l.event_id, l.data, l.salt, n.hash, e.seq, e.event_id, e.member_id, "
        f"e.purpose, e.action, {at}, {recorded}, e.policy_version, e.source, e.personal, "
        "e.prev_hash, e.hash FROM tlog_leaves l "
        "LEFT JOIN tlog_nodes n ON n.level = 0 AND n.idx = l.idx "
        "LEFT JOIN consent_events e ON e.event_id = l.event_id "
        f"WHERE l.idx > {mark} ORDER BY l.idx LIMIT {int(chunk)}"
    )
    last = -1
    cur = raw.cursor()
    try:
        while True:
            cur.execute(sql, (last,))
            rows = cur.fetchall()
            if not rows:
                return
            yield from rows
            last = int(rows[-1][0])
    finally:
        cur.close()


def _pg_iso(col: str) -> str:
    """A timestamptz column as ISO 8601 UTC text with microseconds (server-side)."""
    return f"to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"


def checkpoint_roots(
    session: Session, *, after: int = 0, chunk: int = 10000
) -> list[tuple[int, bytes]]:
    """Stored checkpoints' ``(tree size, root)`` of size above ``after``, by size, at
    most ``chunk`` (full verification pages through them beside the leaves)."""
    rows = session.execute(
        select(TlogCheckpointRow.size, TlogCheckpointRow.root)
        .where(TlogCheckpointRow.size > after)
        .order_by(TlogCheckpointRow.size)
        .limit(chunk)
    ).all()
    return [(int(size), bytes(root)) for size, root in rows]


def iter_leaves_with_events(
    session: Session, ring: KeyRing | None = None, *, chunk: int = 5000
) -> Iterator[Any]:
    """Leaf rows in order, each beside the columns of its ledger event (NULL when the
    event is gone), for verification against the chain."""
    last = -1
    while True:
        rows = session.execute(
            select(TlogLeafRow.idx, TlogLeafRow.data, TlogLeafRow.salt, *_EVENT_COLUMNS)
            .join(ConsentEventRow, ConsentEventRow.event_id == TlogLeafRow.event_id, isouter=True)
            .where(TlogLeafRow.idx > last)
            .order_by(TlogLeafRow.idx)
            .limit(chunk)
        ).all()
        if not rows:
            return
        if ring is not None:  # the members' keys in a few queries, for open_salt
            ring.load(r.member_id for r in rows if r.member_id is not None)
        yield from rows
        last = int(rows[-1][0])


def leaves_for_events(
    session: Session, event_ids: Sequence[str], ring: KeyRing | None = None, *, chunk: int = 500
) -> Iterator[Any]:
    """The leaf rows of ``event_ids`` (those in the tree; ``leaf_event_id``), each beside
    the columns of its ledger event (NULL when the event is gone), in chunks."""
    for i in range(0, len(event_ids), chunk):
        part = list(event_ids[i : i + chunk])
        rows = session.execute(
            select(
                TlogLeafRow.event_id.label("leaf_event_id"),
                TlogLeafRow.idx,
                TlogLeafRow.data,
                TlogLeafRow.salt,
                *_EVENT_COLUMNS,
            )
            .join(ConsentEventRow, ConsentEventRow.event_id == TlogLeafRow.event_id, isouter=True)
            .where(TlogLeafRow.event_id.in_(part))
        ).all()
        if ring is not None:
            ring.load(r.member_id for r in rows if r.member_id is not None)
        yield from rows


def open_salt(ring: KeyRing, row: Any) -> bytes | None:
    opened = unseal(ring.key_for_read(row.member_id), _SALT_AAD + row.event_id, row.salt)
    return bytes.fromhex(opened["s"]) if opened else None


def ledger_head_seq(session: Session) -> int:
    """The ledger's length as its head row records it (one row, no lock)."""
    got = session.execute(text("SELECT seq FROM ledger_head WHERE id = 1")).scalar()
    return int(got or 0)


def ledger_length(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(ConsentEventRow)).scalar_one())


def _record(r: Any) -> CheckpointRecord:
    return CheckpointRecord(
        int(r.size),
        bytes(r.root),
        r.created_at,
        r.note,
        r.cosigned,
        tuple(x for x in (r.cosigners or "").split() if x),
    )


def latest_checkpoint(session: Session) -> CheckpointRecord | None:
    row = session.execute(
        select(TlogCheckpointRow).order_by(TlogCheckpointRow.size.desc()).limit(1)
    ).scalar_one_or_none()
    return None if row is None else _record(row)


def checkpoint_at(session: Session, size: int) -> CheckpointRecord | None:
    row = session.get(TlogCheckpointRow, size)
    return None if row is None else _record(row)


def checkpoints(session: Session, *, limit: int = 20) -> list[CheckpointRecord]:
    rows = session.execute(
        select(TlogCheckpointRow).order_by(TlogCheckpointRow.size.desc()).limit(limit)
    ).scalars()
    return [_record(r) for r in rows]


def add_checkpoint(
    session: Session, size: int, root: bytes, note: str, *, now: datetime
) -> CheckpointRecord:
    session.add(
        TlogCheckpointRow(
            size=size, root=root, created_at=now, note=note, cosigned=note, cosigners=""
        )
    )
    session.flush()
    return CheckpointRecord(size, root, now, note, note, ())


def set_cosigned(session: Session, size: int, cosigned: str, cosigners: Iterable[str]) -> None:
    session.execute(
        update(TlogCheckpointRow)
        .where(TlogCheckpointRow.size == size)
        .values(cosigned=cosigned, cosigners=" ".join(sorted(set(cosigners))))
    )
