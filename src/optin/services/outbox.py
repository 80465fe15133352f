"""Delivery of deletion notices from the transactional outbox, and acknowledgements.

::

    worker = OutboxWorker(db, settings, clock=clock)
    result = worker.run(once=True)          # ``optin outbox run --once``
    worker.start(); ...; worker.stop()       # inside ``optin serve`` (the app's lifespan)

The outbox is the ``deletion_notices`` table, written in the same transaction that marks
an export stale (:func:`optin.services.provider_exports.enqueue_notices`), so a notice
exists exactly when the stale marking does. The worker:

1. **claims** a batch of due notices with a lease (``locked_until``; PostgreSQL skips
   rows other workers hold, SQLite serialises claims), so several workers (the web
   app's and ``optin outbox run``) never send the same notice at the same time;
2. **posts** each notice's body to the provider's webhook, signed with the platform's
   Ed25519 key (header ``X-Optin-Signature``, base64 over the exact body bytes;
   ``X-Optin-Key-Id``), with the notice id as ``Idempotency-Key`` (HTTP/1.1 keep-alive,
   a thread pool of ``concurrency`` connections);
3. **records** the outcome in one transaction per batch: a 2xx answer marks the notice
   delivered; anything else (refused connection, timeout, non-2xx) counts an attempt and
   schedules the next one after ``base * 2**(attempts-1)`` seconds, capped at ``cap``.

Delivery is at least once: a worker killed after posting but before recording leaves
the lease to expire, and the notice is posted again; providers deduplicate by the
idempotency key. Nothing is lost on a crash or restart because nothing lives only in
memory. Error texts recorded per attempt name the failure (status code or exception
type), never the notice's content.

:func:`acknowledge` records a provider's confirmation that it purged a notice's records
(``POST /api/v1/provider/acks`` with a provider-bound API key).
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from optin.errors import NotFoundError, PermissionDeniedError
from optin.services.providers import Signer
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.repos import providers as repo
from optin.storage.repos.providers import ClaimedNotice

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff and timeouts. ``delay(n)`` is the wait after the n-th failed attempt."""

    base_seconds: float = 5.0
    cap_seconds: float = 3600.0
    lease_seconds: float = 120.0
    timeout_seconds: float = 10.0

    def delay(self, attempts: int) -> float:
        return float(min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1)))


@dataclass
class OutboxRun:
    """What one :meth:`OutboxWorker.run` did."""

    delivered: int = 0
    failed_attempts: int = 0
    batches: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed_attempts": self.failed_attempts,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "errors": dict(sorted(self.errors.items())),
        }


class Transport:
    """HTTP POSTs over one keep-alive connection per (thread, scheme, host, port)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[http.client.HTTPConnection] = []

    def _conns(self) -> dict[tuple[str, str], http.client.HTTPConnection]:
        conns: dict[tuple[str, str], http.client.HTTPConnection] | None = getattr(
            self._local, "conns", None
        )
        if conns is None:
            conns = self._local.conns = {}
        return conns

    def _connection(self, scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
        conns = self._conns()
        conn = conns.get((scheme, netloc))
        if conn is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = conns[(scheme, netloc)] = cls(netloc, timeout=timeout)
            with self._lock:
                self._all.append(conn)
        conn.timeout = timeout
        return conn

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        """The response status; raises ``OSError`` / ``HTTPException`` on failure."""
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            conn = self._connection(parts.scheme, parts.netloc, timeout)
            reused = conn.sock is not None
            try:
                if not reused:
                    conn.connect()
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.will_close:
                    self._drop(parts.scheme, parts.netloc)
                return int(resp.status)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop(parts.scheme, parts.netloc)
                if not reused or attempt == 2:  # a stale keep-alive gets one fresh retry
                    raise
            except BaseException:
                self._drop(parts.scheme, parts.netloc)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop(self, scheme: str, netloc: str) -> None:
        conn = self._conns().pop((scheme, netloc), None)
        if conn is not None:
            conn.close()
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)

    def close(self) -> None:
        """Close every connection (of every thread)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


