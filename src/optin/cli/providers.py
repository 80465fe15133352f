"""``optin provider``, ``optin export`` and ``optin outbox``: thin layers over the
provider, provider-export and outbox services."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from optin.cli import data
from optin.cli.context import console, print_json, settings_from

if TYPE_CHECKING:
    from optin.services.outbox import NoticeView
    from optin.services.setup import Database

provider_app = typer.Typer(
    help="Third-party AI providers that may receive exports (the policy must name them).",
    no_args_is_help=True,
)
export_app = typer.Typer(
    help="Export data: members, content or consent events as JSONL (for `optin import`), "
    "or a share_with_providers snapshot to a provider (create, list, status) with a "
    "sharing record and signed deletion notices when records become ineligible.",
    no_args_is_help=True,
)
outbox_app = typer.Typer(
    help="The deletion-notice outbox: deliver signed notices to providers' webhooks.",
    no_args_is_help=True,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _db(ctx: typer.Context) -> Database:
    from optin.services.setup import Database

    db = Database.open(settings_from(ctx))
    db.require_initialized()
    return db


# -- provider --------------------------------------------------------------------------


@provider_app.command("add")
def provider_add(
    ctx: typer.Context,
    name: str = typer.Argument(
        ..., help="The provider's name as the policy's recipients name it, e.g. 'Mistral AI'."
    ),
    webhook_url: str = typer.Option(
        ..., "--webhook-url", help="Where signed deletion notices are POSTed (http or https)."
    ),
    deadline_days: int = typer.Option(
        30, "--deadline-days", help="Days the agreement gives the provider to confirm a purge."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Register a provider (name, webhook URL, purge deadline; a public id is assigned)."""
    from optin.services.providers import add_provider

    db = _db(ctx)
    try:
        p = add_provider(db, name, webhook_url=webhook_url, deadline_days=deadline_days, now=_now())
    finally:
        db.dispose()
    if as_json:
        print_json(p.to_dict())
        return
    console.print(f"provider [bold]{p.name}[/] registered as {p.id}")


