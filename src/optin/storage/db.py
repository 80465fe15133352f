"""Engine and session factory. Nothing connects at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from optin.errors import ConfigError


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
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

__all__ = ["DatabaseError", "Engine", "Session", "make_engine", "session_scope"]
