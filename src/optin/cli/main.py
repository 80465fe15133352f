"""The ``optin`` command: a thin layer over the services. Errors never show a traceback.

Start-up is kept short: the command modules import the services (SQLAlchemy, pydantic,
pyarrow ...) inside the commands that need them, so ``optin --help`` and a command's
``--help`` load only Typer and Rich (``bench/cli_startup.py`` measures it)."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from pathlib import Path

import typer

from optin import __version__
from optin.cli.context import err_console
from optin.cli.output import esc
from optin.errors import DiskFullError, OptinError, exit_code_for

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

app = typer.Typer(
    name="optin",
    help="Consent-first training data for generative AI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
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
    from optin.settings import Settings

    settings = Settings(home=home) if home is not None else Settings()
    ctx.obj = settings
    level = getattr(logging, settings.log_level.upper(), logging.WARNING)
    logging.basicConfig(
        level=min(level, logging.INFO) if verbose else level,
        format="%(levelname)s %(name)s: %(message)s",
    )


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _click_errors() -> tuple[type[Exception], ...]:
    """Click's usage-error base classes (typer >= 0.20 vendors its own click)."""
    found: list[type[Exception]] = []
    for mod in ("typer._click.exceptions", "click.exceptions"):
        with contextlib.suppress(ImportError, AttributeError):
            found.append(importlib.import_module(mod).ClickException)
    return tuple(found)


_CLICK_ERRORS = _click_errors()


def run(argv: list[str] | None = None) -> int:
    """Entry point: map optin errors to exit codes and short messages."""
    try:
        app(args=argv, prog_name="optin", standalone_mode=False)
    except OptinError as e:
        err_console.print(f"[bold red]error:[/] {esc(e)}", highlight=False, markup=True)
        return exit_code_for(e)
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except typer.Exit as e:
        return int(e.exit_code or 0)
    except _CLICK_ERRORS as e:
        e.show()  # type: ignore[attr-defined]  # usage errors: message naming the option
        return int(getattr(e, "exit_code", 2))
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # last resort: never a traceback for users
        if os.environ.get("OPTIN_DEBUG"):
            raise
        if DiskFullError.matches(e):  # a writer that did not map ENOSPC itself
            full = DiskFullError.unmapped(e)
            err_console.print(f"[bold red]error:[/] {esc(full)}", highlight=False)
            return exit_code_for(full)
        err_console.print(
            f"[bold red]internal error:[/] {esc(type(e).__name__)}. This is a bug in optin; "
            "rerun with OPTIN_DEBUG=1 to see the traceback and report it."
        )
        return 70
    return 0


def main() -> None:  # pragma: no cover - thin wrapper
    sys.exit(run())


if __name__ == "__main__":  # pragma: no cover
    main()
