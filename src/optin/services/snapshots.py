"""Build, list and show training-data snapshots.

``build_snapshot`` checks its inputs and runs a :class:`SnapshotBuild`:

- ``plan``: the :class:`Selection` (kinds and visibilities the policy allows at the
  as-of time and at build time), eligibility at both times, the pinned ledger head and
  the snapshot id (a :class:`BuildPlan`);
- ``run``: connection-free shard tasks on an executor (:mod:`optin.pipeline`);
- ``prove``: the Merkle root over the record ids and the manifest (its step table from
  the pipeline's step names);
- ``finish``: Croissant, datasheet, manifest, and the provenance rows with status
  ``complete`` in one transaction.

``list_snapshots`` / ``get_snapshot`` give every adapter the same
:class:`SnapshotSummary`.

Snapshot ids are derived from the inputs (purpose, as-of, config, the eligible authors
with their consent events, and facts about the selected content), so rerunning the same
command after a kill finds the unfinished snapshot and resumes it, a rerun after
completion answers "up to date", and any change (a withdrawal, a deleted post) gives a
new snapshot.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optin.domain.eligibility import ELIGIBLE_REASONS, PolicySet, Reason
from optin.domain.model import PolicyVersion
from optin.errors import ConfigError, InputError, IntegrityError, NotFoundError
from optin.files import create_secret_file
from optin.pipeline.config import BuildConfig
from optin.pipeline.executors import Executor, engine_names, make_executor, require_engine
from optin.pipeline.io import atomic_write_bytes, read_ipc, sha256_bytes
from optin.pipeline.lake import LakeSource
from optin.pipeline.merkle import merkle_root_sorted_runs
from optin.pipeline.plan import Plan, write_input_shards
from optin.pipeline.results import BuildProgress, drops_by_step
from optin.pipeline.run import StageResults, dedupe_pass, run_stages
from optin.pipeline.shard import ShardTask, output_name
from optin.pipeline.steps.lineup import STAGE_STEP_NAMES
from optin.privacy.api import RedactorConfig
from optin.privacy.detect import compile_directory_job
from optin.services import snapshot_partitions as partitions
from optin.services.directory import erased_names, erasure_markers
from optin.services.eligibility import decide_all
from optin.services.policy import policy_set
from optin.settings import Settings
from optin.storage import ledger
from optin.storage import lineage as lineage_repo
from optin.storage import snapshots as repo
from optin.storage.database import Database

log = logging.getLogger(__name__)

KEY_FILE = "snapshot-records.key"


@dataclass
class BuildResult:
    snapshot_id: str
    path: Path
    status: str  # built | resumed | up_to_date
    records: int
    manifest: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "path": str(self.path),
            "status": self.status,
            "records": self.records,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "counts": self.manifest.get("counts", {}),
            **{k: self.manifest[k] for k in ("parent", "incremental") if k in self.manifest},
        }


# -- keys ------------------------------------------------------------------------------


def _install_key(settings: Settings) -> bytes:
    """The installation's secret for record ids (created once, 0600)."""
    path = settings.keys_dir / KEY_FILE
    if not path.exists():
        create_secret_file(path, secrets.token_bytes(32))
    data = path.read_bytes()
    if len(data) < 32:
        raise ConfigError(f"{path}: snapshot key file is damaged (expected 32 bytes)")
    return data[:32]


def snapshot_key(settings: Settings, snapshot_id: str, use: str) -> bytes:
    """Per-snapshot key for ``use`` (``record-id`` or ``pseudonym``)."""
    return hmac.new(_install_key(settings), f"{use}:{snapshot_id}".encode(), "sha256").digest()


def surrogate_key(settings: Settings) -> bytes:
    """The installation's key for surrogates. Not per snapshot: the surrogate operator
    already keys every fake by the record's text, so fakes never link records, and a
    record reads the same in every snapshot that holds it (a rebuild, a lake build)."""
    return hmac.new(_install_key(settings), b"surrogate", "sha256").digest()


# -- paths -----------------------------------------------------------------------------


def stored_path(home: Path, path: Path) -> str:
    """How a snapshot directory is stored: relative to the data directory ``home`` (so a
    copied data directory verifies its own files), absolute only when outside it."""
    full = path.resolve()
    try:
        return full.relative_to(home.resolve()).as_posix()
    except ValueError:
        return str(full)


def snapshot_dir(home: Path | None, stored: str) -> Path:
    """The directory of a stored snapshot path (relative ones are under ``home``)."""
    p = Path(stored)
    if p.is_absolute() or home is None:
        return p
    return home / p


# -- helpers ---------------------------------------------------------------------------


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InputError(
            "time must be timezone-aware (UTC)",
            field=name,
            value=str(value),
            allowed="ISO 8601 with a zone, e.g. 2026-11-01T00:00:00Z",
        )
    return value.astimezone(UTC)


