"""A snapshot build's plan on the executor's workers (issue 15, bounded driver memory).

Used for builds from a lake on an engine with workers (``--content`` with ``--engine
dask``; :func:`partitioned`): nothing the driver holds grows with the number of members
or records; it keeps plan metadata only (partition bounds, file names, per-file and
per-shard counts). The result is the same as the in-driver plan's, byte for byte:

1. **Eligibility per member partition** (:func:`plan_eligibility`): the members table is
   cut into id ranges of about :data:`MEMBERS_PER_PARTITION` members
   (``storage.projection.member_bounds``); each worker reads its range of the
   projection itself, through its own database connection, decides at the as-of time
   and at build time (as ``services.snapshots._eligibility`` does) and writes
   ``elig/PPPPP.arrow`` (member id, eligible, reason, consent event, policy version,
   reason at the as-of time; sorted by member id). The driver folds the partitions'
   summaries (members by reason) and the eligibility digest that names the snapshot,
   reading the files as a k-way merge (one batch per partition in memory); it reads the
   history watermarks before any partition is decided.
2. **Gate per lake file** (:func:`gate_and_cut`): each worker reads one file of the
   lake (selection counts and selected rows in one read), looks up each row's author in
   the member partition its id falls in (the partition's file, filtered to the file's
   authors) and writes ``gated/FFFFF.arrow``: the eligible rows in file order with
   their consent event and policy version, and returns its counts (selection outcome,
   consent exclusions by reason).
3. **Cut**: from the per-file row counts the driver computes which slices of which
   gated files make each input shard (``shard_size`` rows in file-then-row order, as
   ``pipeline.plan.write_input_shards`` cuts them); a worker per shard writes
   ``input/NNNNN.arrow`` and ``consent/NNNNN.arrow`` (content id -> consent event,
   policy version, for the provenance rows).

The shard stages then run as for every build; the Merkle root is folded streaming from
the shards' sorted record ids (``pipeline.merkle.merkle_root_sorted_runs``). Once the
snapshot id is known, each partition is keyed on a worker for the kept eligibility file
(:func:`keep_eligibility_partitioned`: keyed member hash, reasons; the parts folded one
row group each), so a later ``--since`` build decides again only the members who
changed.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from optin.domain.eligibility import ELIGIBLE_REASONS
from optin.errors import ConfigError, IntegrityError
from optin.pipeline import incremental as inc
from optin.pipeline.executors import Executor
from optin.pipeline.io import read_ipc, write_ipc
from optin.pipeline.lake import LakeFile, LakeSource
from optin.pipeline.plan import Plan
from optin.pipeline.schema import INPUT
from optin.services.eligibility import decide_all
from optin.storage.database import Database
from optin.storage.history import history_watermarks
from optin.storage.projection import member_bounds

#: where a build plans: ``auto`` (on the workers for a lake on Dask), ``driver``, ``workers``
ELIGIBILITY_ON = ("auto", "driver", "workers")
#: members per eligibility partition (one worker task, one file)
MEMBERS_PER_PARTITION = 250_000
#: rows per record batch in the partition and consent files (what a merge buffers)
BATCH_ROWS = 1024

ELIGIBILITY = pa.schema(
    [
        ("member_id", pa.string()),
        ("eligible", pa.bool_()),
        ("reason", pa.string()),
        ("consent_event_id", pa.string()),
        ("policy_version", pa.int64()),
        ("reason_as_of", pa.string()),
    ]
)
CONSENT = pa.schema(
    [
        ("content_id", pa.string()),
        ("consent_event_id", pa.string()),
        ("policy_version", pa.int64()),
    ]
)
_GATED = pa.schema([*INPUT, *CONSENT.remove(0)])


def partitioned(lake: LakeSource | None, engine: str, eligibility_on: str) -> bool:
    """Whether a build plans on the workers: ``eligibility_on`` ``workers``, or ``auto``
    with a lake on the Dask engine (the SQL content table is the embedded default and
    plans in the driver)."""
    if eligibility_on not in ELIGIBILITY_ON:
        raise ConfigError(
            f"unknown eligibility_on {eligibility_on!r}; allowed: {', '.join(ELIGIBILITY_ON)}"
        )
    if eligibility_on == "workers":
        if lake is None:
            raise ConfigError("planning on the workers needs a lake (--content)")
        return True
    return eligibility_on == "auto" and lake is not None and engine == "dask"


def _batches(table: pa.Table) -> pa.Table:
    """``table`` re-chunked into batches of :data:`BATCH_ROWS` (read back one by one)."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS), table.schema)


