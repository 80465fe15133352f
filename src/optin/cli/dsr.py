"""``optin dsr``: the data-subject request queue (access, erasure, objection). A thin
layer over :mod:`optin.services.dsr`."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

import typer

from optin.cli.context import console, print_json, settings_from
from optin.cli.core import JSON_OPT, open_db, parse_time, say
from optin.cli.output import Table, esc, styled
from optin.errors import ConflictError

dsr_app = typer.Typer(
    help="Data-subject requests: access packages, erasure and objection, with deadlines.",
    no_args_is_help=True,
)

BY_OPT = typer.Option(
    None, "--by", help="Who is acting, for the request's history (default: your login name)."
)
_COLOURS = {"overdue": "bold red", "urgent": "red", "soon": "yellow", "ok": "green", "done": "dim"}


def _actor(by: str | None) -> str:
    if by:
        return f"cli:{by}"
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:operator"


def _left(r: Any) -> Any:
    if r.state in ("completed", "refused"):
        return styled(r.state, "dim")
    text = f"{r.days_left} day(s) left" if r.days_left >= 0 else f"{-r.days_left} day(s) overdue"
    return styled(text, _COLOURS.get(r.urgency, ""))


def _print_one(r: Any) -> None:
    say(
        f"[bold]{esc(r.id)}[/] {esc(r.kind)} for {esc(r.member_id)}: [bold]{esc(r.state)}[/]; "
        f"received {r.received_at.isoformat()} via {esc(r.channel)} ({esc(r.opened_by)}); "
        f"due {r.due_at.isoformat()} ({esc(r.rule)}, {esc(r.timezone)})"
        + (" [extended]" if r.extended else "")
    )
    if r.duplicate_of:
        say(f"linked to {esc(r.duplicate_of)} (it follows that request)")
    if r.linked:
        say("linked requests: " + esc(", ".join(r.linked)))
    if r.identity_method:
        say(f"identity verified: {esc(r.identity_method)}")
    table = Table(title="history")
    for col in ("at", "from", "to", "by", "reason"):
        table.add_column(col)
    for e in r.history:
        table.add_row(e.at.isoformat(), e.from_state or "-", e.to_state, e.actor, e.reason or "")
    console.print(table)


def _done(r: Any, as_json: bool) -> None:
    if as_json:
        print_json(r.to_dict())
    else:
        _print_one(r)


@dsr_app.command("list")
def dsr_list(
    ctx: typer.Context,
    all_: bool = typer.Option(False, "--all", help="Closed requests too (default: open only)."),
    state: str = typer.Option(None, "--state", help="Only this state (received, verified, ...)."),
    kind: str = typer.Option(None, "--kind", help="Only this kind: access, erasure, objection."),
    member: str = typer.Option(None, "--member", help="Only this member (id or @handle)."),
    limit: int = typer.Option(1000, "--limit", min=1, max=100_000, help="At most this many."),
    as_json: bool = JSON_OPT,
) -> None:
    """Requests, soonest deadline first, with days left (coloured by urgency)."""
    from optin.services.dsr import list_requests

    db = open_db(ctx)
    try:
        rows = list_requests(
            db,
            datetime.now(UTC),
            open_only=not all_,
            state=state,
            kind=kind,
            member_ref=member,
            limit=limit,
        )
    finally:
        db.dispose()
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    table = Table(title=f"{len(rows)} request(s)")
    table.add_column("id", no_wrap=True, min_width=24)
    for col in ("kind", "member", "state", "received", "due (end of day)", "left"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.id + (f" -> {r.duplicate_of}" if r.duplicate_of else ""),
            r.kind,
            r.member_id,
            r.state,
            r.received_at.date().isoformat(),
            f"{r.last_day.isoformat()} {r.timezone}",
            _left(r),
        )
    console.print(table)


@dsr_app.command("show")
def dsr_show(
    ctx: typer.Context,
    request_id: str = typer.Argument(..., help="The request id (dsr_...)."),
    as_json: bool = JSON_OPT,
) -> None:
    """One request with its deadline and every dated change of state."""
    from optin.services.dsr import show_request

    db = open_db(ctx)
    try:
        r = show_request(db, request_id, datetime.now(UTC))
    finally:
        db.dispose()
    _done(r, as_json)


@dsr_app.command("open")
def dsr_open(
    ctx: typer.Context,
    member: str = typer.Argument(..., help="Member id or @handle."),
    kind: str = typer.Argument(..., help="access, erasure or objection."),
    verified_by: str = typer.Option(
        None,
        "--verified-by",
        help="How the member's identity was verified (e.g. 'reply from the account's "
        "e-mail'); without it the request waits in 'received' for `optin dsr verify`.",
    ),
    received_at: str = typer.Option(
        None,
        "--received-at",
        help="When the request was received (ISO 8601 with a zone, or a date; default now).",
    ),
    by: str = BY_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Open a request on a member's behalf. A request of the same kind while one is open
    is linked to the first and follows it."""
    from optin.services.dsr import open_request

    now = datetime.now(UTC)
    when = parse_time(received_at, "--received-at")
    settings = settings_from(ctx)
    db = open_db(ctx)
    try:
        r = open_request(
            db,
            member,
            kind,
            channel="cli",
            actor=_actor(by),
            now=now,
            identity_method=verified_by,
            received_at=when,
            home=settings.home,
        )
    finally:
        db.dispose()
    _done(r, as_json)


