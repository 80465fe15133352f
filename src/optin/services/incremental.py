"""``optin snapshot build --since SNAPSHOT``: an incremental build that equals a full
build at the same as-of time (same records, same texts) while processing only what
changed.

Every build keeps, beside its shards, one row per content row it saw after the consent
gate: record id, a keyed content hash, the outcome and the dedupe keys
(:mod:`optin.pipeline.incremental`). An incremental build plans like a full one
(selection, eligibility at the as-of and build times, the ledger head), except that
eligibility is decided again only for the members whose decision can differ from the
parent's, the others' decisions being read from the parent's eligibility file
(:mod:`optin.services.incremental_eligibility`; every member is decided when a policy
version came into force since, or the parent keeps no such file). It then streams the
selected content of the eligible authors in content-id order and sorts each row:

- **unchanged** (the parent saw the same record id with the same content hash): its
  stage-1 outcome and keys are the parent's; nothing is redacted again;
- **new** (no parent row: a new post, or a post of a newly eligible author) or
  **edited** (another hash): written to input shards and run through stage 1 (language,
  redact, quality, keys) on the executor, with the same completion markers as a full
  build, so a killed build resumes;
- rows of the parent that are not in the stream left: their authors are no longer
  eligible (the reason is the full build's: ``decide_all`` at the as-of time, or
  ``REASON_AFTER_AS_OF`` at build time), the content was deleted (``CONTENT_DELETED``), or
  it is no longer selected (``NOT_SELECTED``: kind, visibility or created time).

From a lake, a file the parent read byte for byte (the same SHA-256, ``lake_files`` in
the parent's rows meta) is read without its texts: its selected rows of eligible
authors are the parent's, found by record id, and texts are read only for the rows the
parent did not see and for resurrected duplicates (held by file, row group and
position); the selection counts come from the same pass (``_LakeRead``).

The global duplicate pass then runs on the keys of *every* row that passed stage 1
(unchanged ones from the parent's file, processed ones from stage 1), ranked by (created
time, content-id order) exactly as a full build ranks them. So an earlier post of a newly
eligible author beats a parent record (which then leaves as a duplicate), and a parent
duplicate whose winner left becomes a winner again: it is *resurrected* (its row is read
again and run through stage 1; its keys must equal the parent's). Records are then the
parent's shards filtered (copied byte for byte when nothing left them) plus new shards
for the processed winners.

Texts equal a full build's when stage 1 would give every unchanged row the same text:
the config (less shard sizes) must equal the parent's, record ids and pseudonyms are
keyed with the first full build's keys (``record_id_key_of``), and when the members'
directory (names and handles redaction matches) changed since the parent, the unchanged
rows a changed entry can redact differently are processed again (``directory_changed``:
:mod:`optin.privacy.directory_delta`; every row when the parent keeps no directory
elements).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optin.errors import ConfigError, ConflictError, IntegrityError
from optin.pipeline import incremental as inc
from optin.pipeline.config import BuildConfig
from optin.pipeline.io import atomic_write_bytes, read_ipc, write_ipc
from optin.pipeline.lake import LakeSource
from optin.pipeline.plan import Plan, consent_counts
from optin.pipeline.results import StageOneResult, StageTwoResult
from optin.pipeline.run import StageResults
from optin.pipeline.schema import INPUT
from optin.pipeline.shard import ShardTask, output_name, run_stage1, run_stage2
from optin.pipeline.steps.consent import consent_gate, reason_counts
from optin.pipeline.steps.lineup import STAGE_STEP_NAMES
from optin.pipeline.steps.write import record_ids
from optin.privacy.directory_delta import (
    ELEMENTS_FORMAT,
    DirectoryDelta,
    elements_job,
    read_elements,
)
from optin.services.derive import _load_parent, _Parent, _write_shards
from optin.services.incremental_eligibility import (
    Delta,
    incremental_eligibility,
    keep_eligibility,
    keep_eligibility_on_workers,
    resolve_proofs,
)
from optin.services.snapshot_partitions import PartitionedEligibility
from optin.services.snapshots import (
    BuildPlan,
    Selection,
    SnapshotBuild,
    _Eligibility,
    _Proof,
    _Ran,
    _snapshot_id,
    resolve_snapshot_id,
    snapshot_key,
)
from optin.settings import Settings
from optin.storage import lineage as lineage_repo
from optin.storage import snapshots as repo
from optin.storage.database import Database

HELD = "held"  # work dir: the parent's duplicates' rows, in case one is resurrected


@dataclass
class _Parent2:
    """The parent snapshot and what it kept beside its shards."""

    snap: _Parent
    rows: pa.Table
    meta: dict[str, Any]

    @property
    def key_of(self) -> str:
        return str(self.meta["key_of"])


def load_parent(db: Database, settings: Settings, since: str, cfg: BuildConfig) -> _Parent2:
    """The parent named by ``since`` (an id or ``latest``), checked fit for ``cfg``."""
    sid = resolve_snapshot_id(db, since)
    parent = _load_parent(db, settings, sid)
    if parent.purpose != cfg.purpose:
        raise ConfigError(
            f"--since {sid}: that snapshot is for purpose {parent.purpose!r}, not {cfg.purpose!r}"
        )
    got = inc.read_rows(parent.path)
    if got is None:
        raise ConflictError(
            f"--since {sid}: the snapshot keeps no rows file ({parent.path / inc.ROWS_DIR}); "
            "only snapshots built by `optin snapshot build` (full or incremental) since "
            "incremental builds exist can be built from; build a full snapshot first"
        )
    rows, meta = got
    if meta.get("content_hash") != inc.CONTENT_HASH:
        raise ConflictError(
            f"--since {sid}: the snapshot's rows file hashes other fields than this "
            "release does (it was built by an earlier one); build a full snapshot first"
        )
    if meta.get("config") != inc.config_fingerprint(cfg):
        raise ConfigError(
            f"--since {sid}: the build config differs from that snapshot's (profile, "
            "operator, filters, languages, dedupe settings or seed); an incremental build "
            "needs the same config (only --shard-size may differ)"
        )
    if rows.schema != inc.rows_schema(cfg.bands):
        raise IntegrityError(f"{parent.path / inc.ROWS_DIR}: rows file of another shape")
    return _Parent2(parent, rows, meta)


def _driver_eligibility(plan: BuildPlan) -> _Eligibility:
    """The plan's eligibility map (an incremental build always plans in the driver)."""
    elig = plan.eligibility
    if not isinstance(elig, _Eligibility):
        raise TypeError("an incremental build plans in the driver")
    return elig


