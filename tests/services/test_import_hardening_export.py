"""Exports leave no temp files behind (killed or failed) and a full disk is a clear error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from optin import files
from optin.cli.main import run
from optin.errors import DiskFullError
from optin.files import remove_stale_temps
from optin.services.exports import export_file
from optin.settings import Settings
from optin.storage.database import Database
from tests.factories import add_member


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the export's temp file write to /dev/full (every write: ENOSPC)."""
    real = files._temp_in

    def on_dev_full(target: Path) -> tuple[int, Path]:
        fd, tmp = real(target)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, fd)
        os.close(full)
        return fd, tmp

    monkeypatch.setattr(files, "_temp_in", on_dev_full)


def test_when_an_export_was_killed_then_the_next_export_removes_its_temp_file(
    sqlite_db: Database, tmp_path: Path
) -> None:
    add_member(sqlite_db, "m1")
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    out = tmp_path / "members.jsonl"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from optin import files
        fd, tmp = files._temp_in(Path({str(out)!r}))
        os.write(fd, b"x" * 1_000_000)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -signal.SIGKILL
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].stat().st_size == 1_000_000
    legacy = tmp_path / ".members.jsonl.abcd1234.tmp"  # an old-style leftover, 1 h old
    legacy.write_text("old")
    os.utime(legacy, (legacy.stat().st_mtime - 3600,) * 2)
    live = tmp_path / f".members.jsonl.{os.getpid()}.zzzz9999.tmp"  # a running export
    live.write_text("in progress")
    foreign = [tmp_path / ".members.jsonl.backup.tmp", tmp_path / ".other.jsonl.x.tmp"]
    for f in foreign:
        f.write_text("not ours")

    assert export_file(sqlite_db, "members", out) == 1
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["members.jsonl", live.name, *(f.name for f in foreign)])


def test_remove_stale_temps_keeps_fresh_legacy_files_and_live_writers(tmp_path: Path) -> None:
    target = tmp_path / "c.jsonl"
    dead = tmp_path / f".c.jsonl.{_dead_pid()}.abcdefgh.tmp"
    fresh_legacy = tmp_path / ".c.jsonl.abcdefgh.tmp"
    parent = tmp_path / f".c.jsonl.{os.getppid()}.abcdefgh.tmp"
    for f in (dead, fresh_legacy, parent):
        f.write_text("x")
    assert remove_stale_temps(target) == 1
    assert not dead.exists() and fresh_legacy.exists() and parent.exists()


def test_when_the_disk_is_full_then_export_says_so_and_writes_nothing(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_member(sqlite_db, "m1")
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    out = tmp_path / "members.jsonl"
    out.write_text("previous export\n")
    _full_disk(monkeypatch)
    with pytest.raises(DiskFullError, match="no space left on device") as info:
        export_file(sqlite_db, "members", out)
    assert "nothing was written" in str(info.value)
    assert out.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["members.jsonl"]


def test_when_the_disk_is_full_then_the_cli_exits_74_with_a_clear_message(
    db_settings: Settings,
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPTIN_DATABASE_URL", db_settings.db_url)
    add_member(db, "m1")
    _full_disk(monkeypatch)
    out = tmp_path / "out.jsonl"
    rc = run(["--home", str(db_settings.home), "export", "members", "-o", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 74, err
    assert "no space left on device" in err and "nothing was written" in err
    assert "internal error" not in err and not out.exists()


def test_when_any_command_hits_enospc_then_no_internal_error(
    db_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A writer that does not map ENOSPC itself still gets a clear message (exit 74)."""
    import errno

    from optin.storage import database

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/optin.db")

    monkeypatch.setenv("OPTIN_DATABASE_URL", db_settings.db_url)
    monkeypatch.setattr(database.Database, "require_initialized", full)
    rc = run(["--home", str(db_settings.home), "ledger", "verify"])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 74 and "no space left on device" in err and "internal error" not in err
