"""Shared CLI plumbing: the Settings object, JSON/rich output helpers."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

from optin.settings import Settings

#: ``emoji=False``: ``:name:`` codes in data are shown as typed. Values printed inside
#: markup go through :func:`optin.cli.output.esc` (tables through its ``Table``).
console = Console(emoji=False)
err_console = Console(stderr=True, soft_wrap=True, emoji=False)


def settings_from(ctx: typer.Context) -> Settings:
    """The Settings built by the root callback (``--home``)."""
    obj = ctx.find_root().obj
    if isinstance(obj, Settings):
        return obj
    return Settings()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
