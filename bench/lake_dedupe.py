"""Bench for issue 15's first two parts: reading content from a Parquet lake, and the
global duplicate pass in the driver vs on Dask workers (keys shuffled by key).

Part 1 (lake): a demo platform's posts written as a hive-partitioned lake, then the two
reads of a build (selection counts with 5 small columns; the texts of eligible authors
with predicate push-down), timed: posts/s, MB/s of files, process CPU.

Part 2 (dedupe): synthetic stage-1 key files (14 bands; ~3 % exact copies, ~5 % near
copies sharing 1-3 band keys with an earlier record, a few chains), then the duplicate
pass (a) in the driver (``find_duplicates``) and (b) on a LocalCluster of 2 workers
(``distributed_duplicates``); each variant in its own process so the peak RSS is its
own. Prints wall, driver CPU, driver peak RSS, workers' peak RSS (sampled) and checks
that both give the same duplicates.

    python bench/lake_dedupe.py                      # 20k members / 200k posts; 100k, 300k keys
    python bench/lake_dedupe.py --posts 50000 --keys 50000 --keys 150000

The machine this runs on is usually shared: the script prints ``uptime`` load with the
figures; read them as measured under that load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

BANDS = 14
NOW = datetime(2026, 11, 20, tzinfo=UTC)
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


# -- part 1: lake --------------------------------------------------------------------------


def write_lake(home: Path, lake: Path, members: int, posts: int, days: int) -> int:
    from sqlalchemy import select

    from optin.services.demo import generate_demo
    from optin.settings import Settings
    from optin.storage.database import Database
    from optin.storage.models import ContentRow

    db = Database.open(Settings(home=home))
    generate_demo(db, members=members, posts=posts, seed=0, now=NOW, accounts=False)
    ts = pa.timestamp("us", tz="UTC")
    schema = pa.schema(
        [
            ("content_id", pa.string()),
            ("author_id", pa.string()),
            ("kind", pa.string()),
            ("visibility", pa.string()),
            ("created_at", ts),
            ("edited_at", ts),
            ("deleted_at", ts),
            ("language", pa.string()),
            ("text", pa.string()),
        ]
    )
    by_day: dict[str, list[dict[str, object]]] = {}
    with db.session() as s:
        rows_all = list(s.execute(select(ContentRow).order_by(ContentRow.id)).scalars())
        first = min(r.created_at for r in rows_all)
        span = (NOW - first).total_seconds() or 1.0
        for r in rows_all:
            created = r.created_at
            if days:  # squeeze the demo's years into the last ``days`` days (order kept)
                frac = (created - first).total_seconds() / span
                created = NOW - timedelta(seconds=(1 - frac) * days * 86_400)
            day = created.astimezone(UTC).date().isoformat()
            by_day.setdefault(day, []).append(
                {
                    "content_id": r.id,
                    "author_id": r.author_id,
                    "kind": r.kind,
                    "visibility": r.visibility,
                    "created_at": created,
                    "edited_at": r.edited_at,
                    "deleted_at": r.deleted_at,
                    "language": r.language,
                    "text": r.text,
                }
            )
    for day, rows in by_day.items():
        d = lake / f"day={day}"
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), d / "part-0.parquet")
    db.dispose()
    return len(by_day)


def bench_lake(members: int, posts: int, days: int) -> None:
    from optin.pipeline.lake import LakeSource

    with tempfile.TemporaryDirectory() as tmp:
        home, lake = Path(tmp) / "home", Path(tmp) / "lake"
        t0 = time.perf_counter()
        days = write_lake(home, lake, members, posts, days)
        print(f"lake: {posts:,} posts in {days} day partitions ({time.perf_counter() - t0:.1f} s)")
        size = sum(p.stat().st_size for p in lake.rglob("*.parquet"))
        w0, c0 = time.perf_counter(), time.process_time()
        src = LakeSource.open(str(lake))
        kinds, vis = ["article", "comment", "post"], ["public"]
        counts, authors = src.scan_counts(kinds, vis, AS_OF)
        w1, c1 = time.perf_counter(), time.process_time()
        eligible = list(authors)[: max(1, len(authors) * 7 // 10)]
        n = sum(t.num_rows for t in src.iter_selected(kinds, vis, AS_OF, authors=eligible))
        w2, c2 = time.perf_counter(), time.process_time()
        rows = sum(f.rows for f in src.files)
        print(
            f"  open+counts: {rows / (w1 - w0):,.0f} posts/s, {size / (w1 - w0) / 1e6:.1f} MB/s "
            f"of files ({w1 - w0:.2f} s wall, {c1 - c0:.2f} s CPU); selected {counts.get('selected', 0):,}"
        )
        print(
            f"  texts of 70% of authors: {rows / (w2 - w1):,.0f} posts/s scanned, {n:,} rows out "
            f"({w2 - w1:.2f} s wall, {c2 - c1:.2f} s CPU)"
        )
        print(f"  load average {load()}")


# -- part 2: dedupe -----------------------------------------------------------------------


def make_keys(root: Path, n: int, shard: int, seed: int = 0) -> tuple[list[Path], list[int]]:
    from optin.pipeline.io import write_ipc

    rng = np.random.default_rng(seed)
    created = rng.integers(0, 10**9, n).astype(np.int64)
    exact = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    bands = rng.integers(0, 2**63, (n, BANDS), dtype=np.int64).astype(np.uint64)
    copies = rng.choice(n, n * 3 // 100, replace=False)
    exact[copies] = exact[rng.integers(0, n, len(copies))]
    near = rng.choice(n, n * 5 // 100, replace=False)
    src = rng.integers(0, n, len(near))
    for k in range(3):
        take = rng.random(len(near)) < (1.0 if k == 0 else 0.3)
        b = rng.integers(0, BANDS, len(near))
        bands[near[take], b[take]] = bands[src[take], b[take]]
    paths, sizes = [], []
    for i, lo in enumerate(range(0, n, shard)):
        hi = min(n, lo + shard)
        cols = {
            "created_us": pa.array(created[lo:hi]),
            "exact_hash": pa.array(exact[lo:hi]),
        }
        for b in range(BANDS):
            cols[f"band_{b:02d}"] = pa.array(bands[lo:hi, b])
        p = root / f"{i:05d}.arrow"
        write_ipc(p, pa.table(cols))
        paths.append(p)
        sizes.append(hi - lo)
    return paths, sizes


def _child(mode: str, root: str, sizes: list[int]) -> None:
    """Run one variant of the pass; print a JSON line (run in a fresh process)."""
    import psutil

    paths = [Path(root) / f"{i:05d}.arrow" for i in range(len(sizes))]
    worker_peak = [0]
    own_peak = [0]
    stop = threading.Event()
    me = psutil.Process()

    def sample_self() -> None:  # ru_maxrss would carry the parent's peak across exec
        while not stop.wait(0.05):
            own_peak[0] = max(own_peak[0], me.memory_info().rss)

    threading.Thread(target=sample_self, daemon=True).start()
    w0, c0 = time.perf_counter(), time.process_time()
    if mode == "driver":
        from optin.pipeline.io import read_ipc
        from optin.pipeline.steps.dedupe import find_duplicates

        def col(name: str) -> np.ndarray:
            return np.concatenate([read_ipc(p, [name])[name].to_numpy() for p in paths])

        e, nd = find_duplicates(
            col("created_us"), col("exact_hash"), lambda b: col(f"band_{b:02d}"), BANDS
        )
        exact_g, near_g = np.flatnonzero(e), np.flatnonzero(nd)
    else:
        import dask
        from distributed import Client, LocalCluster

        from optin.pipeline.executors.dask import _LOCAL_CLUSTER_CONFIG
        from optin.pipeline.executors.dask_dedupe import distributed_duplicates

        with dask.config.set(_LOCAL_CLUSTER_CONFIG):
            cluster = LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
            )
        client = Client(cluster)
        pids = list(client.run(os.getpid).values())

        def sample() -> None:
            procs = [psutil.Process(p) for p in pids]
            while not stop.wait(0.2):
                for pr in procs:
                    with contextlib.suppress(psutil.Error):
                        worker_peak[0] = max(worker_peak[0], pr.memory_info().rss)

        threading.Thread(target=sample, daemon=True).start()
        w0, c0 = time.perf_counter(), time.process_time()  # cluster start not counted
        with client.as_current():
            exact_g, near_g = distributed_duplicates(paths, sizes, bands=BANDS, near_dup=True)
        stop.set()
        client.close()
        cluster.close()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    own_peak[0] = max(own_peak[0], me.memory_info().rss)
    stop.set()
    print(
        json.dumps(
            {
                "wall": wall,
                "driver_cpu": cpu,
                "driver_rss_mb": own_peak[0] / 2**20,
                "worker_rss_mb": worker_peak[0] / 2**20,
                "exact": len(exact_g),
                "near": len(near_g),
                "digest": hash((tuple(exact_g.tolist()), tuple(near_g.tolist()))),
            }
        )
    )


def bench_dedupe(sizes_n: list[int], shard: int) -> None:
    for n in sizes_n:
        with tempfile.TemporaryDirectory() as tmp:
            paths, sizes = make_keys(Path(tmp), n, shard)
            out = {}
            for mode in ("driver", "dask"):
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", mode, tmp, json.dumps(sizes)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                out[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
            d, q = out["driver"], out["dask"]
            same = d["digest"] == q["digest"]
            print(
                f"dedupe: {n:,} records, {len(paths)} shards; same duplicates: {same} "
                f"(exact {d['exact']:,}, near {d['near']:,})"
            )
            for mode, r in out.items():
                print(
                    f"  {mode:6s}: {n / r['wall']:>10,.0f} records/s, {r['wall']:.1f} s wall, "
                    f"driver {r['driver_cpu']:.1f} CPU-s, driver peak RSS {r['driver_rss_mb']:.0f} MB"
                    + (f", worker peak RSS {r['worker_rss_mb']:.0f} MB" if mode == "dask" else "")
                )
            print(f"  load average {load()}")
            if not same:
                raise SystemExit("the two passes disagree")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--posts", type=int, default=200_000)
    ap.add_argument("--keys", type=int, action="append", help="records for part 2 (repeat)")
    ap.add_argument("--shard", type=int, default=10_000)
    ap.add_argument(
        "--days", type=int, default=30, help="day partitions of the lake (0: the demo's dates)"
    )
    ap.add_argument("--skip-lake", action="store_true")
    args = ap.parse_args()
    print(f"cpus {os.cpu_count()}, load average {load()}")
    if not args.skip_lake:
        bench_lake(args.members, args.posts, args.days)
    bench_dedupe(args.keys or [100_000, 300_000], args.shard)


if __name__ == "__main__":
    main()
