"""Issue 10 #2: member keys apart from the data they protect; a private data directory."""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from optin.errors import ConfigError
from optin.services.consent import record_consent
from optin.services.keys import rotate_master_key
from optin.storage import ledger
from optin.storage.database import Database, _alembic_config
from optin.storage.keystore import SESSION_KEY, FileKeyStore, KeyStore, keystore_of
from optin.storage.models import ConsentEventRow
from tests.factories import T0, add_members

NOW = T0.replace(year=2025)


def _consents(db: Database, n: int = 3) -> list[str]:
    add_members(db, [{"id": f"m{i}"} for i in range(n)])
    return [
        record_consent(
            db,
            f"m{i}",
            "train_own_models",
            "on",
            source="web",
            now=datetime.now(UTC),
            personal={"ip": f"192.0.2.{i}"},
        ).event_id
        for i in range(n)
    ]


def _readable(db: Database) -> int:
    with db.session() as s:
        rows = s.query(ConsentEventRow).all()
        return sum(ledger.personal_fields(s, r) is not None for r in rows)


def test_when_database_file_copied_alone_then_no_personal_field_decrypts(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _consents(sqlite_db)
    assert _readable(sqlite_db) == 3
    with sqlite_db.session() as s:
        keys = keystore_of(s).get(["m0", "m1", "m2"])
    with sqlite_db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        assert "member_keys" not in inspect(conn).get_table_names()
    src = Path(str(sqlite_db.engine.url.database))
    raw = src.read_bytes()
    assert all(k is not None and k not in raw for k in keys.values())
    thief = tmp_path / "stolen"
    thief.mkdir()
    shutil.copyfile(src, thief / "optin.db")
    copy = Database(f"sqlite:///{thief / 'optin.db'}", home=thief)
    try:
        assert _readable(copy) == 0
        with copy.session() as s:
            assert ledger.verify(s).ok  # the chain is intact, only the secrets are missing
    finally:
        copy.dispose()


def _modes(home: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(home.stat().st_mode)}
    for p in sorted(home.rglob("*")):
        out[str(p.relative_to(home))] = stat.S_IMODE(p.stat().st_mode)
    return out


def test_fresh_data_directory_is_private(tmp_path: Path) -> None:
    home = tmp_path / "optin-home"
    env = dict(os.environ, OPTIN_HOME=str(home))
    env.pop("OPTIN_DATABASE_URL", None)
    env.pop("OPTIN_MASTER_KEY", None)
    run = [sys.executable, "-m", "optin.cli.main"]
    for args in (
        ["init"],
        [
            "demo",
            "--seed",
            "7",
            "--members",
            "40",
            "--posts",
            "60",
            "--now",
            "2026-11-30T00:00:00Z",
        ],
    ):
        subprocess.run([*run, *args], env=env, check=True, capture_output=True, timeout=300)
    db = Database(f"sqlite:///{home / 'optin.db'}", home=home)
    try:
        with db.session() as s:
            member = s.execute(text("SELECT id FROM members ORDER BY id LIMIT 1")).scalar_one()
        record_consent(
            db,
            member,
            "train_own_models",
            "off",
            source="web",
            now=datetime.now(UTC),
            personal={"ip": "x"},
        )
    finally:
        db.dispose()
    modes = _modes(home)
    assert "optin.db" in modes and "keys/master.key" in modes
    assert any(name.startswith("keys/members/") and name.endswith(".json") for name in modes)
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (home / name).is_dir() else 0o600)
    }
    assert wrong == {}


def test_when_master_key_rotated_then_keys_rewrapped_and_events_untouched(db: Database) -> None:
    _consents(db)
    with db.session() as s:
        head = ledger.ledger_head(s)
    store = db.keystore
    assert isinstance(store, FileKeyStore) and isinstance(store, KeyStore)
    old_master = (store.directory / "master.key").read_bytes()
    result = rotate_master_key(db)
    assert result.rewrapped == 3 and result.new_key_for_env is None
    assert (store.directory / "master.key").read_bytes() != old_master
    assert _readable(db) == 3
    with db.session() as s:
        assert ledger.ledger_head(s) == head
        assert ledger.verify(s).ok
    # the old master key no longer unwraps anything
    stale = FileKeyStore(
        store.directory, base64.b64encode(base64.b64decode(old_master.strip())).decode()
    )
    with pytest.raises(ConfigError, match="not configured"):
        stale.get(["m0"])


def test_master_key_from_environment_and_rotation_returns_the_new_one(
    sqlite_db: Database, tmp_path: Path
) -> None:
    master = base64.b64encode(b"k" * 32).decode()
    home = Path(str(sqlite_db.home))
    db = Database(sqlite_db.url, home=home, master_key=master)
    try:
        _consents(db, 2)
        assert not (home / "keys" / "master.key").exists()
        with pytest.raises(ConfigError, match="not configured"):
            _readable(Database(sqlite_db.url, home=home))  # without the master key: no key
        result = rotate_master_key(db)
        assert result.rewrapped == 2 and result.new_key_for_env is not None
        assert _readable(Database(sqlite_db.url, home=home, master_key=result.new_key_for_env)) == 2
    finally:
        db.dispose()


def test_migration_0004_moves_keys_out_of_the_database_and_ledger_still_verifies(
    tmp_path: Path,
) -> None:
    home = tmp_path / "old-home"
    home.mkdir()
    url = f"sqlite:///{home / 'optin.db'}"
    db = Database(url, home=home)
    cfg = _alembic_config(url)
    with db.engine.begin() as conn:  # a database of the previous release
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(
            text("INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, :g)"), {"g": ledger.GENESIS}
        )
    key = os.urandom(32)
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO member_keys (member_id, key, created_at) VALUES ('m1', :k, :t)"),
            {"k": key, "t": T0},
        )
        conn.execute(
            text(
                "INSERT INTO member_keys (member_id, key, created_at, destroyed_at) "
                "VALUES ('gone', NULL, :t, :t)"
            ),
            {"t": T0},
        )
    draft = ledger.EventDraft("m1", "train_own_models", "grant", T0, 1, source="web")
    with db.session() as s:  # an event sealed with the key that sits in the table
        s.info[SESSION_KEY] = _TableStore(key)
        row = ledger.append(s, draft, {"ip": "192.0.2.1"}, now=NOW)
    db.dispose()
    db = Database(url, home=home)
    try:
        db.init()
        with db.engine.connect() as conn:
            assert "member_keys" not in inspect(conn).get_table_names()
        with db.session() as s:
            assert keystore_of(s).get(["m1", "gone"]) == {"m1": key, "gone": None}
            assert ledger.personal_fields(s, row) == {"ip": "192.0.2.1"}
            assert ledger.verify(s).ok
    finally:
        db.dispose()


class _TableStore:
    """The pre-0004 layout for building an old database: one fixed key."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def get(self, member_ids):  # type: ignore[no-untyped-def]
        return {m: self.key for m in member_ids}

    def create(self, member_id, now, key=None):  # type: ignore[no-untyped-def]
        return self.key

    def destroy(self, member_id, now):  # type: ignore[no-untyped-def]
        return False

    def rewrap(self, new_master):  # type: ignore[no-untyped-def]
        return 0
