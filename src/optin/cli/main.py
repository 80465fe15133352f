"""The ``optin`` command: a thin layer over the services. Errors never show a traceback.

Start-up is kept short (``bench/cli_startup.py`` measures it):

* the top-level commands are loaded lazily: :data:`COMMANDS` names each with the command
  modules that build it and its one-line help, so ``optin --help`` imports none of
  ``optin/cli/*`` and ``optin snapshot ...`` imports only the modules that add to
  ``snapshot``; a test checks the table against the commands the modules really define;
* help is Click's plain text (``rich_markup_mode=None``): Typer's Rich help would import
  Rich's Markdown renderer and more (~100 ms) for every ``--help``; command lists show each
  command's whole first help paragraph, wrapped, never cut with "...";
* Typer's pydantic coercion of each parameter is built only for a value that needs it
  (:mod:`optin.cli.fastparse`), so a command whose options are strings never builds one;
* the command modules import the services (SQLAlchemy, pydantic, pyarrow ...) inside the
  commands that need them, and this module imports Rich only on an error path."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

import typer
import typer.core

from optin import __version__
from optin.cli import fastparse
from optin.errors import DiskFullError, OptinError, exit_code_for

fastparse.install()  # str options without a pydantic TypeAdapter (start-up)

#: Modules that add commands; each defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = (
    "optin.cli.core",
    "optin.cli.data",
    "optin.cli.providers",
    "optin.cli.redact",
    "optin.cli.snapshot",
    "optin.cli.lineage",
    "optin.cli.serve",
    "optin.cli.summary",
    "optin.cli.log",
    "optin.cli.members",
    "optin.cli.dsr",
    "optin.cli.train",
    "optin.cli.audit",
    "optin.cli.erasure",
    "optin.cli.signals",
)


class Entry(NamedTuple):
    modules: tuple[str, ...]  # every module that adds to this command, in COMMAND_MODULES order
    help: str  # the command's first help paragraph, as ``optin --help`` lists it


_CORE, _DATA, _PROV = ("optin.cli.core",), ("optin.cli.data",), ("optin.cli.providers",)
#: The top-level commands in the order ``optin --help`` lists them (commands, then groups).
#: ``tests/cli/test_cli_feel.py`` checks names, modules and help against the real commands.
COMMANDS: dict[str, Entry] = {
    "init": Entry(_CORE, "Create the data directory and database (migrations), publish the "
                  "first policy."),
    "eligibility": Entry(_CORE, "May MEMBER's content be used for PURPOSE at time T, and why."),
    "receipt": Entry(_CORE, "A consent event as an ISO/IEC TS 27560 / DPV consent record."),
    "demo": Entry(_DATA, "Create a realistic synthetic professional network in the data "
                  "directory."),
    "import": Entry(_DATA, "Import members, content, consent events or member events, all or "
                    "nothing."),
    "redact": Entry(("optin.cli.redact",), 'Detect and redact personal data in a JSONL file of '
                    '{"id", "text"} records.'),
    "serve": Entry(("optin.cli.serve",), "Run the member and admin web app and the JSON API."),
    "summary": Entry(("optin.cli.summary",), "Members (staff accounts not counted), consent "
                     "rates by regime, eligible members per purpose, ledger status."),
    "train": Entry(("optin.cli.train",), "Train a model on a verified snapshot, or update one "
                   "(`optin train update MODEL`)."),
    "audit": Entry(("optin.cli.audit",), "Audit a trained model: canary exposure, extraction "
                   "probes, membership inference."),
    "consent": Entry(_CORE, "Record and show members' consent choices."),
    "policy": Entry(_CORE, "Show and publish the data-use policy."),
    "ledger": Entry(_CORE, "The tamper-evident consent ledger."),
    "keys": Entry(_CORE, "Member keys and the master key that wraps them."),
    "provider": Entry(_PROV, "Third-party AI providers that may receive exports (the policy "
                      "must name them)."),
    "export": Entry(_PROV, "Export data: members, content or consent events as JSONL (for "
                    "`optin import`), or a share_with_providers snapshot to a provider (create, "
                    "list, status) with a sharing record and signed deletion notices when "
                    "records become ineligible."),
    "outbox": Entry(_PROV, "The deletion-notice outbox: deliver signed notices to providers' "
                    "webhooks."),
    "snapshot": Entry(("optin.cli.snapshot", "optin.cli.lineage",
                       "optin.cli.snapshot_audit"), "Build, verify and inspect "
                      "consent-gated training-data snapshots."),
    "lineage": Entry(("optin.cli.lineage",), "Where content went: snapshots, derived "
                     "snapshots, provider exports, models."),
    "apikey": Entry(("optin.cli.serve",), "API keys for the JSON API (/api/v1)."),
    "user": Entry(("optin.cli.serve",), "Web login accounts."),
    "log": Entry(("optin.cli.log",), "The consent transparency log: checkpoints, proofs, "
                 "verification."),
    "witness": Entry(("optin.cli.log",), "A witness that cosigns consistent log checkpoints "
                     "(c2sp.org/tlog-witness)."),
    "member": Entry(("optin.cli.members",), "Members: dated changes (country, status, birth "
                    "date), list and show."),
    "dsr": Entry(("optin.cli.dsr", "optin.cli.erasure"), "Data-subject requests: access "
                 "packages, erasure and objection, with deadlines."),
    "model": Entry(("optin.cli.train",), "Trained models: list, show, retire, export."),
    "signals": Entry(("optin.cli.signals",), "Consent as AI-use signals for whole content "
                     "paths (robots.txt, TDMRep)."),
}  # fmt: skip

#: Every command module registered so far, on one hidden app (each module once a process).
_FULL = typer.Typer(rich_markup_mode=None, add_completion=False)
_FULL.callback()(lambda: None)  # a group even when one command is registered
_REGISTERED: set[str] = set()
_BUILT: dict[str, Any] = {}


def first_paragraph(text: str | None) -> str:
    """A help text's first paragraph on one line (Click's ``\\b`` markers dropped)."""
    para = (text or "").strip().replace("\b\n", "").split("\n\n")[0]
    return " ".join(para.split())


def _whole_short_help(cmd: Any) -> Any:
    """Give ``cmd`` and its subcommands their whole first paragraph as short help, so the
    plain help's command lists wrap it instead of cutting it at the terminal width."""
    if cmd.short_help is None and cmd.help:
        cmd.short_help = first_paragraph(cmd.help)
    for sub in getattr(cmd, "commands", {}).values():
        _whole_short_help(sub)
    return cmd


