"""Migration 0009 on an existing demo database: built at the previous head (0008), then
upgraded. Events keep their recorded_at, existing policy versions are in force from their
effective time (in_force_at NULL), and the ledger still verifies."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text

from optin.services.demo import generate_demo
from optin.services.eligibility import decide_all
from optin.storage import ledger
from optin.storage.database import Database, _alembic_config


def _recorded(db: Database) -> list[tuple[int, str]]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, recorded_at FROM consent_events ORDER BY seq"))
        return [(int(seq), str(rec)) for seq, rec in rows]


def test_when_demo_database_at_previous_head_upgrades_then_recorded_at_kept_and_ledger_verifies(
    db: Database,
) -> None:
    now = datetime.now(UTC)
    generate_demo(db, members=20, posts=40, seed=7, now=now)
    before_decisions = list(decide_all(db, "train_own_models", now))
    cfg = _alembic_config(db.url)
    with db.engine.begin() as conn:  # the schema of the previous release
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    with db.engine.connect() as conn:
        cols = (
            [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(policy_versions)")]
            if (db.dialect == "sqlite")
            else [
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = 'policy_versions' AND table_schema = current_schema()"
                    )
                )
            ]
        )
    assert "in_force_at" not in cols
    recorded = _recorded(db)
    assert recorded
    db.dispose()

    db.init()  # upgrade to head, as `optin init` / `optin serve` do
    assert db.current_revision() == db.head_revision()
    assert _recorded(db) == recorded
    with db.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM policy_versions WHERE in_force_at IS NOT NULL")
            ).scalar_one()
            == 0
        )
    with db.session() as s:
        assert ledger.verify(s).ok
    assert list(decide_all(db, "train_own_models", now)) == before_decisions
