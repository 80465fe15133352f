"""Where shards run. Every executor maps the same per-shard functions over tasks and
returns results in task order; they differ only in scheduling."""

from __future__ import annotations

from optin.errors import ConfigError
from optin.pipeline.executors.base import Executor, InlineExecutor
from optin.pipeline.executors.local import LocalExecutor


def make_executor(engine: str, *, workers: int = 1, scheduler: str | None = None) -> Executor:
    """The executor called ``engine`` (``local`` or ``dask``; ``inline`` runs in-process)."""
    if engine == "local":
        return LocalExecutor(workers)
    if engine == "dask":
        from optin.pipeline.executors.dask import DaskExecutor

        return DaskExecutor(workers, scheduler)
    if engine == "inline":
        return InlineExecutor()
    raise ConfigError(f"unknown engine '{engine}'; allowed: local, dask")


__all__ = ["Executor", "InlineExecutor", "LocalExecutor", "make_executor"]
