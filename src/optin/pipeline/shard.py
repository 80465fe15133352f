"""The per-shard routine every engine runs: stage 1 (filter, redact, keys) and stage 2
(drop duplicates, write Parquet). Pure file in, file out; no database.

Work-dir layout (``<snapshot>/_work``)::

    input/00003.arrow        consent-gated rows from the plan (clear text: deleted at the end)
    stage1/00003.arrow       redacted, filtered rows with dedupe keys
    prov/00003.arrow         record id -> content id, author id (for the database only),
                             sorted by record id
    drops/00003.arrow        content id -> ``step:reason`` of each row stage 1 dropped
                             (kept beside the shards by :mod:`optin.pipeline.incremental`)
    _done/stage1-00003.json  completion markers: input/output SHA-256 and counts
    _done/stage2-00003.json

A marker is written after its output has been renamed into place, so a marker always
means "finished"; a task whose marker matches its inputs is skipped on a rerun.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optin.errors import IntegrityError
from optin.pipeline.config import BuildConfig
from optin.pipeline.io import (
    atomic_write_bytes,
    atomic_write_json,
    read_ipc,
    read_json,
    sha256_bytes,
    write_ipc,
)
from optin.pipeline.results import StageOneResult, StageTwoResult, as_skipped
from optin.pipeline.schema import DROPS, PROVENANCE, stage1_schema
from optin.pipeline.steps import Step
from optin.pipeline.steps.dedupe import dedupe_keys
from optin.pipeline.steps.lineup import DedupeStep, stage1_steps
from optin.pipeline.steps.redact import FAKES_COLUMN, REFUSED_COLUMN, view_texts
from optin.pipeline.steps.write import created_months, parquet_bytes, record_ids
from optin.privacy.api import RedactorConfig

#: rows per record batch of a provenance side file (what the Merkle fold buffers per shard)
PROV_BATCH = 1024


def shard_name(index: int) -> str:
    return f"{index:05d}"


def output_name(index: int) -> str:
    return f"data/part-{index:05d}.parquet"


@dataclass(frozen=True)
class ShardTask:
    """One shard's work; picklable, carries no connection."""

    snapshot_dir: str
    index: int
    config: BuildConfig
    redactor: RedactorConfig
    key: bytes = field(repr=False)
    input_sha256: str = ""
    rows: int = 0
    #: stage 2 only: stage-1 output digest and the row positions to drop
    stage1_sha256: str = ""
    exact_dup: tuple[int, ...] = ()
    near_dup: tuple[int, ...] = ()
    #: stage 2 only, instead of ``exact_dup``/``near_dup`` when the duplicate pass ran on
    #: the workers: the (exact, near) counts the driver was told; the rows are in
    #: :meth:`dups_path` (see :func:`write_duplicates_file`)
    dups_counts: tuple[int, int] | None = None

    @property
    def work(self) -> Path:
        return Path(self.snapshot_dir) / "_work"

    @property
    def name(self) -> str:
        return shard_name(self.index)

    def input_path(self) -> Path:
        return self.work / "input" / f"{self.name}.arrow"

    def stage1_path(self) -> Path:
        return self.work / "stage1" / f"{self.name}.arrow"

    def prov_path(self) -> Path:
        return self.work / "prov" / f"{self.name}.arrow"

    def drops_path(self) -> Path:
        return self.work / "drops" / f"{self.name}.arrow"

    def fakes_path(self) -> Path:
        """The fakes stage 1's directory check accepted or refused, per record (see
        :func:`write_fakes_file`)."""
        return self.work / "fakes" / f"{self.name}.arrow"

    def marker(self, stage: int) -> Path:
        return self.work / "_done" / f"stage{stage}-{self.name}.json"

    def dups_path(self) -> Path:
        return self.work / "dups" / f"{self.name}.arrow"

    def duplicates(self) -> tuple[Any, Any]:
        """(exact rows, near rows) to drop in stage 2: the task's own, or its file's
        (which must hold the counts the driver was told)."""
        if self.dups_counts is None:
            return self.exact_dup, self.near_dup
        path = self.dups_path()
        exact, near = read_duplicates_file(path)
        if (len(exact), len(near)) != tuple(self.dups_counts):
            raise IntegrityError(
                f"{path}: holds {len(exact)} exact and {len(near)} near duplicates; "
                f"the duplicate pass reported {self.dups_counts[0]} and {self.dups_counts[1]}"
            )
        return exact, near


def drop_digest(exact: Any, near: Any) -> str:
    """The digest of a shard's duplicate rows that its stage-2 marker records."""
    blob = json.dumps([[int(i) for i in exact], [int(i) for i in near]], separators=(",", ":"))
    return sha256_bytes(blob.encode())


_DUPS = pa.schema([("row", pa.int64()), ("near", pa.bool_())])


