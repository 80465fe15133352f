"""Engine and session factory. Nothing connects at import time."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from optin.errors import ConfigError
from optin.files import private_dir

#: SQLite durability: ``FULL`` fsyncs the WAL at every commit, so an acknowledged
#: consent (a ledger append) survives a power loss; ``NORMAL`` in WAL mode may lose the
#: last commits on power loss (never corrupts). The cost, measured with
#: ``bench/ledger.py --sqlite-synchronous``, is in the README. Module-level so that a
#: benchmark can compare the two.
SQLITE_SYNCHRONOUS = "FULL"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (SQLite file or PostgreSQL)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
        elif url.startswith("postgresql"):
            kwargs.setdefault("pool_pre_ping", True)
            engine = create_engine(url, **kwargs)
        else:
            raise ConfigError(
                f"database URL scheme not supported: {url.split(':', 1)[0]!r}; "
                "allowed: sqlite:///PATH, postgresql+psycopg://USER@HOST:PORT/DB"
            )
    except ModuleNotFoundError as e:
        raise ConfigError(
            f"the driver for {url.split(':', 1)[0]} is missing ({e.name}); "
            "install it with: pip install 'optin[postgres]'"
        ) from None
    return engine


def prepare_data_dir(home: Path | None, sqlite_path: Path | None) -> None:
    """Create the data directory (0700) and the SQLite file (0600, before SQLite opens
    it, so its ``-wal`` and ``-shm`` files get the same mode); tighten an existing
    database file and its ``-wal``/``-shm`` to 0600."""
    if home is not None:
        private_dir(home)
    if sqlite_path is None:
        return
    private_dir(sqlite_path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(sqlite_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for p in (sqlite_path, Path(f"{sqlite_path}-wal"), Path(f"{sqlite_path}-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if stat.S_IMODE(p.stat().st_mode) & 0o077:
                os.chmod(p, 0o600)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


#: What a failed database operation raises (refused connection, bad file ...); services
#: catch it by this name and so never import SQLAlchemy themselves.
DatabaseError = SQLAlchemyError

__all__ = [
    "DatabaseError",
    "Engine",
    "Session",
    "make_engine",
    "prepare_data_dir",
    "session_scope",
]
