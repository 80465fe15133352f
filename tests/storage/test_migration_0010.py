"""Migration 0010 on an existing database: member histories get recorded_at = the later
of since and joined_at, handles are folded, and a case duplicate stops it clearly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from optin.errors import ConfigError
from optin.storage import ledger
from optin.storage.database import Database, _alembic_config
from optin.storage.models import sqlite_datetime

JOINED = datetime(2024, 2, 1, tzinfo=UTC)
EARLY = datetime(2024, 1, 1, tzinfo=UTC)
MOVED = datetime(2025, 1, 1, tzinfo=UTC)


def _old_database(tmp_path: Path, handles: list[str]) -> Database:
    home = tmp_path / "old"
    home.mkdir()
    url = f"sqlite:///{home / 'optin.db'}"
    db = Database(url, home=home)
    cfg = _alembic_config(url)
    with db.engine.begin() as conn:  # a database of the previous release
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        conn.execute(
            text("INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, :g)"), {"g": ledger.GENESIS}
        )
        for i, h in enumerate(handles):
            conn.execute(
                text(
                    "INSERT INTO members (id, handle, display_name, joined_at, role) "
                    "VALUES (:id, :h, 'X', :j, 'member')"
                ),
                {"id": f"m{i}", "h": h, "j": sqlite_datetime(JOINED)},
            )
            for since, c in ((EARLY, "DE"), (MOVED, "US")):
                conn.execute(
                    text(
                        "INSERT INTO member_countries (member_id, since, country) "
                        "VALUES (:m, :s, :c)"
                    ),
                    {"m": f"m{i}", "s": sqlite_datetime(since), "c": c},
                )
    return db


def test_when_upgraded_then_recorded_at_is_the_later_of_since_and_joined(tmp_path) -> None:
    db = _old_database(tmp_path, ["Ada.Moreno"])
    try:
        db.init()
        with db.session() as s:
            from optin.storage.members import member_history, member_id_for

            h = member_history(s, "m0")
            assert h is not None
            assert [(c[1], c[2]) for c in h.countries] == [("DE", JOINED), ("US", MOVED)]
            assert member_id_for(s, "@ada.moreno") == "m0"
            assert ledger.verify(s).ok
    finally:
        db.dispose()


def test_when_two_handles_differ_only_in_case_then_the_upgrade_stops_naming_them(
    tmp_path,
) -> None:
    db = _old_database(tmp_path, ["priya.raman", "Priya.Raman"])
    try:
        with pytest.raises(ConfigError) as info:
            db.init()
        msg = str(info.value)
        assert "'Priya.Raman' (member m1) and 'priya.raman' (member m0)" in msg
        assert "nothing was changed" in msg
        assert db.current_revision() == "0006"
    finally:
        db.dispose()
