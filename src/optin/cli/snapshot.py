"""``optin snapshot build|verify|list|show``: a thin layer over the snapshot services."""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from optin.cli.context import console, err_console, print_json, settings_from
from optin.cli.core import open_db, parse_time
from optin.cli.output import Table, esc
from optin.errors import InputError
from optin.pipeline.executors import engine_names
from optin.pipeline.results import BuildProgress, ShardResult
from optin.privacy.profiles import profile_names

if TYPE_CHECKING:
    from optin.services.setup import Database
    from optin.services.verify import VerifyReport


snapshot_app = typer.Typer(
    help="Build, verify and inspect consent-gated training-data snapshots.",
    no_args_is_help=True,
)
JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of text.")


class _Speed(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} records/s" if speed else "- records/s", style="cyan")


class RichProgress(BuildProgress):
    """A rich progress bar per stage, advancing by records per finished shard."""

    def __init__(self, enabled: bool) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Speed(),
            TimeElapsedColumn(),
            console=err_console,
            disable=not enabled,
            transient=False,
        )
        self.task: Any = None
        self.enabled = enabled

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stage(self, name: str, total: int) -> None:
        if self.task is not None:  # close the previous (possibly open-ended) bar
            done = self.progress.tasks[self.task].completed
            self.progress.update(self.task, total=max(done, 1), completed=max(done, 1))
        self.task = self.progress.add_task(esc(name), total=total or None)

    def advance(self, result: ShardResult) -> None:
        if self.task is not None:
            self.progress.advance(self.task, result.rows_seen)

    def message(self, text: str) -> None:
        if self.enabled:
            err_console.print(esc(text), highlight=False)


def _operators() -> list[str]:
    from optin.pipeline.config import snapshot_operators

    return snapshot_operators()


def _check_choice(value: str, allowed: list[str], option: str) -> None:
    if value not in allowed:
        raise InputError(
            f"unknown value for {option}",
            field=option,
            value=value,
            allowed=", ".join(allowed),
        )


