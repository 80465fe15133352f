"""Group commit for consent events recorded through the web app and the API.

The ledger serialises appends on its head row, so each append waits for the previous
transaction's commit; on PostgreSQL a durable commit costs a WAL flush (several ms), which
caps one-event-per-transaction at roughly 1 / flush time. Here one writer thread takes
every request waiting in the queue, records each with the consent service
(:func:`optin.services.consent.record_consent`, unchanged: same validation, same ledger
append) inside its own SAVEPOINT of one shared transaction, commits once, and only then
answers every caller. A request that fails validation rolls back its savepoint alone; if
the commit fails, every caller in the batch gets the error (nothing was acknowledged).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from optin.domain.model import ConsentEvent
from optin.services import consent
from optin.services.database import Database

log = logging.getLogger(__name__)


@dataclass
class _Request:
    member_id: str
    purpose: str
    action: str
    source: str
    at: datetime | None
    personal: dict[str, Any] | None
    future: Future[ConsentEvent]


class _SharedSession:
    """Looks like a :class:`Database` to the consent service, but every ``session()``
    is the batch's one open transaction."""

    def __init__(self, db: Database, session: Session) -> None:
        self._db = db
        self._session = session
        self.url = db.url
        self.engine = db.engine
        self.home = db.home

    @property
    def dialect(self) -> str:
        return self._db.dialect

    @contextmanager
    def session(self) -> Iterator[Session]:
        yield self._session


class GroupCommitter:
    """One writer thread; ``record`` blocks until the caller's event is committed."""

    def __init__(self, db: Database, *, max_batch: int = 128, timeout: float = 30.0) -> None:
        self.db = db
        self.max_batch = max_batch
        self.timeout = timeout
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="optin-group-commit", daemon=True
                )
                self._thread.start()

    def record(
        self,
        member_id: str,
        purpose: str,
        action: str,
        *,
        source: str,
        at: datetime | None = None,
        personal: dict[str, Any] | None = None,
    ) -> ConsentEvent:
        self._ensure_thread()
        fut: Future[ConsentEvent] = Future()
        self._queue.put(_Request(member_id, purpose, action, source, at, personal, fut))
        return fut.result(timeout=self.timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._process(batch)

    def _process(self, batch: list[_Request]) -> None:
        results: list[ConsentEvent | BaseException] = []
        try:
            with self.db.session() as outer:
                shared = _SharedSession(self.db, outer)
                for req in batch:
                    savepoint = outer.begin_nested()
                    try:
                        ev = consent.record_consent(
                            shared,  # type: ignore[arg-type]
                            req.member_id,
                            req.purpose,
                            req.action,
                            source=req.source,
                            at=req.at,
                            personal=req.personal,
                        )
                        savepoint.commit()
                        results.append(ev)
                    except Exception as e:  # this request only
                        savepoint.rollback()
                        results.append(e)
        except BaseException as e:  # the commit failed: nobody is acknowledged
            log.error(
                "group commit of %d consent event(s) failed: %s", len(batch), type(e).__name__
            )
            for req in batch:
                req.future.set_exception(e)
            return
        for req, res in zip(batch, results, strict=True):
            if isinstance(res, BaseException):
                req.future.set_exception(res)
            else:
                req.future.set_result(res)