def iter_batches(path: Path, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    """The record batches of an Arrow IPC file, read one at a time (not memory-mapped,
    so what the caller has finished with leaves its resident memory)."""
    with pa.OSFile(str(path), "rb") as f:
        reader = ipc.open_file(f)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i).select(list(columns))


# -- 1. eligibility per member partition ----------------------------------------------


@dataclass(frozen=True)
class EligibilityTask:
    """One member partition ``(lo, hi]`` of one build; picklable, no connection."""

    url: str
    purpose: str
    as_of: datetime
    now: datetime
    index: int
    lo: str | None
    hi: str | None
    out: str


def eligibility_partition(task: EligibilityTask) -> dict[str, Any]:
    """Decide the partition's members at the as-of time and at build time (a worker
    task: its own database connection); write ``task.out``; return its summary."""
    db = Database(task.url)
    try:
        rng = (task.lo, task.hi)
        proofs: dict[str, tuple[str | None, int | None]] = {}
        reasons: dict[str, str] = {}
        at_as_of: dict[str, str] = {}  # the decision's reason at the as-of time
        by_reason: Counter[str] = Counter()
        for d in decide_all(db, task.purpose, task.as_of, member_range=rng):
            by_reason[str(d.reason)] += 1
            at_as_of[d.member_id] = str(d.reason)
            if d.eligible and d.reason in ELIGIBLE_REASONS:
                proofs[d.member_id] = (d.consent_event_id, d.policy_version)
            else:
                reasons[d.member_id] = str(d.reason)
        for d in decide_all(db, task.purpose, task.now, member_range=rng):
            if d.member_id in proofs and not d.eligible:
                del proofs[d.member_id]
                reasons[d.member_id] = f"{d.reason}_AFTER_AS_OF"
    finally:
        db.engine.dispose()
    ids = sorted({*proofs, *reasons})
    evs = [proofs[m][0] if m in proofs else None for m in ids]
    pvs = [proofs[m][1] if m in proofs else None for m in ids]
    table = pa.table(
        [
            pa.array(ids, pa.string()),
            pa.array([m in proofs for m in ids], pa.bool_()),
            pa.array([reasons.get(m) for m in ids], pa.string()),
            pa.array(evs, pa.string()),
            pa.array(pvs, pa.int64()),
            pa.array([at_as_of[m] for m in ids], pa.string()),
        ],
        schema=ELIGIBILITY,
    )
    write_ipc(Path(task.out), _batches(table))
    return {"index": task.index, "eligible": len(proofs), "by_reason": dict(by_reason)}


@dataclass
class PartitionedEligibility:
    """The driver's view of eligibility computed on the workers: plan metadata only."""

    root: Path  # the partition files' directory (removed by :meth:`cleanup`)
    bounds: list[str]
    files: list[Path]
    authors_at_as_of: Counter[str]
    eligible_count: int
    digest: str
    #: members decided (the rows of the partition files)
    members: int = 0
    #: the ledger's and member histories' last row ids read before deciding
    watermarks: dict[str, int] = field(default_factory=dict)

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def plan_eligibility(
    db: Database,
    executor: Executor,
    scratch: Path,
    purpose: str,
    as_of: datetime,
    now: datetime,
    *,
    per_partition: int | None = None,
) -> PartitionedEligibility:
    """Eligibility at ``as_of`` and at ``now`` per member partition on ``executor``'s
    workers; the digest is the in-driver one (``services.snapshots._eligibility``):
    SHA-256 over ``member\\x1fevent\\x1fversion\\n`` of the eligible members in id order."""
    _remove_orphans(scratch)
    root = scratch / f"_eligibility-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    root.mkdir(mode=0o700, parents=True, exist_ok=False)
    try:
        with db.session() as s:  # before any decision (a later --since build's marks)
            marks = history_watermarks(s)
        bounds = member_bounds(db.engine, per_partition or MEMBERS_PER_PARTITION)
        edges: list[str | None] = [None, *bounds, None]
        tasks = [
            EligibilityTask(
                db.url, purpose, as_of, now, i, lo, hi, str(root / f"elig-{i:05d}.arrow")
            )
            for i, (lo, hi) in enumerate(itertools.pairwise(edges))
        ]
        done = executor.map(eligibility_partition, tasks)
        by_reason: Counter[str] = Counter()
        for r in done:
            by_reason.update(r["by_reason"])
        files = [Path(t.out) for t in tasks]
        digest = _digest(files)
        eligible = sum(r["eligible"] for r in done)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    members = sum(by_reason.values())
    return PartitionedEligibility(root, bounds, files, by_reason, eligible, digest, members, marks)


