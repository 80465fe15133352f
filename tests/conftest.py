"""Shared fixtures for the whole test suite.

Database fixtures (use them; don't build engines by hand):

``db``
    A fresh, initialised :class:`optin.storage.database.Database` (schema migrated to
    head, ledger head row, the shipped default policy published as version 1, effective
    2024-01-01T00:00Z; no members). **Parametrized over two backends**: ``sqlite`` (a
    temporary file) and ``postgresql`` (an isolated schema per test, dropped afterwards,
    on ``OPTIN_TEST_PG_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
    The PostgreSQL case is skipped with a reason only when the server is unreachable
    and ``CI`` is not set; under ``CI`` it fails loudly. ``db.url`` is a plain URL
    (the schema travels as ``?options=-csearch_path=...``), so subprocesses and the CLI
    (``OPTIN_DATABASE_URL``) see the same database.

``sqlite_db``
    The same, SQLite only (for tests where the backend does not matter).

``pg_db``
    The same, PostgreSQL only.

``db_settings``
    :class:`optin.settings.Settings` whose ``home`` is a temporary directory and whose
    ``database_url`` is ``db.url`` (for CLI and web tests).

Factories for members and other rows live in ``tests/factories.py``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from optin.services.setup import DEFAULT_POLICY_EFFECTIVE_AT, init_database
from optin.settings import Settings
from optin.storage.database import Database

PG_URL = os.environ.get("OPTIN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_pg_state: dict[str, str | None] = {}


def _pg_unreachable_reason() -> str | None:
    """None when PostgreSQL answers; otherwise why not (checked once per session)."""
    if "reason" not in _pg_state:
        try:
            eng = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with eng.connect() as conn:
                conn.execute(text("SELECT 1"))
            eng.dispose()
            _pg_state["reason"] = None
        except Exception as e:  # driver missing, refused, auth ...
            _pg_state["reason"] = f"PostgreSQL at {PG_URL} unreachable: {type(e).__name__}: {e}"
    return _pg_state["reason"]


def require_pg() -> None:
    reason = _pg_unreachable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so PostgreSQL tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised SQLite database, migrated once; tests get copies."""
    path = tmp_path_factory.mktemp("sqlite-template") / "optin.db"
    db = Database(f"sqlite:///{path}")
    init_database(
        db, now=datetime.now(UTC), effective_at=DEFAULT_POLICY_EFFECTIVE_AT, allow_backdate=True
    )
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


def _make_sqlite(template: Path, tmp_path: Path) -> Database:
    home = tmp_path / "sqlite-home"
    home.mkdir(parents=True, exist_ok=True)
    path = home / "optin.db"
    shutil.copyfile(template, path)
    return Database(f"sqlite:///{path}", home=home)


@pytest.fixture()
def sqlite_db(_sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    db = _make_sqlite(_sqlite_template, tmp_path)
    yield db
    db.dispose()


def _pg_schema_db(home: Path) -> tuple[Database, str]:
    require_pg()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    db = Database(url.render_as_string(hide_password=False), home=home)  # home: key store
    init_database(
        db, now=datetime.now(UTC), effective_at=DEFAULT_POLICY_EFFECTIVE_AT, allow_backdate=True
    )
    return db, schema


def _drop_schema(db: Database, schema: str) -> None:
    db.dispose()
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture()
def pg_db(tmp_path: Path) -> Iterator[Database]:
    db, schema = _pg_schema_db(tmp_path / "home")
    yield db
    _drop_schema(db, schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest, _sqlite_template: Path, tmp_path: Path
) -> Iterator[Database]:
    if request.param == "sqlite":
        sdb = _make_sqlite(_sqlite_template, tmp_path)
        yield sdb
        sdb.dispose()
    else:
        pdb, schema = _pg_schema_db(tmp_path / "home")
        yield pdb
        _drop_schema(pdb, schema)


@pytest.fixture()
def db_settings(db: Database, tmp_path: Path) -> Settings:
    home = db.home or tmp_path / "home"  # the same home: the same key store
    home.mkdir(exist_ok=True)
    return Settings(home=home, database_url=db.url)
