"""The background checkpoint publisher: inside a real uvicorn server on 127.0.0.1 (the
app's lifespan starts it), with a real witness server on 127.0.0.1 cosigning."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from optin.services import tlog as svc
from optin.services.log_publisher import CheckpointPublisher
from optin.services.witness import WitnessService, make_server
from optin.settings import Settings
from optin.storage import ledger
from optin.storage import tlog as store
from optin.storage.database import Database
from optin.tlog.checkpoint import Checkpoint, count_cosignatures
from optin.tlog.note import Verifier
from tests.web.conftest import World

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _append(db: Database, n: int, now: datetime | None = None) -> None:
    at = now or _now()
    drafts = [
        ledger.EventDraft(
            member_id=f"m{i % 5}",
            purpose="train_own_models",
            action="grant" if i % 2 else "withdraw",
            at=at,
            policy_version=1,
            source="web",
        )
        for i in range(n)
    ]
    with db.session() as s:
        ledger.append_many(s, drafts, now=at)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _witness(home: Path, log_key: Verifier, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    wfile = home / "w1.key"
    if not wfile.exists():
        svc.keygen(Settings(home=home), path=wfile, name="w.test/w1", alg=0x04)
    service = WitnessService(wfile, home / "w1.state", [log_key])
    server = make_server(service, "127.0.0.1", port, _now)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, service.vkey


@pytest.fixture()
def logged(db: Database, tmp_path: Path) -> Iterator[tuple[Database, Settings, str]]:
    """The log set up, and one witness on 127.0.0.1 configured."""
    settings = Settings(home=tmp_path / "home", database_url=db.url, log_origin="optin.test/log")
    svc.keygen(settings)
    server, wkey = _witness(tmp_path, svc.log_signer(settings).verifier)
    settings.log_witnesses = [f"http://127.0.0.1:{server.server_port} {wkey}"]
    yield db, settings, wkey
    server.shutdown()
    server.server_close()


def _wait_for(cond: Callable[[], object], seconds: float) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def _latest(db: Database) -> store.CheckpointRecord | None:
    with db.session() as s:
        return store.latest_checkpoint(s)


def test_serve_publishes_cosigned_checkpoints_while_events_arrive(
    logged: tuple[Database, Settings, str],
) -> None:
    import uvicorn

    from optin.web import create_app

    db, settings, wkey = logged
    app = create_app(settings, db=db, log_publisher=True)
    port = _free_port()
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: srv.started, 15)
        assert app.state.optin.log_publisher is not None
        _append(db, 7)  # events arrive by any path: here straight into the ledger
        t = time.monotonic()
        first = _wait_for(lambda: (cp := _latest(db)) is not None and cp.size == 7 and cp, 5)
        assert isinstance(first, store.CheckpointRecord)
        print(f"checkpoint of 7 events after {time.monotonic() - t:.2f} s")
        Checkpoint.open(first.cosigned, [svc.log_signer(settings).verifier])
        cosigned = _wait_for(lambda: (cp := _latest(db)) is not None and cp.cosigners and cp, 5)
        assert isinstance(cosigned, store.CheckpointRecord)
        assert cosigned.cosigners == ("w.test/w1",)
        assert count_cosignatures(cosigned.cosigned, [Verifier.parse(wkey)]) == ["w.test/w1"]

        _append(db, 5)
        second = _wait_for(lambda: (cp := _latest(db)) is not None and cp.size == 12 and cp, 5)
        assert isinstance(second, store.CheckpointRecord)
        gap = (second.created_at - first.created_at).total_seconds()
        assert gap >= settings.log_checkpoint_interval  # at most one per interval
        _wait_for(lambda: (cp := _latest(db)) is not None and cp.size == 12 and cp.cosigners, 5)
        with db.session() as s:  # nothing new arrives: nothing more is published
            n = len(store.checkpoints(s))
        time.sleep(1.5)
        with db.session() as s:
            assert len(store.checkpoints(s)) == n
    finally:
        srv.should_exit = True
        thread.join(15)
    assert app.state.optin.log_publisher._thread is None  # stopped with the app


def test_publisher_signs_at_most_every_interval(logged: tuple[Database, Settings, str]) -> None:
    db, settings, _ = logged
    clock = {"t": T0}
    pub = CheckpointPublisher(db, settings, clock=lambda: clock["t"])
    _append(db, 3, T0)
    assert pub.run_once() is not None and pub.published == 1
    _append(db, 2, T0)
    clock["t"] = T0 + timedelta(seconds=0.5)  # events arrived, but the interval is 1 s
    cp = pub.run_once()
    assert cp is not None and cp.size == 3 and pub.published == 1
    clock["t"] = T0 + timedelta(seconds=1)
    cp = pub.run_once()
    assert cp is not None and cp.size == 5 and pub.published == 2
    assert cp.cosigners == ("w.test/w1",)
    clock["t"] = T0 + timedelta(seconds=5)  # no new events: no new checkpoint
    assert pub.run_once() == cp and pub.published == 2


def test_publisher_idles_without_a_log_key(db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url=db.url)
    _append(db, 2)
    assert CheckpointPublisher(db, settings, clock=_now).run_once() is None
    assert _latest(db) is None


def test_a_missing_quorum_is_offered_again_when_the_witness_is_back(
    sqlite_db: Database, tmp_path: Path
) -> None:
    db = sqlite_db
    settings = Settings(home=tmp_path / "home", database_url=db.url, log_origin="optin.test/log")
    svc.keygen(settings)
    port = _free_port()
    svc.keygen(Settings(home=tmp_path), path=tmp_path / "w1.key", name="w.test/w1", alg=0x04)
    wkey = svc.read_signer(tmp_path / "w1.key").verifier.vkey
    settings.log_witnesses = [f"http://127.0.0.1:{port} {wkey}"]  # nobody listens yet
    pub = CheckpointPublisher(db, settings, clock=_now, retry_seconds=0)
    _append(db, 4)
    cp = pub.run_once()
    assert cp is not None and cp.size == 4 and cp.cosigners == ()
    assert not svc.log_status(db, settings).quorum_met
    server, _ = _witness(tmp_path, svc.log_signer(settings).verifier, port)
    try:
        cp = pub.run_once()  # same checkpoint, now cosigned
        assert cp is not None and cp.size == 4 and cp.cosigners == ("w.test/w1",)
        assert svc.log_status(db, settings).quorum_met
        assert _latest(db) == cp
    finally:
        server.shutdown()
        server.server_close()


def test_admin_ledger_page_shows_the_publisher_and_the_quorum(world: World, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from optin.web import create_app

    svc.keygen(world.settings)
    server, wkey = _witness(tmp_path, svc.log_signer(world.settings).verifier)
    world.settings.log_witnesses = [f"http://127.0.0.1:{server.server_port} {wkey}"]
    app = create_app(world.settings, db=world.db, log_publisher=True)
    try:
        with TestClient(app, follow_redirects=False):  # runs the app's lifespan
            world.app = app
            alice = world.login("alice")
            alice.post(
                "/settings/data-privacy/generative-ai",
                data={"purpose": "train_own_models", "choice": "on", "csrf_token": _csrf(alice)},
            )
            _wait_for(lambda: (cp := _latest(world.db)) is not None and cp.cosigners, 5)
            admin = world.login("admin")
            page = admin.get("/admin/ledger").text
    finally:
        server.shutdown()
        server.server_close()
    assert "1 of 1 configured (quorum 1): w.test/w1" in page
    assert "running in this server: a new checkpoint at most every 1.0 s" in page
    assert 'id="tlog-quorum"' not in page


def _csrf(c: object) -> str:
    from tests.web.conftest import csrf_of

    return csrf_of(c)  # type: ignore[arg-type]
