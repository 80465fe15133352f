"""Engines: process pool and a real Dask LocalCluster give the inline bytes; a build
killed mid-run resumes from its finished shards and ends byte-identical (invariants
5 and 6)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.pipeline.helpers import (  # noqa: F401  (fixtures)
    AS_OF,
    build,
    copy_home,
    demo_fixture,
    demo_home_fixture,
    make_demo_home,
    shard_bytes,
)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_local_pool_and_dask_local_cluster_match_inline(demo, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    db, settings = demo
    db2, settings2 = copy_home(settings.home, tmp_path / "b")
    db3, settings3 = copy_home(settings.home, tmp_path / "c")
    inline = build(db, settings)
    pool = build(db2, settings2, engine="local", workers=2)
    cluster = build(db3, settings3, engine="dask", workers=2)
    assert len(shard_bytes(inline)) >= 2
    assert shard_bytes(pool) == shard_bytes(inline)
    assert shard_bytes(cluster) == shard_bytes(inline)
    db2.dispose()
    db3.dispose()


def _cli(home: Path, *args: str) -> list[str]:
    return [
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
        AS_OF.isoformat(),
        "--workers",
        "1",
        "--shard-size",
        "150",
        *args,
    ]


@pytest.mark.slow
def test_build_killed_mid_run_resumes_and_ends_identical(tmp_path: Path) -> None:
    src = make_demo_home(tmp_path / "src", members=600, posts=9000, seed=5)
    db_ref, settings_ref = copy_home(src, tmp_path / "ref")
    home = tmp_path / "killed"
    db, _ = copy_home(src, home)
    db.dispose()
    env = {**os.environ, "OPTIN_DEBUG": "1"}
    log = (tmp_path / "killed.log").open("wb")
    proc = subprocess.Popen(
        _cli(home), env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log
    )
    deadline = time.monotonic() + 120
    markers: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        markers = list((home / "snapshots").glob("*/_work/_done/stage1-*.json"))
        if markers:
            break
        time.sleep(0.02)
    alive = proc.poll() is None
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    log.close()
    assert alive, f"build ended before it could be killed: {(tmp_path / 'killed.log').read_text()}"
    assert markers
    snap_dir = markers[0].parents[2]
    assert not (snap_dir / "manifest.json").exists()
    finished = len(list((snap_dir / "_work" / "_done").glob("stage1-*.json")))
    rerun = subprocess.run(
        _cli(home, "--json"), env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    out = json.loads(rerun.stdout)
    assert out["status"] == "resumed" and finished >= 1
    gated = next(s for s in out["counts"]["steps"] if s["step"] == "consent")["out"]
    # finished shards were skipped: the rerun redacted fewer records than the build holds
    assert out["timings"]["records_language"] < gated
    ref = build(db_ref, settings_ref, shard_size=150, now=datetime.now(UTC))
    assert ref.snapshot_id == out["snapshot_id"]
    resumed = {p.name: p.read_bytes() for p in sorted((snap_dir / "data").glob("*.parquet"))}
    assert resumed == shard_bytes(ref) and len(resumed) >= 3
    assert json.loads((snap_dir / "manifest.json").read_text())["merkle"] == ref.manifest["merkle"]
    assert not (snap_dir / "_work").exists()
    db_ref.dispose()
