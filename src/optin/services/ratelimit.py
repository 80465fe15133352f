"""The login rate limit: at most ``max_failures`` failed logins per (client address,
handle) within ``window``; further attempts wait until the oldest of them ages out.

Three stores, one interface (:class:`LoginLimiter`):

* :class:`DatabaseLoginLimiter` (the default for ``optin serve``): the ``login_failures``
  table, so the limit holds across server processes and restarts; rows older than the
  window are deleted as new failures arrive, so the table holds one window at most.
* :class:`RedisLoginLimiter` when ``OPTIN_REDIS_URL`` is set: one sorted set per key
  that expires with the window (``pip install 'optin[redis]'``).
* :class:`MemoryLoginLimiter`: one process only (tests, embedding). Bounded: past
  ``max_keys`` it evicts the oldest keys that are *not* locked first, so spraying
  failures on other handles never unlocks a locked account, and it never clears all.

Keys are SHA-256 of (address, lower-cased handle): no handle or address is kept in clear.
Time is a parameter.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict, deque
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from optin.errors import ConfigError, DependencyMissingError
from optin.storage import ratelimit as store

if TYPE_CHECKING:
    from optin.settings import Settings
    from optin.storage.database import Database

MAX_FAILURES = 5
WINDOW = timedelta(minutes=5)


class LoginLimiter(Protocol):
    """What the login route needs from a rate limiter."""

    def retry_after(self, ip: str, handle: str, now: datetime) -> int:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        ...

    def failed(self, ip: str, handle: str, now: datetime) -> None:
        """Count one failed attempt."""
        ...

    def succeeded(self, ip: str, handle: str) -> None:
        """Forget the failures of (ip, handle) after a successful login."""
        ...


def limiter_key(ip: str, handle: str) -> str:
    """SHA-256 hex of (address, normalised handle)."""
    return hashlib.sha256(f"{ip}\x00{handle.strip().lower()}".encode()).hexdigest()


def _wait(newest_first: list[datetime], max_failures: int, window: timedelta, now: datetime) -> int:
    """Seconds to wait given the newest failures of one key (newest first)."""
    if len(newest_first) < max_failures:
        return 0
    oldest_counted = newest_first[max_failures - 1]
    return max(1, int((oldest_counted + window - now).total_seconds()) + 1)


class MemoryLoginLimiter:
    """In-process limiter with a bounded number of keys (see the module doc)."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: timedelta = WINDOW,
        *,
        max_keys: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_keys = max_keys
        # oldest first; a key moves from _open to _locked when it reaches max_failures
        self._open: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._locked: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._open) + len(self._locked)

    def _live(self, key: str, now: datetime) -> deque[datetime] | None:
        q = self._locked.get(key) or self._open.get(key)
        if q is None:
            return None
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def retry_after(self, ip: str, handle: str, now: datetime) -> int:
        with self._lock:
            q = self._live(limiter_key(ip, handle), now)
            return _wait(list(reversed(q)), self.max_failures, self.window, now) if q else 0

    def failed(self, ip: str, handle: str, now: datetime) -> None:
        key = limiter_key(ip, handle)
        with self._lock:
            q = self._live(key, now)
            self._open.pop(key, None)
            self._locked.pop(key, None)
            if q is None:
                q = deque(maxlen=self.max_failures)
            q.append(now)
            while len(self) >= self.max_keys:  # make room; never the key being counted
                (self._open or self._locked).popitem(last=False)
            (self._locked if len(q) >= self.max_failures else self._open)[key] = q

    def succeeded(self, ip: str, handle: str) -> None:
        key = limiter_key(ip, handle)
        with self._lock:
            self._open.pop(key, None)
            self._locked.pop(key, None)


class DatabaseLoginLimiter:
    """The limit in the ``login_failures`` table: shared by every process on the database."""

    def __init__(
        self, db: Database, max_failures: int = MAX_FAILURES, window: timedelta = WINDOW
    ) -> None:
        self.db = db
        self.max_failures = max_failures
        self.window = window

    def retry_after(self, ip: str, handle: str, now: datetime) -> int:
        with self.db.session() as s:
            recent = store.recent_failures(
                s, limiter_key(ip, handle), now - self.window, self.max_failures
            )
        return _wait(recent, self.max_failures, self.window, now)

    def failed(self, ip: str, handle: str, now: datetime) -> None:
        with self.db.session() as s:
            store.record_failure(s, limiter_key(ip, handle), now, expired_before=now - self.window)

    def succeeded(self, ip: str, handle: str) -> None:
        with self.db.session() as s:
            store.clear_failures(s, limiter_key(ip, handle))


class RedisLoginLimiter:
    """The limit in Redis: a sorted set of failure times per key, expiring with the window."""

    PREFIX = "optin:login-failures:"

    def __init__(
        self,
        url: str,
        max_failures: int = MAX_FAILURES,
        window: timedelta = WINDOW,
        *,
        prefix: str = PREFIX,
        client: Any = None,
    ) -> None:
        if client is None:
            try:
                import redis
            except ModuleNotFoundError:
                raise DependencyMissingError("redis", "redis") from None
            try:
                client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            except ValueError as e:
                raise ConfigError(f"OPTIN_REDIS_URL is not a Redis URL: {e}") from None
        self.redis = client
        self.prefix = prefix
        self.max_failures = max_failures
        self.window = window

    def _key(self, ip: str, handle: str) -> str:
        return self.prefix + limiter_key(ip, handle)

    def retry_after(self, ip: str, handle: str, now: datetime) -> int:
        key = self._key(ip, handle)
        cutoff = (now - self.window).timestamp()
        pipe = self.redis.pipeline()
        pipe.zremrangebyscore(key, "-inf", cutoff)
        pipe.zrevrange(key, 0, self.max_failures - 1, withscores=True)
        _, rows = pipe.execute()
        recent = [datetime.fromtimestamp(score, UTC) for _member, score in rows]
        return _wait(recent, self.max_failures, self.window, now)

    def failed(self, ip: str, handle: str, now: datetime) -> None:
        key = self._key(ip, handle)
        pipe = self.redis.pipeline()
        pipe.zadd(key, {secrets.token_hex(8): now.timestamp()})
        pipe.zremrangebyscore(key, "-inf", (now - self.window).timestamp())
        pipe.expire(key, int(self.window.total_seconds()) + 1)
        pipe.execute()

    def succeeded(self, ip: str, handle: str) -> None:
        self.redis.delete(self._key(ip, handle))


def login_limiter(settings: Settings, db: Database) -> LoginLimiter:
    """Redis when ``settings.redis_url`` is set, else the database."""
    if settings.redis_url:
        return RedisLoginLimiter(settings.redis_url)
    return DatabaseLoginLimiter(db)


__all__ = [
    "MAX_FAILURES",
    "WINDOW",
    "DatabaseLoginLimiter",
    "LoginLimiter",
    "MemoryLoginLimiter",
    "RedisLoginLimiter",
    "limiter_key",
    "login_limiter",
]
