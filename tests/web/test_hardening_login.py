"""Issue 10, finding 8: the login limit is bounded without ever unlocking a locked
account, holds across processes (database by default, Redis when configured), trusts
X-Forwarded-For only from configured proxies, and a new password ends old sessions."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from optin.cli.main import run
from optin.services.ratelimit import (
    DatabaseLoginLimiter,
    MemoryLoginLimiter,
    RedisLoginLimiter,
    login_limiter,
)
from optin.settings import Settings
from optin.storage import ratelimit as store
from optin.storage.database import Database
from optin.web import create_app
from tests.web.conftest import CSRF_RE, PASSWORDS, World, login_token, make_world

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SETTINGS_PAGE = "/settings/data-privacy/generative-ai"
REDIS_URL = os.environ.get("OPTIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture()
def world(any_world: World) -> World:
    """The limiter tests run on SQLite and again on PostgreSQL."""
    return any_world


@pytest.fixture()
def lite(sqlite_db: Database, tmp_path: Path, password_hashes: dict[str, str]) -> World:
    """SQLite only: for the server and CLI tests, where the backend does not matter."""
    return make_world(sqlite_db, tmp_path, password_hashes)


def _fail_login(c, handle: str = "alice", headers: dict[str, str] | None = None) -> int:  # type: ignore[no-untyped-def]
    r = c.post(
        "/login",
        data={"handle": handle, "password": "wrong-password", "csrf_token": login_token(c)},
        headers=headers or {},
    )
    return int(r.status_code)


# --------------------------------------------------------------------------- memory


def test_spraying_other_handles_never_unlocks_a_locked_account() -> None:
    rl = MemoryLoginLimiter(max_failures=5, max_keys=100_000)
    for k in range(5):
        rl.failed("1.2.3.4", "alice", NOW + timedelta(seconds=k))
    assert rl.retry_after("1.2.3.4", "alice", NOW + timedelta(seconds=10)) > 0
    for i in range(100_001):  # the old limiter cleared every counter past 100,000 keys
        rl.failed("1.2.3.4", f"h{i}", NOW + timedelta(seconds=10))
    assert rl.retry_after("1.2.3.4", "alice", NOW + timedelta(seconds=11)) > 0
    assert len(rl) == 100_000  # bounded: the oldest unlocked keys went, not all of them
    assert rl.retry_after("1.2.3.4", "h100000", NOW + timedelta(seconds=11)) == 0
    rl.failed("1.2.3.4", "h100000", NOW + timedelta(seconds=11))
    assert len(rl) == 100_000


def test_memory_limiter_evicts_locked_keys_only_when_all_are_locked() -> None:
    rl = MemoryLoginLimiter(max_failures=2, max_keys=3)
    for h in ("a", "b", "c", "d"):
        rl.failed("ip", h, NOW)
        rl.failed("ip", h, NOW)
    assert len(rl) == 3
    assert rl.retry_after("ip", "a", NOW) == 0  # the oldest locked key went, the rest hold
    assert all(rl.retry_after("ip", h, NOW) > 0 for h in ("b", "c", "d"))


# --------------------------------------------------------------------------- database


def test_login_limit_holds_across_processes_in_the_database(world: World) -> None:
    """Two app instances (two server processes) on one database share the limit."""
    first = create_app(world.settings, db=world.db).state
    assert isinstance(first.optin.limiter, DatabaseLoginLimiter)
    one = World(world.db, world.settings, create_app(world.settings, db=world.db))
    two = World(world.db, world.settings, create_app(world.settings, db=world.db))
    c1, c2 = one.client(), two.client()
    assert [_fail_login(c1) for _ in range(3)] == [401] * 3
    assert [_fail_login(c2) for _ in range(2)] == [401] * 2
    assert _fail_login(c1) == 429 and _fail_login(c2) == 429
    r = c2.post(
        "/login",
        data={"handle": "alice", "password": PASSWORDS["alice"], "csrf_token": login_token(c2)},
    )
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # another handle from the same address is not affected
    one.login("bob")


def test_database_limiter_keeps_one_window_of_rows_only(world: World) -> None:
    rl = DatabaseLoginLimiter(world.db, max_failures=3, window=timedelta(minutes=5))
    for i in range(50):
        rl.failed("1.2.3.4", f"h{i}", NOW)
    for k in range(3):
        rl.failed("1.2.3.4", "alice", NOW + timedelta(seconds=k))
    assert rl.retry_after("1.2.3.4", "alice", NOW + timedelta(seconds=10)) > 0
    assert rl.retry_after("1.2.3.4", "ALICE ", NOW + timedelta(seconds=10)) > 0
    assert rl.retry_after("5.6.7.8", "alice", NOW) == 0
    assert rl.retry_after("1.2.3.4", "alice", NOW + timedelta(minutes=6)) == 0
    rl.failed("1.2.3.4", "bob", NOW + timedelta(minutes=6))  # prunes the expired rows
    with world.db.session() as s:
        assert store.count_failures(s) == 1
    rl.succeeded("1.2.3.4", "bob")
    with world.db.session() as s:
        assert store.count_failures(s) == 0


# --------------------------------------------------------------------------- Redis


@pytest.fixture()
def redis_url() -> Iterator[str]:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as e:  # not installed, refused ...
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} unreachable: {e} (CI is set)")
        pytest.skip(f"Redis at {REDIS_URL} unreachable: {e}")
    yield REDIS_URL


def test_login_limit_holds_across_processes_in_redis(world: World, redis_url: str) -> None:
    prefix = f"optin-test:{uuid.uuid4().hex}:"
    settings = world.settings.model_copy(update={"redis_url": redis_url})
    assert isinstance(login_limiter(settings, world.db), RedisLoginLimiter)
    apps = [
        create_app(settings, db=world.db, limiter=RedisLoginLimiter(redis_url, prefix=prefix))
        for _ in range(2)
    ]
    c1, c2 = (World(world.db, settings, a).client() for a in apps)
    try:
        assert [_fail_login(c1) for _ in range(3)] == [401] * 3
        assert [_fail_login(c2) for _ in range(2)] == [401] * 2
        assert _fail_login(c1) == 429 and _fail_login(c2) == 429
        rl = RedisLoginLimiter(redis_url, prefix=prefix, window=timedelta(minutes=5))
        assert rl.retry_after("testclient", "alice", datetime.now(UTC)) > 0
        ttls = [rl.redis.ttl(k) for k in rl.redis.scan_iter(prefix + "*")]
        assert ttls and all(0 < t <= 301 for t in ttls)  # every key expires with the window
        assert rl.retry_after("testclient", "alice", datetime.now(UTC) + timedelta(minutes=6)) == 0
        rl.failed("testclient", "alice", datetime.now(UTC))
        rl.succeeded("testclient", "alice")
        assert rl.retry_after("testclient", "alice", datetime.now(UTC)) == 0
        assert not list(rl.redis.scan_iter(prefix + "*"))
    finally:
        r = RedisLoginLimiter(redis_url, prefix=prefix).redis
        for k in r.scan_iter(prefix + "*"):
            r.delete(k)


# --------------------------------------------------------------------------- proxies


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(world: World, tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OPTIN_DATABASE_URL": world.db.url,
        "OPTIN_HOME": str(tmp_path / "serve-home"),
    }
    code = "import sys; from optin.cli.main import run; sys.exit(run(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    """Exit status and output of a server expected to exit by itself."""
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, " ".join(out.decode().split())


def _wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"optin serve exited: {_finish(proc)}")
        try:
            httpx.get(base + "/login", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("optin serve did not start")


def test_proxy_headers_without_named_proxies_is_refused(lite: World, tmp_path: Path) -> None:
    proc = _serve(lite, tmp_path, "--port", str(_free_port()), "--proxy-headers")
    rc, out = _finish(proc)
    assert rc != 0 and "--forwarded-allow-ips" in out, out


def test_rotating_x_forwarded_for_does_not_escape_the_login_limit(
    lite: World, tmp_path: Path
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(
        lite,
        tmp_path,
        "--port",
        str(port),
        "--proxy-headers",
        "--forwarded-allow-ips",
        "10.9.9.9",  # the proxy; this client (127.0.0.1) is not it
    )
    try:
        _wait_up(base, proc)
        statuses = []
        with httpx.Client(base_url=base) as c:
            for i in range(7):
                page = c.get("/login")
                m = CSRF_RE.search(page.text)
                assert m
                r = c.post(
                    "/login",
                    data={"handle": "alice", "password": "wrong", "csrf_token": m.group(1)},
                    headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
                )
                statuses.append(r.status_code)
        assert statuses == [401] * 5 + [429] * 2, statuses
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


def test_forwarded_allow_ips_must_be_addresses(lite: World, tmp_path: Path) -> None:
    proc = _serve(
        lite,
        tmp_path,
        "--port",
        str(_free_port()),
        "--proxy-headers",
        "--forwarded-allow-ips",
        "*",
    )
    rc, out = _finish(proc)
    assert rc != 0 and "every address" in out, out


# --------------------------------------------------------------------------- sessions


def test_set_password_ends_the_members_sessions(
    lite: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = lite.login("alice")
    bob = lite.login("bob")
    assert alice.get(SETTINGS_PAGE).status_code == 200
    monkeypatch.setenv("OPTIN_DATABASE_URL", lite.db.url)
    home = str(lite.settings.home)
    rc = run(["--home", home, "user", "set-password", "alice", "--password", "new-password-2"])
    assert rc == 0, capsys.readouterr()
    r = alice.get(SETTINGS_PAGE)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert bob.get(SETTINGS_PAGE).status_code == 200  # other members keep theirs
    lite.login("alice", "new-password-2")


def test_settings_fields_have_safe_defaults() -> None:
    s = Settings()
    assert s.forwarded_allow_ips is None and s.redis_url is None
    assert s.max_body_bytes == 1024 * 1024 and s.max_json_depth == 32
    assert CSRF_RE  # imported for the subprocess tests
