"""Every command has help, and docs/cli.md is in step with the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from optin.cli.docs import commands, render_cli_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


@pytest.mark.parametrize(("name", "cmd"), commands(), ids=[n for n, _ in commands()])
def test_every_command_has_help(name, cmd) -> None:
    assert (cmd.help or "").strip(), f"`{name}` has no help text"


def test_cli_reference_is_up_to_date() -> None:
    assert DOC.exists(), "docs/cli.md is missing: run `python3 dev.py docs`"
    assert DOC.read_text("utf-8") == render_cli_markdown(), (
        "docs/cli.md is out of date: run `python3 dev.py docs`"
    )