def _snapshot_id(purpose: str, as_of: datetime, parts: list[Any]) -> str:
    blob = json.dumps([purpose, as_of.isoformat(), *parts], sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return f"{purpose}-{as_of:%Y%m%d}-{digest}"


@dataclass
class _Eligibility:
    proofs: dict[str, tuple[str | None, int | None]]  # author -> (event id, policy version)
    reasons: dict[str, str]  # author -> why not
    authors_at_as_of: Counter[str]
    digest: str
    #: members whose decision at the as-of time is ELIGIBLE_OPT_OUT_DEFAULT (the rest of
    #: those eligible then are ELIGIBLE), for the eligibility file of a later --since build
    opt_out_at_as_of: set[str] = field(default_factory=set)
    #: eligible members whose proof is not known yet (an incremental build took their
    #: decision from its parent; it resolves the proofs of its records' authors)
    unresolved: set[str] = field(default_factory=set)
    #: the ledger's and member histories' last row ids read before deciding (a later
    #: --since build decides again the members with rows after them)
    watermarks: dict[str, int] = field(default_factory=dict)

    def reason_at_as_of(self, member_id: str) -> str:
        """The member's decision reason at the as-of time."""
        why = self.reasons.get(member_id)
        if why is not None and not why.endswith(AFTER_AS_OF):
            return why
        if member_id in self.opt_out_at_as_of:
            return str(Reason.ELIGIBLE_OPT_OUT_DEFAULT)
        return str(Reason.ELIGIBLE)

    @property
    def eligible_count(self) -> int:
        return len(self.proofs)

    def cleanup(self) -> None:
        """Nothing to remove (the partitioned form removes its files)."""


AFTER_AS_OF = "_AFTER_AS_OF"


def _eligibility(
    db: Database,
    purpose: str,
    as_of: datetime,
    now: datetime,
    member_ids: Sequence[str] | None = None,
) -> _Eligibility:
    """Every member's decision at ``as_of`` and at ``now`` (``member_ids``: only those,
    in chunks; an incremental build's changed members)."""
    proofs: dict[str, tuple[str | None, int | None]] = {}
    reasons: dict[str, str] = {}
    opt_out: set[str] = set()
    by_reason: Counter[str] = Counter()
    marks = history_watermarks(db) if member_ids is None else {}  # before any decision
    for d in _decided(db, purpose, as_of, member_ids):
        by_reason[str(d.reason)] += 1
        if d.eligible and d.reason in ELIGIBLE_REASONS:
            proofs[d.member_id] = (d.consent_event_id, d.policy_version)
            if d.reason is Reason.ELIGIBLE_OPT_OUT_DEFAULT:
                opt_out.add(d.member_id)
        else:
            reasons[d.member_id] = str(d.reason)
    for d in _decided(db, purpose, now, member_ids):
        if d.member_id in proofs and not d.eligible:
            del proofs[d.member_id]
            reasons[d.member_id] = f"{d.reason}{AFTER_AS_OF}"
    h = hashlib.sha256()
    for mid in sorted(proofs):
        ev, pv = proofs[mid]
        h.update(f"{mid}\x1f{ev}\x1f{pv}\n".encode())
    return _Eligibility(proofs, reasons, by_reason, h.hexdigest(), opt_out, watermarks=marks)


def history_watermarks(db: Database) -> dict[str, int]:
    """The last ledger sequence number and the last country/status row ids."""
    from optin.storage.history import history_watermarks as marks

    with db.session() as s:
        return marks(s)


#: members per projection query when only some members are decided (bound parameters)
DECIDE_CHUNK = 5000


def _decided(
    db: Database, purpose: str, at: datetime, member_ids: Sequence[str] | None
) -> Iterator[Any]:
    if member_ids is None:
        yield from decide_all(db, purpose, at)
        return
    ids = sorted(member_ids)
    for i in range(0, len(ids), DECIDE_CHUNK):
        yield from decide_all(db, purpose, at, member_ids=ids[i : i + DECIDE_CHUNK])


def _write_directory(db: Database, path: Path) -> bytes:
    """The members' directory file of a build (erased members as keyed-hash lines),
    streamed to the file (the driver holds no list of members); returns the directory key
    that matches those (empty when nobody was erased)."""
    from optin.files import atomic_text

    # the lines json.dumps({"display_name": name, "handle": handle}) gives, built directly
    quote = json.encoder.encode_basestring_ascii
    markers = erasure_markers(db)
    key = b""
    if markers:
        got = erased_names(db)
        key = got[0] if got else b""
    written = 0
    with atomic_text(path, mode=0o600) as out, db.session() as s:
        for name, handle in repo.iter_directory_rows(s):
            if name and name.strip() and handle:
                out.write(f'{{"display_name": {quote(name)}, "handle": {quote(handle)}}}\n')
                written += 1
        for m in markers:
            out.write(json.dumps({"erased": m}, sort_keys=True) + "\n")
            written += 1
        if not written:
            out.write("\n")
    return key


# -- build -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """What a snapshot selects: ``purpose``'s content as of ``as_of``, built at ``now``,
    of the kinds and visibilities the policy allows both at the as-of time and at build
    time (the policy versions in force at either time are kept for the proof)."""

    purpose: str
    as_of: datetime
    now: datetime
    kinds: tuple[str, ...]
    visibilities: tuple[str, ...]
    policy_at_as_of: PolicyVersion
    policy_at_build: PolicyVersion

    @classmethod
    def resolve(cls, ps: PolicySet, purpose: str, as_of: datetime, now: datetime) -> Selection:
        known = sorted({p for v in ps.versions for p in v.purposes})
        if purpose not in known:
            raise NotFoundError(f"unknown purpose {purpose!r}; valid purposes: {', '.join(known)}")
        pv_t, pv_now = ps.in_force(as_of), ps.in_force(now)
        if (
            pv_t is None
            or pv_now is None
            or purpose not in pv_t.purposes
            or purpose not in pv_now.purposes
        ):
            raise ConfigError(
                f"purpose {purpose!r} is not defined by the policy in force at the as-of time "
                f"{as_of.isoformat()} and at build time; pick a later --as-of"
            )
        p_t, p_now = pv_t.purposes[purpose], pv_now.purposes[purpose]
        return cls(
            purpose=purpose,
            as_of=as_of,
            now=now,
            kinds=tuple(sorted(str(k) for k in p_t.kinds & p_now.kinds)),
            visibilities=tuple(sorted(str(v) for v in p_t.visibilities & p_now.visibilities)),
            policy_at_as_of=pv_t,
            policy_at_build=pv_now,
        )

    @property
    def filters(self) -> tuple[list[str], list[str], datetime]:
        """(kinds, visibilities, as-of): the arguments of the content queries."""
        return list(self.kinds), list(self.visibilities), self.as_of


@dataclass
class BuildPlan:
    """Everything decided before any shard runs; the snapshot id follows from it."""

    selection: Selection
    config: BuildConfig
    eligibility: _Eligibility | partitions.PartitionedEligibility
    head: ledger.LedgerHead
    counts: dict[str, int]  # selection counts by reason, ``selected`` included
    snapshot_id: str
    path: Path
    #: the lake the content comes from (None: the SQL content table), and its selected
    #: rows per author (counted while planning)
    lake: LakeSource | None = None
    lake_author_counts: dict[str, int] | None = None
    #: SHA-256 of each lake file the build reads (path -> digest), taken before any row
    #: is read: what tells a later incremental build which files are unchanged
    lake_digests: dict[str, str] | None = None

    @property
    def work(self) -> Path:
        return self.path / "_work"


@dataclass
class _Ran:
    """What the shard stages produced."""

    shards: Plan
    stages: StageResults


@dataclass
class _Proof:
    """The Merkle root over the record ids, and the policy versions consented under."""

    records: int
    root: str
    consented_under: list[int]
    manifest: dict[str, Any] = field(default_factory=dict)


class SnapshotBuild:
    """One snapshot build: :meth:`plan` (eligibility, selection, id), :meth:`run` (the
    shard stages on the executor), :meth:`prove` (Merkle root, manifest) and
    :meth:`finish` (documents, provenance rows, status ``complete``); :meth:`execute`
    runs them in order, answering ``up_to_date`` for a finished snapshot."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        config: BuildConfig,
        executor: Executor,
        *,
        engine: str,
        workers: int,
        progress: BuildProgress,
        lake: LakeSource | None = None,
        dedupe_on: str = "auto",
        eligibility_on: str = "auto",
    ) -> None:
        self.lake = lake
        self.dedupe_on = dedupe_on
        # issue 15: plan on the workers (snapshot_partitions): eligibility per member
        # partition, the lake gated per file, nothing in the driver that grows with data
        self.partitioned = partitions.partitioned(lake, engine, eligibility_on)
        self.db = db
        self.settings = settings
        self.config = config
        self.executor = executor
        self.engine = engine
        self.workers = workers
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._resumed = False
        #: a lake's selection counts come from the run's own pass (not a plan-time scan)
        self.counts_in_run = False

    def _timed(self, name: str, t0: float) -> None:
        self.timings[name] = time.perf_counter() - t0

    def execute(self, as_of: datetime, now: datetime, t_start: float) -> BuildResult:
        cpu_start = time.process_time()
        plan = self.plan(as_of, now)
        try:
            existing = self._existing(plan)
            if existing is not None:
                return existing
            try:
                ran = self.run(plan)
                result = self.finish(plan, ran, self.prove(plan, ran))
            except Exception as e:
                with self.db.session() as s:
                    repo.set_status(s, plan.snapshot_id, "failed")
                if isinstance(e, InputError):  # bad input (a lake row): no resume
                    shutil.rmtree(plan.work, ignore_errors=True)  # it holds clear text
                raise
        finally:
            plan.eligibility.cleanup()
        result.status = "resumed" if self._resumed else "built"
        self.timings["total"] = time.perf_counter() - t_start
        self.timings["driver_cpu"] = time.process_time() - cpu_start
        return result

    # -- plan --

    def plan(self, as_of: datetime, now: datetime) -> BuildPlan:
        """The selection, eligibility at both times, the pinned ledger head, the id."""
        self.db.require_initialized()
        sel = Selection.resolve(policy_set(self.db), self.config.purpose, as_of, now)
        t0 = time.perf_counter()
        elig: _Eligibility | partitions.PartitionedEligibility
        if self.partitioned:
            self.settings.snapshots_dir.mkdir(parents=True, exist_ok=True)
            elig = partitions.plan_eligibility(
                self.db, self.executor, self.settings.snapshots_dir, sel.purpose, as_of, now
            )
        else:
            elig = self._decide(sel, as_of, now)
        self._timed("eligibility", t0)
        lake_authors: dict[str, int] | None = None
        with self.db.session() as s:
            head = ledger.ledger_head(s)
            if self.lake is None:
                fingerprint = repo.selection_fingerprint(s, *sel.filters)
                counts = repo.selection_counts(s, *sel.filters)
        digests: dict[str, str] | None = None
        if self.lake is not None:
            t0 = time.perf_counter()
            fingerprint = self.lake.fingerprint()
            files, _ = self.lake.files_to_read(as_of)
            digests = {f.path: self.lake.digest(f) for f in files}
            self._timed("lake_digests", t0)
            t0 = time.perf_counter()
            if self.partitioned or self.counts_in_run:
                counts = {}  # counted by the gate (run)
            else:
                counts, lake_authors = self.lake.scan_counts(*sel.filters)
            self._timed("lake_counts", t0)
        sid = _snapshot_id(
            sel.purpose,
            as_of,
            [self.config.fingerprint(), elig.digest, fingerprint, sel.kinds, sel.visibilities],
        )
        path = self.settings.snapshots_dir / sid
        return BuildPlan(
            sel, self.config, elig, head, counts, sid, path, self.lake, lake_authors, digests
        )

    def _decide(self, sel: Selection, as_of: datetime, now: datetime) -> _Eligibility:
        """Eligibility at both times, planned in the driver: every member decided."""
        return _eligibility(self.db, sel.purpose, as_of, now)

    def _existing(self, plan: BuildPlan) -> BuildResult | None:
        """The finished snapshot of ``plan`` (up to date), else mark it ``building``."""
        sid = plan.snapshot_id
        with self.db.session() as s:
            existing = repo.get_snapshot(s, sid)
            if existing is not None and existing.status == "complete":
                shutil.rmtree(plan.work, ignore_errors=True)
                manifest = json.loads(existing.manifest or "{}")
                return BuildResult(
                    sid,
                    snapshot_dir(self.settings.home, existing.path),
                    "up_to_date",
                    int(existing.record_count),
                    manifest,
                    self.timings,
                )
            self._resumed = existing is not None
            repo.upsert_building(
                s,
                snapshot_id=sid,
                purpose=plan.selection.purpose,
                as_of=plan.selection.as_of,
                built_at=plan.selection.now,
                path=stored_path(self.settings.home, plan.path),
                engine=self.engine,
                profile=plan.config.profile,
            )
        self.progress.message(f"{'resuming' if self._resumed else 'building'} snapshot {sid}")
        return None

    # -- run --

    def _redactor(self, plan: BuildPlan) -> RedactorConfig:
        t0 = time.perf_counter()
        directory = plan.work / "directory.jsonl"
        directory_key = _write_directory(self.db, directory)
        # compiled once, on a worker (the driver's memory stays as it was), and loaded by
        # every worker; the JSONL stays the directory's content (the incremental digest,
        # and what the compiled file is checked against)
        compiled = plan.work / "directory.arrow"
        (compiled_sha256,) = self.executor.map(
            compile_directory_job, [(str(directory.resolve()), str(compiled.resolve()))]
        )
        cfg = plan.config
        red_cfg = RedactorConfig(
            profile=cfg.profile,
            operator=cfg.operator,
            per_label=cfg.per_label(),
            key=(
                surrogate_key(self.settings)
                if cfg.operator == "surrogate"
                else snapshot_key(self.settings, plan.snapshot_id, "pseudonym")
            ),
            drop_density=cfg.drop_density,
            min_real_words=cfg.min_real_words,
            directory_path=str(directory.resolve()),
            directory_key=directory_key,
            directory_compiled=str(compiled.resolve()),
            directory_compiled_sha256=compiled_sha256,
        )
        self._timed("directory", t0)
        return red_cfg

    def run(self, plan: BuildPlan) -> _Ran:
        """Write the consent-gated input shards and run both stages on the executor."""
        plan.work.mkdir(parents=True, exist_ok=True)
        red_cfg = self._redactor(plan)
        rkey = snapshot_key(self.settings, plan.snapshot_id, "record-id")
        cfg, elig = plan.config, plan.eligibility
        if isinstance(elig, partitions.PartitionedEligibility):
            return self._run_partitioned(plan, elig, red_cfg, rkey)
        shards = Plan()
        t0 = time.perf_counter()
        with self.db.session() as s:
            # consent counts from rows per author; texts are read for eligible authors only
            eligible = elig.proofs.keys()
            author_counts, batches = self._selected(s, plan, eligible)
            written = write_input_shards(
                batches,
                eligible=eligible,
                reasons=elig.reasons,
                shard_size=cfg.shard_size,
                work=plan.work,
                plan=shards,
                author_counts=author_counts,
            )
            tasks = (
                ShardTask(str(plan.path), i, cfg, red_cfg, rkey, input_sha256=sha, rows=rows)
                for i, rows, sha in written
            )
            stages = self._run_tasks(tasks, t0)
        return _Ran(shards, stages)

    def _run_partitioned(
        self,
        plan: BuildPlan,
        elig: partitions.PartitionedEligibility,
        red_cfg: RedactorConfig,
        rkey: bytes,
    ) -> _Ran:
        """:meth:`run` with the gate and the cut on the workers (snapshot_partitions)."""
        assert plan.lake is not None
        cfg = plan.config
        t0 = time.perf_counter()
        gated = partitions.gate_and_cut(
            self.executor, plan.lake, elig, plan.work, *plan.selection.filters, cfg.shard_size
        )
        plan.counts.clear()
        plan.counts.update(gated.counts)
        self._timed("gate", t0)
        t0 = time.perf_counter()
        tasks = [
            ShardTask(str(plan.path), i, cfg, red_cfg, rkey, input_sha256=sha, rows=rows)
            for i, rows, sha in gated.shards.shards
        ]
        return _Ran(gated.shards, self._run_tasks(tasks, t0))

    def _selected(self, s: Any, plan: BuildPlan, eligible: Any) -> tuple[Any, Any]:
        """(rows per author, batches of the eligible authors' selected content): from the
        lake when the plan read it, else from the SQL content table."""
        cfg = plan.config
        if plan.lake is not None and plan.lake_author_counts is not None:
            batches = plan.lake.iter_selected(
                *plan.selection.filters, authors=eligible, batch_size=cfg.shard_size
            )
            return plan.lake_author_counts, batches
        batches = repo.iter_selected(
            s, *plan.selection.filters, authors=eligible, batch_size=cfg.shard_size
        )
        return repo.selected_author_counts(s, *plan.selection.filters), batches

    def _run_tasks(self, tasks: Any, t0: float) -> StageResults:
        """Run the shard tasks on the executor; times them from ``t0``."""
        stages = run_stages(
            tasks,
            self.executor,
            on_stage=self.progress.stage,
            on_done=self.progress.advance,
            dedupe_on=self.dedupe_on,
        )
        self._timed("shards", t0)
        self._step_timings(stages)
        return stages

    def _step_timings(self, stages: StageResults) -> None:
        for r in stages.all():
            if r.skipped:
                continue
            for step, sec in r.seconds.items():
                self.timings[f"cpu_{step}"] = self.timings.get(f"cpu_{step}", 0.0) + sec
                self.timings[f"records_{step}"] = (
                    self.timings.get(f"records_{step}", 0) + r.records[step]
                )
        self.timings["dedupe_global"] = stages.dedupe_seconds

    # -- prove --

    def prove(self, plan: BuildPlan, ran: _Ran) -> _Proof:
        """The Merkle root over every record id, and the manifest."""
        t0 = time.perf_counter()
        written = ran.stages.written()
        # streaming: the shards' record ids are sorted (stage 2), merged k-way
        leaves, root = merkle_root_sorted_runs(
            partitions.record_id_runs([t.prov_path() for t, _ in written])
        )
        versions: set[int] = set()
        for task, _ in written:  # one shard's proofs in memory at a time
            versions.update(pv for _ev, pv in _shard_proofs(plan, task) if pv is not None)
        proof = _Proof(leaves, root, sorted(versions))
        self._timed("merkle", t0)
        proof.manifest = self._manifest(plan, ran, proof)
        return proof

    def _manifest(self, plan: BuildPlan, ran: _Ran, proof: _Proof) -> dict[str, Any]:
        from optin.pipeline.merkle import CONSTRUCTION

        sel, cfg, elig = plan.selection, plan.config, plan.eligibility
        pv_t, pv_now = sel.policy_at_as_of, sel.policy_at_build
        findings = Counter[str]()
        for r in ran.stages.stage1:
            findings.update(r.findings)
        n = proof.records
        return {
            "format": "optin-snapshot/1",
            "snapshot_id": plan.snapshot_id,
            "purpose": cfg.purpose,
            "purpose_title": pv_t.purposes[cfg.purpose].title,
            "as_of": sel.as_of.isoformat(),
            # bitemporal: decisions as of as_of use the events effective by as_of that the
            # ledger had recorded by as_of_recorded (the same time)
            "as_of_recorded": sel.as_of.isoformat(),
            "built_at": sel.now.isoformat(),
            "policy": {
                "in_force_at_as_of": pv_t.version,
                "in_force_at_build": pv_now.version,
                "consented_under": proof.consented_under,
                "sha256_at_as_of": pv_t.sha256,
            },
            "ledger": {
                "length": plan.head.seq,
                "head_hash": plan.head.hash,
                **_log_pin(self.db, self.settings, plan.head.seq, sel.now),  # issue 13
            },
            "config": {
                **cfg.to_dict(),
                "engine": self.engine,
                "workers": self.workers,
                # where the global duplicate pass ran (the result is the same either way)
                "dedupe_pass": ran.stages.dedupe_pass,
            },
            "content_source": (
                plan.lake.to_manifest()
                if plan.lake is not None
                else {"kind": "sql", "table": "content_items"}
            ),
            "eligibility": {
                "rule": "author eligible at as_of AND at built_at (domain.eligibility); "
                "as of a time T only events effective at or before T and recorded at or "
                "before T count",
                "members_by_reason_at_as_of": dict(sorted(elig.authors_at_as_of.items())),
                "eligible_authors": elig.eligible_count,
            },
            "counts": {
                "candidates": sum(plan.counts.values()),
                "selected": plan.counts.get("selected", 0),
                "steps": _step_table(plan.counts, ran),
                "records": n,
            },
            "redaction": redaction_summary(cfg),
            "findings_by_label": dict(sorted(findings.items())),
            "files": [
                {"path": r.file, "sha256": r.sha256, "rows": r.rows, "bytes": r.bytes}
                for r in ran.stages.stage2
                if r.rows
            ],
            "record_count": n,
            "record_id": "HMAC-SHA256(per-snapshot key held by the platform, content id), "
            "first 32 hex characters; opaque outside the platform",
            "merkle": {"root": proof.root, "leaves": n, "construction": CONSTRUCTION},
        }

    # -- finish --

    def finish(self, plan: BuildPlan, ran: _Ran, proof: _Proof) -> BuildResult:
        """Documents and manifest on disk, provenance rows and ``complete`` in one
        transaction; the work dir (clear text) is removed."""
        from optin.pipeline.documents import write_documents
        from optin.services.tlog import manifest_signature_field, write_manifest_note

        sid = plan.snapshot_id
        proof.manifest = {**proof.manifest, **manifest_signature_field(self.settings)}
        manifest_text = (
            json.dumps(proof.manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )
        t0 = time.perf_counter()
        write_documents(plan.path, proof.manifest, plan.selection.policy_at_as_of)
        atomic_write_bytes(plan.path / "manifest.json", manifest_text.encode("utf-8"))
        write_manifest_note(self.settings, plan.path, manifest_text)  # issue 13
        self._keep_rows(plan, ran)  # beside the shards, for a later --since build
        with self.db.session() as s:
            n_rows = repo.replace_provenance(s, sid, self._provenance_rows(plan, ran))
            repo.complete(
                s,
                sid,
                built_at=plan.selection.now,
                record_count=proof.records,
                manifest_text=manifest_text,
                manifest_sha256=sha256_bytes(manifest_text.encode("utf-8")),
            )
        self._timed("finalise", t0)
        shutil.rmtree(plan.work, ignore_errors=True)  # holds clear text: never left behind
        if n_rows != proof.records:  # pragma: no cover - defensive
            raise IntegrityError(
                f"snapshot {sid}: {n_rows} provenance rows for {proof.records} records"
            )
        return BuildResult(sid, plan.path, "built", proof.records, proof.manifest, self.timings)

    def _provenance_rows(self, plan: BuildPlan, ran: _Ran) -> Iterator[dict[str, Any]]:
        return _provenance(plan, ran)

    def _keep_rows(self, plan: BuildPlan, ran: _Ran) -> None:
        """``_incremental/`` beside the shards (:mod:`optin.pipeline.incremental`)."""
        from optin.services.incremental import keep_full_build_rows

        keep_full_build_rows(self, plan, ran)


def redaction_summary(cfg: BuildConfig) -> dict[str, Any]:
    """The manifest's ``redaction`` block: the profile, the operator and the record-drop
    rule with its parameters, stated in words."""
    rule = []
    if cfg.min_real_words is not None:
        rule.append(
            f"too_little_text_left: fewer than {cfg.min_real_words} words of the record's "
            "own text remain outside the redacted spans (a word is a run of letters and "
            "digits with a letter; each character of a script written without spaces "
            "counts as one)"
        )
    if cfg.drop_density is not None:
        rule.append(
            f"pii_density: more than {cfg.drop_density} of the record's non-space "
            "characters were redacted"
        )
    return {
        "profile": cfg.profile,
        "operator": cfg.operator,
        "per_label": dict(cfg.per_label()),
        "replacement": (
            "realistic fake values (never the original, never a name or handle the member "
            "directory recognizes; "
            "the same entity gets the same fake within a record and another one in "
            "another record; a record reads the same in every snapshot); cards, IBANs and "
            "government ids get type tags such as [IBAN]"
            if cfg.operator == "surrogate"
            else f"the '{cfg.operator}' operator's replacements"
            + (" (type tags such as [PERSON])" if cfg.operator == "mask" else "")
        ),
        "min_real_words": cfg.min_real_words,
        "drop_density": cfg.drop_density,
        "drop_rule": "; ".join(rule) or "no record is dropped for its personal data",
    }


def _step_table(counts: dict[str, int], ran: _Ran) -> list[dict[str, Any]]:
    """The manifest's step table: rows in and out and drops by reason of the driver's
    ``select`` and ``consent`` steps, then of each shard step by its name."""
    by_step = drops_by_step(ran.stages.all())
    rows: list[tuple[str, dict[str, int]]] = [
        ("select", {k: v for k, v in counts.items() if k != "selected"}),
        ("consent", dict(ran.shards.consent_dropped)),
        *((name, dict(by_step.get(name, {}))) for name in STAGE_STEP_NAMES),
    ]
    steps = []
    n = sum(counts.values())
    for name, dropped in rows:
        out = n - sum(dropped.values())
        steps.append({"step": name, "in": n, "out": out, "dropped": dict(sorted(dropped.items()))})
        n = out
    return steps


def _provenance(plan: BuildPlan, ran: _Ran) -> Iterator[dict[str, Any]]:
    """Provenance rows, streamed from the shards' side files."""
    for task, _ in ran.stages.written():
        prov = read_ipc(task.prov_path())
        shard_file = output_name(task.index)
        for (rid, cid, aid), (ev, pv) in zip(
            zip(
                prov["record_id"].to_pylist(),
                prov["content_id"].to_pylist(),
                prov["author_id"].to_pylist(),
                strict=True,
            ),
            _shard_proofs(plan, task, prov),
            strict=True,
        ):
            yield {
                "record_id": rid,
                "content_id": cid,
                "author_id": aid,
                "consent_event_id": ev,
                "policy_version": pv,
                "shard": shard_file,
            }


def build_snapshot(
    db: Database,
    settings: Settings,
    purpose: str,
    as_of: datetime | None = None,
    *,
    engine: str = "local",
    workers: int = 1,
    scheduler: str | None = None,
    profile: str = "default",
    config: BuildConfig | None = None,
    now: datetime,
    progress: BuildProgress | None = None,
    content: str | None = None,
    dedupe_on: str = "auto",
    since: str | None = None,
    eligibility_on: str = "auto",
) -> BuildResult:
    """Build (or resume) the snapshot of ``purpose`` as of ``as_of`` (default now);
    ``content``: a Parquet lake (directory or glob, see :mod:`optin.pipeline.lake`) to
    read the posts from instead of the SQL content table; ``dedupe_on``: where the global
    duplicate pass runs (:data:`optin.pipeline.run.DEDUPE_ON`); ``since``: a snapshot id
    (or ``latest``) to build incrementally from (:mod:`optin.services.incremental`)."""
    t_start = time.perf_counter()
    now = _utc(now, "now")
    as_of = _utc(as_of, "as_of") if as_of is not None else now
    if as_of > now:
        raise InputError(
            "the as-of time is in the future",
            field="--as-of",
            value=as_of.isoformat(),
            allowed=f"a time at or before {now.isoformat()}",
        )
    require_engine(engine)
    cfg = config or BuildConfig(purpose=purpose, profile=profile)
    if cfg.purpose != purpose:
        raise ConfigError(f"config is for purpose {cfg.purpose!r}, not {purpose!r}")
    lake = LakeSource.open(content) if content is not None else None  # schema errors first
    executor = make_executor(engine, workers=workers, scheduler=scheduler)  # fails early
    try:
        dedupe_pass(executor, dedupe_on, 0)  # a wrong --dedupe-on fails before the plan
    except Exception:
        executor.close()
        raise
    try:
        executor.warm()  # workers start up while eligibility and the plan run
        make: Callable[..., SnapshotBuild] = SnapshotBuild
        if since is not None:
            from optin.services.incremental import incremental_build

            make = incremental_build(db, settings, since, cfg, lake)
        build = make(
            db,
            settings,
            cfg,
            executor,
            engine=engine,
            workers=workers,
            progress=progress or BuildProgress(),
            lake=lake,
            dedupe_on=dedupe_on,
            eligibility_on=eligibility_on,
        )
        return build.execute(as_of, now, t_start)
    finally:
        executor.close()


def _shard_proofs(
    plan: BuildPlan, task: ShardTask, prov: Any = None
) -> list[tuple[str | None, int | None]]:
    """(consent event, policy version) of each provenance row of one shard: from the
    driver's eligibility map, or from the shard's consent side file when the plan ran
    on the workers."""
    if prov is None:
        prov = read_ipc(task.prov_path(), ["content_id", "author_id"])
    elig = plan.eligibility
    if isinstance(elig, partitions.PartitionedEligibility):
        by_content = partitions.shard_proofs(task.work / "consent" / f"{task.name}.arrow")
        return [by_content[c] for c in prov["content_id"].to_pylist()]
    return [elig.proofs[a] for a in prov["author_id"].to_pylist()]


# -- list / show -----------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotSummary:
    """One snapshot as every adapter shows it (CLI list, dashboard, admin pages, API).

    ``excluded`` (records dropped at every step, by reason) and ``findings`` (personal
    data redacted, by label) are read from the manifest; ``manifest`` is filled by
    :func:`get_snapshot` only.
    """

    id: str
    purpose: str
    as_of: datetime
    built_at: datetime | None
    status: str
    records: int
    engine: str | None
    profile: str | None
    path: str
    manifest_sha256: str | None
    excluded: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    build_status: str = ""
    stale_records: int = 0
    stale_reasons: dict[str, int] = field(default_factory=dict)
    stale_since: datetime | None = None
    parent_id: str | None = None
    children: tuple[str, ...] = ()
    retired_at: datetime | None = None
    retired_by: str | None = None

    @classmethod
    def from_row(
        cls,
        row: Any,
        *,
        with_manifest: bool = False,
        stale: dict[str, Any] | None = None,
        children: Sequence[str] = (),
    ) -> SnapshotSummary:
        """``status`` is what the snapshot is now: ``retired`` (shards deleted), ``stale``
        (complete, but ``stale_records`` of its records are no longer eligible), else the
        build status (``building``, ``complete``, ``failed``) kept in ``build_status``."""
        manifest = _parse_manifest(row.manifest)
        stale = stale or {}
        retired_at = getattr(row, "retired_at", None)
        stale_n = int(stale.get("records", 0))
        status = row.status
        if retired_at is not None:
            status = "retired"
        elif status == "complete" and stale_n:
            status = "stale"
        return cls(
            id=row.id,
            purpose=row.purpose,
            as_of=row.as_of,
            built_at=row.built_at,
            status=status,
            build_status=row.status,
            stale_records=stale_n,
            stale_reasons=dict(stale.get("reasons", {})),
            stale_since=stale.get("since"),
            parent_id=getattr(row, "parent_id", None),
            children=tuple(children),
            retired_at=retired_at,
            retired_by=getattr(row, "retired_by", None),
            records=int(row.record_count or 0),
            engine=row.engine,
            profile=row.profile,
            path=row.path,
            manifest_sha256=row.manifest_sha256,
            excluded=exclusions(manifest or {}),
            findings=_find(manifest or {}, "findings_by_label", "findings"),
            manifest=manifest if with_manifest else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (ISO times); ``manifest`` only when it was asked for."""
        out: dict[str, Any] = {
            "id": self.id,
            "purpose": self.purpose,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "built_at": self.built_at.isoformat() if self.built_at else None,
            "status": self.status,
            "records": self.records,
            "engine": self.engine,
            "profile": self.profile,
            "path": self.path,
            "manifest_sha256": self.manifest_sha256,
            "excluded": self.excluded,
            "findings": self.findings,
            "build_status": self.build_status,
            "stale": {
                "records": self.stale_records,
                "reasons": self.stale_reasons,
                "since": self.stale_since.isoformat() if self.stale_since else None,
            },
            "parent_id": self.parent_id,
            "children": list(self.children),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
            "retired_by": self.retired_by,
        }
        if self.manifest is not None:
            out["manifest"] = self.manifest
        return out


def _parse_manifest(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _find(manifest: Any, *names: str) -> dict[str, int]:
    """The first mapping of counts found under any of ``names`` (searched recursively)."""
    if isinstance(manifest, dict):
        for name in names:
            v = manifest.get(name)
            if isinstance(v, dict) and v and all(isinstance(x, int) for x in v.values()):
                return {str(k): int(x) for k, x in v.items()}
        for v in manifest.values():
            hit = _find(v, *names)
            if hit:
                return hit
    return {}


def exclusions(manifest: dict[str, Any]) -> dict[str, int]:
    """Records excluded at every step, by reason (``counts.steps[*].dropped``)."""
    steps = manifest.get("counts", {}).get("steps") if isinstance(manifest, dict) else None
    if not isinstance(steps, list):
        return _find(manifest, "excluded_by_reason", "exclusions", "excluded")
    out: Counter[str] = Counter()
    for step in steps:
        dropped = step.get("dropped") if isinstance(step, dict) else None
        if isinstance(dropped, dict):
            out.update({str(k): int(v) for k, v in dropped.items() if isinstance(v, int)})
    return dict(out.most_common())


def list_snapshots(db: Database, *, limit: int | None = None) -> list[SnapshotSummary]:
    """Every snapshot (or the newest ``limit``), newest build first."""
    with db.session() as s:
        rows = repo.list_snapshots(s, limit=limit)
        stale = lineage_repo.stale_summary(s, [r.id for r in rows])
        kids: dict[str, list[str]] = {}
        for r in rows:
            if r.parent_id:
                kids.setdefault(r.parent_id, []).append(r.id)
        return [
            SnapshotSummary.from_row(r, stale=stale.get(r.id), children=sorted(kids.get(r.id, [])))
            for r in rows
        ]


def resolve_snapshot_id(db: Database, ref: str) -> str:
    """``latest`` means the newest complete snapshot; any other value is an id."""
    if ref != "latest":
        return ref
    with db.session() as s:
        for r in repo.list_snapshots(s):
            if r.status == "complete":
                return r.id
    raise NotFoundError(
        "there is no complete snapshot yet; build one with `optin snapshot build --purpose PURPOSE`"
    )


def get_snapshot(db: Database, snapshot_id: str) -> SnapshotSummary:
    """The snapshot ``snapshot_id`` with its manifest (:func:`resolve_snapshot_id` turns
    ``latest`` into an id)."""
    with db.session() as s:
        row = repo.get_snapshot(s, snapshot_id)
        if row is None:
            known = [r.id for r in repo.list_snapshots(s, limit=10)]
            raise NotFoundError(
                f"snapshot {snapshot_id!r} does not exist; known: {', '.join(known) or 'none'}"
                " (see `optin snapshot list` or GET /api/v1/snapshots)"
            )
        return SnapshotSummary.from_row(
            row,
            with_manifest=True,
            stale=lineage_repo.stale_summary(s, [row.id]).get(row.id),
            children=[c.id for c in lineage_repo.children(s, row.id)],
        )


def show_snapshot(db: Database, snapshot_id: str) -> dict[str, Any]:
    """:func:`get_snapshot` of an id or ``latest``, as a JSON-ready dict (``manifest``
    always present)."""
    out = get_snapshot(db, resolve_snapshot_id(db, snapshot_id)).to_dict()
    out.setdefault("manifest", None)
    return out


ProgressFactory = Callable[[], BuildProgress]


__all__ = [
    "BuildPlan",
    "BuildProgress",
    "BuildResult",
    "ProgressFactory",
    "Selection",
    "SnapshotBuild",
    "SnapshotSummary",
    "build_snapshot",
    "engine_names",
    "exclusions",
    "get_snapshot",
    "history_watermarks",
    "list_snapshots",
    "redaction_summary",
    "resolve_snapshot_id",
    "show_snapshot",
    "snapshot_dir",
    "snapshot_key",
    "stored_path",
    "surrogate_key",
]


def _log_pin(db: Database, settings: Settings, length: int, now: datetime) -> dict[str, Any]:
    """The transparency log's checkpoint covering the pinned ledger head (issue 13;
    empty when the log has no key)."""
    from optin.services.tlog import manifest_pin

    return manifest_pin(db, settings, length, now=now)
