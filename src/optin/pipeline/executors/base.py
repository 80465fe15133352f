"""The executor contract and the in-process executor."""

from __future__ import annotations

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
