"""``optin lineage member|snapshot|content|refresh`` and ``optin snapshot derive``: a
thin layer over the lineage, propagation and derive services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from optin.cli.context import console, print_json, settings_from
from optin.cli.core import open_db
from optin.cli.snapshot import snapshot_app
from optin.errors import InputError

lineage_app = typer.Typer(
    help="Where content went: snapshots, derived snapshots, provider exports, models.",
    no_args_is_help=True,
)
JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of text.")


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


def _snapshot_table(rows: list[dict[str, Any]], *, member: bool) -> None:
    t = Table("snapshot", "purpose", "status", "records", "stale", "parent", "children")
    if member:
        t.add_column("yours")
    for r in rows:
        cells = [
            r["id"],
            r["purpose"],
            r["status"],
            f"{r['records']:,}",
            f"{r['stale_records']:,}",
            r["parent_id"] or "-",
            ", ".join(r["children"]) or "-",
        ]
        if member:
            cells.append(f"{r['member_records']:,}")
        t.add_row(*cells)
    console.print(t)


def _export_line(e: dict[str, Any]) -> str:
    line = f"export {e['export_id']} of {e['snapshot_id']} to {e.get('provider', '?')} ({e['at']})"
    if "included_records" in e:
        line += f": {e['included_records']:,} of its {e['records']:,} record(s)"
    if e.get("status") == "stale":
        line += f"; stale, {e['stale_records']:,} record(s) to purge ({e['stale_reason']})"
    elif e.get("status"):
        line += f"; {e['status']}"
    removal = e.get("removal")
    if removal:
        line += f"; removal requested {removal['requested_at']}"
        if removal["delivered_at"]:
            line += f", delivered {removal['delivered_at']}"
        if removal["confirmed_at"]:
            line += f", confirmed by {e.get('provider', '?')} {removal['confirmed_at']}"
        else:
            line += f", awaiting confirmation (due {removal['due_at']})"
    return line


def _downstream(info: dict[str, Any]) -> None:
    for e in info["exports"]:
        _say(_export_line(e))
    for e in info["models"]:
        _say(f"model {e['model_id']} trained on {e['snapshot_id']} ({e['at']})")


def member(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Member id or @handle."),
    as_json: bool = JSON_OPT,
) -> None:
    """Where a member's content went: snapshots (stale or not), exports, models."""
    from optin.services.lineage import member_lineage

    info = member_lineage(open_db(ctx), ref)
    if as_json:
        print_json(info)
        return
    _say(
        f"member {info['member_id']}: {info['content_items']:,} content item(s), "
        f"{info['records']:,} record(s) in {len(info['snapshots'])} snapshot(s)"
    )
    if info["snapshots"]:
        _snapshot_table(info["snapshots"], member=True)
    _downstream(info)
    for v in info.get("model_versions", []):
        held = (
            f"held {v['member_records']} of your record(s)"
            if v["contains_member"]
            else "no longer holds your records"
        )
        _say(f"model {v['model_id']} v{v['version']} ({v['status']}): {held}")
    for w in info["withdrawals"]:
        _say(f"withdrew from {w['purpose']} on {w['at']}")


def snapshot(
    ctx: typer.Context,
    snapshot_id: str = typer.Argument(..., help="Snapshot id, or `latest`."),
    as_json: bool = JSON_OPT,
) -> None:
    """A snapshot's parent, children, exports, models and stale state."""
    from optin.services.lineage import snapshot_lineage
    from optin.services.snapshots import resolve_snapshot_id

    db = open_db(ctx)
    info = snapshot_lineage(db, resolve_snapshot_id(db, snapshot_id))
    if as_json:
        print_json(info)
        return
    _snapshot_table([info["snapshot"]], member=False)
    if info["parent"]:
        _say(f"derived from {info['parent']['id']} on {info['parent']['at']}")
    for c in info["children"]:
        _say(f"child {c['id']} ({c['at']}): {c.get('removed', 0):,} record(s) removed")
    if info["stale"]:
        reasons = ", ".join(f"{k} {v:,}" for k, v in info["stale"]["reasons"].items())
        _say(
            f"stale since {info['stale']['since']}: {info['stale']['records']:,} record(s) of "
            f"{info['stale']['members']:,} member(s) no longer eligible ({reasons})"
        )
    _downstream(info)


def content(
    ctx: typer.Context,
    content_id: str = typer.Argument(..., help="Content id."),
    as_json: bool = JSON_OPT,
) -> None:
    """The records made from one content item and the snapshots holding them."""
    from optin.services.lineage import content_lineage

    info = content_lineage(open_db(ctx), content_id)
    if as_json:
        print_json(info)
        return
    _say(
        f"content {info['content_id']} by {info['author_id']}"
        f"{' (deleted)' if info['deleted'] else ''}: {len(info['records'])} record(s)"
    )
    t = Table("snapshot", "status", "record id", "shard")
    for r in info["records"]:
        t.add_row(r["snapshot_id"], r["snapshot_status"], r["record_id"], r["shard"])
    console.print(t)
    _downstream(info)


def refresh(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Re-judge every record of every live snapshot now (marks stale ones; queues
    deletion notices for exported records), and add the lineage edges of exports made
    before exports wrote them."""
    from optin.services.propagation import refresh as refresh_stale
    from optin.services.provider_exports import backfill_export_edges

    db = open_db(ctx)
    edges = backfill_export_edges(db)
    report = refresh_stale(db, now=datetime.now(UTC))
    if as_json:
        print_json({**report.to_dict(), "export_edges_added": edges})
        return
    if edges:
        _say(f"{edges:,} export edge(s) added to the lineage graph")
    for sn in report.snapshots:
        _say(f"{sn.snapshot_id}: {sn.stale_records:,} record(s) no longer eligible")
    if not report.snapshots:
        _say("no live snapshot holds records")


def derive(
    ctx: typer.Context,
    snapshot_id: str = typer.Argument(..., help="Parent snapshot id, or `latest`."),
    drop_ineligible: bool = typer.Option(
        False,
        "--drop-ineligible",
        help="Drop the records whose author is no longer eligible or whose content was "
        "deleted (required: the only derivation there is).",
    ),
    retire: bool = typer.Option(
        False, "--retire", help="Then delete the parent's shards and record its retirement."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Write a child snapshot without the no-longer-eligible records, from the parent's
    redacted shards (no re-redaction)."""
    from optin.services.derive import derive_snapshot
    from optin.services.snapshots import resolve_snapshot_id

    if not drop_ineligible:
        raise InputError(
            "say what to derive", field="--drop-ineligible", allowed="--drop-ineligible"
        )
    db = open_db(ctx)
    result = derive_snapshot(
        db,
        settings_from(ctx),
        resolve_snapshot_id(db, snapshot_id),
        now=datetime.now(UTC),
        retire=retire,
    )
    if as_json:
        print_json(result.to_dict())
        return
    verb = "derived" if result.status == "derived" else "is up to date"
    reasons = ", ".join(f"{k} {v:,}" for k, v in result.removed_by_reason.items())
    _say(
        f"snapshot {result.snapshot_id} {verb}: {result.records:,} records, "
        f"{result.removed:,} removed from {result.parent_id} ({reasons}) in {result.path}"
    )
    if result.retired:
        _say(f"snapshot {result.parent_id} retired: its shards are deleted")


def register(app: typer.Typer) -> None:
    lineage_app.command("member")(member)
    lineage_app.command("snapshot")(snapshot)
    lineage_app.command("content")(content)
    lineage_app.command("refresh")(refresh)
    snapshot_app.command("derive")(derive)
    app.add_typer(lineage_app, name="lineage")
