"""Bulk point-in-time projection: every member's :class:`MemberState` for (purpose, T).

One SQL query per backend, streamed, through the raw DBAPI cursor (the hot path of
snapshot builds). For each member it finds, as known at T (effective and recorded at or
before T): the latest country and the latest account status (by ``since``, then row id), the birth
date (:func:`optin.domain.eligibility.birth_date_at`: the latest known correction, else
the value before the first one, else the member's own), and the latest consent event
for the purpose (by event time, then ledger ``seq``) with, for a grant, the member's
country at that event's time as known at T (for the capacity rules), which is exactly
what :func:`optin.domain.eligibility.project` computes from a full history.

* SQLite: correlated ``ORDER BY ... LIMIT 1`` subqueries, each one index seek.
* PostgreSQL: ``DISTINCT ON`` subqueries that read the newest-first covering indexes
  in order (index-only scans, no sort), merge-joined to ``members``, read with a
  server-side cursor; ``work_mem``/``jit`` are ``SET LOCAL`` to that read-only
  transaction.

Rows come out ordered by member id.
"""

from __future__ import annotations

import itertools
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from optin.domain.eligibility import MemberState
from optin.domain.model import AccountStatus, ConsentAction
from optin.storage.models import sqlite_datetime

_STATUS = {s.value: s for s in AccountStatus}
_ACTION = {a.value: a for a in ConsentAction}

# The birth date known at T: without corrections the member's own; otherwise that of the
# latest correction effective and recorded by T (by recorded time, then id), else the
# value the first correction written replaced. Corrections are rare: the IN list is
# computed once (a hashed subplan on PostgreSQL) and the rest runs only for those members.
_BIRTH = """
  CASE WHEN m.id IN (SELECT b.member_id FROM member_birth_dates b) THEN
    CASE WHEN EXISTS (SELECT 1 FROM member_birth_dates b
        WHERE b.member_id = m.id AND b.effective_at <= {t} AND b.recorded_at <= {t})
      THEN (SELECT b.birth_date FROM member_birth_dates b
        WHERE b.member_id = m.id AND b.effective_at <= {t} AND b.recorded_at <= {t}
        ORDER BY b.recorded_at DESC, b.id DESC LIMIT 1)
      ELSE (SELECT b.previous FROM member_birth_dates b
        WHERE b.member_id = m.id ORDER BY b.id LIMIT 1)
    END
  ELSE m.birth_date END"""

_SQLITE = (
    """
SELECT m.id,"""
    + _BIRTH.format(t=":t")
    + """,
  (SELECT c.country FROM member_countries c
    WHERE c.member_id = m.id AND c.since <= :t AND c.recorded_at <= :t
    ORDER BY c.since DESC, c.id DESC LIMIT 1),
  (SELECT s.status FROM member_statuses s
    WHERE s.member_id = m.id AND s.since <= :t AND s.recorded_at <= :t
    ORDER BY s.since DESC, s.id DESC LIMIT 1),
  (SELECT e.action || ' ' || e.policy_version || ' ' || e.at || ' ' || CASE
      WHEN e.action = 'grant' THEN coalesce(
      (SELECT c.country FROM member_countries c
        WHERE c.member_id = m.id AND c.since <= e.at AND c.recorded_at <= :t
        ORDER BY c.since DESC, c.id DESC LIMIT 1), '') ELSE '' END || ' ' || e.event_id
    FROM consent_events e
    WHERE e.member_id = m.id AND e.purpose = :p AND e.at <= :t AND e.recorded_at <= :t
    ORDER BY e.at DESC, e.seq DESC LIMIT 1)
FROM members m
{where}
ORDER BY m.id
"""
)

