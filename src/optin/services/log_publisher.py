"""The background checkpoint publisher of ``optin serve`` (issue 13).

::

    pub = CheckpointPublisher(db, settings, clock=utcnow)
    pub.start()            # a daemon thread, started and stopped by the web app's lifespan
    pub.run_once()         # one step: integrate, sign when due, ask the witnesses
    pub.stop()

Every ``poll_seconds`` (a quarter of ``OPTIN_LOG_CHECKPOINT_INTERVAL``, at least 50 ms)
the publisher calls :func:`optin.services.tlog.publish_checkpoint`: when ledger events
arrived since the latest checkpoint and it is at least the interval old, the new events
are integrated into the tree, a checkpoint is signed and the configured witnesses
(``OPTIN_LOG_WITNESSES``) are asked to cosign it; the cosigned note is stored. So while
events arrive a new checkpoint appears at most every interval (and within about 1.25
intervals of an event), and nothing is written while none arrive (the check reads two
rows). A latest checkpoint that lacks the witness quorum (a witness was down) is offered
to the missing witnesses again every ``retry_seconds``. The admin ledger page shows the
quorum of the latest checkpoint.

The log must be set up (``optin log keygen``); without a log key the publisher idles.
Errors (database down, a witness's garbage) are logged and the loop goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from optin.services import tlog
from optin.settings import Settings
from optin.storage import tlog as store
from optin.storage.database import Database

log = logging.getLogger(__name__)

__all__ = ["CheckpointPublisher"]


class CheckpointPublisher:
    """Publishes checkpoints while events arrive; see the module docstring."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        post: tlog.Poster = tlog.http_post,
        poll_seconds: float | None = None,
        retry_seconds: float = 10.0,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.post = post
        interval = settings.log_checkpoint_interval
        self.poll_seconds = poll_seconds if poll_seconds is not None else max(0.05, interval / 4)
        self.retry_seconds = retry_seconds
        self.published = 0  # checkpoints this publisher signed
        self._last_retry = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> store.CheckpointRecord | None:
        """One step (see the module docstring); the latest checkpoint, or None."""
        if not tlog.key_path(self.settings).exists():
            return None
        before = self._latest_size()
        cp = tlog.publish_checkpoint(self.db, self.settings, now=self.clock(), post=self.post)
        if cp is None:
            return None
        if cp.size != before:
            self.published += 1
        elif len(cp.cosigners) < tlog.quorum(self.settings) and self._retry_due():
            cp = tlog.cosign_checkpoint(self.db, self.settings, cp, 0, self.post)
        return cp

    def _latest_size(self) -> int | None:
        with self.db.session() as s:
            cp = store.latest_checkpoint(s)
        return None if cp is None else cp.size

    def _retry_due(self) -> bool:
        t = time.monotonic()
        if t - self._last_retry < self.retry_seconds:
            return False
        self._last_retry = t
        return True

    def run(self) -> None:
        """Publish until stopped."""
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as e:  # keep the loop alive: database down, bad witness answer
                log.error("log publisher: %s: %s", type(e).__name__, str(e)[:200])
                self._stop.wait(max(self.poll_seconds, 1.0))
                continue
            self._stop.wait(self.poll_seconds)

    def start(self) -> None:
        """Run in a background thread (the web app's lifespan)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="optin-log-publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the step in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
