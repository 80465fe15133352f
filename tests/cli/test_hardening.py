"""The CLI prints data literally: ids, titles, values and error messages that look like
Rich markup (``[/x]``, ``[bold red]XX[/]``) neither crash a command nor lose text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optin.cli.main import run
from optin.cli.output import Table, esc, styled
from optin.domain.policy import default_policy_text
from optin.settings import Settings
from optin.storage.database import Database
from tests.factories import add_member

MARKUP = "[/x]"
STYLED = "[bold red]XX[/]"


@pytest.fixture()
def cli(db_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("OPTIN_DATABASE_URL", db_settings.db_url)
    monkeypatch.setenv("COLUMNS", "250")

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = run(["--home", str(db_settings.home), *args])
        out, err = capsys.readouterr()
        return rc, out, err

    return invoke


def _markup_policy(tmp_path: Path) -> Path:
    text = default_policy_text().replace(
        'title = "Use my content to train content-creation AI models"',
        f'title = "Train {MARKUP} and {STYLED} :smile:"',
    )
    text = text.replace('summary = "Initial policy', f'summary = "{STYLED} Initial policy')
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_when_unknown_member_looks_like_markup_then_clear_error(cli) -> None:
    rc, _, err = cli("consent", "show", MARKUP)
    assert rc == 66, err
    assert "Traceback" not in err and "internal error" not in err
    assert MARKUP in err


def test_when_import_value_is_markup_then_reported_verbatim(cli, tmp_path: Path) -> None:
    bad = {
        "id": "m1",
        "handle": "h1",
        "display_name": "x",
        "joined_at": "2024-01-01T00:00:00Z",
        "country": STYLED,
    }
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(bad) + "\n", encoding="utf-8")
    rc, _, err = cli("import", "members", str(path))
    assert rc == 65
    assert repr(STYLED) in err  # not 'XX'


def test_when_policy_title_is_markup_then_policy_consent_summary_show_it(
    cli, db: Database, tmp_path: Path
) -> None:
    rc, _, err = cli("policy", "publish", str(_markup_policy(tmp_path)))
    assert rc == 0, err
    add_member(db, MARKUP, country="IN")
    rc, _, err = cli("consent", "set", MARKUP, "train_own_models", "on")
    assert rc == 0, err
    for args in (("policy", "show"), ("consent", "show", MARKUP), ("summary",)):
        rc, out, err = cli(*args)
        assert rc == 0, (args, err)
        assert "Traceback" not in out + err
        if args[0] != "consent":
            words = f"Train {MARKUP} and {STYLED} :smile:".split()  # a table may wrap it
            assert all(w in out for w in words), (args, out)
    rc, out, _ = cli("policy", "show")
    assert STYLED in out  # the summary line
    rc, out, _ = cli("consent", "show", MARKUP)
    assert f"{MARKUP} as of" in out
    rc, out, _ = cli("eligibility", MARKUP, "--purpose", "train_own_models")
    assert rc == 0 and out.startswith(f"{MARKUP} / train_own_models")


def test_output_helpers_render_literally() -> None:
    import io

    from rich.console import Console

    console = Console(width=200, emoji=False, record=True, file=io.StringIO())
    t = Table("col [/x]", title=STYLED)
    t.add_column("[bold]b[/]")
    t.add_row(MARKUP, styled("ok", "green"))
    console.print(t)
    console.print(f"[bold]id[/] {esc(MARKUP)} {esc(STYLED)}")
    text = console.export_text()
    assert STYLED in text and MARKUP in text and "col [/x]" in text and "[bold]b[/]" in text
    assert "id [/x] [bold red]XX[/]" in text
