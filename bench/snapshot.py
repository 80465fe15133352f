"""Snapshot build benchmark on a demo platform.

Prints, for local with 1 and 2 workers and Dask with 2 workers: wall time, candidate
posts/s end to end and per core, speedup over one worker, peak RSS (driver + workers,
sampled), and CPU records/s per step. ``--double`` repeats everything on a corpus twice
as large (linear-cost check).

    python bench/snapshot.py                       # 100k members / 1M posts (slow)
    python bench/snapshot.py --members 10000 --posts 100000 --double
    python bench/snapshot.py --home ./optin-data   # reuse an existing demo data dir

Each build runs as ``optin snapshot build --json`` in a subprocess; the previous
snapshot is removed between runs so every run does the full work.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
from sqlalchemy import delete

from optin.services.demo import generate_demo
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import SnapshotRecordRow, SnapshotRow

NOW = datetime(2026, 11, 20, tzinfo=UTC)
AS_OF = "2026-11-01T00:00:00Z"
CONFIGS = (("local", 1), ("local", 2), ("dask", 2))
STEPS = ("language", "redact", "quality", "dedupe_keys", "write")


def ensure_demo(home: Path, members: int, posts: int) -> float:
    settings = Settings(home=home)
    db = Database.open(settings)
    if (home / "optin.db").exists():
        db.init()  # migrate an older demo database to head
    if db.is_initialized() and db.table_counts().get("content_items", 0):
        db.dispose()
        return 0.0
    home.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    generate_demo(db, members=members, posts=posts, seed=0, now=NOW, accounts=False)
    db.dispose()
    return time.perf_counter() - t0


def clean(home: Path) -> None:
    db = Database.open(Settings(home=home))
    db.init()  # migrate to head if the schema moved since the demo was generated
    with db.session() as s:
        s.execute(delete(SnapshotRecordRow))
        s.execute(delete(SnapshotRow))
    db.dispose()
    shutil.rmtree(home / "snapshots", ignore_errors=True)


class RssSampler(threading.Thread):
    """Peak summed RSS of a process tree, sampled every 100 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak_tree = 0
        self.peak_one = 0
        self.stop = threading.Event()
        self.loads: list[float] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                rss = []
                for p in procs:
                    with contextlib.suppress(psutil.Error):
                        rss.append(p.memory_info().rss)
                self.peak_tree = max(self.peak_tree, sum(rss))
                self.peak_one = max(self.peak_one, max(rss, default=0))
                self.loads.append(os.getloadavg()[0])
            except psutil.Error:
                return
            time.sleep(0.1)


def run_build(home: Path, engine: str, workers: int) -> dict[str, object]:
    clean(home)
    cmd = [
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
        AS_OF,
        "--engine",
        engine,
        "--workers",
        str(workers),
        "--json",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = RssSampler(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"build failed ({engine}, {workers}): {err[-2000:]}")
    result = json.loads(out)
    result["wall"] = wall
    result["cpu"] = cpu
    result["load"] = sum(sampler.loads) / max(len(sampler.loads), 1)
    result["peak_tree_mb"] = sampler.peak_tree / 2**20
    result["peak_one_mb"] = sampler.peak_one / 2**20
    return result


def report(label: str, results: list[tuple[str, int, dict]]) -> None:  # type: ignore[type-arg]
    print(f"\n== {label}")
    base = None
    for engine, workers, r in results:
        counts = r["counts"]
        cand = counts["candidates"]
        eligible = next(s for s in counts["steps"] if s["step"] == "consent")["out"]
        wall = r["wall"]
        rate = cand / wall
        base = base or rate
        t = r["timings"]
        print(
            f"{engine:>5} x{workers}: wall {wall:7.1f} s | {rate:8,.0f} posts/s end to end | "
            f"{rate / workers:8,.0f} posts/s/core | speedup {rate / base:4.2f}x | "
            f"peak RSS {r['peak_tree_mb']:6.0f} MB tree, {r['peak_one_mb']:5.0f} MB max proc | "
            f"{r['records']:,} records out of {cand:,} posts ({eligible:,} consent-gated)"
        )
        steps = [
            f"eligibility {t['eligibility']:.1f}s",
            f"plan+shards {t['shards']:.1f}s",
            f"global dedupe {t.get('dedupe_global', 0):.2f}s",
            f"finalise {t.get('finalise', 0):.1f}s",
            f"driver CPU {t.get('driver_cpu', 0):.1f}s",
        ]
        print("        driver: " + ", ".join(steps))
        per = []
        for step in STEPS:
            sec, n = t.get(f"cpu_{step}"), t.get(f"records_{step}")
            if sec and n:
                per.append(f"{step} {n / sec:,.0f}/s")
        print("        cpu records/s per step: " + ", ".join(per))
        print(
            f"        cpu {r['cpu']:.0f} s (driver + workers) = {cand / r['cpu']:,.0f} posts per "
            f"CPU-second; host load average during the run {r['load']:.1f} on "
            f"{psutil.cpu_count()} CPUs (other processes share them)"
        )


def bench(home: Path, members: int, posts: int, label: str) -> None:
    gen = ensure_demo(home, members, posts)
    if gen:
        print(f"demo platform generated in {gen:.0f} s ({members:,} members, {posts:,} posts)")
    results = []
    for engine, workers in CONFIGS:
        r = run_build(home, engine, workers)
        results.append((engine, workers, r))
        print(f"  done {engine} x{workers}: {r['wall']:.1f} s", flush=True)
    report(label, results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--home", type=Path, default=None, help="reuse or create this data dir")
    ap.add_argument("--double", action="store_true", help="also run on 2x posts and members")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="optin-bench-"))
    home = args.home or tmp / f"demo-{args.members}-{args.posts}"
    print(f"cpus: {psutil.cpu_count()}; home: {home}")
    bench(home, args.members, args.posts, f"{args.members:,} members / {args.posts:,} posts")
    if args.double:
        home2 = home.parent / f"{home.name}-x2"
        bench(
            home2,
            args.members * 2,
            args.posts * 2,
            f"{args.members * 2:,} members / {args.posts * 2:,} posts (doubled)",
        )


if __name__ == "__main__":
    main()