def _error_text(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timeout"
    return type(e).__name__


class OutboxWorker:
    """Delivers due deletion notices; see the module docstring."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Clock,
        policy: RetryPolicy | None = None,
        batch: int = 200,
        concurrency: int = 8,
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.batch = batch
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.signer = Signer(settings)
        self.transport = Transport()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="optin-outbox")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one batch --

    def _headers(self, n: ClaimedNotice, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "Idempotency-Key": n.id,
            "X-Optin-Signature": self.signer.sign(body),
            "X-Optin-Key-Id": self.signer.key_id,
            "X-Optin-Attempt": str(n.attempts + 1),
            "User-Agent": "optin-outbox/1",
        }

    def _post(self, n: ClaimedNotice) -> str | None:
        """None when the provider accepted the notice, else the failure."""
        body = n.payload.encode("utf-8")
        try:
            status = self.transport.post(
                n.webhook_url, body, self._headers(n, body), self.policy.timeout_seconds
            )
        except (OSError, http.client.HTTPException) as e:
            return _error_text(e)
        return None if 200 <= status < 300 else f"HTTP {status}"

    def run_batch(self, result: OutboxRun | None = None) -> int:
        """Claim, post and record one batch; returns how many notices were claimed."""
        result = result if result is not None else OutboxRun()
        now = self.clock()
        lease = now + timedelta(seconds=self.policy.lease_seconds)
        with self.db.session() as s:
            claimed = repo.claim_due(s, now=now, lease_until=lease, limit=self.batch)
        if not claimed:
            return 0
        outcomes = list(self._pool.map(self._post, claimed))
        done = self.clock()
        ok = [n.id for n, err in zip(claimed, outcomes, strict=True) if err is None]
        with self.db.session() as s:
            repo.record_delivered(s, ok, done)
            for n, err in zip(claimed, outcomes, strict=True):
                if err is None:
                    continue
                wait = self.policy.delay(n.attempts + 1)
                repo.record_failure(
                    s, n.id, next_attempt_at=done + timedelta(seconds=wait), error=err
                )
                result.errors[err] = result.errors.get(err, 0) + 1
        result.delivered += len(ok)
        result.failed_attempts += len(claimed) - len(ok)
        result.batches += 1
        if len(ok) < len(claimed):
            log.warning(
                "outbox: %d of %d notices not delivered", len(claimed) - len(ok), len(claimed)
            )
        return len(claimed)

    # -- the loop --

    def run(self, *, once: bool = False, max_seconds: float | None = None) -> OutboxRun:
        """Deliver until stopped; ``once``: until nothing is due; ``max_seconds``: at
        most that long (checked between batches)."""
        result = OutboxRun()
        t0 = time.monotonic()
        try:
            while not self._stop.is_set():
                if max_seconds is not None and time.monotonic() - t0 >= max_seconds:
                    break
                try:
                    claimed = self.run_batch(result)
                except Exception as e:  # database down: keep the loop alive, retry later
                    if once:
                        raise
                    log.error("outbox: batch failed: %s", type(e).__name__)
                    claimed = 0
                if claimed:
                    continue
                if once:
                    break
                self._stop.wait(self.poll_seconds)
        finally:
            result.seconds = time.monotonic() - t0
        return result

    def start(self) -> None:
        """Run in a background thread (the web app's lifespan)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="optin-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the loop after the batch in flight and release the threads."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.transport.close()


# -- acknowledgements and status -------------------------------------------------------


@dataclass(frozen=True)
class NoticeView:
    id: str
    provider: str
    export_id: str
    created_at: datetime
    due_at: datetime
    reason: str
    records: int
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    acked_at: datetime | None
    state: str  # pending | delivered | acknowledged
    overdue: bool

    @classmethod
    def from_row(cls, row: Any, provider: str, now: datetime) -> NoticeView:
        state = (
            "acknowledged"
            if row.acked_at is not None
            else "delivered"
            if row.delivered_at is not None
            else "pending"
        )
        return cls(
            row.id,
            provider,
            row.export_id,
            row.created_at,
            row.due_at,
            row.reason,
            int(row.record_count),
            int(row.attempts),
            row.last_error,
            row.delivered_at,
            row.acked_at,
            state,
            row.acked_at is None and row.due_at < now,
        )

    def to_dict(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "id": self.id,
            "provider": self.provider,
            "export_id": self.export_id,
            "created_at": iso(self.created_at),
            "due_at": iso(self.due_at),
            "reason": self.reason,
            "records": self.records,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "delivered_at": iso(self.delivered_at),
            "acked_at": iso(self.acked_at),
            "state": self.state,
            "overdue": self.overdue,
        }


def acknowledge(
    db: Database, *, provider_id: str | None, key_id: str, notice_id: str, now: datetime
) -> NoticeView:
    """Record that the key's provider purged the records of ``notice_id``. A notice of
    another provider is reported as not found (its existence is not revealed)."""
    if provider_id is None:
        raise PermissionDeniedError(
            "this API key is not bound to a provider; create one with `optin provider key NAME`"
        )
    with db.session() as s:
        row = repo.get_notice(s, notice_id)
        if row is None or row.provider_id != provider_id:
            raise NotFoundError(f"no deletion notice {notice_id!r} for this provider")
        repo.record_acked(s, row, at=now, key_id=key_id)
        provider = repo.get_provider(s, provider_id)
        return NoticeView.from_row(row, provider.name if provider else provider_id, now)


def list_notices(
    db: Database,
    *,
    now: datetime,
    export_id: str | None = None,
    overdue_only: bool = False,
    limit: int | None = None,
) -> list[NoticeView]:
    with db.session() as s:
        rows = repo.list_notices(
            s, export_id=export_id, overdue_at=now if overdue_only else None, limit=limit
        )
        return [NoticeView.from_row(r, name, now) for r, name in rows]


def notice_counts(db: Database, *, now: datetime) -> dict[str, int]:
    """Notices by state (``pending``, ``delivered``, ``acknowledged``) and ``overdue``."""
    with db.session() as s:
        return repo.notice_counts(s, now=now)


__all__ = [
    "NoticeView",
    "OutboxRun",
    "OutboxWorker",
    "RetryPolicy",
    "Transport",
    "acknowledge",
    "list_notices",
    "notice_counts",
]
