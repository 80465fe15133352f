"""The short read commands, ``optin consent show`` and ``optin eligibility``: their
output, and answering them before Typer loads (start-up, issue 16).

:func:`answer` takes the command line when :func:`optin.cli.entry.parse_simple` read
it as one of exactly these forms::

    optin [--home DIR] [-v|--verbose] consent show MEMBER [--at T] [--json]
    optin [--home DIR] [-v|--verbose] eligibility MEMBER --purpose P [--at T] [--json]

(options in any order after the command, each at most once, as ``--opt VALUE`` or
``--opt=VALUE``, no value starting with ``-``), the settings come from the environment
alone (:mod:`optin.settings_env`) and the read-only SQLite path answers
(:mod:`optin.services.quick`); then it prints what the Typer commands print, through the
same functions below, and returns the exit code. Anything else (``--help``, another
spelling Click would accept, an error Click would report, PostgreSQL, ...) returns None
before printing anything, and :func:`optin.cli.main.run` (Typer) runs the command: the
same commands, which also try the fast read first. ``tests/cli/test_simple.py`` holds
the two entries equal on random command lines.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from optin.cli.context import console, err_console, print_json
from optin.cli.output import Table, esc, styled
from optin.errors import InputError, OptinError, exit_code_for

if TYPE_CHECKING:
    from optin.cli.entry import SimpleLine
    from optin.domain.eligibility import Decision
    from optin.services.consent_view import PurposeState
    from optin.settings_env import EnvSettings

#: The one time format of every option that takes a time (as the imports require).
TIME_FORMAT = (
    "ISO 8601 with a zone, e.g. 2024-05-01T12:30:00Z or 2024-05-01T14:30:00+02:00; "
    "or a date, 2024-05-01, meaning 00:00 UTC that day"
)


def parse_time(value: str | None, option: str) -> datetime | None:
    """ISO 8601 date-time with a zone, or a date (00:00 UTC). A date-time without a zone
    is refused, not guessed (as imports refuse it). InputError naming ``option``."""
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        dt = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            "not an ISO 8601 date or date-time", field=option, value=value, allowed=TIME_FORMAT
        ) from None
    if dt.tzinfo is None:
        raise InputError(
            "time has no zone (times without a zone are refused, not guessed)",
            field=option,
            value=value,
            allowed=TIME_FORMAT,
        )
    return dt.astimezone(UTC)


def iso(dt: datetime | None) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else "-"


def say(message: str) -> None:
    console.print(message, soft_wrap=True, highlight=False)


def print_consent_state(
    member: str, when: datetime, states: list[PurposeState], as_json: bool
) -> None:
    """What ``optin consent show`` prints."""
    if as_json:
        print_json(
            {"member_id": member, "at": iso(when), "purposes": [s.to_dict() for s in states]}
        )
        return
    table = Table(title=f"{member} as of {iso(when)}")
    for col in ("purpose", "switch", "eligible", "reason", "regime", "last event"):
        table.add_column(col)
    for s in states:
        d = s.decision
        table.add_row(
            s.purpose,
            "on" if s.switched_on else "off",
            styled("yes", "green") if d.eligible else styled("no", "red"),
            str(d.reason),
            str(d.regime or "-"),
            f"{s.last_event.event_id} ({iso(s.last_event.at)})" if s.last_event else "-",
        )
    console.print(table)


def print_decision(member: str, purpose: str, d: Decision, as_json: bool) -> None:
    """What ``optin eligibility`` prints."""
    if as_json:
        print_json(d.to_dict())
        return
    verdict = "[green]ELIGIBLE[/]" if d.eligible else "[red]NOT ELIGIBLE[/]"
    say(f"{esc(member)} / {esc(purpose)} at {iso(d.at)}: {verdict} ({esc(d.reason)})")
    say(f"  {esc(d.explanation)}")
    say(
        f"  country {esc(d.country or '-')}, regime {esc(d.regime or '-')}, "
        f"policy v{d.policy_version if d.policy_version is not None else '-'}, "
        f"consent event {esc(d.consent_event_id or '-')}"
    )


def print_error(e: OptinError) -> int:
    """An optin error as ``optin`` reports it (one line on stderr); its exit code."""
    err_console.print(f"[bold red]error:[/] {esc(e)}", highlight=False, markup=True)
    return exit_code_for(e)


# -- before Typer ---------------------------------------------------------------------


def answer(line: SimpleLine) -> int | None:
    """The exit code of the parsed command line answered without Typer, or None (nothing
    printed) where :func:`optin.cli.main.run` must run it. See the module docstring."""
    from optin.settings_env import read_env_settings

    home = line.root.get("home")
    env = read_env_settings(os.environ, Path(home) if home is not None else None)
    if env is None:
        return None
    _configure_logging(env.log_level, verbose="verbose" in line.root)
    try:
        return _answer(env, line.member, line.options)
    except OptinError as e:
        return print_error(e)


def _configure_logging(level_name: str, *, verbose: bool) -> None:
    """As the root callback of :mod:`optin.cli.main` configures it."""
    import logging

    level = getattr(logging, level_name.upper(), logging.WARNING)
    logging.basicConfig(
        level=min(level, logging.INFO) if verbose else level,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _answer(env: EnvSettings, member: str, opts: dict[str, str | None]) -> int | None:
    from optin.services import quick

    when = parse_time(opts.get("at"), "--at") or datetime.now(UTC)
    as_json = "json" in opts
    purpose = opts.get("purpose")
    if purpose is None:
        state = quick.consent_state(env, member, when)
        if state is None:
            return None
        print_consent_state(state[0], when, state[1], as_json)
        return 0
    decided = quick.decide_member(env, member, purpose, when)
    if decided is None:
        return None
    print_decision(decided[0], purpose, decided[1], as_json)
    return 0


__all__ = [
    "TIME_FORMAT",
    "answer",
    "iso",
    "parse_time",
    "print_consent_state",
    "print_decision",
    "print_error",
    "say",
]
