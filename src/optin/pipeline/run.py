"""Run the stages of a planned build on an executor; no database, no clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optin.errors import ConfigError
from optin.pipeline.executors.base import Executor
from optin.pipeline.io import read_ipc
from optin.pipeline.results import ShardResult, StageOneResult, StageTwoResult
from optin.pipeline.shard import ShardTask, run_stage1, run_stage2
from optin.pipeline.steps.dedupe import find_duplicates

#: progress callback: (stage name, total records) starts a stage; then results arrive
StageStart = Callable[[str, int], None]
OnDone = Callable[[ShardResult], None]


@dataclasses.dataclass
class StageResults:
    tasks: list[ShardTask]
    stage1: list[StageOneResult]
    stage2: list[StageTwoResult]
    dedupe_seconds: float = 0.0
    #: where the global duplicate pass ran: ``driver`` or ``dask_shuffle``
    dedupe_pass: str = "driver"

    def all(self) -> list[ShardResult]:
        return [*self.stage1, *self.stage2]

    def written(self) -> list[tuple[ShardTask, StageTwoResult]]:
        """The shards that wrote a Parquet file (rows survived), in task order."""
        return [(t, r) for t, r in zip(self.tasks, self.stage2, strict=True) if r.rows]


#: Where the global duplicate pass may run: ``driver`` (here, on every shard's keys),
#: ``workers`` (on the executor's workers: Dask only), ``auto`` (workers on Dask from
#: :data:`AUTO_WORKERS_FROM` records, else the driver). The result is the same.
DEDUPE_ON = ("auto", "driver", "workers")
#: ``auto``: the record count from which the pass moves to the workers. Below it the
#: driver's pass is faster (the workers' pass costs a few shuffles per round of its
#: component search) and its memory (about 150 bytes a record) is small.
AUTO_WORKERS_FROM = 2_000_000


def dedupe_pass(executor: Executor | None, dedupe_on: str, records: int) -> str:
    """``driver`` or ``dask_shuffle``: where :func:`global_dedupe` runs for ``records``."""
    if dedupe_on not in DEDUPE_ON:
        raise ConfigError(f"unknown --dedupe-on '{dedupe_on}'; allowed: {', '.join(DEDUPE_ON)}")
    on_workers = getattr(executor, "find_duplicates", None) is not None
    if dedupe_on == "workers" and not on_workers:
        raise ConfigError("--dedupe-on workers needs --engine dask")
    if on_workers and (
        dedupe_on == "workers" or (dedupe_on == "auto" and records >= AUTO_WORKERS_FROM)
    ):
        return "dask_shuffle"
    return "driver"


#: Stage-2 fields of one shard's drops (see :class:`ShardTask`): ``exact_dup`` and
#: ``near_dup``, or ``dups_counts`` (the rows in the task's ``dups_path()``).
Drops = dict[str, Any]


def global_dedupe(
    tasks: Sequence[ShardTask],
    stage1: Sequence[StageOneResult],
    executor: Executor | None = None,
    where: str = "driver",
) -> list[Drops]:
    """Per shard: the stage-2 fields that name its exact- and near-duplicate rows.

    ``where`` ``dask_shuffle`` (see :func:`dedupe_pass`): the pass runs on the executor's
    workers (:mod:`optin.pipeline.executors.dask_dedupe`), which write each shard's rows
    to a file; the driver receives only a count pair per shard. ``driver``: it runs here
    on the keys of every shard and the rows travel in the tasks."""
    if not tasks:
        return []
    cfg = tasks[0].config
    sizes = [r.rows_out for r in stage1]
    if not cfg.dedupe or sum(sizes) == 0:
        return [{} for _ in tasks]
    paths = [t.stage1_path() for t in tasks]
    if where == "dask_shuffle":
        distributed = getattr(executor, "find_duplicates")  # noqa: B009
        files = [t.dups_path() for t in tasks]
        counts = distributed(paths, sizes, files, bands=cfg.bands, near_dup=cfg.near_dup)
        return [{"dups_counts": counts[i]} if i in counts else {} for i in range(len(tasks))]

    def column(name: str, dtype: Any) -> Any:
        parts = [read_ipc(p, [name])[name].to_numpy() for p in paths]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)

    created = column("created_us", np.int64)
    exact = column("exact_hash", np.uint64)
    bands = (lambda b: column(f"band_{b:02d}", np.uint64)) if cfg.near_dup else None
    exact_m, near_m = find_duplicates(created, exact, bands, cfg.bands)
    return [{"exact_dup": e, "near_dup": n} for e, n in split_masks(sizes, exact_m, near_m)]


def split_masks(
    sizes: Sequence[int], exact_m: Any, near_m: Any
) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Masks over every record -> per shard (exact rows, near rows)."""
    out = []
    offset = 0
    for n in sizes:
        e = np.flatnonzero(exact_m[offset : offset + n])
        nd = np.flatnonzero(near_m[offset : offset + n])
        out.append((tuple(int(i) for i in e), tuple(int(i) for i in nd)))
        offset += n
    return out


def run_stages(
    tasks: Iterable[ShardTask],
    executor: Executor,
    *,
    on_stage: StageStart | None = None,
    on_done: OnDone | None = None,
    dedupe_on: str = "auto",
) -> StageResults:
    """Stage 1 on every shard (started as ``tasks`` yields them), the global dedupe
    pass, then stage 2 on every shard."""
    import time

    seen: list[ShardTask] = []

    def collect() -> Iterable[ShardTask]:
        for t in tasks:
            seen.append(t)
            yield t

    if on_stage:
        on_stage("redact+filter", 0)
    s1 = executor.map(run_stage1, collect(), on_done)
    t0 = time.perf_counter()
    where = dedupe_pass(executor, dedupe_on, sum(r.rows_out for r in s1))
    drops = global_dedupe(seen, s1, executor, where)
    dt = time.perf_counter() - t0
    tasks2 = [
        dataclasses.replace(t, stage1_sha256=r.stage1_sha256, **d)
        for t, r, d in zip(seen, s1, drops, strict=True)
    ]
    if on_stage:
        on_stage("dedupe+write", sum(r.rows_out for r in s1))
    s2 = executor.map(run_stage2, tasks2, on_done)
    return StageResults(seen, s1, s2, dt, where)


def provenance_paths(tasks: Sequence[ShardTask]) -> list[Path]:
    return [t.prov_path() for t in tasks]
