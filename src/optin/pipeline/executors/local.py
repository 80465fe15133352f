"""``local``: a process pool on this machine (spawned workers, one task per shard)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from optin.errors import ConfigError
from optin.pipeline.executors.base import R, exit_with_parent, warm_up

T = TypeVar("T")


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ConfigError(f"--workers must be >= 1 (got {workers})")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_with_parent,  # workers exit when the build is killed
                initargs=(os.getpid(),),
            )
        return self._pool

    def warm(self) -> None:
        """Spawn every worker now; each imports the shard code while the driver plans."""
        pool = self._get_pool()
        for _ in range(self.workers):
            pool.submit(warm_up)

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Iterable[T],
        on_done: Callable[[R], None] | None = None,
    ) -> list[R]:
        pool = self._get_pool()
        futures: list[Future[R]] = []
        try:
            for t in tasks:
                fut = pool.submit(fn, t)
                if on_done is not None:
                    fut.add_done_callback(_callback(on_done))
                futures.append(fut)
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _callback(on_done: Callable[[R], None]) -> Callable[[Future[R]], None]:
    def cb(fut: Future[R]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            on_done(fut.result())

    return cb
