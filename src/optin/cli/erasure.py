"""``optin dsr erase``: erase a member's data everywhere optin keeps it, and
``optin dsr erasure-record`` / ``optin dsr compact``. A thin layer over
:mod:`optin.services.erasure`.

The commands live in the ``dsr`` group (data-subject requests), which the request
queue's commands share (:data:`dsr_app`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from optin.cli.context import console, print_json, settings_from
from optin.cli.core import JSON_OPT, open_db, say
from optin.cli.dsr import dsr_app  # the erasure commands join the request queue's group
from optin.cli.output import Table
from optin.errors import ConflictError, InputError


@dsr_app.command("erase")
def erase(
    ctx: typer.Context,
    member: str = typer.Argument(..., help="Member id or @handle (case-insensitive)."),
    yes: bool = typer.Option(
        False, "--yes", help="Confirm: the erasure cannot be undone (required)."
    ),
    request: str = typer.Option(
        None, "--request", help="The data-subject request this erasure completes (recorded)."
    ),
    actor: str = typer.Option("cli", "--actor", help="Who runs the erasure (recorded)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Erase a member: destroy their ledger key, delete their content and profile,
    rewrite mentions of them, retire the snapshots and purge the exports that held
    their records (providers get deletion notices), shred their files, compact the
    database. Cannot be undone. Exit 75 when all of it is done but the compaction could
    not finish (see `optin dsr compact`)."""
    from optin.services.erasure import erase_member, find_member

    if not yes:
        raise InputError(
            "erasure cannot be undone; confirm it",
            field="--yes",
            allowed="--yes (after checking the member with `optin member show`)",
        )
    now = datetime.now(UTC)
    db = open_db(ctx)
    try:
        mid = find_member(db, member)
        report = erase_member(db, settings_from(ctx), mid, now=now, request_id=request, actor=actor)
    finally:
        db.dispose()
    if as_json:
        print_json(report.to_dict())
        _compaction_check(report.compaction, "the erasure is done and recorded, but ")
        return
    d = report.to_dict()
    t = Table(title=f"erasure {report.erasure_id} of member {mid}")
    t.add_column("place")
    t.add_column("result")
    rows = [
        ("ledger key", "destroyed" if report.key_destroyed else "already destroyed"),
        ("log salts erased", str(report.tlog_salts_erased)),
        ("profile fields blanked", ", ".join(report.profile_fields) or "none"),
        ("content deleted", str(report.content_deleted)),
        ("mentions rewritten (other members' texts)", str(report.mentions_rewritten)),
        ("request texts rewritten (dsr tables)", str(report.request_texts_rewritten)),
        ("snapshots retired", ", ".join(report.snapshots_retired) or "none"),
        ("snapshots derived", ", ".join(report.snapshots_derived) or "none"),
        ("exports stale and purged", ", ".join(report.exports_stale) or "none"),
        ("deletion notices queued", str(report.notices_queued)),
        ("models flagged for retraining", ", ".join(report.models_flagged) or "none"),
        ("access-package files shredded", str(report.access_files_deleted)),
        ("temporary files shredded", str(report.temp_files_deleted)),
        ("ledger entry", f"seq {d['ledger_seq']}" if report.ledger_seq else "earlier"),
        ("compaction", ", ".join(report.compaction.steps) if report.compaction else "none"),
    ]
    for place, result in rows:
        t.add_row(place, result)
    console.print(t)
    say("deletion notices go out with `optin outbox run` (or the worker of `optin serve`)")
    _compaction_check(report.compaction, "the erasure is done and recorded, but ")


def _compaction_check(done: Any, prefix: str = "") -> None:
    """An incomplete compaction is an error line and exit code 75 (EX_TEMPFAIL: try
    again later), after the command's output, so neither a person nor a script can
    miss that old copies are still in the database files."""
    if done is not None and done.problem is not None:
        raise ConflictError(prefix + done.problem)


@dsr_app.command("erasure-record")
def erasure_record(
    ctx: typer.Context,
    member: str = typer.Argument(..., help="Member id (an erased member has no handle)."),
    as_json: bool = JSON_OPT,
) -> None:
    """What an erasure reached for a member: place, field, action, count, when, by which
    request and actor (no personal data)."""
    from optin.services.erasure import erasure_records, find_member

    db = open_db(ctx)
    try:
        records = erasure_records(db, find_member(db, member))
    finally:
        db.dispose()
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    t = Table(title=f"erasure record of {member}")
    for col in ("at", "place", "what", "action", "target", "count", "request", "actor"):
        t.add_column(col)
    for r in records:
        t.add_row(
            r.at.isoformat(),
            r.place,
            r.what,
            r.action,
            r.target or "",
            str(r.count),
            r.request_id or "",
            r.actor,
        )
    console.print(t)


@dsr_app.command("compact")
def compact(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Compact the database so that freed pages keep no erased value (SQLite VACUUM and
    WAL truncation; PostgreSQL VACUUM FULL of the tables erasure touches). Exit 75 when
    it could not finish (a reader held the WAL; a PostgreSQL session held an older
    snapshot): run it again once they have ended."""
    from optin.services.erasure import compact_database

    db = open_db(ctx)
    try:
        done = compact_database(db)
    finally:
        db.dispose()
    if as_json:
        print_json(done.to_dict())
    else:
        say(f"{done.backend}: {', '.join(done.steps)}; complete: {done.complete}")
    _compaction_check(done)


def register(app: typer.Typer) -> None:
    """Nothing to add: the commands above are on :data:`optin.cli.dsr.dsr_app`, which
    :mod:`optin.cli.dsr` registers."""
