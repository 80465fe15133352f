"""``dask``: a Dask cluster (a LocalCluster unless a scheduler address is given).

Imported lazily; without Dask installed, building with ``--engine dask`` fails early with
the install line. Under ``dask.config.set(scheduler="synchronous")`` (tests) tasks run
through ``dask.compute`` in this process and no cluster is started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from optin.errors import ConfigError, DependencyMissingError
from optin.pipeline.executors.base import R, warm_up

T = TypeVar("T")
#: Settings for the LocalCluster a build starts itself (passed on to its workers): no
#: statistical profiler (it samples the task thread every 10 ms) and slower housekeeping
#: timers; with the defaults an idle 2-worker cluster burns ~0.1 CPU-s per second, which
#: a build on a small machine takes from its shard work.
_LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
}
#: Dask's own loggers: set to the root logger's level when a build starts a cluster, so
#: they say nothing below WARNING unless the entry point asked for more (``optin -v``).
_DASK_LOGGERS = ("distributed", "dask")
_LOCAL_SCHEDULERS = {"sync", "synchronous", "single-threaded", "threads", "threading"}


class DaskExecutor:
    name = "dask"

    def __init__(self, workers: int = 2, scheduler: str | None = None) -> None:
        try:
            import dask  # noqa: F401
        except ModuleNotFoundError:
            raise DependencyMissingError("dask", "dask") from None
        if workers < 1:
            raise ConfigError(f"--workers must be >= 1 (got {workers})")
        self.workers = workers
        self.scheduler = scheduler
        self._client: Any = None
        self._cluster: Any = None

    def _local_scheduler(self) -> str | None:
        import dask

        s = dask.config.get("scheduler", None)
        return s if isinstance(s, str) and s in _LOCAL_SCHEDULERS else None

    def _get_client(self) -> Any:
        if self._client is None:
            try:
                from distributed import Client, LocalCluster
            except ModuleNotFoundError:
                raise DependencyMissingError("distributed", "dask") from None
            level = logging.getLogger().getEffectiveLevel()
            for name in _DASK_LOGGERS:
                logging.getLogger(name).setLevel(level)
            if self.scheduler:
                try:
                    self._client = Client(self.scheduler, timeout="20s")
                except OSError as e:
                    raise ConfigError(
                        f"cannot reach the Dask scheduler at --scheduler {self.scheduler}: {e}"
                    ) from None
            else:
                import dask

                with dask.config.set(_LOCAL_CLUSTER_CONFIG):
                    self._cluster = LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        dashboard_address="127.0.0.1:0",
                        processes=True,
                        silence_logs=level,  # the workers' processes log at this level too
                    )
                self._client = Client(self._cluster)
        return self._client

    def warm(self) -> None:
        """Start the cluster (or connect) now and import the shard code on every worker."""
        if self._local_scheduler() is not None:
            return
        self._get_client().run(warm_up)

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Iterable[T],
        on_done: Callable[[R], None] | None = None,
    ) -> list[R]:
        local = self._local_scheduler()
        if local is not None:
            import dask

            out: list[R] = []
            for t in tasks:  # one task per compute so progress advances per shard
                (r,) = dask.compute(dask.delayed(fn, pure=False)(t), scheduler=local)
                if on_done is not None:
                    on_done(r)
                out.append(r)
            return out
        from distributed import as_completed

        client = self._get_client()
        futures = []
        for t in tasks:  # submitted as the plan produces them
            futures.append(client.submit(fn, t, pure=False))
        for fut in as_completed(futures):
            if on_done is not None:
                on_done(fut.result())
        return list(client.gather(futures))

    def find_duplicates(
        self, paths: Any, sizes: Any, files: Any, *, bands: int, near_dup: bool
    ) -> dict[int, tuple[int, int]]:
        """The global duplicate pass on this cluster (keys shuffled by key on the workers;
        :func:`optin.pipeline.executors.dask_dedupe.write_duplicates`): each shard's
        duplicate rows written by the workers to ``files[i]``; the (exact, near) counts
        of the shards that have any."""
        from optin.pipeline.executors.dask_dedupe import write_duplicates

        local = self._local_scheduler()
        if local is not None:
            import dask

            with dask.config.set(scheduler=local):
                return write_duplicates(
                    paths, sizes, files, bands=bands, near_dup=near_dup, partitions=2 * self.workers
                )
        client = self._get_client()
        workers = max(1, len(client.nthreads()))
        with client.as_current():
            return write_duplicates(
                paths, sizes, files, bands=bands, near_dup=near_dup, partitions=2 * workers
            )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