@provider_app.command("list")
def provider_list(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """List registered providers."""
    from optin.services.providers import list_providers

    db = _db(ctx)
    try:
        rows = [p.to_dict() for p in list_providers(db)]
    finally:
        db.dispose()
    if as_json:
        print_json(rows)
        return
    t = Table(title="Providers")
    for col in ("id", "name", "webhook", "deadline"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["id"], r["name"], r["webhook_url"], f"{r['deadline_days']} days")
    console.print(t)


@provider_app.command("show")
def provider_show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The provider's name or public id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a provider and the exports it received."""
    from optin.services.provider_exports import list_exports
    from optin.services.providers import get_provider

    db = _db(ctx)
    try:
        p = get_provider(db, name)
        exports = [e.to_dict() for e in list_exports(db) if e.provider_id == p.id]
    finally:
        db.dispose()
    out = {**p.to_dict(), "exports": exports}
    if as_json:
        print_json(out)
        return
    console.print(
        f"[bold]{p.name}[/] ({p.id}): webhook {p.webhook_url}, purge deadline "
        f"{p.deadline_days} days, registered {p.created_at.isoformat()}"
    )
    for e in exports:
        console.print(f"  {e['id']}  {e['format']}  {e['records']} records  {e['status']}")


@provider_app.command("public-key")
def provider_public_key(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Print the Ed25519 public key that verifies deletion notices (PEM), made once."""
    from optin.services.providers import public_key_info

    info = public_key_info(settings_from(ctx))
    if as_json:
        print_json(info)
        return
    typer.echo(info["public_key_pem"].rstrip())
    console.print(f"key id {info['key_id']}; raw key (base64) {info['public_key']}")


@provider_app.command("key")
def provider_key(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The provider's name or public id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create an API key bound to a provider (scope provider:ack): it acknowledges that
    provider's deletion notices at POST /api/v1/provider/acks and nothing else."""
    from optin.services.providers import create_provider_key

    db = _db(ctx)
    try:
        key = create_provider_key(db, name, now=_now())
    finally:
        db.dispose()
    if as_json:
        print_json({"id": key.key_id, "key": key.token, "scopes": list(key.scopes)})
        return
    console.print(f"API key [bold]{key.key_id}[/] (provider:ack). Store it now; not shown again:")
    typer.echo(key.token)


# -- export ----------------------------------------------------------------------------

_OUTPUT_HELP = "The JSONL file to write."


@export_app.command("members")
def export_members(
    ctx: typer.Context,
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export every member as JSONL (written atomically) that `optin import members`
    accepts; no login data."""
    data.export(ctx, data.Kind.members, output, as_json)


@export_app.command("content")
def export_content(
    ctx: typer.Context,
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export every content item as JSONL (written atomically) that `optin import
    content` accepts."""
    data.export(ctx, data.Kind.content, output, as_json)


@export_app.command("consents")
def export_consents(
    ctx: typer.Context,
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export every consent event in ledger order as JSONL (written atomically) that
    `optin import consents` accepts."""
    data.export(ctx, data.Kind.consents, output, as_json)


@export_app.command("create")
def export_create(
    ctx: typer.Context,
    snapshot: str = typer.Argument(..., help="A share_with_providers snapshot id, or 'latest'."),
    provider: str = typer.Option(
        ..., "--provider", help="A registered provider the policy names as a recipient."
    ),
    fmt: str = typer.Option(..., "--format", help="hf-parquet or openai-chat-jsonl."),
    by: str = typer.Option(
        None, "--by", help="Who makes the export, for the sharing record (default: OS user)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Export a share_with_providers snapshot to a provider under
    $OPTIN_HOME/exports/ID/ with a manifest and datasheet, and keep a sharing record.

    Records whose authors are no longer eligible, or whose content was deleted, are left
    out. Providers the policy does not name as recipients are refused.
    """
    from optin.services.provider_exports import create_export
    from optin.services.setup import Database

    settings = settings_from(ctx)
    db = Database.open(settings)
    db.require_initialized()
    try:
        e = create_export(
            db, settings, snapshot, provider, fmt, now=_now(), actor=by or getpass.getuser()
        )
    finally:
        db.dispose()
    if as_json:
        print_json(e.to_dict())
        return
    console.print(
        f"export [bold]{e.id}[/]: {e.records} records of {e.snapshot_id} to {e.provider} "
        f"as {e.format} in {settings.home / e.path}"
    )
    left_out = e.sharing_record.get("excluded_since_snapshot") or {}
    if left_out:
        console.print("left out: " + ", ".join(f"{k} {v}" for k, v in left_out.items()))


@export_app.command("list")
def export_list(
    ctx: typer.Context,
    snapshot: str = typer.Option(None, "--snapshot", help="Only exports of this snapshot."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List provider exports, newest first, with their state (complete or stale)."""
    from optin.services.provider_exports import list_exports

    db = _db(ctx)
    try:
        rows = [e.to_dict() for e in list_exports(db, snapshot_id=snapshot)]
    finally:
        db.dispose()
    if as_json:
        print_json(rows)
        return
    t = Table(title="Provider exports")
    for col in ("id", "provider", "snapshot", "format", "records", "state", "created"):
        t.add_column(col)
    for r in rows:
        state = r["status"]
        if state == "stale":
            state = f"stale: {r['stale_count']} records ({r['stale_reason']})"
        t.add_row(
            r["id"],
            r["provider"],
            r["snapshot_id"],
            r["format"],
            str(r["records"]),
            state,
            r["created_at"][:19],
        )
    console.print(t)


@export_app.command("status")
def export_status(
    ctx: typer.Context,
    export_id: str = typer.Argument(None, help="One export (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Deletion notices: pending, delivered, acknowledged, and overdue (not acknowledged
    within the provider's deadline); with EXPORT_ID, that export's sharing record and
    notices."""
    from optin.services import outbox
    from optin.services.provider_exports import get_export

    now = _now()
    db = _db(ctx)
    try:
        export = get_export(db, export_id).to_dict() if export_id else None
        notices = outbox.list_notices(
            db, now=now, export_id=export_id, overdue_only=export_id is None
        )
        counts = outbox.notice_counts(db, now=now)
    finally:
        db.dispose()
    out = {
        "now": now.isoformat(),
        "counts": counts,
        "export": export,
        ("notices" if export_id else "overdue"): [n.to_dict() for n in notices],
    }
    if as_json:
        print_json(out)
        return
    _print_status(counts, export, notices)


def _print_status(
    counts: dict[str, int], export: dict[str, Any] | None, notices: list[NoticeView]
) -> None:
    console.print(
        "deletion notices: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + (" [bold red](overdue!)[/]" if counts.get("overdue") else "")
    )
    if export is not None:
        console.print(
            f"export {export['id']} to {export['provider']}: {export['records']} records, "
            f"{export['status']}"
            + (
                f" ({export['stale_count']} records: {export['stale_reason']})"
                if export["stale_count"]
                else ""
            )
        )
    if not notices:
        return
    t = Table(title="Notices" if export is not None else "Overdue notices")
    for col in ("notice", "provider", "export", "records", "state", "attempts", "due", "overdue"):
        t.add_column(col)
    for n in notices:
        t.add_row(
            n.id,
            n.provider,
            n.export_id,
            str(n.records),
            n.state + (f" ({n.last_error})" if n.last_error and n.state == "pending" else ""),
            str(n.attempts),
            n.due_at.isoformat()[:19],
            "yes" if n.overdue else "no",
        )
    console.print(t)


# -- outbox ----------------------------------------------------------------------------


@outbox_app.command("run")
def outbox_run(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Deliver what is due now, then exit."),
    max_seconds: float = typer.Option(
        None, "--max-seconds", min=0, help="Stop after this many seconds."
    ),
    batch: int = typer.Option(200, "--batch", min=1, help="Notices claimed per batch."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Parallel deliveries."),
    lease_seconds: float = typer.Option(
        120,
        "--lease-seconds",
        min=1,
        help="How long a claimed notice is held before another "
        "worker may retry it (after a crash).",
    ),
    timeout: float = typer.Option(10, "--timeout", min=0.1, help="HTTP timeout in seconds."),
    base_delay: float = typer.Option(
        5,
        "--base-delay",
        min=0,
        help="Backoff after the first failed attempt (seconds; doubles per attempt).",
    ),
    max_delay: float = typer.Option(3600, "--max-delay", min=0, help="Backoff cap (seconds)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Deliver deletion notices from the outbox to providers' webhooks (signed, at least
    once, exponential backoff); for deployments without `optin serve`, which runs the same
    worker in the background."""
    from optin.services.outbox import OutboxWorker, RetryPolicy
    from optin.services.setup import Database

    settings = settings_from(ctx)
    db = Database.open(settings)
    db.require_initialized()
    policy = RetryPolicy(
        base_seconds=base_delay,
        cap_seconds=max_delay,
        lease_seconds=lease_seconds,
        timeout_seconds=timeout,
    )
    worker = OutboxWorker(
        db, settings, clock=_now, policy=policy, batch=batch, concurrency=concurrency
    )
    try:
        result = worker.run(once=once, max_seconds=max_seconds)
    finally:
        worker.close()
        db.dispose()
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"outbox: {result.delivered} notice(s) delivered, {result.failed_attempts} failed "
        f"attempt(s) in {result.seconds:.1f}s"
        + (f" ({', '.join(f'{k} {v}' for k, v in result.errors.items())})" if result.errors else "")
    )


def register(app: typer.Typer) -> None:
    app.add_typer(provider_app, name="provider")
    app.add_typer(export_app, name="export")
    app.add_typer(outbox_app, name="outbox")