_POSTGRES = (
    """
SELECT m.id,"""
    + _BIRTH.format(t="%(t)s")
    + """,
       c.country, s.status,
       e.action || ' ' || e.policy_version || ' '
       || to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || ' '
       || coalesce(ec.country, '') || ' ' || e.event_id
FROM members m
LEFT JOIN (
  SELECT DISTINCT ON (member_id) member_id, country FROM member_countries
  WHERE since <= %(t)s AND recorded_at <= %(t)s{r} ORDER BY member_id, since DESC, id DESC
) c ON c.member_id = m.id
LEFT JOIN (
  SELECT DISTINCT ON (member_id) member_id, status FROM member_statuses
  WHERE since <= %(t)s AND recorded_at <= %(t)s{r} ORDER BY member_id, since DESC, id DESC
) s ON s.member_id = m.id
LEFT JOIN (
  SELECT DISTINCT ON (member_id) member_id, action, policy_version, event_id, at
  FROM consent_events
  WHERE purpose = %(p)s AND at <= %(t)s AND recorded_at <= %(t)s{r}
  ORDER BY member_id, at DESC, seq DESC
) e ON e.member_id = m.id
LEFT JOIN LATERAL (
  SELECT country FROM member_countries
  WHERE member_id = m.id AND since <= e.at AND recorded_at <= %(t)s
  ORDER BY since DESC, id DESC LIMIT 1
) ec ON e.action = 'grant'
{where}
ORDER BY m.id
"""
)


_PG_SETTINGS = (
    "SET LOCAL work_mem = '256MB'",
    "SET LOCAL jit = off",
)


_sqlite_time = sqlite_datetime


def _states(rows: Any, parse_birth: bool) -> Iterator[MemberState]:
    status_of = _STATUS.get
    action_of = _ACTION.get
    fromiso = date.fromisoformat
    for mid, birth, country, status, last in rows:
        if parse_birth and birth is not None:
            birth = fromiso(birth)
        st = status_of(status) if status is not None else None
        if last is None:
            yield MemberState(mid, st is not None, st, country, birth)
        else:
            action, pv, at, then, eid = split_last(last)
            yield MemberState(
                mid,
                st is not None,
                st,
                country,
                birth,
                action_of(action),
                eid,
                int(pv),
                at,
                then,
            )


def split_last(last: str) -> tuple[str, str, datetime, str | None, str]:
    """``"<action> <policy_version> <at: date time> <country at that time> <event_id>"``
    -> (action, policy_version, at (UTC), country or None, event_id)."""
    action, pv, day, clock, then, eid = last.split(" ", 5)
    at = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=UTC)
    return action, pv, at, then or None, eid


#: members per chunk when a bulk projection is read in parallel
CHUNK_MEMBERS = 20000
#: reader threads of a bulk projection on PostgreSQL (each with its own connection and
#: server backend, so the SQL runs in parallel while the caller decodes and decides
#: earlier chunks)
PG_READERS = 2
#: reader processes of a bulk projection on a SQLite file (each a small child Python
#: with its own read-only connection; the SQL runs there while the caller decodes and
#: decides earlier chunks). Processes, not threads: measured on this project's machine,
#: two SQLite connections reading at once in one process were slower than one. A
#: database of one chunk or less, or one in memory, is read in the calling thread.
SQLITE_READERS = 2


def iter_state_rows(
    engine: Engine,
    purpose: str,
    at: datetime,
    *,
    member_ids: list[str] | None = None,
    batch: int = 20000,
    readers: int | None = None,
    member_range: tuple[str | None, str | None] | None = None,
) -> Iterator[tuple[list[Any], bool]]:
    """Stream raw projection rows in batches, ordered by member id: ``(rows,
    birth_is_text)``.

    Each row is ``(member_id, birth_date, country, status, last)`` where ``last`` is
    ``"<action> <policy_version> <YYYY-MM-DD HH:MM:SS.ffffff> <country then> <event_id>"``
    of the latest event for the purpose at or before ``at`` (or None; see
    :func:`split_last`; the country is empty for a withdrawal or when unknown at the
    event's time) and
    ``birth_date`` is ISO text when ``birth_is_text`` (SQLite) or a :class:`date`.
    ``member_ids`` restricts the projection (small sets only; read in one query);
    ``member_range`` ``(lo, hi]`` (None: unbounded) reads only the members with ids in
    that range, in one query in the calling thread (one partition of a partitioned
    eligibility pass: :func:`member_bounds`).

    The whole table is read in member-id chunks by ``readers`` reader threads on
    PostgreSQL (default :data:`PG_READERS`) or reader processes on a SQLite file
    (default :data:`SQLITE_READERS`); 0 reads in the calling thread, in one query, as
    does a SQLite database in memory or of one chunk. Chunks are delivered in order
    with a bounded look-ahead (memory stays at a few chunks). On PostgreSQL every reader
    imports one exported snapshot (``pg_export_snapshot``), so all chunks see the same
    committed state, as one query would; on SQLite each chunk is its own read (a member's
    rows are always read together, and a decision as of T uses only what was recorded by
    T).
    """
    if at.tzinfo is None:
        raise ValueError("naive datetime; use UTC-aware datetimes")
    pg = engine.dialect.name == "postgresql"
    n = (PG_READERS if pg else SQLITE_READERS) if readers is None else readers
    if member_range is not None:
        yield from _read_range(engine, purpose, at, member_range, batch)
        return
    if member_ids is not None or n < 1 or (not pg and _sqlite_file(engine) is None):
        yield from _read_single(engine, purpose, at, member_ids, batch)
        return
    yield from _read_chunked(engine, purpose, at, n)


