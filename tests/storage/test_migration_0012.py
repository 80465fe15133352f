"""Migration 0012 (dsr_requests, dsr_request_events, dsr_downloads) goes up and down."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from optin.storage.database import Database, _alembic_config


def test_0012_down_and_up_again(db: Database) -> None:
    cfg = _alembic_config(db.url)
    tables = {"dsr_requests", "dsr_request_events", "dsr_downloads"}
    assert tables <= set(inspect(db.engine).get_table_names())
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
    db.engine.dispose()
    assert not tables & set(inspect(db.engine).get_table_names())
    db.init()
    assert tables <= set(inspect(db.engine).get_table_names())
    assert db.is_initialized()
