"""Snapshot verification results are kept (issue 16): `verifications.jsonl` in the
snapshot directory, written atomically, shown by `optin snapshot list/show` and the
admin snapshot page."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from optin.services import verifications
from optin.services.verify import Check, VerifyReport
from optin.settings import Settings
from optin.storage.database import Database
from tests.pipeline.helpers import DEMO_NOW


def _report(status: str) -> VerifyReport:
    r = VerifyReport("snap-1")
    c = Check("files", counts={"files": 2})
    if status == "fail":
        c.fail("data/x.parquet: secret@example.com")
    r.checks.append(c)
    return r


def test_results_are_kept_in_order_without_problem_texts(tmp_path: Path) -> None:
    verifications.record(tmp_path, _report("pass"), actor="cli:ops", now=DEMO_NOW)
    line = verifications.record(
        tmp_path, _report("fail"), actor="admin:m1", now=DEMO_NOW + timedelta(hours=1)
    )
    hist = verifications.history(tmp_path)
    assert [e["result"] for e in hist] == ["pass", "fail"]
    assert verifications.latest(tmp_path) == line
    assert line["by"] == "admin:m1" and line["at"] == (DEMO_NOW + timedelta(hours=1)).isoformat()
    assert line["checks"] == [
        {"name": "files", "state": "fail", "counts": {"files": 2}, "problems": 1}
    ]
    text = (tmp_path / verifications.FILE).read_text("utf-8")
    assert "secret@example.com" not in text
    # no temp file left; the lock file stays (empty)
    assert sorted(p.name for p in tmp_path.iterdir()) == [verifications.LOCK, verifications.FILE]


#: a child process that waits for GO, then appends N results of its own to DIR
_WRITER = """
import sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from optin.services import verifications
d, name, n, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
report = {"snapshot_id": "snap-1", "status": "pass", "checks": []}
while not go.exists():
    time.sleep(0.001)
t0 = datetime(2026, 1, 1, tzinfo=UTC)
for i in range(n):
    verifications.record(d, report, actor=f"{name}:{i}", now=t0 + timedelta(seconds=i))
print("done", flush=True)
"""


def _writers(tmp_path: Path, names: list[str], n: int) -> list[subprocess.Popen[str]]:
    go = tmp_path / "go"
    argv = [sys.executable, "-c", _WRITER, str(tmp_path / "snap")]
    return [
        subprocess.Popen(
            [*argv, name, str(n), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]


def test_two_processes_verifying_one_snapshot_at_once_keep_every_line(tmp_path: Path) -> None:
    (tmp_path / "snap").mkdir()
    n = 60  # 2 x 60 < KEEP: nothing may be dropped
    procs = _writers(tmp_path, ["a", "b"], n)
    time.sleep(1.0)  # both children are up and polling
    (tmp_path / "go").touch()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and "done" in out, err
    by = [e["by"] for e in verifications.history(tmp_path / "snap")]
    assert len(by) == 2 * n, f"{2 * n - len(by)} lines lost"
    assert sorted(by) == sorted(f"{w}:{i}" for w in "ab" for i in range(n))
    # each writer's lines are in its own order (appends, never reordered)
    for w in "ab":
        assert [b for b in by if b.startswith(w)] == [f"{w}:{i}" for i in range(n)]


def test_threads_verifying_one_snapshot_at_once_keep_every_line(tmp_path: Path) -> None:
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            start.wait()
            for i in range(25):
                verifications.record(
                    tmp_path, _report("pass"), actor=f"{name}:{i}", now=DEMO_NOW + timedelta(i)
                )
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(f"t{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(verifications.history(tmp_path)) == 100


def test_a_verification_waits_while_another_holds_the_lock(tmp_path: Path) -> None:
    """The lock, not luck: while this test holds it, a child's append does not land;
    once it is released, the child's line is there with the earlier one."""
    from optin.files import file_lock

    snap = tmp_path / "snap"
    snap.mkdir()
    verifications.record(snap, _report("pass"), actor="first", now=DEMO_NOW)
    (tmp_path / "go").touch()
    with file_lock(snap / verifications.LOCK):
        (proc,) = _writers(tmp_path, ["child"], 1)
        time.sleep(1.5)
        assert proc.poll() is None  # blocked on the lock
        assert [e["by"] for e in verifications.history(snap)] == ["first"]
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert [e["by"] for e in verifications.history(snap)] == ["first", "child:0"]


def test_a_damaged_line_is_skipped_and_history_is_bounded(tmp_path: Path) -> None:
    assert verifications.latest(tmp_path) is None
    assert verifications.latest(tmp_path / "gone") is None
    (tmp_path / verifications.FILE).write_text('{"result": "pass", "at": "x"}\nnot json\n')
    assert len(verifications.history(tmp_path)) == 1
    for i in range(verifications.KEEP + 5):
        verifications.record(tmp_path, _report("pass"), actor="t", now=DEMO_NOW + timedelta(i))
    hist = verifications.history(tmp_path)
    assert len(hist) == verifications.KEEP
    assert hist[-1]["at"] == (DEMO_NOW + timedelta(verifications.KEEP + 4)).isoformat()


def test_a_crash_while_writing_leaves_the_old_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifications.record(tmp_path, _report("pass"), actor="t", now=DEMO_NOW)
    before = (tmp_path / verifications.FILE).read_bytes()

    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        verifications.record(tmp_path, _report("fail"), actor="t", now=DEMO_NOW)
    assert (tmp_path / verifications.FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [verifications.LOCK, verifications.FILE]


def test_cli_verify_keeps_the_result_and_list_show_print_it(
    db_settings: Settings,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from optin.cli.main import run
    from optin.services.demo import generate_demo
    from optin.services.snapshots import build_snapshot

    generate_demo(db, members=30, posts=90, seed=3, now=DEMO_NOW, accounts=False)
    built = build_snapshot(db, db_settings, "train_own_models", engine="inline", now=DEMO_NOW)
    sid = str(getattr(built, "snapshot_id", built))
    monkeypatch.setenv("OPTIN_DATABASE_URL", db_settings.db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def cli(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = run(["--home", str(db_settings.home), *argv])
        return code, capsys.readouterr().out

    code, out = cli("snapshot", "list", "--json")
    assert code == 0
    assert json.loads(out)[0]["verification"] == {"at": None, "result": None, "by": None}
    code, out = cli("snapshot", "show", sid)
    assert "verified: never" in " ".join(out.split())
    code, out = cli("snapshot", "verify", sid, "--no-rescan")
    assert "result kept in" in " ".join(out.split())
    code, out = cli("snapshot", "list", "--json")
    v = json.loads(out)[0]["verification"]
    assert v["result"] in ("pass", "stale", "fail") and v["by"].startswith("cli:")
    code, out = cli("snapshot", "show", sid, "--json")
    assert json.loads(out)["verification"] == v
    code, out = cli("snapshot", "show", sid)
    assert f"verified: {v['result']} {v['at']} by {v['by']}" in " ".join(out.split())