def _read_single(
    engine: Engine, purpose: str, at: datetime, member_ids: list[str] | None, batch: int
) -> Iterator[tuple[list[Any], bool]]:
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        if pg:
            params: dict[str, Any] = {"t": at.astimezone(UTC), "p": purpose}
            where = ""
            if member_ids is not None:
                where = "WHERE m.id = ANY(%(ids)s)"
                params["ids"] = list(member_ids)
            with raw.cursor() as setup:
                # in-memory sorts if the planner wants any; no JIT start-up cost
                for stmt in _PG_SETTINGS:
                    setup.execute(stmt)
            cur = raw.cursor(name="optin_member_states")
            cur.itersize = batch
            cur.execute(_pg_sql(where, ""), params)
        else:
            sparams: dict[str, Any] = {"t": _sqlite_time(at), "p": purpose}
            where = ""
            if member_ids is not None:
                names = []
                for i, m in enumerate(member_ids):
                    sparams[f"m{i}"] = m
                    names.append(f":m{i}")
                where = f"WHERE m.id IN ({', '.join(names) or 'NULL'})"
            cur = raw.cursor()
            cur.execute(_SQLITE.format(where=where), sparams)
        try:
            while True:
                rows = cur.fetchmany(batch)
                if not rows:
                    break
                yield rows, not pg
        finally:
            cur.close()


def _read_range(
    engine: Engine,
    purpose: str,
    at: datetime,
    member_range: tuple[str | None, str | None],
    batch: int,
) -> Iterator[tuple[list[Any], bool]]:
    """The projection of the members with ids in ``(lo, hi]``, in one query."""
    lo, hi = member_range
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        if pg:
            params: dict[str, Any] = {"t": at.astimezone(UTC), "p": purpose}
            cond, extra = _range_sql("member_id", lo, hi, "%")
            mcond, _ = _range_sql("m.id", lo, hi, "%")
            sql = _pg_sql("WHERE TRUE" + mcond, cond)
            with raw.cursor() as setup:
                for stmt in _PG_SETTINGS:
                    setup.execute(stmt)
        else:
            params = {"t": _sqlite_time(at), "p": purpose}
            mcond, extra = _range_sql("m.id", lo, hi, ":")
            sql = _SQLITE.format(where="WHERE TRUE" + mcond)
        params.update(extra)
        cur = raw.cursor()
        try:
            cur.execute(sql, params)
            while True:
                rows = cur.fetchmany(batch)
                if not rows:
                    break
                yield rows, not pg
        finally:
            cur.close()
            if pg:
                raw.rollback()


def member_bounds(engine: Engine, per_partition: int) -> list[str]:
    """Member ids that cut the members table, in id order, into partitions of about
    ``per_partition`` members: partition ``i`` is ``(bounds[i-1], bounds[i]]`` (the first
    and the last unbounded below and above; see :func:`iter_state_rows`)."""
    if per_partition < 1:
        raise ValueError("per_partition must be >= 1")
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        try:
            cur.execute(_BOUNDS.format(k=int(per_partition)))
            return [r[0] for r in cur.fetchall()]
        finally:
            cur.close()
            if engine.dialect.name == "postgresql":
                raw.rollback()