@dataclass(frozen=True)
class EligibilityKeysTask:
    """One partition file to key for the kept eligibility file; picklable."""

    path: str
    key: bytes  # the ``member-key`` key of the snapshot the keys are under
    out: str


def eligibility_keys(task: EligibilityKeysTask) -> int:
    """A worker task: the partition's rows of ``_incremental/eligibility.parquet``
    (member key, reason at the as-of time, reason or empty), sorted by key, written to
    ``task.out`` (Parquet, atomic); the row count."""
    t = read_ipc(Path(task.path), ["member_id", "reason_as_of", "reason"])
    keys = inc.member_keys(t["member_id"].to_pylist(), task.key)
    table = pa.table(
        [
            pa.array(keys, pa.binary(16)),
            t["reason_as_of"],
            pc.fill_null(t["reason"], ""),
        ],
        schema=inc.ELIGIBILITY_SCHEMA,
    )
    inc.write_eligibility_part(Path(task.out), table)  # sorted by key there
    return table.num_rows


def keep_eligibility_partitioned(
    executor: Executor, elig: PartitionedEligibility, key: bytes, snapshot: Path, work: Path
) -> None:
    """``_incremental/eligibility.parquet`` of a build that planned on the workers: each
    partition keyed on a worker, the parts folded into the file one at a time (the
    driver holds one partition's keyed rows, never every member)."""
    (work / "elig_keys").mkdir(parents=True, exist_ok=True)
    tasks = [
        EligibilityKeysTask(str(p), key, str(work / "elig_keys" / f"{i:05d}.parquet"))
        for i, p in enumerate(elig.files)
    ]
    rows = sum(executor.map(eligibility_keys, tasks))
    if rows != elig.members:
        raise IntegrityError(
            f"eligibility partitions hold {rows} members; the plan decided {elig.members}"
        )
    inc.write_eligibility_parts(snapshot, [Path(t.out) for t in tasks])


