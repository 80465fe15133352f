"""Full log verification (services.log_verify), on SQLite and PostgreSQL: tamper tests
for each thing it checks, and that it shares no code with the builder."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

import optin.services.log_verify as log_verify
from optin.services import tlog as svc
from optin.settings import Settings
from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.ledger import EventDraft

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _append(db: Database, n: int, start: int = 0) -> None:
    drafts = [
        EventDraft(
            member_id=f"m{(start + i) % 5}",
            purpose="train_own_models",
            action="grant" if (start + i) % 3 else "withdraw",
            at=T0 + timedelta(minutes=start + i),
            policy_version=1,
            source="web",
            personal={"country": "FR"} if i % 2 else None,
        )
        for i in range(n)
    ]
    with db.session() as s:
        ledger.append_many(s, drafts, now=T0)


@pytest.fixture()
def log_settings(tmp_path: Path, db: Database) -> Settings:
    s = Settings(home=tmp_path / "home", database_url=db.url, log_origin="optin.test/log")
    svc.keygen(s)
    return s


def _logged(db: Database, settings: Settings, sizes: tuple[int, ...] = (6, 11)) -> None:
    done = 0
    for i, size in enumerate(sizes):
        _append(db, size - done, done)
        svc.publish_checkpoint(db, settings, now=T0 + timedelta(seconds=10 * i), force=True)
        done = size


def _sql(db: Database, sql: str, **params: object) -> None:
    with db.session() as s:
        s.execute(text(sql), params)


def test_an_intact_log_verifies_in_small_chunks(db: Database, log_settings: Settings) -> None:
    _logged(db, log_settings)
    report = log_verify.verify_tree(db, svc.log_signer(log_settings).verifier, chunk=3)
    assert report.ok, report.problem
    assert report.size == 11 and report.checked_commitments == 11
    assert svc.verify_log(db, log_settings).to_dict() == report.to_dict()


def test_a_stored_leaf_hash_that_is_not_its_data_is_caught(
    db: Database, log_settings: Settings
) -> None:
    _logged(db, log_settings)
    _sql(db, "UPDATE tlog_nodes SET hash = :h WHERE level = 0 AND idx = 4", h=bytes(32))
    report = svc.verify_log(db, log_settings)
    assert not report.ok and "leaf 4: the stored leaf hash" in (report.problem or "")


def test_a_sealed_salt_that_does_not_open_is_caught(db: Database, log_settings: Settings) -> None:
    _logged(db, log_settings)
    _sql(db, "UPDATE tlog_leaves SET salt = :s WHERE idx = 2", s=bytes(60))
    report = svc.verify_log(db, log_settings)
    assert not report.ok and "leaf 2: its sealed salt does not open" in (report.problem or "")


def test_an_erased_member_is_hashed_not_opened(db: Database, log_settings: Settings) -> None:
    _logged(db, log_settings)
    with db.session() as s:
        ledger.destroy_member_key(s, "m1", now=T0)
    report = svc.verify_log(db, log_settings)
    assert report.ok, report.problem
    assert report.checked_commitments == 11 - 2  # m1 has leaves 1 and 6


def test_an_edited_row_that_breaks_its_chain_hash_is_caught(
    db: Database, log_settings: Settings
) -> None:
    _logged(db, log_settings)
    _sql(db, "UPDATE consent_events SET purpose = 'other' WHERE seq = 8")
    report = svc.verify_log(db, log_settings)
    assert not report.ok and "leaf 7 (ledger seq 8): the ledger row does not match its chain" in (
        report.problem or ""
    )


def test_every_checkpoint_is_checked_not_only_the_latest(
    db: Database, log_settings: Settings
) -> None:
    _logged(db, log_settings, sizes=(4, 8, 11))
    _sql(db, "UPDATE tlog_checkpoints SET root = :r WHERE size = 8", r=bytes(32))
    report = svc.verify_log(db, log_settings)
    assert not report.ok and "checkpoint of size 8" in (report.problem or "")


def test_the_latest_checkpoint_must_be_signed_by_the_log(
    db: Database, log_settings: Settings
) -> None:
    _logged(db, log_settings)
    _sql(db, "UPDATE tlog_checkpoints SET note = replace(note, '11', '12') WHERE size = 11")
    report = svc.verify_log(db, log_settings)
    assert not report.ok and "the latest checkpoint does not verify" in (report.problem or "")
    assert log_verify.verify_tree(db, None).problem == (
        "the latest checkpoint cannot be checked: the log has no key"
    )


def test_a_missing_leaf_is_caught(db: Database, log_settings: Settings) -> None:
    _logged(db, log_settings)
    _sql(db, "DELETE FROM tlog_leaves WHERE idx = 5")
    report = svc.verify_log(db, log_settings)
    assert not report.ok and report.problem == "the stored tree state does not match the leaves"


def test_the_verifier_shares_no_code_with_the_builder() -> None:
    tree = ast.parse(Path(log_verify.__file__).read_text("utf-8"))
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module is not None
    } | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    for builder in ("optin.tlog.merkle", "optin.tlog.leaf", "optin.storage.ledger"):
        assert not any(m == builder or m.startswith(builder + ".") for m in imported), builder
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "store"
    }
    # from the builder's storage module: reads only, no hashing or opening
    assert used <= {
        "tree_state",
        "checkpoint_roots",
        "latest_checkpoint",
        "iter_verification_rows",
        "CheckpointRecord",
    }


def test_checkpoints_are_paged_beside_the_leaves(db: Database, log_settings: Settings) -> None:
    _logged(db, log_settings, sizes=(2, 3, 5, 7, 8, 11))
    key = svc.log_signer(log_settings).verifier
    assert log_verify.verify_tree(db, key, chunk=2).ok
    _sql(db, "UPDATE tlog_checkpoints SET root = :r WHERE size = 7", r=bytes(32))
    report = log_verify.verify_tree(db, key, chunk=2)
    assert not report.ok and "checkpoint of size 7" in (report.problem or "")


def test_a_stored_latest_root_that_is_not_the_signed_one_is_caught(
    db: Database, log_settings: Settings
) -> None:
    _logged(db, log_settings)
    _sql(db, "UPDATE tlog_checkpoints SET root = :r WHERE size = 11", r=bytes(32))
    report = svc.verify_log(db, log_settings)
    assert not report.ok and "is not its signed root" in (report.problem or "")