def build(
    ctx: typer.Context,
    purpose: str = typer.Option(..., "--purpose", help="Purpose id, e.g. train_own_models."),
    as_of: str = typer.Option(
        None, "--as-of", help="As-of time (ISO 8601 with a zone, or a date; default now)."
    ),
    engine: str = typer.Option("local", "--engine", help=f"One of: {', '.join(engine_names())}."),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Dask scheduler address (default: a LocalCluster)."
    ),
    workers: int = typer.Option(
        0, "--workers", help="Worker processes (default: the number of CPUs).", min=0
    ),
    profile: str = typer.Option(
        "default", "--profile", help=f"One of: {', '.join(profile_names())}."
    ),
    operator: str = typer.Option(
        "surrogate",
        "--operator",
        help=f"How personal data is replaced; one of: {', '.join(_operators())} "
        "(surrogate: realistic fake values; mask: type tags such as [PERSON]).",
    ),
    min_real_words: int = typer.Option(
        3,
        "--min-real-words",
        help="Drop a record with redacted personal data when fewer than this many words "
        "of its own text remain (reason too_little_text_left); 0 never drops.",
        min=0,
    ),
    drop_density: float = typer.Option(
        None,
        "--drop-density",
        help="Also drop a record when more than this share (0 < X <= 1) of its non-space "
        "characters was redacted (reason pii_density); default off.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for near-duplicate hashing."),
    shard_size: int = typer.Option(10_000, "--shard-size", help="Records per shard.", min=1),
    language: list[str] = typer.Option(
        [], "--language", help="Allowed language (repeatable; default any known tag)."
    ),
    no_dedupe: bool = typer.Option(False, "--no-dedupe", help="Skip duplicate removal."),
    content: str = typer.Option(
        None,
        "--content",
        help="Read the posts from this Parquet dataset (a directory hive-partitioned by "
        "day=YYYY-MM-DD, or a glob; columns in docs/lake.md) instead of the content table.",
    ),
    dedupe_on: str = typer.Option(
        "auto",
        "--dedupe-on",
        help="Where the global duplicate pass runs: driver, workers (Dask: keys shuffled "
        "on the workers), or auto (workers on Dask from 2,000,000 records). Same result.",
    ),
    since: str = typer.Option(
        None,
        "--since",
        help="Build incrementally from this snapshot (an id or 'latest'): reuse its records "
        "whose content is unchanged and whose author is still eligible, process only new "
        "and edited content. Same records and texts as a full build.",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Build (or resume) the snapshot of PURPOSE as of a time."""
    from optin.pipeline.config import BuildConfig
    from optin.services.snapshots import build_snapshot

    _check_choice(profile, profile_names(), "--profile")
    _check_choice(operator, _operators(), "--operator")
    if drop_density is not None and not 0 < drop_density <= 1:
        raise InputError(
            "the density threshold is out of range",
            field="--drop-density",
            value=str(drop_density),
            allowed="a share 0 < X <= 1 (omit the option to turn the density rule off)",
        )
    settings = settings_from(ctx)
    db = open_db(ctx)
    workers = workers or os.cpu_count() or 1
    cfg = BuildConfig(
        purpose=purpose,
        profile=profile,
        operator=operator,
        min_real_words=min_real_words or None,
        drop_density=drop_density,
        seed=seed,
        shard_size=shard_size,
        row_group_size=shard_size,
        languages=tuple(language),
        dedupe=not no_dedupe,
    )
    with RichProgress(enabled=not as_json and err_console.is_terminal) as bar:
        result = build_snapshot(
            db,
            settings,
            purpose,
            parse_time(as_of, "--as-of"),
            engine=engine,
            workers=workers,
            scheduler=scheduler,
            profile=profile,
            config=cfg,
            now=datetime.now(UTC),
            progress=bar,
            content=content,
            dedupe_on=dedupe_on,
            since=since,
        )
    if as_json:
        print_json(result.to_dict())
        return
    verb = {
        "built": "built",
        "resumed": "resumed and built",
        "up_to_date": "is up to date (nothing changed since it was built)",
    }[result.status]
    console.print(
        f"snapshot [bold]{esc(result.snapshot_id)}[/] {verb}: {result.records:,} records "
        f"in {esc(result.path)}",
        highlight=False,
    )
    steps = result.manifest.get("counts", {}).get("steps", [])
    if steps:
        t = Table("step", "in", "out", "dropped by reason")
        for st in steps:
            t.add_row(
                st["step"],
                f"{st['in']:,}",
                f"{st['out']:,}",
                ", ".join(f"{k} {v:,}" for k, v in st["dropped"].items()),
            )
        console.print(t)
    inc = result.manifest.get("incremental")
    if isinstance(inc, dict):
        dropped = ", ".join(f"{k} {v:,}" for k, v in inc.get("dropped", {}).items()) or "none"
        console.print(
            f"since {esc(result.manifest.get('parent', {}).get('id', '?'))}: "
            f"{inc.get('reused', 0):,} reused, {inc.get('new', 0):,} new, "
            f"{inc.get('edited', 0):,} edited, {inc.get('resurrected', 0):,} duplicates "
            f"back; dropped: {esc(dropped)}",
            highlight=False,
        )
    total = result.timings.get("total")
    if total and steps:
        console.print(
            f"{steps[0]['in'] / total:,.0f} candidate records/s end to end ({total:.1f} s)",
            highlight=False,
        )


def _optional_db(ctx: typer.Context, no_db: bool) -> Database | None:
    """The configured database, or None with --no-db or when none is configured/found."""
    from optin.services.setup import Database

    settings = settings_from(ctx)
    if no_db or (not settings.database_url and not (settings.home / "optin.db").exists()):
        return None
    db = Database.open(settings)
    return db if db.is_initialized() else None


def verify(
    ctx: typer.Context,
    snapshot_id: str = typer.Argument(
        None, help="Snapshot id (see `optin snapshot list`), or `latest`; omit with --path."
    ),
    path: Path = typer.Option(
        None,
        "--path",
        help="Verify this snapshot directory (against the database when there is one).",
        file_okay=False,
    ),
    no_db: bool = typer.Option(
        False,
        "--no-db",
        help="With --path: run only the checks that need no database (the others are "
        "reported as skipped).",
    ),
    no_rescan: bool = typer.Option(False, "--no-rescan", help="Skip the personal-data rescan."),
    tolerance: float = typer.Option(
        0.01,
        "--tolerance",
        help="Share of records allowed a residual finding of a soft label (names, handles, "
        "phones...); any residual e-mail, card, IBAN or government id always fails.",
        min=0.0,
        max=1.0,
    ),
    manifest_key: str = typer.Option(
        None,
        "--manifest-key",
        help="The platform's manifest verifier key (name+hash+base64, or a file with it) to "
        "check manifest.note with (default: this installation's key file).",
    ),
    log_key: str = typer.Option(
        None,
        "--log-key",
        help="The transparency log's verifier key for the pinned checkpoint (default: this "
        "installation's log key).",
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Fail an unsigned manifest, one that pins no log checkpoint, or a pinned "
        "checkpoint short of the witness quorum (default: reported, not failed).",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Re-check a snapshot independently: signature, eligibility, ledger and log, hashes,
    Merkle root, PII."""
    from optin.services.snapshots import resolve_snapshot_id
    from optin.services.verify import Trust, verify_directory, verify_snapshot

    settings = settings_from(ctx)
    now = datetime.now(UTC)
    trust = Trust.of(settings, manifest_key=manifest_key, log_key=log_key, strict=strict)
    if path is not None:
        report = verify_directory(
            _optional_db(ctx, no_db),
            settings,
            path,
            now=now,
            rescan=not no_rescan,
            tolerance=tolerance,
            trust=trust,
        )
    elif snapshot_id is None or no_db:
        raise InputError(
            "give a snapshot id, or --path DIR (with --no-db to skip the database)",
            field="SNAPSHOT_ID",
            allowed="a snapshot id, `latest`, or --path DIR",
        )
    else:
        db = open_db(ctx)
        report = verify_snapshot(
            db,
            settings,
            resolve_snapshot_id(db, snapshot_id),
            now=now,
            rescan=not no_rescan,
            tolerance=tolerance,
            trust=trust,
        )
    kept = _keep(report, now)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report)
        if kept:
            console.print(esc(f"result kept in {kept}"), highlight=False)
    report.raise_for_status()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:operator"