def load_command(name: str) -> Any:
    """The Click command ``optin NAME``, built from the modules :data:`COMMANDS` names (each
    imported and registered once a process); ``None`` for an unknown name."""
    entry = COMMANDS.get(name)
    if entry is None:
        return None
    if name not in _BUILT:
        for module in COMMAND_MODULES:  # registration order decides the subcommands' order
            if module in entry.modules and module not in _REGISTERED:
                importlib.import_module(module).register(_FULL)
                _REGISTERED.add(module)
        # only this command's Click object is built (each command costs Typer a look at
        # its signature); Typer builds it the same way inside a group of one
        one = typer.Typer(rich_markup_mode=None, add_completion=False)
        one.callback()(lambda: None)
        one.registered_commands = [c for c in _FULL.registered_commands if c.name == name]
        one.registered_groups = [g for g in _FULL.registered_groups if g.name == name]
        built = typer.main.get_command(one)
        _BUILT[name] = _whole_short_help(built.commands[name])  # type: ignore[attr-defined]
    return _BUILT[name]


class LazyGroup(typer.core.TyperGroup):
    """The root group: lists :data:`COMMANDS` without importing them, loads one on use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = self.commands.get(cmd_name)
        if cmd is None:
            cmd = load_command(cmd_name)
            if cmd is not None:
                self.commands[cmd_name] = cmd
        return cmd

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        # Typer's "did you mean" looks only at the commands loaded so far: look at them all
        from difflib import get_close_matches

        from typer._click.exceptions import UsageError

        try:
            return self._click_resolve_command(ctx, args)
        except UsageError as e:
            matches = get_close_matches(args[0], list(COMMANDS)) if args else []
            if matches:
                names = ", ".join(map(repr, matches))
                e.message = f"{e.message.rstrip('.')}. Did you mean {names}?"
            raise

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, e.help) for name, e in COMMANDS.items()])


app = typer.Typer(
    name="optin",
    help="Consent-first training data for generative AI.",
    cls=LazyGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"optin {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Path = typer.Option(
        None, "--home", help="Data directory (default: $OPTIN_HOME or ./optin-data)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        help="Show INFO logs, the engines' too (Dask); by default only warnings and errors "
        "(or $OPTIN_LOG_LEVEL).",
    ),
) -> None:
    """optin: per-member, per-purpose consent; provable, redacted training snapshots."""
    import logging

    from optin.settings_env import read_env_settings

    # the pydantic Settings is built only where a command needs it (settings_from), or
    # here when the environment holds what only pydantic reads (optin.settings_env)
    settings: Any = read_env_settings(os.environ, home)
    if settings is None:
        from optin.settings import Settings

        settings = Settings(home=home) if home is not None else Settings()
    ctx.obj = settings
    level = getattr(logging, settings.log_level.upper(), logging.WARNING)
    logging.basicConfig(
        level=min(level, logging.INFO) if verbose else level,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _click_error(e: BaseException) -> bool:
    """Whether ``e`` is a Click usage error (Typer's vendored Click, or Click itself when
    something imported it: typer >= 0.20 vendors its own)."""
    from typer._click.exceptions import ClickException

    plain = sys.modules.get("click.exceptions")
    return isinstance(e, ClickException) or (
        plain is not None and isinstance(e, plain.ClickException)
    )


def _err(text: str, **kw: Any) -> None:
    """Print ``text`` (Rich markup) to stderr through Rich (imported here: only errors
    need it)."""
    from optin.cli.context import err_console

    err_console.print(text, **kw)


def _esc(value: object) -> str:
    from optin.cli.output import esc

    return esc(value)


def run(argv: list[str] | None = None) -> int:
    """Entry point: map optin errors to exit codes and short messages."""
    try:
        app(args=argv, prog_name="optin", standalone_mode=False)
    except (Exception, KeyboardInterrupt) as e:
        code = exit_code_of(e)
        if code is None:
            raise
        return code
    return 0


def exit_code_of(e: BaseException) -> int | None:
    """Report ``e`` as ``optin`` reports it (a short message, never a traceback) and
    return the exit code; None: re-raise it (``OPTIN_DEBUG``, or not an ``Exception``)."""
    if isinstance(e, OptinError):
        from optin.cli.simple import print_error

        return print_error(e)
    if isinstance(e, typer.Abort):
        _err("aborted")
        return 130
    if isinstance(e, typer.Exit):
        return int(e.exit_code or 0)
    if isinstance(e, KeyboardInterrupt):
        _err("interrupted")
        return 130
    if isinstance(e, BrokenPipeError):
        return 0
    if not isinstance(e, Exception):
        return None
    # last resort: never a traceback for users
    if _click_error(e):
        from typer._click.exceptions import NoArgsIsHelpError

        if isinstance(e, NoArgsIsHelpError):  # bare `optin` / `optin GROUP`: help on
            typer.echo(e.format_message())  # stdout, as Typer's Rich help printed it
            return int(e.exit_code)
        e.show()  # type: ignore[attr-defined]  # usage errors: message naming the option
        return int(getattr(e, "exit_code", 2))
    if os.environ.get("OPTIN_DEBUG"):
        return None
    if DiskFullError.matches(e):  # a writer that did not map ENOSPC itself
        full = DiskFullError.unmapped(e)
        _err(f"[bold red]error:[/] {_esc(full)}", highlight=False)
        return exit_code_for(full)
    _err(
        f"[bold red]internal error:[/] {_esc(type(e).__name__)}. This is a bug in optin; "
        "rerun with OPTIN_DEBUG=1 to see the traceback and report it."
    )
    return 70


def main() -> None:  # pragma: no cover - thin wrapper
    sys.exit(run())


if __name__ == "__main__":  # pragma: no cover
    main()
