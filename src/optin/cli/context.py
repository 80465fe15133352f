"""Shared CLI plumbing: the Settings object, JSON/rich output helpers."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

from optin.settings import Settings

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def settings_from(ctx: typer.Context) -> Settings:
    """The Settings built by the root callback (``--home``)."""
    obj = ctx.find_root().obj
    if isinstance(obj, Settings):
        return obj
    return Settings()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
