"""Core commands: init, consent, policy, eligibility, ledger verify, receipt."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from optin.cli.context import console, env_settings, print_json, settings_from
from optin.cli.output import Table, esc
from optin.cli.simple import iso as _iso
from optin.cli.simple import (
    parse_time,
    print_consent_state,
    print_decision,
    say,
)
from optin.errors import InputError, IntegrityError

if TYPE_CHECKING:
    from optin.domain.eligibility import Decision
    from optin.domain.model import PolicyVersion
    from optin.services.consent_view import PurposeState
    from optin.services.setup import Database
    from optin.settings_env import EnvSettings

T = TypeVar("T")

consent_app = typer.Typer(help="Record and show members' consent choices.", no_args_is_help=True)
policy_app = typer.Typer(help="Show and publish the data-use policy.", no_args_is_help=True)
ledger_app = typer.Typer(help="The tamper-evident consent ledger.", no_args_is_help=True)
keys_app = typer.Typer(help="Member keys and the master key that wraps them.", no_args_is_help=True)

JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of a table.")


def open_db(ctx: typer.Context) -> Database:
    """The initialised database of the current settings (ConfigError with the fix);
    its connections close when the command's context does (in-process runs, tests)."""
    from optin.services.setup import Database

    db = Database.open(settings_from(ctx))
    ctx.call_on_close(db.dispose)
    db.require_initialized()
    return db


def _fast_or_full(
    ctx: typer.Context,
    fast: Callable[[EnvSettings], T | None],
    full: Callable[[Database], T],
) -> T:
    """``fast(settings)`` where the root callback read the settings from the environment
    alone and the read-only SQLite path answers (:mod:`optin.services.quick`), else
    ``full(db)`` on the opened database (every check and error message)."""
    env = env_settings(ctx)
    got = fast(env) if env is not None else None
    if got is not None:
        return got
    db = open_db(ctx)
    try:
        return full(db)
    finally:
        db.dispose()


# -- init ------------------------------------------------------------------------------


OPT_OUT_OPT = typer.Option(
    False,
    "--i-understand-opt-out",
    help="Acknowledge that this version includes members by default who have not chosen "
    "(opt-out); it applies only after the policy's notice period.",
)


