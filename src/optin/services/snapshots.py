"""Build, list and show training-data snapshots.

``build_snapshot`` plans from the database (eligibility at the as-of time and at build
time, content selection), then hands connection-free shard tasks to an executor
(:mod:`optin.pipeline`), and finally writes the proof (manifest, Croissant, datasheet)
and the provenance rows in one transaction.

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

from optin.domain.eligibility import ELIGIBLE_REASONS
from optin.errors import ConfigError, InputError, IntegrityError, NotFoundError
from optin.files import create_secret_file
from optin.pipeline.config import ENGINES, BuildConfig
from optin.pipeline.executors import make_executor
from optin.pipeline.io import atomic_write_bytes, read_ipc, sha256_bytes
from optin.pipeline.merkle import merkle_root
from optin.pipeline.plan import Plan, write_input_shards
from optin.pipeline.run import run_stages
from optin.pipeline.shard import ShardTask, output_name
from optin.privacy.api import RedactorConfig
from optin.services.database import Database
from optin.services.eligibility import decide_all
from optin.services.policy import policy_set
from optin.settings import Settings
from optin.storage import ledger
from optin.storage import snapshots as repo

log = logging.getLogger(__name__)

KEY_FILE = "snapshot-records.key"


class BuildProgress:
    """Progress sink (the CLI draws a rich bar); the default does nothing."""

    def stage(self, name: str, total: int) -> None:
        return None

    def advance(self, result: dict[str, Any]) -> None:
        return None

    def message(self, text: str) -> None:
        return None


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


def _eligibility(db: Database, purpose: str, as_of: datetime, now: datetime) -> _Eligibility:
    proofs: dict[str, tuple[str | None, int | None]] = {}
    reasons: dict[str, str] = {}
    by_reason: Counter[str] = Counter()
    for d in decide_all(db, purpose, as_of):
        by_reason[str(d.reason)] += 1
        if d.eligible and d.reason in ELIGIBLE_REASONS:
            proofs[d.member_id] = (d.consent_event_id, d.policy_version)
        else:
            reasons[d.member_id] = str(d.reason)
    for d in decide_all(db, purpose, now):
        if d.member_id in proofs and not d.eligible:
            del proofs[d.member_id]
            reasons[d.member_id] = f"{d.reason}_AFTER_AS_OF"
    h = hashlib.sha256()
    for mid in sorted(proofs):
        ev, pv = proofs[mid]
        h.update(f"{mid}\x1f{ev}\x1f{pv}\n".encode())
    return _Eligibility(proofs, reasons, by_reason, h.hexdigest())


def _write_directory(db: Database, path: Path) -> None:
    # the lines json.dumps({"display_name": name, "handle": handle}) gives, built directly
    quote = json.encoder.encode_basestring_ascii
    lines: list[str] = []
    with db.session() as s:
        for name, handle in repo.iter_directory_rows(s):
            if name and name.strip() and handle:
                lines.append(f'{{"display_name": {quote(name)}, "handle": {quote(handle)}}}')
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"), mode=0o600)


# -- build -----------------------------------------------------------------------------


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
    now: datetime | None = None,
    progress: BuildProgress | None = None,
) -> BuildResult:
    """Build (or resume) the snapshot of ``purpose`` as of ``as_of`` (default now)."""
    progress = progress or BuildProgress()
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    now = _utc(now or datetime.now(UTC), "now")
    as_of = _utc(as_of, "as_of") if as_of is not None else now
    if as_of > now:
        raise InputError(
            "the as-of time is in the future",
            field="--as-of",
            value=as_of.isoformat(),
            allowed=f"a time at or before {now.isoformat()}",
        )
    if engine not in ENGINES and engine != "inline":
        raise ConfigError(f"unknown engine '{engine}'; allowed: {', '.join(ENGINES)}")
    cfg = config or BuildConfig(purpose=purpose, profile=profile)
    if cfg.purpose != purpose:
        raise ConfigError(f"config is for purpose {cfg.purpose!r}, not {purpose!r}")
    executor = make_executor(engine, workers=workers, scheduler=scheduler)  # fails early
    try:
        executor.warm()  # workers start up while eligibility and the plan run
        return _build(
            db, settings, cfg, as_of, now, executor, engine, workers, progress, timings, t_start
        )
    finally:
        executor.close()


def _build(
    db: Database,
    settings: Settings,
    cfg: BuildConfig,
    as_of: datetime,
    now: datetime,
    executor: Any,
    engine: str,
    workers: int,
    progress: BuildProgress,
    timings: dict[str, float],
    t_start: float,
) -> BuildResult:
    purpose = cfg.purpose
    cpu_start = time.process_time()
    db.require_initialized()
    ps = policy_set(db)
    pv_t, pv_now = ps.in_force(as_of), ps.in_force(now)
    known = sorted({p for v in ps.versions for p in v.purposes})
    if purpose not in known:
        raise NotFoundError(f"unknown purpose {purpose!r}; valid purposes: {', '.join(known)}")
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
    kinds = sorted(str(k) for k in p_t.kinds & p_now.kinds)
    vis = sorted(str(v) for v in p_t.visibilities & p_now.visibilities)

    t0 = time.perf_counter()
    elig = _eligibility(db, purpose, as_of, now)
    timings["eligibility"] = time.perf_counter() - t0
    with db.session() as s:
        head = ledger.ledger_head(s)
        fingerprint = repo.selection_fingerprint(s, kinds, vis, as_of)
        selection = repo.selection_counts(s, kinds, vis, as_of)
    sid = _snapshot_id(purpose, as_of, [cfg.fingerprint(), elig.digest, fingerprint, kinds, vis])
    sdir = settings.snapshots_dir / sid
    work = sdir / "_work"
    with db.session() as s:
        existing = repo.get_snapshot(s, sid)
        if existing is not None and existing.status == "complete":
            shutil.rmtree(work, ignore_errors=True)
            manifest = json.loads(existing.manifest or "{}")
            return BuildResult(
                sid,
                Path(existing.path),
                "up_to_date",
                int(existing.record_count),
                manifest,
                timings,
            )
        resumed = existing is not None
        repo.upsert_building(
            s,
            snapshot_id=sid,
            purpose=purpose,
            as_of=as_of,
            built_at=now,
            path=str(sdir.resolve()),
            engine=engine,
            profile=cfg.profile,
        )
    progress.message(f"{'resuming' if resumed else 'building'} snapshot {sid}")
    try:
        result = _run(
            db,
            settings,
            cfg,
            sid,
            sdir,
            as_of,
            now,
            kinds,
            vis,
            elig,
            head,
            selection,
            executor,
            engine,
            workers,
            progress,
            timings,
            pv_t,
            pv_now,
        )
    except Exception:
        with db.session() as s:
            repo.set_status(s, sid, "failed")
        raise
    result.status = "resumed" if resumed else "built"
    timings["total"] = time.perf_counter() - t_start
    timings["driver_cpu"] = time.process_time() - cpu_start
    return result


def _run(
    db: Database,
    settings: Settings,
    cfg: BuildConfig,
    sid: str,
    sdir: Path,
    as_of: datetime,
    now: datetime,
    kinds: list[str],
    vis: list[str],
    elig: _Eligibility,
    head: Any,
    selection: dict[str, int],
    executor: Any,
    engine: str,
    workers: int,
    progress: BuildProgress,
    timings: dict[str, float],
    pv_t: Any,
    pv_now: Any,
) -> BuildResult:
    from optin.pipeline.documents import write_documents

    work = sdir / "_work"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    directory = work / "directory.jsonl"
    _write_directory(db, directory)
    red_cfg = RedactorConfig(
        profile=cfg.profile,
        operator=cfg.operator,
        key=snapshot_key(settings, sid, "pseudonym"),
        drop_density=cfg.drop_density,
        directory_path=str(directory.resolve()),
    )
    rkey = snapshot_key(settings, sid, "record-id")
    timings["directory"] = time.perf_counter() - t0
    plan = Plan()
    t0 = time.perf_counter()
    with db.session() as s:
        # consent counts from rows per author; texts are read for eligible authors only
        author_counts = repo.selected_author_counts(s, kinds, vis, as_of)
        eligible = elig.proofs.keys()
        shards = write_input_shards(
            repo.iter_selected(s, kinds, vis, as_of, authors=eligible, batch_size=cfg.shard_size),
            eligible=eligible,
            reasons=elig.reasons,
            shard_size=cfg.shard_size,
            work=work,
            plan=plan,
            author_counts=author_counts,
        )
        tasks = (
            ShardTask(str(sdir), i, cfg, red_cfg, rkey, input_sha256=sha, rows=rows)
            for i, rows, sha in shards
        )
        stages = run_stages(tasks, executor, on_stage=progress.stage, on_done=progress.advance)
    timings["shards"] = time.perf_counter() - t0
    for r in [*stages.stage1, *stages.stage2]:
        if r.get("skipped"):
            continue
        for step, sec in r.get("seconds", {}).items():
            timings[f"cpu_{step}"] = timings.get(f"cpu_{step}", 0.0) + sec
            timings[f"records_{step}"] = timings.get(f"records_{step}", 0) + r["records"][step]
    timings["dedupe_global"] = stages.dedupe_seconds

    # provenance + merkle (provenance rows are streamed from the side files, per shard)
    t0 = time.perf_counter()
    record_ids: list[str] = []
    written = [(t, r2) for t, r2 in zip(stages.tasks, stages.stage2, strict=True) if r2["rows"]]
    for task, _ in written:
        record_ids.extend(read_ipc(task.prov_path(), ["record_id"])["record_id"].to_pylist())
    root = merkle_root(record_ids)
    n_records = len(record_ids)
    consented_under = sorted(
        {pv for ev, pv in (elig.proofs[a] for a in _authors(written)) if pv is not None}
    )
    del record_ids
    timings["merkle"] = time.perf_counter() - t0

    def provenance() -> Iterator[dict[str, Any]]:
        for task, _ in written:
            prov = read_ipc(task.prov_path())
            shard_file = output_name(task.index)
            for rid, cid, aid in zip(
                prov["record_id"].to_pylist(),
                prov["content_id"].to_pylist(),
                prov["author_id"].to_pylist(),
                strict=True,
            ):
                ev, pv = elig.proofs[aid]
                yield {
                    "record_id": rid,
                    "content_id": cid,
                    "author_id": aid,
                    "consent_event_id": ev,
                    "policy_version": pv,
                    "shard": shard_file,
                }

    manifest = _manifest(
        sid,
        cfg,
        as_of,
        now,
        engine,
        workers,
        head,
        selection,
        plan,
        stages,
        elig,
        n_records,
        consented_under,
        root,
        pv_t,
        pv_now,
    )
    manifest_text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    t0 = time.perf_counter()
    write_documents(sdir, manifest, pv_t)
    atomic_write_bytes(sdir / "manifest.json", manifest_text.encode("utf-8"))
    with db.session() as s:
        n_rows = repo.replace_provenance(s, sid, provenance())
        repo.complete(
            s,
            sid,
            built_at=now,
            record_count=n_records,
            manifest_text=manifest_text,
            manifest_sha256=sha256_bytes(manifest_text.encode("utf-8")),
        )
    timings["finalise"] = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)  # holds clear text: never left behind
    if n_rows != n_records:  # pragma: no cover - defensive
        raise IntegrityError(f"snapshot {sid}: {n_rows} provenance rows for {n_records} records")
    return BuildResult(sid, sdir, "built", n_records, manifest, timings)


def _manifest(
    sid: str,
    cfg: BuildConfig,
    as_of: datetime,
    now: datetime,
    engine: str,
    workers: int,
    head: Any,
    selection: dict[str, int],
    plan: Any,
    stages: Any,
    elig: _Eligibility,
    n_records: int,
    versions: list[int],
    root: str,
    pv_t: Any,
    pv_now: Any,
) -> dict[str, Any]:
    from optin.pipeline.merkle import CONSTRUCTION

    s1 = Counter[str]()
    findings = Counter[str]()
    for r in stages.stage1:
        s1.update(r["dropped"])
        findings.update(r["findings"])
    s2 = Counter[str]()
    for r in stages.stage2:
        s2.update(r["dropped"])
    lang = {k: v for k, v in s1.items() if k.startswith("language_")}
    red = {k: v for k, v in s1.items() if k == "pii_density"}
    qual = {k: v for k, v in s1.items() if k not in lang and k not in red}
    candidates = sum(selection.values())
    selected = selection.get("selected", 0)
    steps = []
    n = candidates
    for name, dropped in (
        ("select", {k: v for k, v in selection.items() if k != "selected"}),
        ("consent", dict(plan.consent_dropped)),
        ("language", lang),
        ("redact", red),
        ("quality", qual),
        ("dedupe", dict(s2)),
    ):
        out = n - sum(dropped.values())
        steps.append({"step": name, "in": n, "out": out, "dropped": dict(sorted(dropped.items()))})
        n = out
    files = [
        {"path": r["file"], "sha256": r["sha256"], "rows": r["rows"], "bytes": r["bytes"]}
        for r in stages.stage2
        if r["rows"]
    ]
    return {
        "format": "optin-snapshot/1",
        "snapshot_id": sid,
        "purpose": cfg.purpose,
        "purpose_title": pv_t.purposes[cfg.purpose].title,
        "as_of": as_of.isoformat(),
        "built_at": now.isoformat(),
        "policy": {
            "in_force_at_as_of": pv_t.version,
            "in_force_at_build": pv_now.version,
            "consented_under": versions,
            "sha256_at_as_of": pv_t.sha256,
        },
        "ledger": {"length": head.seq, "head_hash": head.hash},
        "config": {**cfg.to_dict(), "engine": engine, "workers": workers},
        "eligibility": {
            "rule": "author eligible at as_of AND at built_at (domain.eligibility)",
            "members_by_reason_at_as_of": dict(sorted(elig.authors_at_as_of.items())),
            "eligible_authors": len(elig.proofs),
        },
        "counts": {
            "candidates": candidates,
            "selected": selected,
            "steps": steps,
            "records": n_records,
        },
        "findings_by_label": dict(sorted(findings.items())),
        "files": files,
        "record_count": n_records,
        "record_id": "HMAC-SHA256(per-snapshot key held by the platform, content id), "
        "first 32 hex characters; opaque outside the platform",
        "merkle": {"root": root, "leaves": n_records, "construction": CONSTRUCTION},
    }


def _authors(written: Sequence[tuple[ShardTask, Any]]) -> set[str]:
    out: set[str] = set()
    for task, _ in written:
        out.update(read_ipc(task.prov_path(), ["author_id"])["author_id"].to_pylist())
    return out


# -- list / show -----------------------------------------------------------------------


def list_snapshots(db: Database) -> list[dict[str, Any]]:
    with db.session() as s:
        return [_row_dict(r) for r in repo.list_snapshots(s)]


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


def show_snapshot(db: Database, snapshot_id: str) -> dict[str, Any]:
    snapshot_id = resolve_snapshot_id(db, snapshot_id)
    with db.session() as s:
        row = repo.get_snapshot(s, snapshot_id)
        if row is None:
            known = [r.id for r in repo.list_snapshots(s)][:10]
            raise NotFoundError(
                f"snapshot {snapshot_id!r} does not exist; known: {', '.join(known) or 'none'}"
                " (see `optin snapshot list`)"
            )
        out = _row_dict(row)
        out["manifest"] = json.loads(row.manifest) if row.manifest else None
        return out


def _row_dict(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "purpose": r.purpose,
        "as_of": r.as_of.isoformat() if r.as_of else None,
        "built_at": r.built_at.isoformat() if r.built_at else None,
        "status": r.status,
        "records": int(r.record_count or 0),
        "engine": r.engine,
        "profile": r.profile,
        "path": r.path,
    }


ProgressFactory = Callable[[], BuildProgress]
