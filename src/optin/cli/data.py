"""``optin demo`` and ``optin import`` (and the JSONL half of ``optin export``, whose group
lives in :mod:`optin.cli.providers`): thin layers over the services."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer

from optin.cli.context import console, print_json, settings_from
from optin.cli.output import Table, esc
from optin.errors import InputError


class Kind(StrEnum):
    members = "members"
    content = "content"
    consents = "consents"


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def register(app: typer.Typer) -> None:
    """Add ``demo`` and ``import`` to ``app``."""
    app.command("demo")(demo)
    app.command("import")(import_)


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            "not an ISO 8601 time", field="--now", value=value, allowed="e.g. 2026-06-01T00:00:00Z"
        ) from None
    if t.tzinfo is None:
        raise InputError(
            "time has no UTC offset",
            field="--now",
            value=value,
            allowed="e.g. 2026-06-01T00:00:00Z",
        )
    return t


def demo(
    ctx: typer.Context,
    members: int = typer.Option(2000, "--members", "-m", min=4, help="Number of members."),
    posts: int = typer.Option(
        10000,
        "--posts",
        "-p",
        min=0,
        help="Number of content items (posts, articles, comments, messages, profiles).",
    ),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed: same seed, same network."),
    now: str = typer.Option(
        None,
        "--now",
        help="The demo's 'now' (ISO 8601 with offset); fix it to make "
        "two runs byte-identical. Default: the current time.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Create a realistic synthetic professional network in the data directory.

    Members in 41 countries (excluded ones and minors included), posts with personal
    data and its ground truth ($OPTIN_HOME/demo/ground_truth.jsonl), opt-in consent
    histories in the hash-chained ledger and a material policy update. Needs an empty
    database; initialises it if needed.
    """
    from optin.services.demo import generate_demo
    from optin.services.setup import Database

    settings = settings_from(ctx)
    db = Database.open(settings)
    try:
        summary = generate_demo(db, members=members, posts=posts, seed=seed, now=_parse_now(now))
    finally:
        db.dispose()
    if as_json:
        print_json(summary.to_dict())
        return
    _print_summary(summary)


def _print_summary(s: object) -> None:
    from optin.services.demo import DemoSummary

    assert isinstance(s, DemoSummary)
    console.print(
        f"[bold]optin demo[/] seed {s.seed}, now {s.now.isoformat()}: "
        f"{s.members} members in {s.countries} countries, "
        f"{sum(s.content_by_kind.values())} content items in {s.seconds:.1f}s"
    )
    t = Table(title="Members and consent by regime (country now)")
    t.add_column("regime")
    t.add_column("members", justify="right")
    purposes = list(s.eligible)
    for p in purposes:
        t.add_column(f"granted {p}", justify="right")
    for regime, n in s.members_by_regime.items():
        cells = [
            f"{s.consent_by_regime[regime][p]['granted']:.0f} "
            f"({s.consent_by_regime[regime][p]['rate']:.1%})"
            for p in purposes
        ]
        t.add_row(regime, str(n), *cells)
    console.print(t)
    console.print(
        f"minors: {s.minors}   closed accounts: {s.closed_accounts}   "
        f"moved country: {s.moved_country}"
    )
    for p in purposes:
        reasons = ", ".join(f"{k} {v}" for k, v in s.reasons[p].items())
        console.print(f"eligible now for [bold]{esc(p)}[/]: {s.eligible[p]}  ({esc(reasons)})")
    console.print(
        esc(
            "content by kind: "
            + ", ".join(f"{k} {v}" for k, v in s.content_by_kind.items())
            + f"; edited {s.edited}, deleted {s.deleted}"
        )
    )
    console.print(
        esc(
            "visibility: "
            + ", ".join(f"{k} {v}" for k, v in s.content_by_visibility.items())
            + "; languages: "
            + ", ".join(f"{k} {v}" for k, v in s.languages.items())
        )
    )
    console.print(
        esc(
            "personal data inserted (ground truth): "
            + ", ".join(f"{k} {v}" for k, v in s.pii_by_label.items())
        )
    )
    versions = "; ".join(
        f"v{v['version']} from {v['effective_at'][:10]}"
        + (f" (material: {', '.join(v['material'])})" if v["material"] else "")
        for v in s.policy_versions
    )
    console.print(f"policy versions: {esc(versions)}")
    console.print(f"ledger: {s.ledger_events} events, head {esc(s.ledger_head[:16])}…")
    if s.ground_truth:
        console.print(f"ground truth: {esc(s.ground_truth)}")
    if s.accounts:
        console.print(
            "log in with: "
            + ", ".join(
                esc(f"{a.handle} / {a.password}") + (" (admin)" if a.role == "admin" else "")
                for a in s.accounts
            )
        )


def import_(
    ctx: typer.Context,
    kind: Kind = typer.Argument(..., help="What the file holds: members, content or consents."),
    file: Path = typer.Argument(..., help="A JSONL or CSV file (see docs/import-formats.md)."),
    fmt: Format = typer.Option(
        None, "--format", "-f", help="jsonl or csv (default: from the file extension)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Import members, content or consent events, all or nothing.

    Every invalid record is reported (file, line, field, value, what is allowed) and
    nothing is written. Re-importing identical records is a no-op.
    """
    from optin.services.imports import import_file
    from optin.services.setup import Database

    db = Database.open(settings_from(ctx))
    try:
        db.require_initialized()
        result = import_file(
            db, kind.value, file, now=datetime.now(UTC), fmt=fmt.value if fmt else None
        )
    finally:
        db.dispose()
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"imported {result.inserted} {esc(result.kind)} record(s) from {esc(result.file)}; "
        f"{result.skipped} already present and identical"
    )


def export(ctx: typer.Context, kind: Kind, output: Path, as_json: bool) -> None:
    """Export members, content or consent events as JSONL (written atomically) that
    ``optin import`` accepts (``optin export members|content|consents``)."""
    from optin.services.exports import export_file
    from optin.services.setup import Database

    db = Database.open(settings_from(ctx))
    try:
        db.require_initialized()
        n = export_file(db, kind.value, output)
    finally:
        db.dispose()
    if as_json:
        print_json({"kind": kind.value, "output": str(output), "records": n})
        return
    console.print(f"exported {n} {esc(kind.value)} record(s) to {esc(output)}")
