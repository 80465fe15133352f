"""`optin demo`, `optin import`, `optin export` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optin.cli.main import run
from optin.storage.database import Database

NOW = "2026-06-01T00:00:00Z"


@pytest.fixture()
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    """Run ``optin --home HOME ARGS`` against ``db``; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("OPTIN_DATABASE_URL", db.url)
    monkeypatch.setenv("COLUMNS", "200")
    home = tmp_path / "home"

    def invoke(*args: str) -> tuple[int, str, str]:
        rc = run(["--home", str(home), *args])
        out, err = capsys.readouterr()
        return rc, out, err

    invoke.home = home  # type: ignore[attr-defined]
    return invoke


def test_demo_then_export_then_reimport_is_a_no_op(cli, tmp_path):
    rc, out, err = cli(
        "demo", "--members", "60", "--posts", "300", "--seed", "2", "--now", NOW, "--json"
    )
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["members"] == 60 and sum(summary["content_by_kind"].values()) == 300
    assert {a["handle"] for a in summary["accounts"]} == {"ada", "grace", "kofi", "admin"}
    gt = Path(summary["ground_truth"])
    assert gt.parent == cli.home / "demo" and len(gt.read_text("utf-8").splitlines()) == 300

    for kind in ("members", "content", "consents"):
        path = tmp_path / f"{kind}.jsonl"
        rc, out, err = cli("export", kind, "--output", str(path), "--json")
        assert rc == 0, err
        assert json.loads(out)["records"] == len(path.read_text("utf-8").splitlines()) > 0
        rc, out, err = cli("import", kind, str(path), "--json")
        assert rc == 0, err
        result = json.loads(out)
        assert result["inserted"] == 0 and result["skipped_identical"] == result["records"]

    rc, _, err = cli("demo", "--members", "10", "--posts", "10", "--now", NOW)
    assert rc == 75 and "fresh database" in err


def test_import_reports_every_bad_line_and_exits_65(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,handle,display_name,joined_at,country\n"
        "m1,ada,Ada,2024-02-01T00:00:00Z,XX\n"
        "m2,bo,Bo,2024-02-01T00:00:00,US\n",
        encoding="utf-8",
    )
    rc, out, err = cli("import", "members", str(bad))
    assert rc == 65
    assert "bad.csv:2" in err and "'country'" in err and "XX" in err
    assert "bad.csv:3" in err and "joined_at" in err
    assert "nothing was imported" in err and "Traceback" not in err

    good = tmp_path / "m.csv"
    good.write_text(
        "id,handle,display_name,joined_at,country\nm1,ada,Ada,2024-02-01T00:00:00Z,US\n",
        encoding="utf-8",
    )
    rc, out, err = cli("import", "members", str(good))
    assert rc == 0 and "imported 1 members" in out
    good.write_text(
        "id,handle,display_name,joined_at,country\nm1,ada,Ada Lovelace,2024-02-01T00:00:00Z,US\n",
        encoding="utf-8",
    )
    rc, out, err = cli("import", "members", str(good), "--format", "csv")
    assert rc == 75 and "m.csv:2" in err and "display_name" in err


def test_bad_options_are_named(cli, tmp_path):
    rc, _, err = cli("export", "members", "--output", str(tmp_path / "no" / "x.jsonl"))
    assert rc == 65 and "output directory" in err
    rc, _, err = cli("import", "members", str(tmp_path / "missing.jsonl"))
    assert rc == 65 and "cannot read" in err
    rc, _, err = cli("demo", "--now", "2026-06-01T00:00:00")
    assert rc == 65 and "--now" in err
    rc, _, err = cli("import", "posts", "x.jsonl")
    assert rc == 2


def test_every_data_command_has_help(cli):
    for cmd in ("demo", "import", "export"):
        rc, out, _ = cli(cmd, "--help")
        assert rc == 0 and len(out) > 200, cmd
