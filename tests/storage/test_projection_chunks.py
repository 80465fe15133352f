"""The bulk projection read in member-id chunks by reader threads gives exactly what one
query gives, in order, on both backends; errors reach the caller; stopping early stops
the readers."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest

from optin.storage import projection
from optin.storage.database import Database
from tests.services.test_eligibility import P, Q, _random_world


def _rows(db: Database, purpose: str, at, readers: int) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for rows, _ in projection.iter_state_rows(db.engine, purpose, at, readers=readers):
        out.extend(tuple(r) for r in rows)
    return out


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_when_read_in_chunks_then_rows_equal_one_query(
    db: Database, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, probes = _random_world(db, random.Random(11), 25)
    monkeypatch.setattr(projection, "CHUNK_MEMBERS", chunk)
    for at in probes[::2]:
        for purpose in (P, Q):
            one = _rows(db, purpose, at, readers=0)
            assert [r[0] for r in one] == sorted(ids)
            for readers in (1, 2, 3):
                assert _rows(db, purpose, at, readers=readers) == one


def test_when_caller_stops_early_then_reader_threads_end(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, probes = _random_world(db, random.Random(5), 20)
    monkeypatch.setattr(projection, "CHUNK_MEMBERS", 2)
    before = {t.ident for t in threading.enumerate()}
    it = projection.iter_state_rows(db.engine, P, probes[-1], readers=2)
    next(it)
    it.close()
    left = [
        t for t in threading.enumerate() if t.ident not in before and t.name.startswith("optin-")
    ]
    assert left == []


def test_when_a_chunk_fails_then_the_caller_gets_the_error(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, probes = _random_world(db, random.Random(6), 20)
    monkeypatch.setattr(projection, "CHUNK_MEMBERS", 2)
    # a member-id range that the database rejects: the second chunk's query fails
    real = projection._range_sql
    calls = {"n": 0}

    def broken(col: str, lo: str | None, hi: str | None, mark: str):  # type: ignore[no-untyped-def]
        sql, params = real(col, lo, hi, mark)
        calls["n"] += 1
        if calls["n"] == 4:
            return sql + " AND no_such_column = 1", params
        return sql, params

    monkeypatch.setattr(projection, "_range_sql", broken)
    with pytest.raises(Exception, match="no_such_column"):
        for _ in projection.iter_state_rows(db.engine, P, probes[-1], readers=2):
            pass


def test_when_rows_change_mid_read_then_postgresql_readers_share_one_snapshot(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every chunk sees the state committed when the read began (one exported snapshot)."""
    from sqlalchemy import text

    ids, probes = _random_world(pg_db, random.Random(8), 20)
    monkeypatch.setattr(projection, "CHUNK_MEMBERS", 2)
    at = probes[-1]
    expected = _rows(pg_db, P, at, readers=0)
    it = projection.iter_state_rows(pg_db.engine, P, at, readers=1)
    got = [tuple(r) for r in next(it)[0]]
    # a later chunk's member closes the account, committed after the read began
    last = sorted(ids)[-1]
    with pg_db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO member_statuses (member_id, since, recorded_at, status) "
                "VALUES (:m, :t, :t, 'closed')"
            ),
            {"m": last, "t": at - timedelta(days=1)},
        )
    for rows, _ in it:
        got.extend(tuple(r) for r in rows)
    assert got == expected


def test_when_a_sqlite_file_is_read_in_chunks_then_reader_processes_do_it_and_end(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a SQLite file the chunks are read by child processes (read-only connections);
    they have all exited once the read ends, also when the caller stops early."""
    _ids, probes = _random_world(sqlite_db, random.Random(12), 20)
    monkeypatch.setattr(projection, "CHUNK_MEMBERS", 3)
    started: list[projection._SqliteChild] = []
    real = projection._SqliteChild

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, path: str) -> None:
            super().__init__(path)
            started.append(self)

    monkeypatch.setattr(projection, "_SqliteChild", Recording)
    one = _rows(sqlite_db, P, probes[-1], readers=0)
    assert started == []
    assert _rows(sqlite_db, P, probes[-1], readers=2) == one
    assert len(started) == 2
    assert all(c.proc.poll() is not None for c in started)
    started.clear()
    it = projection.iter_state_rows(sqlite_db.engine, P, probes[-1], readers=2)
    next(it)
    it.close()
    assert started and all(c.proc.poll() is not None for c in started)
