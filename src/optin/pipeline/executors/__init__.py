"""Where shards run. Every executor maps the same per-shard functions over tasks and
returns results in task order; they differ only in scheduling.

:data:`EXECUTORS` is the registry: engine name -> factory ``(workers, scheduler)``. The
CLI's ``--engine`` choices, the build's validation and the docs ask it
(:func:`engine_names`); ``inline`` (in-process, for tests) is registered but not listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optin.errors import ConfigError
from optin.pipeline.executors.base import Executor, InlineExecutor
from optin.pipeline.executors.local import LocalExecutor


def _local(workers: int, scheduler: str | None) -> Executor:
    return LocalExecutor(workers)


def _dask(workers: int, scheduler: str | None) -> Executor:
    from optin.pipeline.executors.dask import DaskExecutor  # lazy: an optional extra

    return DaskExecutor(workers, scheduler)


def _inline(workers: int, scheduler: str | None) -> Executor:
    return InlineExecutor()


@dataclass(frozen=True)
class EngineSpec:
    name: str
    factory: Callable[[int, str | None], Executor]
    summary: str
    listed: bool = True


EXECUTORS: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec("local", _local, "a process pool on this machine"),
        EngineSpec("dask", _dask, "a Dask cluster (LocalCluster unless --scheduler)"),
        EngineSpec("inline", _inline, "in this process, one shard after another", False),
    )
}


def engine_names(*, include_unlisted: bool = False) -> tuple[str, ...]:
    """The engines a user can pick (``include_unlisted``: the unlisted ``inline`` too)."""
    return tuple(n for n, spec in EXECUTORS.items() if include_unlisted or spec.listed)


def require_engine(engine: str) -> EngineSpec:
    """The registered engine ``engine``; an unknown name lists the valid ones."""
    spec = EXECUTORS.get(engine)
    if spec is None:
        raise ConfigError(f"unknown engine '{engine}'; allowed: {', '.join(engine_names())}")
    return spec


def make_executor(engine: str, *, workers: int = 1, scheduler: str | None = None) -> Executor:
    """The executor registered as ``engine`` (see :data:`EXECUTORS`)."""
    return require_engine(engine).factory(workers, scheduler)


__all__ = [
    "EXECUTORS",
    "EngineSpec",
    "Executor",
    "InlineExecutor",
    "LocalExecutor",
    "engine_names",
    "make_executor",
    "require_engine",
]