@dsr_app.command("verify")
def dsr_verify(
    ctx: typer.Context,
    request_id: str = typer.Argument(..., help="The request id."),
    method: str = typer.Option(..., "--method", help="How the member's identity was verified."),
    by: str = BY_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Record how the member's identity was verified (received -> verified)."""
    from optin.services.dsr import verify

    db = open_db(ctx)
    try:
        r = verify(db, request_id, method=method, actor=_actor(by), now=datetime.now(UTC))
    finally:
        db.dispose()
    _done(r, as_json)


@dsr_app.command("complete")
def dsr_complete(
    ctx: typer.Context,
    request_ids: list[str] = typer.Argument(
        ..., help="The request id; several erasure request ids are erased in one pass."
    ),
    by: str = BY_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Do what the request asks and mark it completed: access builds the package (the
    member downloads it from their requests page), objection withdraws every purpose,
    erasure runs the erasure engine (several erasure requests: one erasure pass, one
    compaction). Exit 75 when an erasure is done but its database compaction could not
    finish (see `optin dsr compact`)."""
    from optin.services.dsr import complete, complete_erasures

    settings = settings_from(ctx)
    db = open_db(ctx)
    now = datetime.now(UTC)
    try:
        if len(request_ids) == 1:
            done = [complete(db, settings.home, request_ids[0], actor=_actor(by), now=now)]
        else:
            done = complete_erasures(db, settings.home, request_ids, actor=_actor(by), now=now)
    finally:
        db.dispose()
    if as_json and len(request_ids) > 1:
        print_json([r.to_dict() for r in done])
    else:
        for r in done:
            _done(r, as_json)
    warnings = sorted({w for r in done for w in r.warnings})
    if warnings:  # e.g. an erasure whose compaction is incomplete: exit 75, try again
        raise ConflictError("the request is completed, but " + "; ".join(warnings))


@dsr_app.command("refuse")
def dsr_refuse(
    ctx: typer.Context,
    request_id: str = typer.Argument(..., help="The request id."),
    reason: str = typer.Option(..., "--reason", help="Why (the member sees it)."),
    by: str = BY_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Refuse a request, with the reason."""
    from optin.services.dsr import refuse

    db = open_db(ctx)
    try:
        r = refuse(db, request_id, reason=reason, actor=_actor(by), now=datetime.now(UTC))
    finally:
        db.dispose()
    _done(r, as_json)


@dsr_app.command("extend")
def dsr_extend(
    ctx: typer.Context,
    request_id: str = typer.Argument(..., help="The request id."),
    reason: str = typer.Option(
        ..., "--reason", help="Why more time is needed (the member sees it)."
    ),
    by: str = BY_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Use the rule's one extension (before the first deadline): a new deadline, and a
    notice with the reason on the member's requests page."""
    from optin.services.dsr import extend

    db = open_db(ctx)
    try:
        r = extend(db, request_id, reason=reason, actor=_actor(by), now=datetime.now(UTC))
    finally:
        db.dispose()
    _done(r, as_json)


@dsr_app.command("sweep")
def dsr_sweep(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Remove expired access packages and download links (also runs on every download
    and periodically inside `optin serve`)."""
    from optin.services.dsr import sweep

    settings = settings_from(ctx)
    db = open_db(ctx)
    try:
        res = sweep(db, settings.home, now=datetime.now(UTC))
    finally:
        db.dispose()
    if as_json:
        print_json(res.to_dict())
        return
    say(
        f"removed {res.packages_removed} expired package(s), {res.links_removed} link(s), "
        f"{res.orphans_removed} orphaned file(s)"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(dsr_app, name="dsr")
