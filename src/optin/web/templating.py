"""Jinja2 set-up: autoescaped templates, a few filters. Partials start with ``_``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from optin import __version__


def fmt_dt(value: datetime | str | None, with_time: bool = True) -> str:
    """A datetime (or its ISO text, as the JSON-shaped service results carry it)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%d %b %Y, %H:%M UTC" if with_time else "%d %b %Y")


def fmt_int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def make_templates(directory: Path) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(directory))
    env = templates.env
    env.autoescape = True
    env.trim_blocks = True
    env.lstrip_blocks = True
    env.filters["dt"] = fmt_dt
    env.filters["date"] = lambda v: fmt_dt(v, with_time=False)
    env.filters["int"] = fmt_int
    env.filters["pct"] = fmt_pct
    env.filters["svg"] = lambda s: Markup(s)  # charts.py escapes every label it writes
    env.globals["version"] = __version__
    return templates
