"""Migration 0011 on an existing demo database: the member countries' and statuses'
covering indexes gain recorded_at (and lose it again on downgrade); no data changes,
the ledger still verifies and every decision is the same."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect

from optin.services.demo import generate_demo
from optin.services.eligibility import decide_all
from optin.storage import ledger
from optin.storage.database import Database, _alembic_config

NAMES = {
    "member_countries": "ix_member_countries_member_since",
    "member_statuses": "ix_member_statuses_member_since",
}


def _index_columns(db: Database) -> dict[str, list[str]]:
    with db.engine.connect() as conn:
        insp = inspect(conn)
        return {
            t: next(ix["column_names"] for ix in insp.get_indexes(t) if ix["name"] == name)
            for t, name in NAMES.items()
        }


def test_when_demo_database_at_0010_upgrades_then_indexes_cover_recorded_at(
    db: Database,
) -> None:
    now = datetime.now(UTC)
    generate_demo(db, members=20, posts=40, seed=7, now=now)
    decisions = {
        p: list(decide_all(db, p, now)) for p in ("train_own_models", "share_with_providers")
    }
    cfg = _alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
    assert all("recorded_at" not in cols for cols in _index_columns(db).values())
    db.dispose()

    db.init()
    assert db.current_revision() == db.head_revision()
    cols = _index_columns(db)
    assert cols["member_countries"][-2:] == ["country", "recorded_at"]
    assert cols["member_statuses"][-2:] == ["status", "recorded_at"]
    with db.session() as s:
        assert ledger.verify(s).ok
    assert {p: list(decide_all(db, p, now)) for p in decisions} == decisions
