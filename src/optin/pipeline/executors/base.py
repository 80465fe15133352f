"""The executor contract and the in-process executor."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

T = TypeVar("T")
#: A task's result (the per-shard stages return :mod:`optin.pipeline.results` objects).
R = TypeVar("R")


class Executor(Protocol):
    """Where shard tasks run. Executors register by name in :data:`EXECUTORS`
    (:mod:`optin.pipeline.executors`); ``on_done`` is called with each finished task's
    result (progress bars)."""

    name: str

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Iterable[T],
        on_done: Callable[[R], None] | None = None,
    ) -> list[R]:
        """Run ``fn`` on every task; results in task order. ``tasks`` may be a generator:
        each task is started as soon as it is produced (the plan overlaps the work)."""
        ...

    def warm(self) -> None:
        """Start the workers now (in the background where possible), so their start-up
        overlaps the driver's planning instead of delaying the first shard."""
        ...

    def close(self) -> None: ...


def warm_up() -> None:
    """Run once in each worker: import what every shard task needs."""
    import optin.pipeline.shard
    import optin.privacy.api  # noqa: F401


#: How often a worker's watchdog thread checks that its parent is still alive (seconds).
PARENT_POLL_S = 0.5
_PR_SET_PDEATHSIG = 1


def exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: make this worker exit when the process that started it dies
    (a ``kill -9`` of a build must not leave its workers running).

    Linux: ``prctl(PR_SET_PDEATHSIG)`` delivers SIGUSR1 when the parent goes away; the
    handler exits only if the parent *process* is gone (the kernel also signals when
    merely the thread that forked us ends). Everywhere: a daemon thread polls
    ``os.getppid()`` every :data:`PARENT_POLL_S` seconds (re-parented = parent died).
    """
    if os.getppid() != parent_pid:  # died before we got here
        os._exit(1)
    if sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread():
        _death_signal(parent_pid)
    threading.Thread(
        target=_watch_parent, args=(parent_pid,), name="optin-parent-watch", daemon=True
    ).start()


def _death_signal(parent_pid: int) -> None:
    import ctypes

    def on_signal(signum: int, frame: object) -> None:
        if os.getppid() != parent_pid:
            os._exit(1)

    try:
        signal.signal(signal.SIGUSR1, on_signal)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGUSR1), 0, 0, 0)
    except (OSError, AttributeError, ValueError):  # no prctl: the watchdog still runs
        return
    if os.getppid() != parent_pid:  # the parent died between the check and prctl
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            os._exit(1)


class InlineExecutor:
    """Runs tasks one after another in this process (tests, debugging)."""

    name = "inline"

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Iterable[T],
        on_done: Callable[[R], None] | None = None,
    ) -> list[R]:
        out = []
        for t in tasks:
            r = fn(t)
            if on_done is not None:
                on_done(r)
            out.append(r)
        return out

    def warm(self) -> None:
        return None

    def close(self) -> None:
        return None
