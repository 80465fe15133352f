"""Database handle: migrations shipped in the package, init idempotence, schema drift."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from optin.errors import ConfigError
from optin.services.setup import init_database
from optin.storage.database import Database
from optin.storage.ledger import GENESIS, ledger_head
from optin.storage.models import Base

#: Indexes with DESC columns: Alembic cannot compare their sort order, so they are
#: checked by name and columns with the inspector instead.
DESC_INDEXES = {
    # a decision as of T reads only member changes recorded by T (0011)
    "ix_member_countries_member_since": ["member_id", "since", "id", "country", "recorded_at"],
    "ix_member_statuses_member_since": ["member_id", "since", "id", "status", "recorded_at"],
    "ix_consent_events_member_purpose_at": [
        "member_id",
        "purpose",
        "at",
        "seq",
        "action",
        "policy_version",
        "event_id",
        "recorded_at",  # a decision as of T reads only events recorded by T (0009)
    ],
}


def _include(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "index" and name in DESC_INDEXES)


def test_when_initialised_then_schema_matches_models(db: Database) -> None:
    from sqlalchemy import inspect

    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": _include})
        diff = compare_metadata(ctx, Base.metadata)
        found = {
            ix["name"]: ix["column_names"]
            for table in ("member_countries", "member_statuses", "consent_events")
            for ix in inspect(conn).get_indexes(table)
        }
    assert diff == [], "models changed without a migration: " + repr(diff)
    for name, cols in DESC_INDEXES.items():
        assert found[name] == cols


def test_when_initialised_then_at_head_with_ledger_head_row(db: Database) -> None:
    assert db.is_initialized()
    assert db.current_revision() == db.head_revision()
    db.require_initialized()
    with db.session() as s:
        assert ledger_head(s).hash == GENESIS
    counts = db.table_counts()
    assert counts["policy_versions"] == 1 and counts["ledger_head"] == 1


def test_when_not_initialised_then_require_names_the_fix(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'none' / 'optin.db'}")
    assert db.current_revision() is None
    with pytest.raises(ConfigError, match="optin init"):
        db.require_initialized()
    assert not (tmp_path / "none").exists()  # checking creates nothing


def test_when_init_on_new_home_then_creates_directories(tmp_path: Path) -> None:
    home = tmp_path / "a" / "b"
    db = Database(f"sqlite:///{home / 'optin.db'}", home=home)
    now = datetime.now(UTC)
    assert init_database(db, now=now) is True
    assert init_database(db, now=now) is False
    assert (home / "optin.db").exists()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_when_url_scheme_unknown_then_config_error() -> None:
    with pytest.raises(ConfigError, match="allowed"):
        Database("mysql://u@h/db")


def test_repr_hides_password() -> None:
    db = Database("postgresql+psycopg://u:secret@127.0.0.1:1/x")
    assert "secret" not in repr(db)
    db.dispose()


def test_when_sqlite_datetime_then_same_text_as_sqlalchemy_stores(sqlite_db: Database) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from optin.storage.models import sqlite_datetime
    from tests.factories import add_member

    joined = datetime(987, 3, 4, 5, 6, 7, 89, tzinfo=timezone(timedelta(hours=2)))
    add_member(sqlite_db, "m1", joined_at=joined)
    with sqlite_db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT joined_at FROM members").scalar()
    assert stored == sqlite_datetime(joined) == "0987-03-04 03:06:07.000089"
    assert sqlite_datetime(joined.astimezone(UTC)) == stored


def test_revisions_without_alembic_agree_with_alembic(db: Database, tmp_path: Path) -> None:
    """``head_revision``/``current_revision`` read the migration files and the
    ``alembic_version`` table themselves (start-up speed); Alembic must agree."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from optin.storage.database import _alembic_config

    head = ScriptDirectory.from_config(_alembic_config(db.url)).get_current_head()
    assert db.head_revision() == head
    with db.engine.connect() as conn:
        assert db.current_revision() == MigrationContext.configure(conn).get_current_revision()
    assert db.current_revision() == head and db.is_initialized()
    fresh = Database(f"sqlite:///{tmp_path / 'not-yet.db'}", home=tmp_path)
    assert fresh.current_revision() is None  # no file yet: nothing is created
    assert not (tmp_path / "not-yet.db").exists()
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}", home=tmp_path)
    with empty.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    assert empty.current_revision() is None  # a database that is not optin's
    fresh.dispose()
    empty.dispose()