def _remove_orphans(scratch: Path) -> None:
    """Remove the partition files a killed build left (their process is gone)."""
    for d in scratch.glob("_eligibility-*"):
        try:
            pid = int(d.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except OSError:
            continue


def _digest(files: Sequence[Path]) -> str:
    """The eligibility digest from the partition files, merged in Python string order
    (the database's collation may order ids otherwise)."""

    def run(path: Path) -> Iterator[tuple[str, str | None, int | None]]:
        for b in iter_batches(
            path, ["member_id", "eligible", "consent_event_id", "policy_version"]
        ):
            kept = b.filter(b.column("eligible"))
            yield from zip(
                kept.column("member_id").to_pylist(),
                kept.column("consent_event_id").to_pylist(),
                kept.column("policy_version").to_pylist(),
                strict=True,
            )

    h = hashlib.sha256()
    for mid, ev, pv in heapq.merge(*(run(p) for p in files)):
        h.update(f"{mid}\x1f{ev}\x1f{pv}\n".encode())
    return h.hexdigest()


# -- 2. gate per lake file -------------------------------------------------------------


@dataclass(frozen=True)
class GateTask:
    lake: LakeSource
    file: LakeFile
    index: int
    kinds: tuple[str, ...]
    visibilities: tuple[str, ...]
    as_of: datetime
    bounds: tuple[str, ...]
    elig_files: tuple[str, ...]
    out: str


def _lookup(authors: pa.Array, path: str) -> pa.Table:
    """For each of ``authors`` (unique), its row of the partition file ``path`` (nulls
    where the file has none)."""
    elig = read_ipc(Path(path))
    idx = pc.index_in(authors, value_set=elig.column("member_id"))
    return elig.take(idx)


def gate_file(task: GateTask) -> dict[str, Any]:
    """Select and consent-gate one lake file (a worker task); write ``task.out`` (the
    eligible rows in file order, with their consent event and policy version)."""
    outcome: Counter[str] = Counter()
    tables = []
    for counts, t in task.lake.select_file(task.file, task.kinds, task.visibilities, task.as_of):
        outcome.update(counts)
        if t.num_rows:
            tables.append(t)
    sel = pa.concat_tables(tables).combine_chunks() if tables else INPUT.empty_table()
    sel = sel.cast(INPUT)
    dropped: Counter[str] = Counter()
    authors = pc.unique(sel.column("author_id")) if sel.num_rows else None
    info: dict[str, tuple[bool, str | None, str | None, int | None]] = {}
    if authors is not None and len(authors):
        # route each author to the partition its id falls in (binary order); authors
        # not found there (another collation, or not a member) are looked up everywhere
        edges: list[str | None] = [None, *task.bounds, None]
        missing: list[pa.Array] = []
        for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
            mask = None
            if lo is not None:
                mask = pc.greater(authors, pa.scalar(lo, pa.string()))
            if hi is not None:
                up = pc.less_equal(authors, pa.scalar(hi, pa.string()))
                mask = up if mask is None else pc.and_(mask, up)
            part = authors if mask is None else authors.filter(mask)
            if not len(part):
                continue
            found = _lookup(part, task.elig_files[i])
            hit = found.column("member_id").is_valid()
            _collect(info, part.filter(hit), found.filter(hit))
            miss = part.filter(pc.invert(hit))
            if len(miss):
                missing.append(miss)
        if missing:
            rest = pa.concat_arrays(missing)
            for path in task.elig_files:
                if not len(rest):
                    break
                found = _lookup(rest, path)
                hit = found.column("member_id").is_valid()
                _collect(info, rest.filter(hit), found.filter(hit))
                rest = rest.filter(pc.invert(hit))
    author_ids = sel.column("author_id").to_pylist()
    keep: list[bool] = []
    evs: list[str | None] = []
    pvs: list[int | None] = []
    for a in author_ids:
        got = info.get(a)
        if got is not None and got[0]:
            keep.append(True)
            evs.append(got[2])
            pvs.append(got[3])
        else:
            keep.append(False)
            dropped[got[1] if got is not None and got[1] else "NOT_A_MEMBER"] += 1
    mask_a = pa.array(keep, pa.bool_())
    kept = sel.filter(mask_a)
    gated = pa.table(
        [*kept.columns, pa.array(evs, pa.string()), pa.array(pvs, pa.int64())], schema=_GATED
    )
    write_ipc(Path(task.out), gated)
    return {
        "index": task.index,
        "rows": gated.num_rows,
        "outcome": dict(outcome),
        "dropped": dict(dropped),
    }


def _collect(
    info: dict[str, tuple[bool, str | None, str | None, int | None]],
    authors: pa.Array,
    rows: pa.Table,
) -> None:
    for a, e, r, ev, pv in zip(
        authors.to_pylist(),
        rows.column("eligible").to_pylist(),
        rows.column("reason").to_pylist(),
        rows.column("consent_event_id").to_pylist(),
        rows.column("policy_version").to_pylist(),
        strict=True,
    ):
        info[a] = (bool(e), r, ev, pv)


# -- 3. cut into input shards ----------------------------------------------------------


@dataclass(frozen=True)
class CutTask:
    index: int
    pieces: tuple[tuple[str, int, int], ...]  # (gated file, first row, rows)
    input_path: str
    consent_path: str


def cut_shard(task: CutTask) -> tuple[int, int, str]:
    """Write one input shard (and its consent side file) from slices of gated files."""
    parts = [read_ipc(Path(p)).slice(lo, n) for p, lo, n in task.pieces]
    table = pa.concat_tables(parts).combine_chunks()
    shard = table.select(INPUT.names).cast(INPUT)
    sha = write_ipc(Path(task.input_path), shard)
    write_ipc(Path(task.consent_path), _batches(table.select(CONSENT.names).cast(CONSENT)))
    return task.index, shard.num_rows, sha


@dataclass
class Gated:
    """What the gate and the cut give the build: the shards and the selection counts."""

    shards: Plan
    counts: dict[str, int] = field(default_factory=dict)


def gate_and_cut(
    executor: Executor,
    lake: LakeSource,
    elig: PartitionedEligibility,
    work: Path,
    kinds: Sequence[str],
    visibilities: Sequence[str],
    as_of: datetime,
    shard_size: int,
) -> Gated:
    """Steps 2 and 3 of the module docstring; the input shards land in ``work/input``."""
    files, later = lake.files_to_read(as_of)
    (work / "gated").mkdir(parents=True, exist_ok=True)
    gates = [
        GateTask(
            lake,
            f,
            i,
            tuple(kinds),
            tuple(visibilities),
            as_of,
            tuple(elig.bounds),
            tuple(str(p) for p in elig.files),
            str(work / "gated" / f"{i:05d}.arrow"),
        )
        for i, f in enumerate(files)
    ]
    results = sorted(executor.map(gate_file, gates), key=lambda r: int(r["index"]))
    counts: Counter[str] = Counter()
    if later:
        counts["created_after_as_of"] += later
    plan = Plan()
    for r in results:
        counts.update(r["outcome"])
        plan.consent_dropped.update(r["dropped"])
    plan.selected = counts.get("selected", 0)
    cuts = _cuts([(g.out, int(r["rows"])) for g, r in zip(gates, results, strict=True)], shard_size)
    tasks = [
        CutTask(
            k,
            tuple(pieces),
            str(work / "input" / f"{k:05d}.arrow"),
            str(work / "consent" / f"{k:05d}.arrow"),
        )
        for k, pieces in enumerate(cuts)
    ]
    for index, rows, sha in sorted(executor.map(cut_shard, tasks)):
        plan.shards.append((index, rows, sha))
    shutil.rmtree(work / "gated", ignore_errors=True)
    return Gated(plan, dict(counts))


def _cuts(files: Sequence[tuple[str, int]], size: int) -> list[list[tuple[str, int, int]]]:
    """Slices of ``files`` (path, rows) that make consecutive shards of ``size`` rows."""
    out: list[list[tuple[str, int, int]]] = []
    cur: list[tuple[str, int, int]] = []
    room = size
    for path, rows in files:
        lo = 0
        while lo < rows:
            n = min(room, rows - lo)
            cur.append((path, lo, n))
            lo += n
            room -= n
            if room == 0:
                out.append(cur)
                cur, room = [], size
    if cur:
        out.append(cur)
    return out


def shard_proofs(consent_path: Path) -> Mapping[str, tuple[str | None, int | None]]:
    """content id -> (consent event, policy version) of one shard's rows."""
    t = read_ipc(consent_path)
    return {
        c: (e, p)
        for c, e, p in zip(
            t.column("content_id").to_pylist(),
            t.column("consent_event_id").to_pylist(),
            t.column("policy_version").to_pylist(),
            strict=True,
        )
    }


def record_id_runs(paths: Sequence[Path]) -> Iterator[Iterator[str]]:
    """Per provenance side file (stage 2 writes them sorted by record id, in batches),
    its record ids in ascending order, read one batch at a time; a file that is not
    sorted (written before they were) is sorted here."""
    for path in paths:
        col = read_ipc(path, ["record_id"])["record_id"]
        n = len(col)
        if n > 1 and not pc.all(pc.less_equal(col.slice(0, n - 1), col.slice(1))).as_py():
            yield iter(sorted(col.to_pylist()))
            continue
        del col
        yield _ids(path)


def _ids(path: Path) -> Iterator[str]:
    for b in iter_batches(path, ["record_id"]):
        yield from b.column("record_id").to_pylist()
