"""Group commit for consent events recorded through the web app and the API.

The ledger serialises appends on its head row, so with one event per transaction each
append waits for the previous transaction's commit, and on PostgreSQL a durable commit
costs a WAL flush (several ms): that caps the ledger at roughly one event per flush.

Here each request is validated in its own thread by
:func:`optin.services.consent.prepare_consent`, exactly as ``record_consent`` does
(action, source, not in the future, purpose in the policy in force, member exists,
country at the time), and becomes an :class:`~optin.storage.ledger.EventDraft`. One
writer thread takes every draft waiting in the queue, appends them with
:func:`optin.storage.ledger.append_many` (one lock, one multi-row insert, one head
update) and commits once; only then is every caller answered. Redundant choices (the
member's current choice already is this one: :func:`optin.services.consent.is_redundant`)
are decided in that transaction, under the ledger lock, against the ledger and the
earlier drafts of the batch: they append nothing and answer with the existing event
(``Recorded.recorded`` False), so concurrent identical switches record one event. A
request refused by validation fails alone and never reaches the ledger; a failed append or
commit fails every caller of that batch (nothing of it was committed, nothing is acknowledged).

::

    writer = ConsentWriter(db, clock=lambda: datetime.now(UTC))
    event = writer.record("m1", "train_own_models", "grant", source="web", now=now)
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from optin.domain.model import ConsentAction, ConsentEvent, ConsentSource
from optin.services.consent import Recorded, is_redundant, keep_order, prepare_consent
from optin.services.policy import policy_set_in
from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.db import Session
from optin.storage.repos import consents

log = logging.getLogger(__name__)


def prepare(
    db: Database,
    member_id: str,
    purpose: str,
    action: ConsentAction | str,
    *,
    source: ConsentSource | str,
    now: datetime,
    at: datetime | None = None,
    personal: dict[str, Any] | None = None,
) -> ledger.EventDraft:
    """Validate exactly like ``record_consent`` and return the draft it would append."""
    with db.session() as s:  # one connection checkout for all the reads
        ps = policy_set_in(s, db.url)
        return prepare_consent(
            s, ps, member_id, purpose, action, source=source, now=now, at=at, personal=personal
        )


def committed_event(draft: ledger.EventDraft, seq: int) -> ConsentEvent:
    """The event a committed draft became (``seq`` assigned by the ledger)."""
    return ConsentEvent(
        event_id=draft.event_id,
        member_id=draft.member_id,
        purpose=draft.purpose,
        action=ConsentAction(draft.action),
        at=draft.at.astimezone(UTC),
        policy_version=draft.policy_version,
        source=ConsentSource(draft.source),
        seq=seq,
    )


@dataclass
class _Pending:
    draft: ledger.EventDraft
    future: Future[Recorded]


class ConsentWriter:
    """One writer thread; :meth:`record` blocks until the caller's event is committed."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime],
        max_batch: int = 256,
        timeout: float = 30.0,
    ) -> None:
        self.db = db
        self.clock = clock  # read once per batch: the ledger's recording time
        self.max_batch = max_batch
        self.timeout = timeout
        self._queue: queue.Queue[_Pending] = queue.Queue()
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
        action: ConsentAction | str,
        *,
        source: ConsentSource | str,
        now: datetime,
        at: datetime | None = None,
        personal: dict[str, Any] | None = None,
    ) -> ConsentEvent:
        """Record a choice and return its event (the existing one when redundant)."""
        return self.record_choice(
            member_id, purpose, action, source=source, now=now, at=at, personal=personal
        ).event

    def record_choice(
        self,
        member_id: str,
        purpose: str,
        action: ConsentAction | str,
        *,
        source: ConsentSource | str,
        now: datetime,
        at: datetime | None = None,
        personal: dict[str, Any] | None = None,
    ) -> Recorded:
        draft = prepare(
            self.db, member_id, purpose, action, source=source, now=now, at=at, personal=personal
        )
        return self.submit(draft).result(timeout=self.timeout)

    def submit(self, draft: ledger.EventDraft) -> Future[Recorded]:
        """Queue a prepared draft; the future resolves once it is committed (or found
        redundant)."""
        self._ensure_thread()
        fut: Future[Recorded] = Future()
        self._queue.put(_Pending(draft, fut))
        return fut

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._process(batch)

    def _process(self, batch: list[_Pending]) -> None:
        now = self.clock()
        try:
            with self.db.session() as s:
                results = self._append(s, batch, now)
        except BaseException as e:  # nothing of this batch was committed
            log.error(
                "group commit of %d consent event(s) failed: %s", len(batch), type(e).__name__
            )
            for p in batch:
                p.future.set_exception(e)
            return
        fresh = [p.draft for p, r in zip(batch, results, strict=True) if r.recorded]
        if fresh:
            self._propagate(fresh, now)
        for p, r in zip(batch, results, strict=True):
            p.future.set_result(r)

    def _append(self, s: Session, batch: list[_Pending], now: datetime) -> list[Recorded]:
        """Under the ledger lock: drop redundant drafts, append the rest in one go."""
        ledger.lock(s)
        ps = policy_set_in(s, self.db.url)
        latest: dict[tuple[str, str], ConsentEvent | None] = {}
        out: list[Recorded | int] = []  # an int: index into the drafts appended
        fresh: list[ledger.EventDraft] = []
        for p in batch:
            d = p.draft
            key = (d.member_id, d.purpose)
            if key not in latest:
                latest[key] = consents.latest_event(s, d.member_id, d.purpose)
            last = latest[key]
            if is_redundant(s, ps, d, last, now):
                assert last is not None
                out.append(Recorded(last, recorded=False))
                continue
            keep_order(d, last)
            out.append(len(fresh))
            fresh.append(d)
            latest[key] = committed_event(d, 0)
        head = ledger.append_many(s, fresh, now=now) if fresh else None
        first = head.seq - len(fresh) + 1 if head is not None else 0
        return [
            r if isinstance(r, Recorded) else Recorded(committed_event(fresh[r], first + r))
            for r in out
        ]

    def _propagate(self, drafts: list[ledger.EventDraft], now: datetime) -> None:
        """The batch is committed: re-judge its members' snapshot records (one
        propagation per batch; a failure there never fails the committed events)."""
        from optin.services.propagation import propagate

        try:
            propagate(
                self.db,
                member_ids=[d.member_id for d in drafts],
                reason="withdrawal",
                now=now,
            )
        except Exception as e:
            log.error("withdrawal propagation after a group commit failed: %s", type(e).__name__)


__all__ = ["ConsentWriter", "committed_event", "prepare"]