def _pg_sql(where: str, member_range: str) -> str:
    return _POSTGRES.format(where=where, r=member_range)


_BOUNDS = (
    "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM members) b "
    "WHERE rn % {k} = 0 ORDER BY id"
)


def _chunks(bounds: list[str]) -> list[tuple[str | None, str | None]]:
    """Member-id ranges ``(lo, hi]`` (None: unbounded) covering every id once."""
    edges: list[str | None] = [None, *bounds, None]
    return list(itertools.pairwise(edges))


def _range_sql(col: str, lo: str | None, hi: str | None, mark: str) -> tuple[str, dict[str, Any]]:
    """`` AND col > lo AND col <= hi`` with its parameters (``mark`` is the DBAPI's
    placeholder style: ``:`` or ``%``)."""
    sql, params = "", {}
    for op, name, value in ((">", "lo", lo), ("<=", "hi", hi)):
        if value is not None:
            ph = f":{name}" if mark == ":" else f"%({name})s"
            sql += f" AND {col} {op} {ph}"
            params[name] = value
    return sql, params


class _ChunkReader:
    """Reads chunks ``0..count-1`` in reader threads and hands them out in order.

    A reader takes the next chunk index only while fewer than ``ahead`` chunks are taken
    but not yet handed out, so memory stays bounded; chunks are taken in index order, so
    the next one to hand out is always taken or done (no deadlock). The first error in
    any reader stops them all and is raised to the consumer.
    """

    def __init__(self, count: int, readers: int, read: Any, open_reader: Any) -> None:
        self.count = count
        self.read = read  # (reader state, chunk index) -> rows
        self.open_reader = open_reader  # () -> context manager yielding reader state
        self.ahead = threading.Semaphore(2 * readers)
        self.cond = threading.Condition()
        self.next_index = 0
        self.results: dict[int, Any] = {}
        self.error: BaseException | None = None
        self.stop = False
        self.threads = [
            threading.Thread(target=self._work, name=f"optin-projection-{i}", daemon=True)
            for i in range(min(readers, count))
        ]

    def _take(self) -> int | None:
        while not self.ahead.acquire(timeout=0.2):
            if self.stop:
                return None
        with self.cond:
            if self.stop or self.next_index >= self.count:
                return None
            self.next_index += 1
            return self.next_index - 1

    def _work(self) -> None:
        try:
            with self.open_reader() as state:
                while (i := self._take()) is not None:
                    rows = self.read(state, i)
                    with self.cond:
                        self.results[i] = rows
                        self.cond.notify_all()
        except BaseException as e:  # raised again in the consumer's thread
            with self.cond:
                if self.error is None:
                    self.error = e
                self.stop = True
                self.cond.notify_all()

    def __iter__(self) -> Iterator[Any]:
        for t in self.threads:
            t.start()
        try:
            for i in range(self.count):
                with self.cond:
                    while i not in self.results and self.error is None:
                        self.cond.wait()
                    if i not in self.results:
                        assert self.error is not None
                        raise self.error
                    rows = self.results.pop(i)
                self.ahead.release()
                yield rows
        finally:
            with self.cond:
                self.stop = True
            for t in self.threads:
                t.join()


