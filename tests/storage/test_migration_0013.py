"""Migration 0013 on an existing database: erasure records and the directory marker
column arrive without touching members; the downgrade takes them away again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from optin.storage import ledger
from optin.storage.database import Database, _alembic_config
from optin.storage.models import sqlite_datetime


def test_when_0012_database_upgraded_then_erasure_tables_arrive_and_go(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optin.db'}"
    db = Database(url, home=tmp_path)
    cfg = _alembic_config(url)
    try:
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0012")
            conn.execute(
                text("INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, :g)"),
                {"g": ledger.GENESIS},
            )
            conn.execute(
                text(
                    "INSERT INTO members (id, handle, handle_folded, display_name, joined_at, "
                    "role) VALUES ('m1', 'Ada', 'ada', 'Ada L', :j, 'member')"
                ),
                {"j": sqlite_datetime(datetime(2024, 2, 1, tzinfo=UTC))},
            )
        db.init()
        with db.engine.connect() as conn:
            cols = {c["name"] for c in inspect(conn).get_columns("members")}
            assert "erasure_marker" in cols and inspect(conn).has_table("erasure_records")
            assert conn.execute(text("SELECT handle FROM members")).scalar_one() == "Ada"
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0012")
        with db.engine.connect() as conn:
            cols = {c["name"] for c in inspect(conn).get_columns("members")}
            assert "erasure_marker" not in cols and not inspect(conn).has_table("erasure_records")
            assert conn.execute(text("SELECT count(*) FROM members")).scalar_one() == 1
    finally:
        db.dispose()
