"""Read-only queries on the embedded SQLite database through the standard library's
``sqlite3``, for the short CLI commands (``optin consent show``, ``optin eligibility``):
importing SQLAlchemy and mapping its models costs more than the whole command may take.

Each function reads the same rows as its ORM twin and returns the same domain objects:
:func:`member_id_for` as :func:`optin.storage.members.member_id_for`,
:func:`member_history` as :func:`optin.storage.members.member_history`,
:func:`policy_rows` as :func:`optin.storage.repos.policies.all_versions`. Values are
converted as SQLAlchemy converts them on SQLite, and only values in the exact form the
ORM writes are accepted: anything else (a missing file, a schema that is not at the head
migration, an unexpected type or text, any ``sqlite3`` error) raises :class:`Unsupported`,
and the caller takes the full path, which gives every error message.
``tests/services/test_quick.py`` holds the results equal to the ORM path's.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from optin.domain.model import AccountStatus, BirthDateCorrection, MemberHistory
from optin.storage.light import fold_handle, head_from_files, is_erasure, row_to_event

#: What SQLAlchemy writes for a ``DateTime``/``Date`` on SQLite (naive UTC); nothing else
#: is read here.
_DATETIME = re.compile(r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{6}))?")
_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)")
#: The ORM path's busy timeout (``optin.storage.db``), in seconds.
BUSY_TIMEOUT_S = 30.0


class Unsupported(Exception):
    """This read cannot answer exactly as the full path would: take the full path."""


class PolicyRow(NamedTuple):
    version: int
    sha256: str
    effective_at: datetime
    material: str | None
    in_force_at: datetime | None
    document: str


class _EventRow(NamedTuple):
    seq: int
    event_id: str
    member_id: str
    purpose: str
    action: str
    at: datetime
    recorded_at: datetime
    policy_version: int
    source: str


def _datetime(value: Any) -> datetime:
    m = _DATETIME.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise Unsupported("datetime")
    y, mo, d, h, mi, s, us = m.groups()
    return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int(us or 0), UTC)


def _opt_datetime(value: Any) -> datetime | None:
    return None if value is None else _datetime(value)


def _opt_date(value: Any) -> date | None:
    if value is None:
        return None
    m = _DATE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise Unsupported("date")
    return date(int(m[1]), int(m[2]), int(m[3]))


def _int(value: Any) -> int:
    if type(value) is not int:
        raise Unsupported("integer")
    return value


def _str(value: Any) -> str:
    if type(value) is not str:
        raise Unsupported("text")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


@contextmanager
def snapshot(path: Path) -> Iterator[sqlite3.Connection]:
    """One read transaction on the optin database file ``path``, opened read-only (the
    file is never created), whose schema is at the head migration; Unsupported
    otherwise, and for any ``sqlite3`` error inside."""
    if not path.is_file():
        raise Unsupported("no database file")
    head = head_from_files()
    if head is None:
        raise Unsupported("the migration files do not give one head")
    try:
        conn = sqlite3.connect(
            f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
        )
    except sqlite3.Error as e:
        raise Unsupported("cannot open") from e
    try:
        conn.execute("BEGIN")
        revisions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        if revisions != [(head,)]:
            raise Unsupported("schema not at head")
        yield conn
    except sqlite3.Error as e:
        raise Unsupported(type(e).__name__) from e
    finally:
        conn.close()


def member_id_for(conn: sqlite3.Connection, ref: str) -> str | None:
    """The id of the member whose id is ``ref``, or whose handle is ``ref`` (``@`` optional)."""
    if conn.execute("SELECT 1 FROM members WHERE id = ?", (ref,)).fetchone() is not None:
        return ref
    handle = ref[1:] if ref.startswith("@") else ref
    row = conn.execute(
        "SELECT id FROM members WHERE handle_folded = ?", (fold_handle(handle),)
    ).fetchone()
    return None if row is None else _str(row[0])


def member_history(conn: sqlite3.Connection, member_id: str) -> MemberHistory | None:
    """The member's history (countries, statuses, birth-date corrections, consent events
    but erasures), ordered as the ORM path orders it; None for no such member."""
    row = conn.execute("SELECT birth_date FROM members WHERE id = ?", (member_id,)).fetchone()
    if row is None:
        return None
    q = "WHERE member_id = ? ORDER BY since, id"
    countries = tuple(
        (_datetime(since), _str(country), _opt_datetime(recorded))
        for since, country, recorded in conn.execute(
            f"SELECT since, country, recorded_at FROM member_countries {q}", (member_id,)
        )
    )
    statuses = tuple(
        (_datetime(since), AccountStatus(_str(status)), _opt_datetime(recorded))
        for since, status, recorded in conn.execute(
            f"SELECT since, status, recorded_at FROM member_statuses {q}", (member_id,)
        )
    )
    fixes = tuple(
        BirthDateCorrection(_datetime(eff), _datetime(rec), _opt_date(birth), _opt_date(prev))
        for eff, rec, birth, prev in conn.execute(
            "SELECT effective_at, recorded_at, birth_date, previous FROM member_birth_dates "
            "WHERE member_id = ? ORDER BY id",
            (member_id,),
        )
    )
    events = []
    for seq, eid, mid, purpose, action, at, rec, pv, source in conn.execute(
        "SELECT seq, event_id, member_id, purpose, action, at, recorded_at, policy_version, "
        "source FROM consent_events WHERE member_id = ? ORDER BY at, seq",
        (member_id,),
    ):
        ev = _EventRow(
            _int(seq), _str(eid), _str(mid), _str(purpose), _str(action), _datetime(at),
            _datetime(rec), _int(pv), _str(source),
        )  # fmt: skip
        if not is_erasure(ev):  # an erasure's ledger entry is not a consent choice
            events.append(row_to_event(ev))
    return MemberHistory(
        member_id=member_id,
        birth_date=_opt_date(row[0]),
        countries=countries,
        statuses=statuses,
        events=tuple(events),
        birth_corrections=fixes,
    )


def policy_rows(conn: sqlite3.Connection) -> list[PolicyRow]:
    """Every published policy version, in version order."""
    return [
        PolicyRow(_int(v), _str(sha), _datetime(eff), _opt_str(mat), _opt_datetime(inf), _str(doc))
        for v, sha, eff, mat, inf, doc in conn.execute(
            "SELECT version, sha256, effective_at, material, in_force_at, document "
            "FROM policy_versions ORDER BY version"
        )
    ]


__all__ = ["PolicyRow", "Unsupported", "member_history", "member_id_for", "policy_rows", "snapshot"]
