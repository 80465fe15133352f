"""Issue 10 #9 (SQLite): a committed ledger append survives a power loss."""

from __future__ import annotations

from optin.storage.database import Database


def test_sqlite_commits_with_synchronous_full(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
