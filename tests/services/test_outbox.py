"""The deletion-notice outbox against a real HTTP provider stub on 127.0.0.1 (signature
verified with the published public key, notices stored by idempotency key): delivery,
backoff, faults (down, 500, timeout) and a delivery worker killed mid-batch. SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from optin.services import outbox, provider_exports, providers
from optin.services.outbox import OutboxWorker, RetryPolicy
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.provider_models import DeletionNoticeRow, ExportRecordRow
from tests.provider_stub import ProviderStub
from tests.provider_world import (
    EXPORTED,
    RECIPIENT,
    WITHDRAWN,
    Clock,
    share_world,
    withdraw,
)

FAST = RetryPolicy(base_seconds=1, cap_seconds=8, lease_seconds=60, timeout_seconds=2)


@pytest.fixture()
def stub(db_settings: Settings) -> Iterator[ProviderStub]:
    s = ProviderStub(providers.public_key_info(db_settings)["public_key"]).up()
    yield s
    s.down()


@pytest.fixture()
def world(db: Database, db_settings: Settings, stub: ProviderStub):
    sid = share_world(db, db_settings)
    providers.add_provider(db, RECIPIENT, webhook_url=stub.url, now=EXPORTED)
    e = provider_exports.create_export(
        db, db_settings, sid, RECIPIENT, "hf-parquet", now=EXPORTED, actor="t"
    )
    return db, db_settings, e.id


def _notices(db: Database) -> list[DeletionNoticeRow]:
    with db.session() as s:
        return list(s.execute(select(DeletionNoticeRow).order_by(DeletionNoticeRow.id)).scalars())


def _member_records(db: Database, member: str) -> list[str]:
    with db.session() as s:
        return sorted(
            s.execute(
                select(ExportRecordRow.record_id).where(ExportRecordRow.member_id == member)
            ).scalars()
        )


def _withdraw(db: Database, *members: str) -> int:
    for m in members:
        withdraw(db, m)
    return provider_exports.on_members_ineligible(
        db, list(members), reason="consent withdrawn", now=WITHDRAWN
    )


def _worker(db: Database, settings: Settings, clock: Clock, **kw) -> OutboxWorker:
    kw.setdefault("policy", FAST)
    return OutboxWorker(db, settings, clock=clock, **kw)


def test_when_delivered_then_signed_stored_once_and_marked(world, stub: ProviderStub) -> None:
    db, settings, export_id = world
    assert _withdraw(db, "p2") == 1
    clock = Clock(WITHDRAWN)
    w = _worker(db, settings, clock)
    try:
        r = w.run(once=True)
    finally:
        w.close()
    assert r.delivered == 1 and r.failed_attempts == 0
    [n] = _notices(db)
    assert n.delivered_at == WITHDRAWN and n.attempts == 1 and n.locked_until is None
    assert list(stub.notices) == [n.id] and stub.bad_signatures == 0
    body = stub.notices[n.id]
    assert body["record_ids"] == _member_records(db, "p2") and body["export_id"] == export_id
    assert body["provider"]["name"] == RECIPIENT
    assert outbox.notice_counts(db, now=WITHDRAWN) == {
        "pending": 0,
        "delivered": 1,
        "acknowledged": 0,
        "overdue": 0,
    }
    # nothing due: a second pass posts nothing
    w2 = _worker(db, settings, clock)
    try:
        assert w2.run(once=True).delivered == 0
    finally:
        w2.close()
    assert stub.posts == 1


def test_when_stub_down_for_first_attempts_then_backoff_and_delivered_once(
    world, stub: ProviderStub
) -> None:
    db, settings, _ = world
    _withdraw(db, "p2")
    clock = Clock(WITHDRAWN)
    stub.down()
    w = _worker(db, settings, clock)
    waits = []
    try:
        for _ in range(5):
            assert w.run_batch() == 1
            [n] = _notices(db)
            waits.append((n.next_attempt_at - clock.now).total_seconds())
            assert n.delivered_at is None and n.last_error == "ConnectionRefusedError"
            assert w.run_batch() == 0  # not due yet
            clock.now = n.next_attempt_at
        stub.up()
        assert w.run_batch() == 1
    finally:
        w.close()
    assert waits == [1, 2, 4, 8, 8]  # exponential, capped
    [n] = _notices(db)
    assert n.delivered_at is not None and n.attempts == 6 and n.last_error is None
    assert list(stub.notices) == [n.id] and stub.duplicates == 0


def test_when_stub_answers_500_then_retried_and_delivered_once(world, stub: ProviderStub) -> None:
    db, settings, _ = world
    _withdraw(db, "p2", "p5")  # one export: one notice naming both members' records
    clock = Clock(WITHDRAWN)
    stub.fail_next(3, status=500)
    w = _worker(db, settings, clock)
    try:
        for _ in range(4):
            w.run_batch()
            clock.advance(seconds=30)
    finally:
        w.close()
    [n] = _notices(db)
    assert n.delivered_at is not None and n.attempts == 4
    assert stub.posts == 4 and list(stub.notices) == [n.id]
    assert stub.record_ids() == sorted(_member_records(db, "p2") + _member_records(db, "p5"))


def test_when_stub_times_out_then_redelivered_and_stored_once(world, stub: ProviderStub) -> None:
    db, settings, _ = world
    _withdraw(db, "p2")
    clock = Clock(WITHDRAWN)
    stub.slow_next(1, 1.5)  # processes the notice but answers after the client gave up
    policy = RetryPolicy(base_seconds=1, cap_seconds=8, lease_seconds=60, timeout_seconds=0.5)
    w = _worker(db, settings, clock, policy=policy)
    try:
        w.run_batch()
        [n] = _notices(db)
        assert n.delivered_at is None and n.last_error == "timeout"
        time.sleep(1.2)  # the stub finishes storing the first post
        clock.advance(seconds=5)
        w.run_batch()
    finally:
        w.close()
    [n] = _notices(db)
    assert n.delivered_at is not None and n.attempts == 2
    assert stub.posts == 2 and stub.duplicates == 1 and list(stub.notices) == [n.id]


def test_when_many_notices_then_all_delivered_in_batches(world, stub: ProviderStub) -> None:
    db, settings, export_id = world
    # 30 notices: one per record (as propagation of 30 separate exports would give)
    from optin.services.provider_exports import enqueue_notices

    with db.session() as s:
        ids = list(s.execute(select(ExportRecordRow.record_id)).scalars())
    for rid in ids:
        with db.session() as s:
            enqueue_notices(s, export_id, [rid], reason="erasure", now=WITHDRAWN)
    w = _worker(db, settings, Clock(WITHDRAWN), batch=4, concurrency=3)
    try:
        r = w.run(once=True)
    finally:
        w.close()
    assert r.delivered == len(ids) == 18 and r.batches == 5
    assert stub.record_ids() == sorted(ids) and stub.duplicates == 0


def test_when_worker_killed_mid_batch_then_no_notice_is_lost(
    db: Database, db_settings: Settings, world, stub: ProviderStub
) -> None:
    _, settings, export_id = world
    from optin.services.provider_exports import enqueue_notices

    with db.session() as s:
        ids = list(s.execute(select(ExportRecordRow.record_id)).scalars())
    for rid in ids:
        with db.session() as s:
            enqueue_notices(s, export_id, [rid], reason="erasure", now=WITHDRAWN)
    stub.delay = 0.15
    env = {
        **os.environ,
        "OPTIN_HOME": str(settings.home),
        "OPTIN_DATABASE_URL": db.url,
        "OPTIN_LOG_LEVEL": "ERROR",
    }
    cmd = [sys.executable, "-m", "optin.cli.main", "outbox", "run"]
    args = ["--batch", "6", "--concurrency", "2", "--lease-seconds", "1", "--base-delay", "0"]
    proc = subprocess.Popen([*cmd, *args, "--max-seconds", "60"], env=env)
    try:
        deadline = time.monotonic() + 30
        while len(stub.notices) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(stub.notices) >= 3, "the worker delivered nothing"
        proc.send_signal(signal.SIGKILL)  # mid-batch: some posted, none of the batch recorded
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    delivered_before = sum(n.delivered_at is not None for n in _notices(db))
    assert delivered_before < len(ids)
    time.sleep(1.1)  # the killed worker's lease expires
    stub.delay = 0.0
    done = subprocess.run(
        [*cmd, *args, "--once", "--json"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    rows = _notices(db)
    assert all(n.delivered_at is not None for n in rows) and len(rows) == len(ids)
    assert sorted(stub.notices) == sorted(n.id for n in rows)
    assert stub.record_ids() == sorted(ids)  # each record in exactly one stored notice


def test_when_app_runs_with_delivery_worker_then_notices_go_out_and_it_stops(
    world, stub: ProviderStub
) -> None:
    from fastapi.testclient import TestClient

    from optin.web import create_app

    db, settings, _ = world
    _withdraw(db, "p6")
    app = create_app(
        settings, db=db, clock=lambda: WITHDRAWN + timedelta(seconds=1), delivery_worker=True
    )
    with TestClient(app) as c:
        assert c.get("/api/v1/provider/public-key").status_code == 200
        deadline = time.monotonic() + 15
        while not stub.notices and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(stub.notices) == 1
    assert "optin-outbox" not in {t.name for t in threading.enumerate()}  # stopped cleanly
    [n] = _notices(db)
    assert n.delivered_at is not None
    assert json.loads(n.payload)["record_ids"] == _member_records(db, "p6")