def _keep(report: VerifyReport, now: datetime) -> str | None:
    """Keep the result in the snapshot directory's ``verifications.jsonl`` (a directory
    that cannot be written, e.g. a read-only copy, gets a warning, not a failure)."""
    from optin.services import verifications

    if not report.path or not Path(report.path).is_dir():
        return None
    try:
        verifications.record(Path(report.path), report, actor=_actor(), now=now)
    except OSError as e:
        err_console.print(
            esc(f"warning: the result was not kept in {report.path}: {e.strerror or e}"),
            highlight=False,
        )
        return None
    return str(Path(report.path) / verifications.FILE)


def _verification(settings: Any, stored: str) -> dict[str, Any]:
    """The latest kept verification of the snapshot stored at ``stored`` (nulls when
    it was never verified)."""
    from optin.services import verifications
    from optin.services.snapshots import snapshot_dir

    e = verifications.latest(snapshot_dir(settings.home, stored)) or {}
    return {"at": e.get("at"), "result": e.get("result"), "by": e.get("by")}


def _print_report(report: VerifyReport) -> None:
    colour = {"pass": "green", "stale": "yellow", "fail": "red", "retired": "magenta"}[
        report.status
    ]
    console.print(
        f"snapshot {esc(report.snapshot_id)}: [bold {colour}]{report.status.upper()}[/]"
        + (esc(f" (retired {report.retired})") if report.retired else "")
        + (esc(f" in {report.path}") if report.path else ""),
        highlight=False,
    )
    t = Table("check", "result", "counts", "problems")
    for c in report.checks:
        res = {"ok": "ok", "stale": "stale", "fail": "FAIL", "skipped": "skipped"}[c.state]
        counts = ", ".join(f"{k}={v}" for k, v in c.counts.items())
        t.add_row(c.name, res, counts, "\n".join(c.problems) or c.detail)
    console.print(t)
    if report.skipped:
        console.print(
            esc(f"not run: {', '.join(report.skipped)} (see the reasons above)"), highlight=False
        )


