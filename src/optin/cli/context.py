"""Shared CLI plumbing: the Settings object, JSON/rich output helpers."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console

from optin.settings_env import EnvSettings

if TYPE_CHECKING:
    import typer

    from optin.settings import Settings

#: ``emoji=False``: ``:name:`` codes in data are shown as typed. Values printed inside
#: markup go through :func:`optin.cli.output.esc` (tables through its ``Table``).
#: Piped (not a terminal, no ``COLUMNS``), tables are printed at their natural width:
#: Rich's default of 80 columns would wrap or cut ids that scripts read.
PIPE_WIDTH = 100_000


def _stdout_width() -> int | None:
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None
    return PIPE_WIDTH


console = Console(emoji=False, width=_stdout_width())
err_console = Console(stderr=True, soft_wrap=True, emoji=False)


def settings_from(ctx: typer.Context) -> Settings:
    """The Settings of the root callback (``--home``), built on first use when the root
    callback read only the environment (:class:`~optin.settings_env.EnvSettings`)."""
    from optin.settings import Settings

    root = ctx.find_root()
    if isinstance(root.obj, EnvSettings):
        root.obj = root.obj.full()
    if isinstance(root.obj, Settings):
        return root.obj
    return Settings()


def env_settings(ctx: typer.Context) -> EnvSettings | None:
    """The root callback's settings while they are read from the environment only (the
    fast read paths use them; None once the pydantic Settings is built)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, EnvSettings) else None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
