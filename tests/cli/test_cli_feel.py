"""The CLI as it feels from a terminal and a pipe: start-up loads no service (so
``--help`` is quick; ``bench/cli_startup.py`` times it), piped tables keep whole ids,
times without a zone are refused as imports refuse them, hints name real commands."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from optin.cli.core import parse_time
from optin.errors import InputError
from optin.services.consent import member_not_found

HEAVY = ("sqlalchemy", "pydantic", "pyarrow", "alembic", "numpy", "optin.services.snapshots")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTIN_") and k != "COLUMNS"}
    env["OPTIN_HOME"] = str(home)
    return env


def test_help_imports_no_service(tmp_path: Path) -> None:
    code = (
        "import sys, runpy; sys.argv = ['optin', '--help']\n"
        "try:\n    runpy.run_module('optin.cli.main', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(tmp_path),
        timeout=120, check=False,
    )  # fmt: skip
    assert "Consent-first training data" in out.stdout
    assert "LOADED []" in out.stdout, out.stdout[-400:]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2024-05-01T12:30:00Z", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T14:30:00+02:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)
def test_times_with_a_zone_or_a_date_are_read(text: str, want: datetime) -> None:
    assert parse_time(text, "--at") == want


@pytest.mark.parametrize("text", ["2024-05-01T12:30:00", "2024-05-01 12:30", "yesterday"])
def test_times_without_a_zone_are_refused_naming_the_option(text: str) -> None:
    with pytest.raises(InputError) as e:
        parse_time(text, "--as-of")
    msg = str(e.value)
    assert "--as-of" in msg and "2024-05-01T12:30:00Z" in msg and text in msg


def test_the_cli_refuses_a_zone_less_time(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", "eligibility", "m1", "--purpose",
         "train_own_models", "--at", "2024-05-01T00:00:00"],
        capture_output=True, text=True, env=_env(tmp_path), timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 65 and "--at" in out.stderr and "no zone" in out.stderr
    assert "Traceback" not in out.stderr


def test_hints_name_a_command_that_lists_members() -> None:
    msg = str(member_not_found("m-nobody"))
    assert "optin member list" in msg and "optin demo" not in msg


def test_piped_tables_print_whole_ids(tmp_path: Path) -> None:
    from optin.services.demo import generate_demo
    from optin.services.snapshots import build_snapshot
    from optin.settings import Settings
    from optin.storage.database import Database

    settings = Settings(home=tmp_path)
    db = Database.open(settings)
    now = datetime.now(UTC)
    generate_demo(db, members=12, posts=30, seed=2, now=now, accounts=False)
    sid = build_snapshot(db, settings, "train_own_models", engine="inline", now=now).snapshot_id
    db.dispose()
    out = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", "snapshot", "list"],
        capture_output=True, text=True, env=_env(tmp_path), timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert sid in out.stdout and "…" not in out.stdout
    row = next(line for line in out.stdout.splitlines() if sid in line)
    assert "train_own_models" in row.replace(sid, "")  # the purpose is on the id's row