def write_duplicates_file(path: Path, exact: Any, near: Any) -> None:
    """One shard's duplicate rows (sorted exact rows, then sorted near rows), atomically."""
    rows = np.concatenate([np.asarray(exact, np.int64), np.asarray(near, np.int64)])
    flag = np.concatenate([np.zeros(len(exact), bool), np.ones(len(near), bool)])
    write_ipc(path, pa.table({"row": rows, "near": flag}, schema=_DUPS))


def read_duplicates_file(path: Path) -> tuple[Any, Any]:
    """(exact rows, near rows) of :func:`write_duplicates_file`."""
    try:
        t = read_ipc(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise IntegrityError(f"{path}: duplicate rows unreadable: {exc}") from exc
    if not t.schema.equals(_DUPS):
        raise IntegrityError(f"{path}: not a duplicate-rows file (columns row:int64, near:bool)")
    rows = t["row"].to_numpy()
    near = t["near"].to_numpy(zero_copy_only=False)
    return rows[~near], rows[near]


R = TypeVar("R", StageOneResult, StageTwoResult)


def _finished(path: Path, kind: type[R], **expect: str) -> R | None:
    """The result in ``path``'s marker when it matches ``expect``; None when there is no
    marker, it is unreadable, of another shape, or for other inputs."""
    if not path.exists():
        return None
    try:
        done = read_json(path)
        result = kind.from_json(done)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if all(done.get(k) == v for k, v in expect.items()):
        return result
    return None


class _Clock:
    """Per-step CPU seconds and records of one shard (for benchmarks)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.records: dict[str, int] = {}
        self._t = time.process_time()

    def lap(self, step: str, records: int) -> None:
        now = time.process_time()
        self.seconds[step] = round(now - self._t, 6)
        self.records[step] = records
        self._t = now


@dataclass
class _StepsRun:
    table: pa.Table
    dropped_by_step: dict[str, dict[str, int]]
    findings: Counter[str]
    #: per dropped row: (content id, ``step:reason``)
    row_drops: list[tuple[str, str]] = field(default_factory=list)


def _run_steps(table: pa.Table, steps: list[Step], clock: _Clock) -> _StepsRun:
    """Run ``steps`` in order; drops are kept per step name (and per row), findings
    summed."""
    dropped_by_step: dict[str, dict[str, int]] = {}
    findings: Counter[str] = Counter()
    row_drops: list[tuple[str, str]] = []
    for step in steps:
        rows = table.num_rows
        outcome = step.run(table)
        if outcome.dropped:
            row_drops.extend(_row_drops(step, table, outcome.table, outcome.dropped))
        table = outcome.table
        dropped_by_step[step.name] = dict(sorted(outcome.dropped.items()))
        findings.update(outcome.findings)
        clock.lap(step.name, rows)
    return _StepsRun(table, dropped_by_step, findings, row_drops)


def _row_drops(
    step: Step, before: pa.Table, after: pa.Table, dropped: Counter[str]
) -> list[tuple[str, str]]:
    """(content id, ``step:reason``) of each row ``step`` dropped: one reason for all when
    the step gave one; else the step is run again on each dropped row alone."""
    gone = before.filter(pc.invert(pc.is_in(before["content_id"], value_set=after["content_id"])))
    ids = gone["content_id"].to_pylist()
    if len(dropped) == 1:
        reason = next(iter(dropped))
        return [(c, f"{step.name}:{reason}") for c in ids]
    out = []
    for i, cid in enumerate(ids):
        again = step.run(gone.slice(i, 1)).dropped
        out.append((cid, f"{step.name}:{next(iter(again), 'unknown')}"))
    return out


#: one row per stage-1 record whose fakes the directory was asked about
FAKES = pa.schema(
    [
        ("record_id", pa.string()),
        ("fakes", pa.list_(pa.large_string())),
        ("refused", pa.bool_()),
    ]
)


def write_fakes_file(path: Path, table: pa.Table, key: bytes) -> None:
    """The stage-1 records whose redaction asked the members' directory about a fake
    (the ``surrogate`` operator), by record id: the fakes it accepted and whether it
    refused one; an incremental build reads them when the directory has changed
    (:mod:`optin.privacy.directory_delta`). Always written (empty when none asked)."""
    rows = pa.table({f.name: pa.array([], f.type) for f in FAKES}, schema=FAKES)
    if FAKES_COLUMN in table.column_names and table.num_rows:
        asked = pc.or_(
            pc.greater(pc.list_value_length(table[FAKES_COLUMN]), 0), table[REFUSED_COLUMN]
        )
        t = table.filter(pc.fill_null(asked, False))
        rows = pa.table(
            [
                pa.array(record_ids(t["content_id"].to_pylist(), key), pa.string()),
                t[FAKES_COLUMN].combine_chunks(),
                t[REFUSED_COLUMN].combine_chunks(),
            ],
            schema=FAKES,
        )
    write_ipc(path, rows)


def _with_keys(table: pa.Table, task: ShardTask) -> pa.Table:
    """The stage-1 output: record ids, created month and the dedupe keys per row."""
    cfg = task.config
    texts = view_texts(table).to_pylist()  # the same keys whatever the operator
    n = len(texts)
    if cfg.dedupe:
        exact, bands = dedupe_keys(
            texts,
            num_perm=cfg.num_perm,
            bands=cfg.bands,
            shingle_words=cfg.shingle_words,
            seed=cfg.seed,
        )
    else:
        exact = np.zeros(n, dtype=np.uint64)
        bands = np.zeros((n, cfg.bands), dtype=np.uint64)
    created = table["created_at"]
    columns: dict[str, Any] = {
        "content_id": table["content_id"],
        "author_id": table["author_id"],
        "record_id": pa.array(record_ids(table["content_id"].to_pylist(), task.key), pa.string()),
        "text": table["text"],
        "kind": table["kind"],
        "language": table["language"],
        "created_month": created_months(created),
        "created_us": pc.cast(created, pa.int64()),
        "exact_hash": pa.array(exact, pa.uint64()),
    }
    for b in range(cfg.bands):
        columns[f"band_{b:02d}"] = pa.array(bands[:, b], pa.uint64())
    schema = stage1_schema(cfg.bands)
    return pa.table([columns[f.name] for f in schema], schema=schema)


def run_stage1(task: ShardTask) -> StageOneResult:
    """Language filter -> redact -> quality filters -> record ids and dedupe keys."""
    done = _finished(task.marker(1), StageOneResult, input_sha256=task.input_sha256)
    if done is not None and task.stage1_path().exists() and task.drops_path().exists():
        return as_skipped(done)
    clock = _Clock()
    table = read_ipc(task.input_path())
    rows_in = table.num_rows
    steps = _run_steps(table, stage1_steps(task.config, task.redactor), clock)
    write_fakes_file(task.fakes_path(), steps.table, task.key)
    out = _with_keys(steps.table, task)
    clock.lap("dedupe_keys", out.num_rows)
    out_sha = write_ipc(task.stage1_path(), out)
    ids, why = zip(*steps.row_drops, strict=True) if steps.row_drops else ((), ())
    write_ipc(
        task.drops_path(), pa.table({"content_id": list(ids), "outcome": list(why)}, schema=DROPS)
    )
    result = StageOneResult(
        shard=task.name,
        input_sha256=task.input_sha256,
        stage1_sha256=out_sha,
        rows_in=rows_in,
        rows_out=out.num_rows,
        dropped_by_step=steps.dropped_by_step,
        findings=dict(sorted(steps.findings.items())),
        seconds=clock.seconds,
        records=clock.records,
    )
    atomic_write_json(task.marker(1), result.to_json())
    return result


def run_stage2(task: ShardTask) -> StageTwoResult:
    """Drop the duplicates the global pass chose; write the Parquet shard and the
    provenance side file."""
    exact, near = task.duplicates()
    drop_sha = drop_digest(exact, near)
    done = _finished(
        task.marker(2), StageTwoResult, stage1_sha256=task.stage1_sha256, drop_sha256=drop_sha
    )
    out_path = Path(task.snapshot_dir) / output_name(task.index)
    if done is not None and (done.rows == 0 or out_path.exists()):
        return as_skipped(done)
    cfg = task.config
    clock = _Clock()
    table = read_ipc(task.stage1_path())
    dedupe = DedupeStep(exact, near)
    outcome = dedupe.run(table)
    table = outcome.table
    rows = table.num_rows
    # sorted by record id, in batches: the Merkle root is folded from these streaming
    prov = table.select(PROVENANCE.names).cast(PROVENANCE).sort_by("record_id")
    write_ipc(task.prov_path(), pa.Table.from_batches(prov.to_batches(PROV_BATCH), PROVENANCE))
    file = sha = None
    size = 0
    if rows:
        data = parquet_bytes(table, row_group_size=cfg.row_group_size, zstd_level=cfg.zstd_level)
        atomic_write_bytes(out_path, data)
        file, sha, size = output_name(task.index), sha256_bytes(data), len(data)
    else:
        out_path.unlink(missing_ok=True)
    clock.lap("write", rows)
    result = StageTwoResult(
        shard=task.name,
        stage1_sha256=task.stage1_sha256,
        drop_sha256=drop_sha,
        rows=rows,
        dropped_by_step={dedupe.name: dict(sorted(outcome.dropped.items()))},
        file=file,
        sha256=sha,
        bytes=size,
        seconds=clock.seconds,
        records=clock.records,
    )
    atomic_write_json(task.marker(2), result.to_json())
    return result
