"""``optin summary``: the platform at a glance."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from optin.cli.context import console, print_json, settings_from
from optin.cli.output import Table, esc, styled
from optin.errors import IntegrityError


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f}%" if d else "-"


def summary(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Members (staff accounts not counted), consent rates by regime, eligible members
    per purpose, ledger status."""
    from optin.services.setup import Database
    from optin.services.summary import platform_summary

    db = Database.open(settings_from(ctx))
    try:
        db.require_initialized()
        s = platform_summary(db, now=datetime.now(UTC))
    finally:
        db.dispose()
    if as_json:
        print_json(s.to_dict())
    else:
        console.print(
            f"[bold]{s.members:,}[/] members; policy version {s.policy_version}; "
            + esc(", ".join(f"{k}: {v:,}" for k, v in s.members_by_regime.items()))
        )
        for p in s.purposes:
            t = Table(title=f"{p.purpose}: {p.title}", title_justify="left")
            for col in ("regime", "members", "switched on", "consent rate", "eligible now"):
                t.add_column(col, justify="left" if col == "regime" else "right")
            for regime, row in p.by_regime.items():
                t.add_row(
                    regime,
                    f"{row.get('members', 0):,}",
                    f"{row.get('switched_on', 0):,}",
                    _pct(row.get("switched_on", 0), row.get("members", 0)),
                    f"{row.get('eligible', 0):,}",
                )
            t.add_row(
                styled("all", "bold"),
                f"{s.members:,}",
                f"{p.switched_on:,}",
                _pct(p.switched_on, s.members),
                styled(f"{p.eligible:,}", "bold"),
            )
            console.print(t)
        led = s.ledger
        status = (
            "[green]verified[/]" if led["ok"] else f"[red]BROKEN at seq {led['first_bad_seq']}[/]"
        )
        console.print(
            f"consent ledger: {led['length']:,} events, {status}, "
            f"head {esc(str(led['head_hash'])[:16])}…"
        )
        for snap in s.snapshots:
            console.print(
                esc(
                    f"snapshot {snap['id']}: {snap['purpose']} as of {snap['as_of']}, "
                    f"{snap['records']:,} records ({snap['status']})"
                )
            )
    if not s.ledger["ok"]:
        raise IntegrityError(
            f"consent ledger broken at sequence number {s.ledger['first_bad_seq']}: "
            f"{s.ledger['problem']}"
        )


def register(app: typer.Typer) -> None:
    app.command("summary")(summary)
