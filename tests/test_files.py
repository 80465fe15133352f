"""The one atomic writer and the one secret-file maker (optin.files)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from optin.files import (
    atomic_text,
    atomic_write_bytes,
    atomic_write_json,
    create_secret_file,
    private_dir,
    remove_stale_temps,
)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_when_stream_succeeds_then_target_replaced_whole_and_no_temp_left(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with atomic_text(target, mode=0o640) as f:
        f.write("a\n")
        assert target.read_text() == "old\n"  # readers still see the old file
        f.write("b\n")
    assert target.read_text() == "a\nb\n"
    assert _mode(target) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_when_stream_fails_then_target_untouched_and_temp_removed(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_text(target) as f:
        f.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_bytes_and_json_helpers_write_atomically(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "d" / "x.bin", b"\x00\x01", mode=0o600)
    assert (tmp_path / "d" / "x.bin").read_bytes() == b"\x00\x01"
    assert _mode(tmp_path / "d" / "x.bin") == 0o600
    atomic_write_json(tmp_path / "x.json", {"b": 1, "a": "é"})
    assert (tmp_path / "x.json").read_text("utf-8") == '{\n  "a": "é",\n  "b": 1\n}\n'


def test_when_secret_file_made_then_0600_in_0700_parent_and_never_overwritten(
    tmp_path: Path,
) -> None:
    key = tmp_path / "keys" / "a.key"
    assert create_secret_file(key, b"first") is True
    assert _mode(key) == 0o600
    assert _mode(key.parent) == 0o700
    assert create_secret_file(key, b"second") is False
    assert key.read_bytes() == b"first"
    assert [p.name for p in key.parent.iterdir()] == ["a.key"]


def test_when_creators_race_then_exactly_one_wins_and_content_is_whole(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "race.key"
    wins: list[bool] = []
    go = threading.Barrier(16)

    def make(i: int) -> None:
        go.wait()
        wins.append(create_secret_file(key, bytes([i]) * 32))

    threads = [threading.Thread(target=make, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1
    data = key.read_bytes()
    assert len(data) == 32 and len(set(data)) == 1


def test_private_dir_and_stale_temps(tmp_path: Path) -> None:
    d = private_dir(tmp_path / "a" / "b")
    assert _mode(tmp_path / "a") == 0o700 and _mode(d) == 0o700
    legacy = d / ".export.jsonl.abc123de.tmp"  # no pid in the name: stale once it is old
    legacy.write_text("left by a killed writer")
    os.utime(legacy, (1, 1))
    (d / "export.jsonl").write_text("kept")
    assert remove_stale_temps(d / "export.jsonl") == 1
    assert [p.name for p in d.iterdir()] == ["export.jsonl"]
