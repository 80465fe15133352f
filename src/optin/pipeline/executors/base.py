"""The executor contract and the in-process executor."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

#: Called with each finished task's result dict (for progress bars).
OnDone = Callable[[dict[str, Any]], None]


class Executor(Protocol):
    name: str

    def map(
        self,
        fn: Callable[[T], dict[str, Any]],
        tasks: Iterable[T],
        on_done: OnDone | None = None,
    ) -> list[dict[str, Any]]:
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
        fn: Callable[[T], dict[str, Any]],
        tasks: Iterable[T],
        on_done: OnDone | None = None,
    ) -> list[dict[str, Any]]:
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