def _read_policy(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the policy file: {e}", file=str(file)) from None


def init(
    ctx: typer.Context,
    policy: Path = typer.Option(
        None, "--policy", help="The platform's first policy (TOML; default: the shipped one)."
    ),
    effective_at: str = typer.Option(
        None,
        "--effective-at",
        help="When the first policy takes effect (ISO 8601 with a zone, or a date; default "
        "now; not in the past unless --allow-backdate).",
    ),
    allow_backdate: bool = typer.Option(
        False,
        "--allow-backdate",
        help="Allow a first policy effective in the past (to load an earlier history).",
    ),
    acknowledge_opt_out: bool = OPT_OUT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Create the data directory and database (migrations), publish the first policy."""
    from optin.services.setup import Database, init_database

    when = parse_time(effective_at, "--effective-at")
    text = _read_policy(policy) if policy is not None else None
    settings = settings_from(ctx)
    db = Database.open(settings)
    try:
        published = init_database(
            db,
            now=datetime.now(UTC),
            policy_text=text,
            effective_at=when,
            allow_backdate=allow_backdate,
            acknowledge_opt_out=acknowledge_opt_out,
            policy_source=str(policy) if policy is not None else "default_policy.toml",
        )
        info = {
            "home": str(settings.home.resolve()),
            "database": repr(db)[len("Database(") + 1 : -2],
            "schema_revision": db.current_revision(),
            "default_policy_published": published and policy is None,
            "policy_published": published,
        }
    finally:
        db.dispose()
    if as_json:
        print_json(info)
        return
    say(f"[green]optin is ready[/] in {esc(info['home'])}")
    say(f"  database: {esc(info['database'])} (schema {esc(info['schema_revision'])})")
    if published:
        which = esc(str(policy)) if policy is not None else "the default policy"
        say(f"  published {which} as version 1, effective {_iso(when) if when else 'now'}")


# -- consent ---------------------------------------------------------------------------


@consent_app.command("set")
def consent_set(
    ctx: typer.Context,
    member: str = typer.Argument(..., help="Member id or @handle."),
    purpose: str = typer.Argument(..., help="Purpose id, e.g. train_own_models."),
    switch: str = typer.Argument(..., help="on (grant) or off (withdraw)."),
    at: str = typer.Option(
        None, "--at", help="Event time (ISO 8601 with a zone, or a date; default now)."
    ),
    source: str = typer.Option("cli", "--source", help="Where the choice came from."),
    as_json: bool = JSON_OPT,
) -> None:
    """Switch a purpose on or off for a member (appends to the ledger)."""
    from optin.services.consent import parse_action, record_choice, resolve_member

    action = parse_action(switch)
    when = parse_time(at, "--at")
    now = datetime.now(UTC)
    db = open_db(ctx)
    try:
        member = resolve_member(db, member)
        done = record_choice(db, member, purpose, action, source=source, now=now, at=when)
    finally:
        db.dispose()
    ev = done.event
    data = {
        "event_id": ev.event_id,
        "seq": ev.seq,
        "member_id": ev.member_id,
        "purpose": ev.purpose,
        "action": str(ev.action),
        "at": _iso(ev.at),
        "policy_version": ev.policy_version,
        "source": str(ev.source),
        "recorded": done.recorded,
        "note": done.note,
    }
    if as_json:
        print_json(data)
        return
    word = "on" if ev.action == "grant" else "off"
    if done.note is not None:
        say(
            f"{esc(member)}: {esc(purpose)} is {done.note}: nothing recorded "
            f"(current event {esc(ev.event_id)}, seq {ev.seq})"
        )
        return
    say(
        f"{esc(member)}: {esc(purpose)} switched [bold]{word}[/] at {_iso(ev.at)} "
        f"(event {esc(ev.event_id)}, seq {ev.seq}, policy v{ev.policy_version})"
    )


@consent_app.command("show")
def consent_show(
    ctx: typer.Context,
    member: str = typer.Argument(..., help="Member id or @handle."),
    at: str = typer.Option(
        None, "--at", help="As of this time (ISO 8601 with a zone, or a date; default now)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Each purpose: is it switched on, and may the member's content be used."""
    from optin.services import quick

    when = parse_time(at, "--at") or datetime.now(UTC)

    def full(db: Database) -> tuple[str, list[PurposeState]]:
        from optin.services.consent import consent_state, resolve_member

        member_id = resolve_member(db, member)
        return member_id, consent_state(db, member_id, when)

    member, states = _fast_or_full(ctx, lambda env: quick.consent_state(env, member, when), full)
    print_consent_state(member, when, states, as_json)


@consent_app.command("history")
def consent_history_cmd(
    ctx: typer.Context,
    member: str = typer.Argument(..., help="Member id or @handle."),
    as_json: bool = JSON_OPT,
) -> None:
    """Every consent event of a member, oldest first."""
    from optin.services.consent import consent_history, resolve_member

    db = open_db(ctx)
    try:
        member = resolve_member(db, member)
        events = consent_history(db, member)
    finally:
        db.dispose()
    rows = [
        {
            "seq": e.seq,
            "event_id": e.event_id,
            "purpose": e.purpose,
            "action": str(e.action),
            "at": _iso(e.at),
            "policy_version": e.policy_version,
            "source": str(e.source),
        }
        for e in events
    ]
    if as_json:
        print_json({"member_id": member, "events": rows})
        return
    table = Table(title=f"consent history of {member} ({len(rows)} events)")
    for col in ("seq", "at", "purpose", "action", "policy", "source", "event id"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["seq"]),
            str(r["at"]),
            str(r["purpose"]),
            str(r["action"]),
            f"v{r['policy_version']}",
            str(r["source"]),
            str(r["event_id"]),
        )
    console.print(table)


# -- policy ----------------------------------------------------------------------------


def _policy_data(pv: PolicyVersion, versions: Sequence[PolicyVersion]) -> dict[str, Any]:
    from optin.services.policy import regimes

    rules = pv.jurisdictions
    return {
        "version": pv.version,
        "effective_at": _iso(pv.effective_at),
        "in_force_at": _iso(pv.in_force_from),
        "notice_days": pv.notice_days,
        "sha256": pv.sha256,
        "summary": pv.summary,
        "material": sorted(pv.material),
        "purposes": {
            pid: {
                "title": p.title,
                "description": p.description,
                "kinds": sorted(p.kinds),
                "visibility": sorted(p.visibilities),
                "recipients": list(p.recipients),
            }
            for pid, p in sorted(pv.purposes.items())
        },
        "jurisdictions": regimes(pv),
        "minimum_age": rules.minimum_age,
        "minimum_age_overrides": dict(sorted(rules.minimum_age_overrides.items())),
        "versions": [
            {
                "version": v.version,
                "effective_at": _iso(v.effective_at),
                "in_force_at": _iso(v.in_force_from),
                "material": sorted(v.material),
            }
            for v in versions
        ],
    }


def _print_regimes(data: dict[str, Any]) -> None:
    jur = data["jurisdictions"]
    say(f"jurisdictions (default {esc(jur['default'])} for every country not listed):")
    for regime in ("excluded", "opt_in", "opt_out"):
        say(f"  {regime}: {esc(' '.join(jur[regime]) or 'none')}")
    ages = data["minimum_age_overrides"]
    extra = "; " + ", ".join(f"{c} {a}" for c, a in ages.items()) if ages else ""
    say(f"minimum age {data['minimum_age']}{esc(extra)}")


def _print_policy(pv: PolicyVersion, data: dict[str, Any]) -> None:
    say(f"[bold]policy v{pv.version}[/] effective {_iso(pv.effective_at)} sha256 {pv.sha256[:16]}…")
    if pv.in_force_at is not None:
        say(f"  in force from {_iso(pv.in_force_at)} (notice period)")
    if pv.summary:
        say(f"  {esc(pv.summary)}")
    if pv.material:
        say(f"  material change for: {esc(', '.join(sorted(pv.material)))}")
    table = Table(title="purposes")
    for col in ("purpose", "title", "content", "recipients"):
        table.add_column(col)
    for pid, p in sorted(pv.purposes.items()):
        table.add_row(
            pid,
            p.title,
            f"{', '.join(sorted(p.kinds))} ({', '.join(sorted(p.visibilities))})",
            ", ".join(p.recipients),
        )
    console.print(table)
    _print_regimes(data)
    say(
        "versions: "
        + ", ".join(f"v{v['version']} from {v['in_force_at']}" for v in data["versions"])
    )


def _print_diff(diff: dict[str, Any]) -> None:
    against = diff["against"]
    say(
        f"[bold]changes in v{diff['version']}[/] against {f'v{against}' if against else 'nothing'}:"
    )
    for sentence in diff["sentences"]:
        say(f"  - {esc(sentence)}")
    if not diff["sentences"]:
        say("  (none)")
    if diff["text_diff"]:
        typer.echo(diff["text_diff"], nl=False)


@policy_app.command("show")
def policy_show(
    ctx: typer.Context,
    version: int = typer.Option(None, "--version", help="Version number (default: latest)."),
    document: bool = typer.Option(False, "--document", help="Print the TOML document."),
    diff: bool = typer.Option(
        False, "--diff", help="Also show what changed against the previous version."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Show a policy version: purposes, every regime with its countries, material changes."""
    from optin.services.policy import get_policy, policy_diff, policy_document, policy_set

    db = open_db(ctx)
    try:
        ps = policy_set(db)
        latest = ps.latest()
        pv = get_policy(db, version if version is not None else (latest.version if latest else 1))
        text = policy_document(db, pv.version) if document else None
        changes = policy_diff(db, pv.version) if diff else None
    finally:
        db.dispose()
    if text is not None and not as_json:
        typer.echo(text, nl=False)
        return
    data = _policy_data(pv, sorted(ps.versions, key=lambda v: v.version))
    if text is not None:
        data["document"] = text
    if changes is not None:
        changes["in_force_at"] = _iso(changes["in_force_at"])
        data["diff"] = changes
    if as_json:
        print_json(data)
        return
    _print_policy(pv, data)
    if changes is not None:
        _print_diff(changes)


@policy_app.command("diff")
def policy_diff_cmd(
    ctx: typer.Context,
    old: int = typer.Argument(..., help="The earlier version number."),
    new: int = typer.Argument(..., help="The later version number."),
    as_json: bool = JSON_OPT,
) -> None:
    """What version NEW changes against version OLD: typed changes and the text diff."""
    from optin.services.policy import policy_diff

    db = open_db(ctx)
    try:
        changes = policy_diff(db, new, against=old)
    finally:
        db.dispose()
    changes["in_force_at"] = _iso(changes["in_force_at"])
    if as_json:
        print_json(changes)
        return
    _print_diff(changes)


@policy_app.command("publish")
def policy_publish(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Policy TOML file."),
    effective_at: str = typer.Option(
        None,
        "--effective-at",
        help="When it takes effect (ISO 8601 with a zone, or a date; default now).",
    ),
    material: list[str] = typer.Option(
        None,
        "--material",
        help="Purpose whose change invalidates earlier grants (repeatable); default: the "
        "purposes marked material = true in the file.",
    ),
    allow_backdate: bool = typer.Option(
        False,
        "--allow-backdate",
        help="Allow an effective time in the past (to record a historical version; it "
        "changes decisions already made for times after it).",
    ),
    acknowledge_opt_out: bool = OPT_OUT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Publish FILE as the next policy version.

    A purpose that becomes opt-out somewhere, uses more content or gains a recipient
    must be marked material; a version that includes members by default needs
    --i-understand-opt-out and applies only after its notice period.
    """
    from optin.services.policy import publish_policy

    when = parse_time(effective_at, "--effective-at")
    text = _read_policy(file)
    db = open_db(ctx)
    try:
        pv = publish_policy(
            db,
            text,
            now=datetime.now(UTC),
            effective_at=when,
            material=set(material) if material else None,
            source=str(file),
            allow_backdate=allow_backdate,
            acknowledge_opt_out=acknowledge_opt_out,
        )
    finally:
        db.dispose()
    data = {
        "version": pv.version,
        "effective_at": _iso(pv.effective_at),
        "in_force_at": _iso(pv.in_force_from),
        "sha256": pv.sha256,
        "material": sorted(pv.material),
        "purposes": sorted(pv.purposes),
    }
    if as_json:
        print_json(data)
        return
    say(
        f"published policy [bold]v{pv.version}[/], effective {_iso(pv.effective_at)}"
        + (f"; material change for {esc(', '.join(sorted(pv.material)))}" if pv.material else "")
    )
    if pv.in_force_at is not None:
        say(
            f"  in force from {_iso(pv.in_force_at)} (notice period of {pv.notice_days} "
            "days; members see the change until then)"
        )


# -- eligibility, ledger, receipt ---------------------------------------------------------


def eligibility_cmd(
    ctx: typer.Context,
    member: str = typer.Argument(..., help="Member id or @handle."),
    purpose: str = typer.Option(..., "--purpose", help="Purpose id, e.g. train_own_models."),
    at: str = typer.Option(
        None, "--at", help="As of this time (ISO 8601 with a zone, or a date; default now)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """May MEMBER's content be used for PURPOSE at time T, and why."""
    from optin.services import quick

    when = parse_time(at, "--at") or datetime.now(UTC)

    def full(db: Database) -> tuple[str, Decision]:
        from optin.services.consent import resolve_member
        from optin.services.eligibility import decide_member

        member_id = resolve_member(db, member)
        return member_id, decide_member(db, member_id, purpose, when)

    member, d = _fast_or_full(
        ctx, lambda env: quick.decide_member(env, member, purpose, when), full
    )
    print_decision(member, purpose, d, as_json)


@ledger_app.command("verify")
def ledger_verify(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Re-check the whole hash chain; exit 3 naming the first bad sequence number."""
    from optin.services.ledger import verify_ledger
    from optin.services.tlog import tree_problem  # transparency log (issue 13)

    db = open_db(ctx)
    try:
        report = verify_ledger(db)
        log_problem = tree_problem(db, settings_from(ctx)) if report.ok else None
    finally:
        db.dispose()
    if as_json:
        print_json(report.to_dict())
    elif report.ok and log_problem is None:
        say(f"[green]ledger intact[/]: {report.length} events, head {esc(report.head_hash)}")
    if not report.ok:
        raise IntegrityError(
            f"ledger verification failed at seq {report.first_bad_seq}: {report.problem}",
            where=f"seq {report.first_bad_seq}",
        )
    if log_problem is not None:
        raise IntegrityError(f"ledger verification failed: transparency log: {log_problem}")


def receipt_cmd(
    ctx: typer.Context,
    event_id: str = typer.Argument(..., help="Consent event id."),
    as_json: bool = JSON_OPT,
) -> None:
    """A consent event as an ISO/IEC TS 27560 / DPV consent record."""
    from optin.services.receipts import receipt

    db = open_db(ctx)
    try:
        rec = receipt(db, event_id)
    finally:
        db.dispose()
    if as_json:
        print_json(rec)
        return
    table = Table(title=f"consent record {event_id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    purpose = rec["purposes"][0]
    notice = rec["notice"]["dpv:hasNotice"]
    rows = [
        ("principal", rec["principal"]["dpv:hasDataSubject"]["@id"]),
        ("purpose", f"{purpose['@id'].split('/')[-1]}: {purpose['dct:title']}"),
        ("state", f"{rec['state']['value']} ({rec['state']['dpv:hasConsentStatus']})"),
        ("time", rec["event"]["dpv:isIndicatedAtTime"]),
        ("notice", f"policy v{notice['version']} sha256 {str(notice['sha256'])[:16]}…"),
        (
            "jurisdiction",
            f"{rec['jurisdiction']['dpv:hasJurisdiction'] or '-'} "
            f"({rec['jurisdiction']['regime'] or '-'})",
        ),
        ("recipients", ", ".join(rec["processing"]["dpv:hasRecipient"]) or "-"),
        ("method", rec["method"]["source"]),
        ("withdraw", f"{rec['withdrawal']['how']} or `{rec['withdrawal']['cli']}`"),
        ("proof", f"ledger seq {rec['proof']['ledger_seq']} hash {rec['proof']['hash']}"),
    ]
    for k, v in rows:
        table.add_row(k, str(v))
    console.print(table)


@keys_app.command("rotate-master")
def keys_rotate_master(
    ctx: typer.Context,
    new_key: str | None = typer.Option(
        None, "--new-key", help="The new master key (base64 of 32 bytes); default: random."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Re-wrap every member key under a new master key (ledger events are untouched)."""
    from optin.services.keys import rotate_master_key

    db = open_db(ctx)
    try:
        result = rotate_master_key(db, new_key)
    finally:
        db.dispose()
    if as_json:  # the new key is printed as plain output prints it: set it, then discard
        print_json({"rewrapped": result.rewrapped, "new_key_for_env": result.new_key_for_env})
        return
    say(f"re-wrapped {result.rewrapped} member key(s) under the new master key")
    if result.new_key_for_env is not None:
        say("set OPTIN_MASTER_KEY to the new key now (the old one no longer unwraps them):")
        print(result.new_key_for_env)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.add_typer(consent_app, name="consent")
    app.add_typer(policy_app, name="policy")
    app.command("eligibility")(eligibility_cmd)
    app.add_typer(ledger_app, name="ledger")
    app.add_typer(keys_app, name="keys")
    app.command("receipt")(receipt_cmd)
