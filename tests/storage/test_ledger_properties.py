"""Ledger invariants over random append histories and random tampering (hypothesis)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.keystore import FileKeyStore
from tests.factories import T0

#: the append time passed to the ledger (time is a parameter in storage)
NOW = T0 + timedelta(days=400)

ACTIONS = ("grant", "withdraw")
PURPOSES = ("train_own_models", "share_with_providers")
COLUMNS = ("member_id", "purpose", "action", "policy_version", "source")


@pytest.fixture(scope="module")
def ldb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path: Path = tmp_path_factory.mktemp("ledger-props") / "optin.db"
    db = Database(f"sqlite:///{path}")
    db.init()
    yield db
    db.dispose()


def _reset(db: Database) -> None:
    assert isinstance(db.keystore, FileKeyStore)
    shutil.rmtree(db.keystore.directory, ignore_errors=True)
    with db.session() as s:
        s.execute(text("DELETE FROM consent_events"))
        s.execute(text(f"UPDATE ledger_head SET seq = 0, hash = '{ledger.GENESIS}' WHERE id = 1"))


drafts = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.sampled_from(PURPOSES),
        st.sampled_from(ACTIONS),
        st.integers(0, 10_000),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)
# how the events are appended: one by one, or in bulk batches of this size
batching = st.integers(min_value=0, max_value=5)


def _append(db: Database, items: list[tuple[int, str, str, int, bool]], batch: int) -> None:
    ds = [
        ledger.EventDraft(
            member_id=f"m{m}",
            purpose=p,
            action=a,
            at=T0 + timedelta(minutes=t),
            policy_version=1,
            source="import",
            personal={"country": "US"} if personal else None,
        )
        for m, p, a, t, personal in items
    ]
    with db.session() as s:
        if batch == 0:
            for d in ds:
                ledger.append(s, d, now=NOW)
        else:
            for i in range(0, len(ds), batch):
                ledger.append_many(s, ds[i : i + batch], now=NOW)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=drafts, batch=batching)
def test_any_append_history_verifies_with_exact_length(ldb: Database, items, batch) -> None:
    _reset(ldb)
    _append(ldb, items, batch)
    with ldb.session() as s:
        report = ledger.verify(s)
        head = ledger.ledger_head(s)
    assert report.ok, report.problem
    assert report.length == len(items) == head.seq
    assert report.head_hash == head.hash


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=drafts, data=st.data())
def test_any_single_field_edit_is_detected_at_or_before_its_seq(ldb: Database, items, data) -> None:
    _reset(ldb)
    _append(ldb, items, 3)
    seq = data.draw(st.integers(1, len(items)), label="seq")
    column = data.draw(st.sampled_from(COLUMNS), label="column")
    with ldb.session() as s:
        old = s.execute(text(f"SELECT {column} FROM consent_events WHERE seq = :q"), {"q": seq})
        value = old.scalar_one()
        new = value + 1 if isinstance(value, int) else f"{value}x"
        s.execute(text(f"UPDATE consent_events SET {column} = :v WHERE seq = :q"),
                  {"v": new, "q": seq})  # fmt: skip
    with ldb.session() as s:
        report = ledger.verify(s)
    assert not report.ok
    assert report.first_bad_seq == seq, report.problem