def list_(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """List snapshots, newest first."""
    from optin.services.snapshots import list_snapshots

    db = open_db(ctx)
    settings = settings_from(ctx)
    rows = [r.to_dict() for r in list_snapshots(db)]
    for r in rows:
        r["verification"] = _verification(settings, r["path"])
    if as_json:
        print_json(rows)
        return
    t = Table("id", "purpose", "as of", "built", "status", "records", "stale", "engine", "verified")
    for r in rows:
        t.add_row(
            r["id"],
            r["purpose"],
            r["as_of"],
            r["built_at"] or "-",
            r["status"],
            f"{r['records']:,}",
            f"{r['stale']['records']:,}" if r["stale"]["records"] else "-",
            r["engine"],
            _verified(r["verification"]),
        )
    console.print(t)


def _verified(v: dict[str, Any]) -> str:
    return f"{v['result']} {v['at']}" if v.get("at") else "never"


def show(
    ctx: typer.Context,
    snapshot_id: str = typer.Argument(..., help="Snapshot id, or `latest`."),
    as_json: bool = JSON_OPT,
) -> None:
    """Show one snapshot: where it is, its counts and its files."""
    from optin.services.snapshots import show_snapshot

    db = open_db(ctx)
    info = show_snapshot(db, snapshot_id)
    info["verification"] = _verification(settings_from(ctx), info["path"])
    info["leak_audit"] = _leak_audit(settings_from(ctx), info["path"])  # issue 17
    if as_json:
        print_json(info)
        return
    m = info.get("manifest") or {}
    for k in (
        "id",
        "purpose",
        "as_of",
        "built_at",
        "status",
        "records",
        "engine",
        "profile",
        "path",
    ):
        console.print(esc(f"{k:>10}: {info[k]}"), highlight=False)
    v = info["verification"]
    console.print(
        esc(f"{'verified':>10}: {_verified(v)}" + (f" by {v['by']}" if v.get("by") else "")),
        highlight=False,
    )
    la = info["leak_audit"]
    console.print(esc(f"{'leak':>10}: {_leak_text(la)}"), highlight=False)
    _print_lineage(info)
    if m:
        console.print(
            esc(f"{'ledger':>10}: length {m['ledger']['length']}, head {m['ledger']['head_hash']}"),
            highlight=False,
        )
        console.print(esc(f"{'merkle':>10}: {m['merkle']['root']}"), highlight=False)
        for st in m["counts"]["steps"]:
            console.print(
                esc(f"{st['step']:>10}: {st['in']:,} -> {st['out']:,} {st['dropped'] or ''}"),
                highlight=False,
            )
        for f in m["files"]:
            console.print(
                esc(f"{'file':>10}: {f['path']} {f['rows']:,} rows sha256 {f['sha256']}"),
                highlight=False,
            )


def _leak_audit(settings: Any, stored: str) -> dict[str, Any]:
    from optin.services.snapshot_audit import peek
    from optin.services.snapshots import snapshot_dir

    return peek(snapshot_dir(settings.home, stored))


def _leak_text(la: dict[str, Any]) -> str:
    r = la.get("result")
    if la["state"] == "complete" and r:
        lo, hi = r["ci95"]
        return (
            f"{r['leak_rate']:.1%} ({r['with_personal_data']} of {r['reviewed']} sampled "
            f"records), 95% CI {lo:.1%}-{hi:.1%}, {r['source']}"
        )
    if la["state"] == "in_progress":
        return f"audit in progress: {la['reviewed']} of {la['sample']} reviewed"
    if la["state"] == "damaged":
        return f"audit damaged: {la['problem']}"
    return "not audited (`optin snapshot audit ID --sample 200`)"


def _print_lineage(info: dict[str, Any]) -> None:
    stale = info.get("stale") or {}
    if stale.get("records"):
        reasons = ", ".join(f"{k} {v:,}" for k, v in stale["reasons"].items())
        console.print(
            esc(
                f"{'stale':>10}: {stale['records']:,} record(s) no longer eligible since "
                f"{stale['since']} ({reasons}); `optin snapshot derive {info['id']} "
                "--drop-ineligible`"
            ),
            highlight=False,
        )
    if info.get("parent_id"):
        console.print(esc(f"{'parent':>10}: {info['parent_id']}"), highlight=False)
    for child in info.get("children") or []:
        console.print(esc(f"{'child':>10}: {child}"), highlight=False)
    if info.get("retired_at"):
        console.print(
            esc(f"{'retired':>10}: {info['retired_at']} by {info['retired_by']}"), highlight=False
        )


def register(app: typer.Typer) -> None:
    snapshot_app.command("build")(build)
    snapshot_app.command("verify")(verify)
    snapshot_app.command("list")(list_)
    snapshot_app.command("show")(show)
    from optin.cli import snapshot_audit  # issue 17: optin snapshot audit

    snapshot_audit.register(snapshot_app)
    app.add_typer(snapshot_app, name="snapshot")
