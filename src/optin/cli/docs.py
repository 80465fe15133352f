"""Render the CLI reference (docs/cli.md) from the Typer app itself.

``python3 dev.py docs`` rewrites docs/cli.md; a test fails when it is out of date or a
command has no help.
"""

from __future__ import annotations

from typing import Any

import typer.main


def _walk(cmd: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    out = [(path, cmd)]
    if hasattr(cmd, "commands"):  # a group; the root loads its commands on request
        for name in sorted(cmd.list_commands(None)):
            out.extend(_walk(cmd.get_command(None, name), [*path, name]))
    return out


def commands() -> list[tuple[str, Any]]:
    from optin.cli.main import app

    root = typer.main.get_command(app)
    return [(" ".join(p), c) for p, c in _walk(root, ["optin"])]


def render_cli_markdown() -> str:
    lines = [
        "# optin command reference",
        "",
        "Generated from the CLI by `python3 dev.py docs`; a test keeps it in step.",
        "",
    ]
    for name, cmd in commands():
        lines.append(f"## `{name}`")
        lines.append("")
        help_text = (cmd.help or "").strip()
        lines.append(help_text.replace("\b\n", "") if help_text else "(no help)")
        lines.append("")
        params = [p for p in cmd.params if not getattr(p, "hidden", False)]
        if params:
            lines.append("| argument / option | help |")
            lines.append("|---|---|")
            for p in params:
                if getattr(p, "param_type_name", "") == "option":
                    names = ", ".join(f"`{o}`" for o in p.opts)
                    text = (p.help or "").replace("|", "\\|").replace("\n", " ")
                else:
                    names = f"`{(p.name or '').upper()}`"
                    text = (getattr(p, "help", None) or "").replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {names} | {text} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