def _sqlite_file(engine: Engine) -> str | None:
    """The SQLite database file behind ``engine`` (None: in memory, or not SQLite)."""
    url = make_url(str(engine.url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return url.database


# The reader child: stdlib only (started with -I -S, so it imports nothing of optin and
# no site packages). Requests and answers are length-prefixed pickles on its stdin and
# stdout, between this process and its own child only. It opens the file read-only.
_SQLITE_CHILD = r"""
import pickle, sqlite3, struct, sys, urllib.parse
inp, out = sys.stdin.buffer, sys.stdout.buffer
uri = "file:" + urllib.parse.quote(sys.argv[1]) + "?mode=ro"
conn = sqlite3.connect(uri, uri=True, timeout=60, check_same_thread=False)
while True:
    head = inp.read(8)
    if len(head) < 8:
        break
    (n,) = struct.unpack("<Q", head)
    sql, params = pickle.loads(inp.read(n))
    try:
        answer = ("ok", conn.execute(sql, params).fetchall())
    except Exception as e:
        answer = ("error", f"{type(e).__name__}: {e}")
    data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(struct.pack("<Q", len(data)))
    out.write(data)
    out.flush()
conn.close()
"""


class _SqliteChild:
    """One reader process: :meth:`query` sends a statement, returns its rows."""

    def __init__(self, path: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _SQLITE_CHILD, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def query(self, sql: str, params: dict[str, Any]) -> list[Any]:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        data = pickle.dumps((sql, params), protocol=pickle.HIGHEST_PROTOCOL)
        stdin.write(struct.pack("<Q", len(data)) + data)
        stdin.flush()
        head = stdout.read(8)
        if len(head) < 8:
            raise RuntimeError(
                f"a projection reader process ended unexpectedly (exit {self.proc.poll()})"
            )
        (n,) = struct.unpack("<Q", head)
        status, value = pickle.loads(stdout.read(n))
        if status != "ok":
            raise RuntimeError(f"projection reader: {value}")
        rows: list[Any] = value
        return rows

    def close(self) -> None:
        if self.proc.stdin is not None:
            with suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _read_chunked(
    engine: Engine, purpose: str, at: datetime, readers: int
) -> Iterator[tuple[list[Any], bool]]:
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        snapshot: str | None = None
        cur = raw.cursor()
        try:
            if pg:
                # one consistent view for every reader, held open until they are done
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cur.execute("SELECT pg_export_snapshot()")
                snapshot = cur.fetchone()[0]
            cur.execute(_BOUNDS.format(k=CHUNK_MEMBERS))
            bounds = [r[0] for r in cur.fetchall()]
        finally:
            cur.close()
        chunks = _chunks(bounds)
        path = None if pg else _sqlite_file(engine)
        if path is not None and len(chunks) == 1:
            # one chunk: no process to start
            yield from _read_single(engine, purpose, at, None, CHUNK_MEMBERS)
            return

        @contextmanager
        def open_reader() -> Iterator[Any]:
            if path is not None:
                child = _SqliteChild(path)
                try:
                    yield child
                finally:
                    child.close()
                return
            with engine.connect() as rconn:
                rraw = rconn.connection.driver_connection
                assert rraw is not None
                if pg:
                    with rraw.cursor() as setup:
                        setup.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                        setup.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                        for stmt in _PG_SETTINGS:
                            setup.execute(stmt)
                try:
                    yield rraw
                finally:
                    if pg:
                        rraw.rollback()

        def read(rraw: Any, i: int) -> list[Any]:
            lo, hi = chunks[i]
            if pg:
                params: dict[str, Any] = {"t": at.astimezone(UTC), "p": purpose}
                cond, extra = _range_sql("member_id", lo, hi, "%")
                mcond, _ = _range_sql("m.id", lo, hi, "%")
                sql = _pg_sql("WHERE TRUE" + mcond, cond)
            else:
                params = {"t": _sqlite_time(at), "p": purpose}
                mcond, extra = _range_sql("m.id", lo, hi, ":")
                sql = _SQLITE.format(where="WHERE TRUE" + mcond)
            params.update(extra)
            if isinstance(rraw, _SqliteChild):
                return rraw.query(sql, params)
            c = rraw.cursor()
            try:
                c.execute(sql, params)
                return list(c.fetchall())
            finally:
                c.close()

        reader = _ChunkReader(len(chunks), readers, read, open_reader)
        try:
            for rows in reader:
                if rows:
                    yield rows, not pg
        finally:
            if pg:
                raw.rollback()


def iter_member_states(
    engine: Engine,
    purpose: str,
    at: datetime,
    *,
    member_ids: list[str] | None = None,
    batch: int = 20000,
) -> Iterator[MemberState]:
    """Stream every member's state for ``purpose`` at ``at`` (ordered by member id)."""
    for rows, text_birth in iter_state_rows(
        engine, purpose, at, member_ids=member_ids, batch=batch
    ):
        yield from _states(rows, text_birth)
