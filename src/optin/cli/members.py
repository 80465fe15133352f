"""``optin member``: record dated member changes (move, status, birth-date correction)
and list or show members. A thin layer over :mod:`optin.services.members`."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from optin.cli.context import console, print_json
from optin.cli.core import JSON_OPT, open_db, parse_time, say
from optin.cli.output import Table, esc

member_app = typer.Typer(
    help="Members: dated changes (country, status, birth date), list and show.",
    no_args_is_help=True,
)


@member_app.command("update")
def member_update(
    ctx: typer.Context,
    member: str = typer.Argument(..., help="Member id or @handle (case-insensitive)."),
    country: str = typer.Option(None, "--country", help="New country (ISO 3166-1 alpha-2)."),
    status: str = typer.Option(None, "--status", help="New status: active, suspended, closed."),
    birth_date: str = typer.Option(None, "--birth-date", help="Corrected birth date (YYYY-MM-DD)."),
    effective_at: str = typer.Option(
        None,
        "--effective-at",
        help="When the change took effect (ISO 8601 with a zone, or a date; default now; not "
        "before the member joined). It is recorded now: decisions as of earlier times are "
        "unchanged.",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Record a dated change of a member: a move, a suspension or closure, a corrected
    birth date."""
    from optin.services.members import resolve, update_member

    now = datetime.now(UTC)
    when = parse_time(effective_at, "--effective-at")
    db = open_db(ctx)
    try:
        mid = resolve(db, member)
        result = update_member(
            db,
            mid,
            country=country,
            status=status,
            birth_date=birth_date,
            effective_at=when,
            now=now,
            source="cli",
        )
    finally:
        db.dispose()
    if as_json:
        print_json(result.to_dict())
        return
    for c in result.changes:
        what = f"{c.kind} {c.value}"
        tail = "recorded" if c.recorded else "already recorded (nothing changed)"
        say(
            f"{esc(mid)}: {esc(what)} from {result.effective_at.isoformat()}: {tail} "
            f"at {result.recorded_at.isoformat()}"
        )
    if result.stale_records:
        say(
            f"{result.stale_records:,} record(s) of live snapshots are no longer eligible "
            f"({esc(result.reason or '')}): those snapshots are stale; `optin lineage member "
            f"{esc(mid)}` lists them"
        )


@member_app.command("list")
def member_list(
    ctx: typer.Context,
    limit: int = typer.Option(1000, "--limit", min=1, max=100_000, help="At most this many."),
    after: str = typer.Option(None, "--after", help="Start after this member id."),
    as_json: bool = JSON_OPT,
) -> None:
    """Members by id, with their current country and status."""
    from optin.services.members import list_members

    db = open_db(ctx)
    try:
        rows = list_members(db, datetime.now(UTC), limit=limit, after=after)
    finally:
        db.dispose()
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} member(s)")
    for col in ("id", "handle", "country", "status", "joined"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["id"], "@" + r["handle"], r["country"] or "-", r["status"] or "-", r["joined_at"]
        )
    console.print(table)


@member_app.command("show")
def member_show(
    ctx: typer.Context,
    member: str = typer.Argument(..., help="Member id or @handle (case-insensitive)."),
    as_json: bool = JSON_OPT,
) -> None:
    """One member: current country and status, and every dated change with the time it
    took effect and the time it was recorded."""
    from optin.services.members import resolve, show_member

    db = open_db(ctx)
    try:
        info = show_member(db, resolve(db, member), datetime.now(UTC))
    finally:
        db.dispose()
    if as_json:
        print_json(info)
        return
    say(
        f"{esc(info['id'])} @{esc(info['handle'])}: {esc(info['display_name'])}; "
        f"joined {info['joined_at']}; country {esc(info['country'] or '-')}, "
        f"status {esc(info['status'] or '-')}, birth date {esc(info['birth_date'] or '-')}"
    )
    table = Table(title="changes")
    for col in ("change", "value", "effective", "recorded", "source"):
        table.add_column(col)
    for c in info["changes"]:
        table.add_row(
            c["kind"], c["value"] or "-", c["effective_at"], c["recorded_at"], c["source"] or "-"
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(member_app, name="member")
