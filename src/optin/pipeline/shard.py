"""The per-shard routine every engine runs: stage 1 (filter, redact, keys) and stage 2
(drop duplicates, write Parquet). Pure file in, file out; no database.

Work-dir layout (``<snapshot>/_work``)::

    input/00003.arrow        consent-gated rows from the plan (clear text: deleted at the end)
    stage1/00003.arrow       redacted, filtered rows with dedupe keys
    prov/00003.arrow         record id -> content id, author id (for the database only)
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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optin.pipeline.config import BuildConfig
from optin.pipeline.io import (
    atomic_write_bytes,
    atomic_write_json,
    read_ipc,
    read_json,
    sha256_bytes,
    write_ipc,
)
from optin.pipeline.schema import PROVENANCE, stage1_schema
from optin.pipeline.steps.dedupe import dedupe_keys
from optin.pipeline.steps.quality import language_filter, quality_filter
from optin.pipeline.steps.redact import redact_step
from optin.pipeline.steps.write import created_months, parquet_bytes, record_ids
from optin.privacy.api import RedactorConfig


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

    def marker(self, stage: int) -> Path:
        return self.work / "_done" / f"stage{stage}-{self.name}.json"

    def drop_digest(self) -> str:
        blob = json.dumps([list(self.exact_dup), list(self.near_dup)], separators=(",", ":"))
        return sha256_bytes(blob.encode())


def _finished(path: Path, **expect: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        done = read_json(path)
    except (OSError, ValueError):
        return None
    if all(done.get(k) == v for k, v in expect.items()):
        return dict(done)
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


def run_stage1(task: ShardTask) -> dict[str, Any]:
    """Language filter -> redact -> quality filters -> record ids and dedupe keys."""
    done = _finished(task.marker(1), input_sha256=task.input_sha256)
    if done is not None and task.stage1_path().exists():
        done["skipped"] = True
        return done
    cfg = task.config
    clock = _Clock()
    table = read_ipc(task.input_path())
    rows_in = table.num_rows
    dropped: Counter[str] = Counter()
    table, c = language_filter(table, cfg.languages)
    dropped.update(c)
    clock.lap("language", rows_in)
    n_red = table.num_rows
    red = redact_step(table, task.redactor)
    dropped.update(red.dropped)
    clock.lap("redact", n_red)
    n_q = red.table.num_rows
    table, c = quality_filter(
        red.table,
        min_chars=cfg.min_chars,
        min_words=cfg.min_words,
        boilerplate=cfg.boilerplate,
        max_repeat_ratio=cfg.max_repeat_ratio,
    )
    dropped.update(c)
    clock.lap("quality", n_q)
    texts = table["text"].to_pylist()
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
    out = pa.table([columns[f.name] for f in schema], schema=schema)
    clock.lap("dedupe_keys", n)
    out_sha = write_ipc(task.stage1_path(), out)
    result: dict[str, Any] = {
        "seconds": clock.seconds,
        "records": clock.records,
        "shard": task.name,
        "input_sha256": task.input_sha256,
        "stage1_sha256": out_sha,
        "rows_in": rows_in,
        "rows_out": out.num_rows,
        "dropped": dict(sorted(dropped.items())),
        "findings": dict(sorted(red.findings.items())),
    }
    atomic_write_json(task.marker(1), result)
    return result


def run_stage2(task: ShardTask) -> dict[str, Any]:
    """Drop the duplicates the global pass chose; write the Parquet shard and the
    provenance side file."""
    expect = {"stage1_sha256": task.stage1_sha256, "drop_sha256": task.drop_digest()}
    done = _finished(task.marker(2), **expect)
    out_path = Path(task.snapshot_dir) / output_name(task.index)
    if done is not None and (done["rows"] == 0 or out_path.exists()):
        done["skipped"] = True
        return done
    cfg = task.config
    clock = _Clock()
    table = read_ipc(task.stage1_path())
    keep = np.ones(table.num_rows, dtype=bool)
    keep[list(task.exact_dup)] = False
    keep[list(task.near_dup)] = False
    table = table.filter(pa.array(keep, pa.bool_()))
    rows = table.num_rows
    result: dict[str, Any] = {
        "shard": task.name,
        **expect,
        "rows": rows,
        "dropped": {
            k: v
            for k, v in (
                ("exact_duplicate", len(task.exact_dup)),
                ("near_duplicate", len(task.near_dup)),
            )
            if v
        },
        "file": None,
        "sha256": None,
        "bytes": 0,
    }
    prov = table.select(PROVENANCE.names).cast(PROVENANCE)
    write_ipc(task.prov_path(), prov)
    if rows:
        data = parquet_bytes(table, row_group_size=cfg.row_group_size, zstd_level=cfg.zstd_level)
        atomic_write_bytes(out_path, data)
        result.update(file=output_name(task.index), sha256=sha256_bytes(data), bytes=len(data))
    else:
        out_path.unlink(missing_ok=True)
    clock.lap("write", rows)
    result.update(seconds=clock.seconds, records=clock.records)
    atomic_write_json(task.marker(2), result)
    return result
