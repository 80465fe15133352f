"""``kill -9`` of a snapshot build leaves no worker processes running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from optin.cli.main import run


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.mark.parametrize("engine", ["local"])
def test_when_a_build_is_killed_then_its_workers_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], engine
) -> None:
    monkeypatch.delenv("OPTIN_DATABASE_URL", raising=False)
    home = tmp_path / "home"
    now = "2026-06-01T00:00:00Z"
    assert run(["--home", str(home), "demo", "-m", "60", "-p", "600", "--now", now]) == 0
    capsys.readouterr()
    env = {k: v for k, v in os.environ.items() if k != "OPTIN_DATABASE_URL"}
    build = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "optin.cli.main",
            "--home",
            str(home),
            "snapshot",
            "build",
            "--purpose",
            "train_own_models",
            "--as-of",
            "2026-05-01T00:00:00Z",
            "--engine",
            engine,
            "--workers",
            "2",
            "--shard-size",
            "50",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    parent = psutil.Process(build.pid)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and build.poll() is None:
            children = parent.children(recursive=True)
            if len(children) >= 3:  # two workers and multiprocessing's resource tracker
                break
            time.sleep(0.05)
        assert build.poll() is None and len(children) >= 2, "the build ended before it forked"
        os.kill(build.pid, signal.SIGKILL)
        build.wait()
        deadline = time.monotonic() + 60  # generous: a loaded 2-core CI machine
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _alive(children)
        assert not left, f"{len(left)} of {len(children)} child processes still running"
    finally:
        for p in _alive([parent, *children]):
            p.kill()