def incremental_build(
    db: Database, settings: Settings, since: str, cfg: BuildConfig, lake: LakeSource | None
) -> Callable[..., SnapshotBuild]:
    """A maker of :class:`IncrementalBuild` from ``since`` (checked now, before any plan)."""
    parent = load_parent(db, settings, since, cfg)
    source = parent.snap.manifest.get("content_source", {})
    now_source = lake.to_manifest() if lake is not None else {"kind": "sql"}
    if source.get("kind") != now_source.get("kind") or (
        lake is not None and source.get("root") != now_source.get("root")
    ):
        raise ConfigError(
            f"--since {parent.snap.id}: its content came from {source.get('kind')!r}"
            f"{' ' + str(source.get('root')) if source.get('root') else ''}; this build reads "
            f"{now_source.get('kind')!r}; an incremental build reads the same source"
        )

    def make(*args: Any, **kwargs: Any) -> SnapshotBuild:
        return IncrementalBuild(*args, parent=parent, **kwargs)

    return make


@dataclass
class _IncRan(_Ran):
    """What an incremental run produced (besides the processed shards' stage results)."""

    files: list[dict[str, Any]] = field(default_factory=list)
    reused_ids: set[str] = field(default_factory=set)
    reused_prov: list[tuple[str, str, str, str]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    rows: _ChildRows | None = None
    directory: str = ""


class IncrementalBuild(SnapshotBuild):
    """A :class:`SnapshotBuild` whose run starts from a parent snapshot."""

    def __init__(self, *args: Any, parent: _Parent2, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parent = parent
        self.counts_in_run = self.lake is not None  # counted in the run's one pass
        self.delta: Delta | None = None
        if self.partitioned:
            # an incremental build plans in the driver (it holds the parent's rows file)
            if kwargs.get("eligibility_on") == "workers":
                raise ConfigError(
                    "--since plans in the driver; planning on the workers "
                    "(eligibility_on='workers') is for full builds"
                )
            self.partitioned = False

    # -- plan: the full build's, under an id that names the parent --

    def _decide(self, sel: Selection, as_of: datetime, now: datetime) -> _Eligibility:
        """The parent's decisions, decided again only where they can differ
        (:mod:`optin.services.incremental_eligibility`)."""
        self.delta = incremental_eligibility(
            self.db,
            self.settings,
            self.parent.snap.path,
            self.parent.key_of,
            self.parent.meta.get("eligibility"),
            sel.purpose,
            as_of,
            now,
        )
        return self.delta.eligibility

    def plan(self, as_of: datetime, now: datetime) -> BuildPlan:
        plan = super().plan(as_of, now)
        p = self.parent.snap
        plan.snapshot_id = _snapshot_id(
            plan.selection.purpose,
            as_of,
            [plan.snapshot_id, "since", p.id, p.manifest_sha256],
        )
        plan.path = self.settings.snapshots_dir / plan.snapshot_id
        return plan

    # -- run --

    def _keys(self) -> tuple[bytes, bytes, bytes]:
        """(record-id, pseudonym, content-hash) keys: the first full build's."""
        root = self.parent.key_of
        return (
            snapshot_key(self.settings, root, "record-id"),
            snapshot_key(self.settings, root, "pseudonym"),
            snapshot_key(self.settings, root, "content-hash"),
        )

    def run(self, plan: BuildPlan) -> _Ran:  # noqa: C901 - one pass, in order
        plan.work.mkdir(parents=True, exist_ok=True)
        rkey, pkey, hkey = self._keys()
        red_cfg = self._redactor(plan)
        if red_cfg.operator != "surrogate":  # surrogates: the installation's key, as in full
            red_cfg = dataclasses.replace(red_cfg, key=pkey)
        directory = inc.directory_digest(plan.work / "directory.jsonl", hkey)
        delta: DirectoryDelta | None = None
        parent_fakes: pa.Table | None = None
        reprocess_all = False
        if directory != self.parent.meta.get("directory"):
            t0 = time.perf_counter()
            got = self._directory_delta(plan, hkey, red_cfg.directory_key or b"")
            if got is None:
                reprocess_all = True
            elif len(got[0]):  # no entry changed (lines reordered): nothing to check
                delta, parent_fakes = got
            self._timed("directory_delta", t0)
        cfg, elig = plan.config, _driver_eligibility(plan)
        t0 = time.perf_counter()
        prow = self.parent.rows
        # parent rows by record id and by content hash: sorted fixed-width arrays, no
        # per-row Python objects (the parent can hold millions of rows)
        p_rid = prow["record_id"]
        rid_index = _KeyIndex(
            _fixed(p_rid, 32, self.parent.snap.id, "record id"), self.parent.snap.id, "record id"
        )
        # the hash covers the content id: an unchanged row is found by its hash alone
        # (a sorted array of the 16-byte hashes, searched a batch at a time)
        find = _KeyIndex(prow["content_hash"], self.parent.snap.id, "content hash")
        outcomes = pc.dictionary_encode(prow["outcome"]).combine_chunks()
        out_names: list[str] = outcomes.dictionary.to_pylist()
        p_out = outcomes.indices.to_numpy(zero_copy_only=False)  # index into out_names
        # 0: kept, 1: duplicate, 2: dropped by stage 1
        code_of = [0 if o == inc.KEPT else 1 if o == inc.DUPLICATE else 2 for o in out_names]
        p_code = np.array(code_of, np.int8)[p_out] if len(p_out) else np.empty(0, np.int8)
        # parent rows whose fakes a changed directory could change (see directory_delta)
        fake_hit = np.zeros(len(p_code), dtype=bool)
        if delta is not None and parent_fakes is not None and parent_fakes.num_rows:
            where = rid_index(parent_fakes["record_id"].to_pylist())
            for j, fk, refused in zip(
                where.tolist(),
                parent_fakes["fakes"].to_pylist(),
                parent_fakes["refused"].to_pylist(),
                strict=True,
            ):
                if j >= 0 and (refused is None or refused or delta.names_any(fk or ())):
                    fake_hit[j] = True
        self._timed("parent_rows", t0)

        shards = Plan()
        eligible = elig.proofs.keys()
        index0 = _next_index(self.parent.snap)
        tasks: list[ShardTask] = []
        task_seq: list[np.ndarray] = []
        pending: list[pa.Table] = []
        pending_seq: list[np.ndarray] = []
        held: list[str] = []
        # lake rows held by reference: (file, row group, positions, seq)
        held_refs: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        # unchanged rows that passed stage 1 in the parent: (seq, parent row)
        u_seq: list[np.ndarray] = []
        u_row: list[np.ndarray] = []
        # unchanged rows dropped by stage 1 in the parent: their outcome again
        reused_drops: Counter[str] = Counter()
        seen: list[np.ndarray] = []  # parent rows matched by record id (unchanged or edited)
        counts: Counter[str] = Counter()
        seq0 = 0

        def flush(table: pa.Table, seq: np.ndarray) -> None:
            index = index0 + len(tasks)
            sha = write_ipc(plan.work / "input" / f"{index:05d}.arrow", table)
            tasks.append(
                ShardTask(
                    str(plan.path), index, cfg, red_cfg, rkey, input_sha256=sha, rows=table.num_rows
                )
            )
            task_seq.append(seq)

        t0 = time.perf_counter()
        with self.db.session() as s:
            if plan.lake is not None:
                lake_read = _LakeRead(
                    plan,
                    eligible,
                    elig.reasons,
                    self.parent.meta,
                    reprocess_all or delta is not None,
                )
                chunks: Iterator[_Chunk] = lake_read.chunks()
            else:
                lake_read = None
                author_counts, batches = self._selected(s, plan, eligible)
                shards.selected, shards.consent_dropped = consent_counts(
                    author_counts, eligible, elig.reasons
                )
                chunks = _sql_chunks(batches, eligible, elig.reasons)
            for ch in chunks:
                n = len(ch.content_ids)
                seq = np.arange(seq0, seq0 + n, dtype=np.int64)
                seq0 += n
                if ch.table is not None:  # texts read: a row is unchanged by its hash
                    js = find(inc.content_hashes(ch.table, hkey))
                    same = js >= 0
                    seen.append(js[same])
                    if not same.all():  # new or edited: record ids only for these rows
                        other = ch.content_ids.filter(pa.array(~same)).to_pylist()
                        jo = rid_index(record_ids(other, rkey))
                        seen.append(jo[jo >= 0])
                        counts["new"] += int((jo < 0).sum())
                        counts["edited"] += int((jo >= 0).sum())
                else:  # a lake file the parent read byte for byte: its rows are unchanged
                    rids = record_ids(ch.content_ids.to_pylist(), rkey)
                    js = rid_index(rids)
                    same = js >= 0
                    seen.append(js[same])
                    counts["new"] += int((~same).sum())
                if reprocess_all:
                    counts["directory_changed"] += int(same.sum())
                    same[:] = False
                elif delta is not None and same.any():
                    assert ch.table is not None  # a changed directory reads every text
                    touched = _touched(
                        ch.table["text"], same, js, delta, fake_hit, red_cfg.chunk_chars
                    )
                    counts["directory_changed"] += int(touched.sum())
                    same &= ~touched
                process = ~same
                code = np.full(n, -1, dtype=np.int8)
                code[same] = p_code[js[same]]
                passed = (code == 0) | (code == 1)
                hold = code == 1
                u_seq.append(seq[passed])
                u_row.append(js[passed])
                drop_codes = np.bincount(p_out[js[code == 2]], minlength=len(out_names))
                reused_drops.update(
                    {out_names[k]: int(c) for k, c in enumerate(drop_codes.tolist()) if c}
                )
                if hold.any():
                    if ch.ref is not None:  # read again from the lake if it is resurrected
                        assert ch.positions is not None
                        held_refs.append((*ch.ref, ch.positions[hold], seq[hold]))
                    else:
                        assert ch.table is not None
                        h = ch.table.filter(pa.array(hold)).append_column(
                            "seq", pa.array(seq[hold], pa.int64())
                        )
                        path = plan.work / HELD / f"{len(held):05d}.arrow"
                        write_ipc(path, h)
                        held.append(str(path))
                if process.any():
                    pending.append(ch.rows(process))
                    pending_seq.append(seq[process])
                while sum(t.num_rows for t in pending) >= cfg.shard_size:
                    table = pa.concat_tables(pending).combine_chunks()
                    sq = np.concatenate(pending_seq)
                    flush(table.slice(0, cfg.shard_size), sq[: cfg.shard_size])
                    rest, rest_seq = table.slice(cfg.shard_size), sq[cfg.shard_size :]
                    pending, pending_seq = ([rest], [rest_seq]) if rest.num_rows else ([], [])
            if pending:
                flush(pa.concat_tables(pending).combine_chunks(), np.concatenate(pending_seq))
        if lake_read is not None:
            plan.counts.clear()
            plan.counts.update(lake_read.outcome)
            shards.selected = lake_read.outcome.get("selected", 0)
            shards.consent_dropped = lake_read.dropped
        self._timed("select", t0)

        # stage 1 on the new and edited rows
        self.progress.stage("redact+filter (new and edited)", sum(t.rows for t in tasks))
        s1 = self.executor.map(run_stage1, tasks, self.progress.advance)

        # the global duplicate pass over every stage-1 survivor
        t0 = time.perf_counter()
        unchanged_seq = np.concatenate(u_seq) if u_seq else np.empty(0, np.int64)
        unchanged_row = np.concatenate(u_row) if u_row else np.empty(0, np.int64)
        created = [_col(prow, "created_us", unchanged_row)]
        exact = [_col(prow, "exact_hash", unchanged_row)]
        seqs = [unchanged_seq]
        s1_sizes: list[int] = []
        for task, seq in zip(tasks, task_seq, strict=True):
            t1 = read_ipc(task.stage1_path(), ["content_id", "created_us", "exact_hash"])
            s1_sizes.append(t1.num_rows)
            cids = read_ipc(task.input_path(), ["content_id"])["content_id"]
            pos = pc.index_in(t1["content_id"], value_set=cids).to_numpy(zero_copy_only=False)
            seqs.append(seq[pos.astype(np.int64)])
            created.append(t1["created_us"].to_numpy())
            exact.append(t1["exact_hash"].to_numpy())

        def band(b: int) -> np.ndarray:
            """Band ``b`` of every row of the pass (the unchanged rows', then each
            processed shard's stage-1 rows'), built when the pass asks for it."""
            name = f"band_{b:02d}"
            parts = [_col(prow, name, unchanged_row)]
            parts += [read_ipc(t.stage1_path(), [name])[name].to_numpy() for t in tasks]
            return np.concatenate(parts)

        all_seq = np.concatenate(seqs)
        exact_m, near_m = inc.duplicates(
            all_seq, np.concatenate(created), np.concatenate(exact), band, cfg
        )
        dup = exact_m | near_m
        nu = len(unchanged_seq)
        u_dup = dup[:nu]
        was_kept = p_code[unchanged_row] == 0
        reuse_rows = unchanged_row[was_kept & ~u_dup]
        gone = was_kept & u_dup
        superseded = dict(
            zip(
                _rids(p_rid, unchanged_row[gone]),
                np.where(exact_m[:nu][gone], "exact_duplicate", "near_duplicate").tolist(),
                strict=True,
            )
        )
        resurrect = set(unchanged_seq[~was_kept & ~u_dup].tolist())
        counts["resurrected"] = len(resurrect)
        dedupe_drops: Counter[str] = Counter(
            {
                "exact_duplicate": int(exact_m.sum()),
                "near_duplicate": int((near_m & ~exact_m).sum()),
            }
        )
        self.timings["dedupe_global"] = time.perf_counter() - t0

        # stage 2: the processed shards without their duplicates; the resurrected rows
        tasks2: list[ShardTask] = []
        off = nu
        for task, r, size in zip(tasks, s1, s1_sizes, strict=True):
            e = tuple(int(i) for i in np.flatnonzero(exact_m[off : off + size]))
            nd = tuple(
                int(i)
                for i in np.flatnonzero(near_m[off : off + size] & ~exact_m[off : off + size])
            )
            tasks2.append(
                dataclasses.replace(task, stage1_sha256=r.stage1_sha256, exact_dup=e, near_dup=nd)
            )
            off += size
        back = self._resurrect(
            plan, held, held_refs, lake_read, resurrect, index0 + len(tasks), cfg, red_cfg, rkey
        )
        if lake_read is not None:
            lake_read.check_unchanged()  # the files read without texts are still those bytes
        s1_back: list[StageOneResult] = []
        if back:
            s1_back = self.executor.map(run_stage1, back, self.progress.advance)
            self._check_resurrected(back, prow, rid_index)
            tasks2 += [
                dataclasses.replace(t, stage1_sha256=r.stage1_sha256)
                for t, r in zip(back, s1_back, strict=True)
            ]
        self.progress.stage("dedupe+write", sum(s1_sizes) + len(resurrect))
        s2: list[StageTwoResult] = self.executor.map(run_stage2, tasks2, self.progress.advance)
        new_authors: set[str] = set()
        for t2, r2 in zip(tasks2, s2, strict=True):
            if r2.rows:
                new_authors.update(read_ipc(t2.prov_path(), ["author_id"])["author_id"].to_pylist())
        sel = plan.selection
        resolve_proofs(self.db, elig, new_authors, sel.purpose, sel.as_of, sel.now)

        # the parent's shards, less the records that left
        t0 = time.perf_counter()
        parent_kept = set(_rids(p_rid, np.flatnonzero(p_code == 0)))
        reused = set(_rids(p_rid, reuse_rows))
        files, kept_ids = _write_shards(self.parent.snap, plan.path, parent_kept - reused)
        if set(kept_ids) != reused:
            raise IntegrityError(
                f"snapshot {self.parent.snap.id}: its shards hold {len(kept_ids)} of the "
                f"{len(reused)} records its rows file keeps"
            )
        self._timed("reuse", t0)
        files += [
            {"path": r.file, "sha256": r.sha256, "rows": r.rows, "bytes": r.bytes}
            for r in s2
            if r.rows
        ]
        matched = np.concatenate(seen) if seen else np.empty(0, np.int64)
        edited_parent = set(_rids(p_rid, np.setdiff1d(matched, unchanged_row)))
        left_why, reused_prov = self._parent_records(
            plan, reused, parent_kept - reused - edited_parent, superseded
        )

        stages = StageResults([*tasks, *back], [*s1, *s1_back], s2, self.timings["dedupe_global"])
        self._step_timings(stages)
        steps = _steps(plan.counts, shards, reused_drops, [*s1, *s1_back], dedupe_drops)
        rows = self._child_rows(
            prow, unchanged_seq, unchanged_row, u_dup, tasks, task_seq, tasks2[: len(tasks)], hkey
        )
        ran = _IncRan(
            shards,
            stages,
            files=files,
            reused_ids=reused,
            reused_prov=reused_prov,
            steps=steps,
            counts={
                "reused": len(reused),
                "new": counts["new"],
                "edited": counts["edited"],
                "resurrected": counts["resurrected"],
                "reprocessed_directory_changed": counts["directory_changed"],
                "directory_entries_changed": (
                    -1 if reprocess_all else len(delta) if delta is not None else 0
                ),
                "processed": sum(t.rows for t in [*tasks, *back]),
                "dropped": dict(sorted(Counter(left_why.values()).items())),
                **(
                    {
                        "lake_files_unchanged": len(lake_read.unchanged),
                        "lake_files_read": len(lake_read.files),
                    }
                    if lake_read is not None
                    else {}
                ),
            },
            rows=rows,
            directory=directory,
        )
        return ran

    def _directory_delta(
        self, plan: BuildPlan, hkey: bytes, directory_key: bytes
    ) -> tuple[DirectoryDelta, pa.Table] | None:
        """The change of the members' directory since the parent (its elements against
        this build's, computed on a worker) and the parent's fakes; None when the parent
        keeps no elements or fakes (built before them), or erased members' entries
        changed and no directory key is known: then every row is processed again."""
        rows_dir = self.parent.snap.path / inc.ROWS_DIR
        if self.parent.meta.get("directory_elements") != ELEMENTS_FORMAT:
            return None
        before = read_elements(rows_dir / inc.ELEMENTS_FILE)
        fakes = inc.read_fakes(self.parent.snap.path)
        if before is None or fakes is None:
            return None
        _elements_of(self.executor, plan, hkey, plan.work / inc.ELEMENTS_FILE)
        now = read_elements(plan.work / inc.ELEMENTS_FILE)
        if now is None:  # pragma: no cover - just written by this release
            return None
        try:
            delta = DirectoryDelta.between(before, now, hkey, directory_key)
        except ValueError:
            return None
        return delta, fakes

    def _resurrect(
        self,
        plan: BuildPlan,
        held: list[str],
        held_refs: list[tuple[int, int, np.ndarray, np.ndarray]],
        lake_read: _LakeRead | None,
        seqs: set[int],
        index: int,
        cfg: BuildConfig,
        red_cfg: Any,
        rkey: bytes,
    ) -> list[ShardTask]:
        """Input shards of the parent duplicates that win now (in content-id order)."""
        if not seqs:
            return []
        from pathlib import Path

        want = pa.array(sorted(seqs), pa.int64())
        parts = []
        for path in held:
            t = read_ipc(Path(path))
            parts.append(t.filter(pc.is_in(t["seq"], value_set=want)))
        for fi, rg, pos, seq in held_refs:
            mask = np.isin(seq, want.to_numpy())
            if mask.any():
                assert lake_read is not None
                t = lake_read.rows(fi, rg, pos[mask])
                parts.append(t.append_column("seq", pa.array(seq[mask], pa.int64())))
        table = pa.concat_tables(parts).sort_by("seq").drop_columns(["seq"]).combine_chunks()
        out: list[ShardTask] = []
        for start in range(0, table.num_rows, cfg.shard_size):
            chunk = table.slice(start, cfg.shard_size)
            i = index + len(out)
            sha = write_ipc(plan.work / "input" / f"{i:05d}.arrow", chunk)
            out.append(
                ShardTask(
                    str(plan.path), i, cfg, red_cfg, rkey, input_sha256=sha, rows=chunk.num_rows
                )
            )
        return out

    @staticmethod
    def _check_resurrected(tasks: list[ShardTask], prow: pa.Table, rid_index: _KeyIndex) -> None:
        """A resurrected row's stage-1 keys are the parent's (stage 1 is deterministic)."""
        for t in tasks:
            s1 = read_ipc(t.stage1_path(), ["record_id", "exact_hash", "created_us"])
            if s1.num_rows != t.rows:
                raise IntegrityError(
                    f"shard {t.name}: {t.rows - s1.num_rows} resurrected row(s) failed stage 1 "
                    "although they passed it in the parent"
                )
            for rid, e, c in zip(*(s1[n].to_pylist() for n in s1.column_names), strict=True):
                j = int(rid_index([rid])[0])
                if prow["exact_hash"][j].as_py() != e or prow["created_us"][j].as_py() != c:
                    raise IntegrityError(
                        f"record {rid}: stage 1 gave other keys than in the parent; the "
                        "build config or redaction changed"
                    )

    def _parent_records(
        self, plan: BuildPlan, reused: set[str], left: set[str], superseded: dict[str, str]
    ) -> tuple[dict[str, str], list[tuple[str, str, str, str]]]:
        """(parent record id -> why it is not in this snapshot, for each parent record
        that left, edited ones aside; the reused records' provenance)."""
        elig = _driver_eligibility(plan)
        proofs, reasons = elig.proofs, elig.reasons
        why: dict[str, str] = {}
        gone: dict[str, str] = {}
        prov: list[tuple[str, str, str, str]] = []
        with self.db.session() as s:
            for r in repo.iter_provenance(s, self.parent.snap.id):
                if r.record_id in reused:
                    prov.append((r.record_id, r.content_id, r.author_id, r.shard))
                    if r.author_id in elig.unresolved:
                        # decided from the parent: the parent's proof is this build's
                        proofs[r.author_id] = (r.consent_event_id, r.policy_version)
                        elig.unresolved.discard(r.author_id)
                    continue
                if r.record_id not in left:
                    continue
                if r.record_id in superseded:
                    why[r.record_id] = superseded[r.record_id]
                elif r.author_id not in proofs:
                    why[r.record_id] = reasons.get(r.author_id, "NOT_A_MEMBER")
                else:
                    gone[r.record_id] = r.content_id
            deleted = (
                lineage_repo.deleted_content(s, list(gone.values())) if plan.lake is None else set()
            )
        for rid, cid in gone.items():
            why[rid] = "CONTENT_DELETED" if cid in deleted else "NOT_SELECTED"
        if len(prov) != len(reused):
            raise IntegrityError(
                f"snapshot {self.parent.snap.id}: {len(prov)} provenance rows for "
                f"{len(reused)} reused records"
            )
        return why, prov

    def _child_rows(
        self,
        prow: pa.Table,
        u_seq: np.ndarray,
        u_row: np.ndarray,
        u_dup: np.ndarray,
        tasks: list[ShardTask],
        task_seq: list[np.ndarray],
        tasks2: list[ShardTask],
        hkey: bytes,
    ) -> _ChildRows:
        """This build's rows file: unchanged rows (the parent's, outcome from this
        build's duplicate pass) and processed rows, in content-id order; taken from the
        parent's table a part at a time when written (no copy of the parent's rows)."""
        outcome = prow["outcome"].combine_chunks()
        mine = outcome.take(pa.array(u_row, pa.int64()))
        passed = pc.is_in(mine, value_set=pa.array([inc.KEPT, inc.DUPLICATE]))
        new_out = pc.if_else(pa.array(u_dup, pa.bool_()), inc.DUPLICATE, inc.KEPT)
        mine = pc.if_else(passed, new_out, mine)
        # the parent's outcome column with the unchanged rows' outcomes replaced (the
        # replacements in row order, as replace_with_mask fills them)
        by_row = np.argsort(u_row, kind="stable")
        mask = np.zeros(prow.num_rows, dtype=bool)
        mask[u_row] = True
        replaced = pc.replace_with_mask(
            outcome, pa.array(mask), mine.take(pa.array(by_row, pa.int64()))
        )
        parts = [prow.set_column(2, "outcome", replaced)]
        seqs = [u_seq]
        for task, t2, seq in zip(tasks, tasks2, task_seq, strict=True):
            parts.append(inc.task_rows(task, hkey, _not_in(set(t2.exact_dup) | set(t2.near_dup))))
            seqs.append(seq)
        table = pa.concat_tables(parts)  # no copy: the chunks of each part
        source = np.concatenate(
            [u_row.astype(np.int64), prow.num_rows + np.arange(table.num_rows - prow.num_rows)]
        )
        order = np.argsort(np.concatenate(seqs), kind="stable")
        return _ChildRows(table, source[order])

    # -- prove / manifest / finish --

    def prove(self, plan: BuildPlan, ran: _Ran) -> _Proof:
        assert isinstance(ran, _IncRan)
        from optin.pipeline.merkle import merkle_root

        t0 = time.perf_counter()
        ids: list[str] = []
        for f in ran.files:
            import pyarrow.parquet as pq

            ids.extend(
                pq.read_table(plan.path / f["path"], columns=["record_id"])["record_id"].to_pylist()
            )
        authors = {r["author_id"] for r in self._provenance_rows(plan, ran)}
        proofs = _ResolvedProofs(_driver_eligibility(plan))
        consented = sorted({pv for a in authors if (pv := proofs[a][1]) is not None})
        proof = _Proof(len(ids), merkle_root(ids), consented)
        self._timed("merkle", t0)
        proof.manifest = self._manifest(plan, ran, proof)
        return proof

    def _manifest(self, plan: BuildPlan, ran: _Ran, proof: _Proof) -> dict[str, Any]:
        assert isinstance(ran, _IncRan)
        m = super()._manifest(plan, ran, proof)
        p = self.parent.snap
        m["files"] = ran.files
        m["counts"]["steps"] = ran.steps
        m["parent"] = {
            "id": p.id,
            "manifest_sha256": p.manifest_sha256,
            "merkle_root": p.manifest.get("merkle", {}).get("root"),
        }
        m["record_id_key_of"] = self.parent.key_of
        m["record_id"] = (
            "HMAC-SHA256(per-snapshot key held by the platform, content id), first 32 hex "
            f"characters, under the key of snapshot {self.parent.key_of} (record_id_key_of)"
        )
        m["findings_scope"] = "records redacted by this build (new, edited, resurrected)"
        if self.delta is not None:
            m["eligibility"]["decided"] = self.delta.to_manifest()
        m["incremental"] = {
            "rule": "a full build's records at the same as-of time: the parent's records "
            "whose content is unchanged (same keyed content hash) and whose author is "
            "eligible at as_of and built_at are reused; new and edited content is "
            "processed; the duplicate pass runs on every record's keys",
            "directory": _directory_note(ran.counts),
            **ran.counts,
        }
        return m

    def _provenance_rows(self, plan: BuildPlan, ran: _Ran) -> Iterator[dict[str, Any]]:
        assert isinstance(ran, _IncRan)
        elig = _driver_eligibility(plan)
        proofs = _ResolvedProofs(elig)
        for rid, cid, aid, shard in ran.reused_prov:
            ev, pv = proofs[aid]
            yield {
                "record_id": rid,
                "content_id": cid,
                "author_id": aid,
                "consent_event_id": ev,
                "policy_version": pv,
                "shard": shard,
            }
        for task, _ in ran.stages.written():
            prov = read_ipc(task.prov_path())
            for rid, cid, aid in zip(
                *(prov[c].to_pylist() for c in ("record_id", "content_id", "author_id")),
                strict=True,
            ):
                ev, pv = proofs[aid]
                yield {
                    "record_id": rid,
                    "content_id": cid,
                    "author_id": aid,
                    "consent_event_id": ev,
                    "policy_version": pv,
                    "shard": output_name(task.index),
                }

    def _keep_rows(self, plan: BuildPlan, ran: _Ran) -> None:
        assert isinstance(ran, _IncRan) and ran.rows is not None
        sel = plan.selection
        eligibility = keep_eligibility(
            self.db,
            self.settings,
            plan.path,
            self.parent.key_of,
            _driver_eligibility(plan),
            sel.purpose,
            sel.as_of,
            sel.now,
            rows=self.delta.table if self.delta is not None else None,
        )
        # the kept records' fakes: the parent's for the reused ones, then the processed
        reused = pa.array(sorted(ran.reused_ids), pa.string())
        parent_fakes = inc.read_fakes(self.parent.snap.path)
        inc.write_fakes(
            plan.path,
            [
                inc.kept_fakes(parent_fakes, reused),
                *(
                    inc.task_fakes(t, read_ipc(t.prov_path(), ["record_id"])["record_id"])
                    for t, _ in ran.stages.written()
                ),
            ],
        )
        self._keep_elements(plan, ran)
        inc.write_rows(
            plan.path,
            ran.rows.parts(),
            {
                "key_of": self.parent.key_of,
                "config": inc.config_fingerprint(plan.config),
                "content_hash": inc.CONTENT_HASH,
                "directory": ran.directory,
                "directory_elements": ELEMENTS_FORMAT,
                "eligibility": eligibility,
                **({"lake_files": plan.lake_digests} if plan.lake_digests is not None else {}),
            },
            ran.rows.schema,
        )

    def _keep_elements(self, plan: BuildPlan, ran: _IncRan) -> None:
        """This build's directory elements beside its rows: computed for the delta, the
        parent's when the directory is the parent's, else computed now."""
        out = plan.path / inc.ROWS_DIR / inc.ELEMENTS_FILE
        parent = self.parent.snap.path / inc.ROWS_DIR / inc.ELEMENTS_FILE
        computed = plan.work / inc.ELEMENTS_FILE
        if computed.exists():
            atomic_write_bytes(out, computed.read_bytes(), mode=0o600)
        elif (
            ran.directory == self.parent.meta.get("directory")
            and self.parent.meta.get("directory_elements") == ELEMENTS_FORMAT
            and read_elements(parent) is not None
        ):
            atomic_write_bytes(out, parent.read_bytes(), mode=0o600)
        else:
            hkey = self._keys()[2]
            _elements_of(self.executor, plan, hkey, out)

    def finish(self, plan: BuildPlan, ran: _Ran, proof: _Proof) -> Any:
        result = super().finish(plan, ran, proof)
        with self.db.session() as s:
            lineage_repo.set_parent(s, plan.snapshot_id, self.parent.snap.id)
            lineage_repo.add_edge(
                s,
                "snapshot_derived",
                self.parent.snap.id,
                plan.snapshot_id,
                at=plan.selection.now,
                meta={
                    "reason": "incremental",
                    **{
                        k: v for k, v in proof.manifest["incremental"].items() if isinstance(v, int)
                    },
                },
            )
        return result


@dataclass
class _Chunk:
    """Selected rows of eligible authors, in stream order: from the SQL table or one
    lake row group (``ref``: file index, row group; ``positions`` in it)."""

    content_ids: pa.Array
    table: pa.Table | None  # the input-shard columns; None: a lake file read without texts
    ref: tuple[int, int] | None = None
    positions: np.ndarray | None = None
    lake: _LakeRead | None = None

    def rows(self, mask: np.ndarray) -> pa.Table:
        """The input-shard columns of the rows in ``mask``."""
        if self.table is not None:
            return self.table.filter(pa.array(mask))
        assert self.ref is not None and self.positions is not None and self.lake is not None
        return self.lake.rows(*self.ref, self.positions[mask])


def _as_input(table: pa.Table) -> pa.Table:
    return table if table.schema == INPUT else table.cast(INPUT)


def _sql_chunks(
    batches: Iterator[pa.Table], eligible: Container[str], reasons: dict[str, str]
) -> Iterator[_Chunk]:
    for batch in batches:
        if batch.schema != INPUT:
            batch = batch.cast(INPUT)
        batch, dropped = consent_gate(batch, eligible, reasons)
        if dropped:
            raise IntegrityError(
                "content batch holds rows by ineligible authors although it was "
                "selected for eligible authors only"
            )
        yield _Chunk(batch["content_id"].combine_chunks(), batch)


class _LakeRead:
    """The lake's selected rows of eligible authors, one row group at a time, with the
    selection counts of every row. A file the parent read byte for byte (same SHA-256,
    taken before any row is read) is read without its texts: its rows are the parent's
    (content ids are unique in the lake), found by record id; its texts are read only
    for rows the parent did not see (a newly eligible author, a later as-of)."""

    def __init__(
        self,
        plan: BuildPlan,
        eligible: Container[str],
        reasons: dict[str, str],
        parent_meta: dict[str, Any],
        read_all: bool,
    ) -> None:
        assert plan.lake is not None and plan.lake_digests is not None
        self.lake = plan.lake
        self.plan = plan
        self.eligible = eligible
        self.files, self.later = plan.lake.files_to_read(plan.selection.as_of)
        before = parent_meta.get("lake_files") or {}
        self.unchanged = (
            set() if read_all else {p for p, d in plan.lake_digests.items() if before.get(p) == d}
        )
        self.reasons = reasons
        self.outcome: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()  # consent-gated rows by reason

    def chunks(self) -> Iterator[_Chunk]:
        if self.later:
            self.outcome["created_after_as_of"] += self.later
        for fi, f in enumerate(self.files):
            texts = f.path not in self.unchanged
            for g in self.lake.gate_row_groups(
                f, *self.plan.selection.filters, self.eligible, texts=texts
            ):
                self.outcome.update(g.counts)
                self.dropped.update(reason_counts(g.gated_authors, self.reasons))
                if len(g.positions):
                    table = _as_input(g.table) if g.table is not None else None
                    yield _Chunk(g.content_ids, table, (fi, g.row_group), g.positions, self)

    def rows(self, fi: int, row_group: int, positions: np.ndarray) -> pa.Table:
        return _as_input(self.lake.read_rows(self.files[fi], row_group, positions.tolist()))

    def check_unchanged(self) -> None:
        """Every file read without its texts still has the digest it had at plan time."""
        assert self.plan.lake_digests is not None
        for f in self.files:
            if f.path in self.unchanged and self.lake.digest(f) != self.plan.lake_digests[f.path]:
                raise ConflictError(
                    f"{self.lake.root / f.path}: the lake file changed during the build; "
                    "a lake's files must not be rewritten while a build reads them (rerun it)"
                )


@dataclass
class _ChildRows:
    """A child's rows file to be: rows ``take`` of ``table`` in that order, taken a part
    at a time when written (:data:`ROWS_PART` rows: the rows file's row group size)."""

    table: pa.Table
    take: np.ndarray

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    def parts(self) -> Iterator[pa.Table]:
        for k in range(0, len(self.take), ROWS_PART):
            yield self.table.take(pa.array(self.take[k : k + ROWS_PART], pa.int64()))


#: rows per part of a child's rows file (the rows file's row group size)
ROWS_PART = 1 << 20


class _ResolvedProofs:
    """``proofs[author]`` of an eligibility map, refusing an unresolved one."""

    def __init__(self, elig: _Eligibility) -> None:
        self.elig = elig

    def __getitem__(self, author: str) -> tuple[str | None, int | None]:
        if author in self.elig.unresolved:
            raise IntegrityError(
                "a record's author was decided from the parent and their consent proof "
                "was not resolved"
            )
        return self.elig.proofs[author]


class _KeyIndex:
    """Parent rows by a fixed-width key (content hash, record id): ``index(keys)`` gives
    each key's parent row, -1 where the parent has none (vectorised: a sorted array, no
    per-row dict)."""

    def __init__(self, column: pa.ChunkedArray, snapshot_id: str, what: str) -> None:
        arr = column.combine_chunks()
        if arr.null_count:
            raise IntegrityError(f"snapshot {snapshot_id}: rows file: a {what} is null")
        width = arr.type.byte_width
        self.dtype = f"S{width}"
        data = arr.buffers()[1]
        n = len(arr)
        # fixed-width bytes (equal widths: comparing them compares the keys)
        h = np.frombuffer(data, self.dtype, count=n, offset=arr.offset * width) if n else None
        self.order = np.argsort(h, kind="stable") if h is not None else np.empty(0, np.int64)
        self.sorted = h[self.order] if h is not None else np.empty(0, self.dtype)
        if n > 1 and bool((self.sorted[1:] == self.sorted[:-1]).any()):
            raise IntegrityError(f"snapshot {snapshot_id}: rows file repeats a {what}")

    def __call__(self, keys: Sequence[bytes] | Sequence[str]) -> np.ndarray:
        n = len(keys)
        if n == 0 or len(self.sorted) == 0:
            return np.full(n, -1, dtype=np.int64)
        if isinstance(keys[0], str):
            joined = "".join(cast(Sequence[str], keys)).encode("ascii")
        else:
            joined = b"".join(cast(Sequence[bytes], keys))
        h = np.frombuffer(joined, self.dtype, count=n)
        pos = np.minimum(np.searchsorted(self.sorted, h), len(self.sorted) - 1)
        hit = self.sorted[pos] == h
        return np.where(hit, self.order[pos], -1).astype(np.int64)


def _fixed(column: pa.ChunkedArray, width: int, snapshot_id: str, what: str) -> pa.ChunkedArray:
    """``column`` (strings of ``width`` ASCII characters) as fixed-width binary."""
    try:
        return pc.cast(column, pa.binary(width))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise IntegrityError(
            f"snapshot {snapshot_id}: rows file: a {what} is not {width} characters"
        ) from None


def _rids(record_ids: pa.ChunkedArray, rows: np.ndarray) -> list[str]:
    """The record ids of parent ``rows``."""
    if len(rows) == 0:
        return []
    return record_ids.take(pa.array(rows, pa.int64())).to_pylist()  # type: ignore[no-any-return]


def _not_in(drop: set[int]) -> Callable[[pa.Table], list[bool]]:
    """Which stage-1 rows survived the duplicate pass, given the dropped positions."""

    def kept(s1: pa.Table) -> list[bool]:
        return [i not in drop for i in range(s1.num_rows)]

    return kept


def _col(table: pa.Table, name: str, rows: np.ndarray) -> np.ndarray:
    col = table[name].take(pa.array(rows, pa.int64()))
    return col.to_numpy(zero_copy_only=False)


def _next_index(parent: _Parent) -> int:
    """The first shard index after the parent's files (``data/part-NNNNN.parquet``)."""
    idx = [
        int(str(f["path"]).rsplit("-", 1)[1].split(".")[0])
        for f in parent.manifest.get("files", [])
    ]
    return max(idx) + 1 if idx else 0


def _steps(
    counts: dict[str, int],
    shards: Plan,
    reused_drops: Counter[str],
    s1: list[StageOneResult],
    dedupe: Counter[str],
) -> list[dict[str, Any]]:
    """The step table a full build gives: select, consent, then each shard step."""
    by_step: dict[str, Counter[str]] = {name: Counter() for name in STAGE_STEP_NAMES}
    for outcome, n in reused_drops.items():
        step, _, reason = outcome.partition(":")
        by_step.setdefault(step, Counter())[reason] += n
    for r in s1:
        for step, d in r.dropped_by_step.items():
            by_step.setdefault(step, Counter()).update(d)
    by_step["dedupe"] = Counter({k: v for k, v in dedupe.items() if v})
    rows: list[tuple[str, dict[str, int]]] = [
        ("select", {k: v for k, v in counts.items() if k != "selected"}),
        ("consent", dict(shards.consent_dropped)),
        *((name, dict(by_step.get(name, {}))) for name in STAGE_STEP_NAMES),
    ]
    out = []
    n = sum(counts.values())
    for name, dropped in rows:
        o = n - sum(dropped.values())
        out.append({"step": name, "in": n, "out": o, "dropped": dict(sorted(dropped.items()))})
        n = o
    return out


def _directory_note(counts: dict[str, Any]) -> str:
    """The manifest's word on the members' directory since the parent."""
    changed = counts.get("directory_entries_changed", 0)
    if changed < 0:
        return "changed: every row processed again (the parent keeps no directory elements)"
    if changed == 0:
        return "unchanged"
    return (
        f"changed: {changed} entries; the {counts['reprocessed_directory_changed']} unchanged "
        "rows they could redact differently processed again"
    )


def _touched(
    texts: pa.ChunkedArray | pa.Array,
    same: np.ndarray,
    js: np.ndarray,
    delta: DirectoryDelta,
    fake_hit: np.ndarray,
    chunk_chars: int,
) -> np.ndarray:
    """Which rows of a chunk (of those in ``same``, the parent's row ``js``) a change of
    the directory can redact differently: a changed entry matches in the text, the
    parent's fakes for the row could now name a member (``fake_hit``), or the text is
    long enough to be analysed in windows (whose edges the check does not model)."""
    out = np.zeros(len(same), dtype=bool)
    idx = np.flatnonzero(same)
    values = texts.take(pa.array(idx)).to_pylist()
    for i, t in zip(idx.tolist(), values, strict=True):
        if t is not None and (fake_hit[js[i]] or len(t) > chunk_chars or delta.touches(t)):
            out[i] = True
    return out


def _elements_of(executor: Any, plan: BuildPlan, hkey: bytes, out: Path) -> int:
    """The build's directory elements, computed on a worker from its compiled directory
    and written to ``out``; returns how many."""
    out.parent.mkdir(parents=True, exist_ok=True)
    job = (
        str((plan.work / "directory.arrow").resolve()),
        str((plan.work / "directory.jsonl").resolve()),
        str(out.resolve()),
        hkey.hex(),
    )
    (n,) = executor.map(elements_job, [job])
    return int(n)


def _keep_elements(executor: Any, plan: BuildPlan, hkey: bytes) -> str:
    """The build's directory elements beside its rows (the next incremental build diffs
    its own directory against them); returns their format."""
    _elements_of(executor, plan, hkey, plan.path / inc.ROWS_DIR / inc.ELEMENTS_FILE)
    return ELEMENTS_FORMAT


def keep_full_build_rows(build: SnapshotBuild, plan: BuildPlan, ran: _Ran) -> None:
    """The rows file of a full build, from its work dir (before it is removed)."""
    wrote = {task.name for task, _ in ran.stages.written()}

    def kept_of(task: ShardTask) -> set[str]:
        """The record ids of ``task``'s shard: read one task at a time, never all."""
        if task.name not in wrote:
            return set()
        return set(read_ipc(task.prov_path(), ["record_id"])["record_id"].to_pylist())

    hkey = snapshot_key(build.settings, plan.snapshot_id, "content-hash")
    t0 = time.perf_counter()
    meta: dict[str, Any] = {
        "key_of": plan.snapshot_id,
        "config": inc.config_fingerprint(plan.config),
        "content_hash": inc.CONTENT_HASH,
        "directory": inc.directory_digest(plan.work / "directory.jsonl", hkey),
    }
    if plan.lake_digests is not None:
        meta["lake_files"] = plan.lake_digests
    sel = plan.selection
    if isinstance(plan.eligibility, _Eligibility):  # planned in the driver
        meta["eligibility"] = keep_eligibility(
            build.db,
            build.settings,
            plan.path,
            plan.snapshot_id,
            plan.eligibility,
            sel.purpose,
            sel.as_of,
            sel.now,
        )
    elif isinstance(plan.eligibility, PartitionedEligibility):  # planned on the workers
        meta["eligibility"] = keep_eligibility_on_workers(
            build.db,
            build.settings,
            build.executor,
            plan.path,
            plan.work,
            plan.snapshot_id,
            plan.eligibility,
            sel.purpose,
            sel.as_of,
            sel.now,
        )
    inc.write_fakes(
        plan.path,
        (
            inc.task_fakes(t, pa.array(sorted(kept_of(t)), pa.string()))
            for t in ran.stages.tasks
            if t.name in wrote
        ),
    )
    meta["directory_elements"] = _keep_elements(build.executor, plan, hkey)
    inc.write_rows(
        plan.path,
        inc.full_build_rows(ran.stages.tasks, kept_of, hkey),  # streamed: one shard at a time
        meta,
        inc.rows_schema(plan.config.bands),
    )
    build.timings["keep_rows"] = time.perf_counter() - t0


__all__ = ["IncrementalBuild", "incremental_build", "keep_full_build_rows", "load_parent"]
