"""Bench for issue 15's "how we will know": a full snapshot build from a generated lake.

1. Members (``--members``, up to 1M) go straight into a fresh SQLite database with bulk
   inserts (members, country and status histories, consent events with placeholder
   hashes and the ledger head set to the last one: this measures the build, not the
   ledger's hash chain).
2. Posts (``--posts``) are written streaming as a hive-partitioned Parquet lake
   (``day=YYYY-MM-DD/part-0.parquet``, one writer per day, row groups of 10,000) by the
   demo generator's text model (:func:`optin.demo.text.compose`: templates with names,
   @handles, e-mails, phones, addresses, the odd card or IBAN), without going through
   SQL. Authors follow the demo's skew (a few members write most posts).
3. ``optin snapshot build --content LAKE --engine dask --workers W`` runs as a child
   process for each ``--workers`` value; a sampler thread reads every process of its
   tree from ``/proc`` (psutil) every 0.2 s: peak RSS of the driver and of each Dask
   worker process (measured on the process itself, not ``ru_maxrss``, which a child can
   inherit from its parent), CPU seconds per process (the last sample; the child's
   ``wait4`` rusage, which adds every reaped descendant, is printed beside it).

Prints per run: wall, posts/s, CPU-s per million posts (driver + workers), driver and
worker peak RSS, the pipeline's per-step CPU figures (from ``--json`` timings) and the
load average. ``--keep DIR`` keeps the generated data to rerun builds on it.

    .venv/bin/python bench/scale.py --members 100000 --posts 30000 --workers 2 --workers 1
    .venv/bin/python bench/scale.py --members 1000000 --posts 300000 --workers 2

The machine this runs on is usually shared: read the wall figures with the load printed
beside them; CPU seconds are the honest measure under load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
JOINED_FROM = datetime(2024, 1, 1, tzinfo=UTC)
COUNTRIES = ["US"] * 8 + ["IN"] * 5 + ["BR"] * 4 + ["GB", "FR", "DE", "NG", "JP", "CA", "MX"]
COUNTRIES += ["CH", "NL", "SE", "ES", "IT", "KE"]
NAME_SETS = {"US": "us", "IN": "in", "BR": "br", "GB": "gb", "FR": "fr", "DE": "de"}
NAME_SETS.update({"NG": "ng", "JP": "jp", "MX": "mx", "NL": "nl", "SE": "se", "ES": "es"})
NAME_SETS.update({"IT": "it", "KE": "ke", "CA": "us", "CH": "de"})
LAKE_SCHEMA = pa.schema(
    [
        ("content_id", pa.string()),
        ("author_id", pa.string()),
        ("kind", pa.string()),
        ("visibility", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("edited_at", pa.timestamp("us", tz="UTC")),
        ("deleted_at", pa.timestamp("us", tz="UTC")),
        ("language", pa.string()),
        ("text", pa.string()),
    ]
)
KINDS = (("post", 0.60), ("article", 0.65), ("comment", 0.91), ("message", 0.98), ("profile", 1.0))


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _t(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


# -- members ---------------------------------------------------------------------------


def people(n: int, seed: int) -> list[Any]:
    from optin.demo.people import names
    from optin.demo.pii import ascii_fold
    from optin.demo.text import Person

    rng = random.Random(seed)
    table = names()
    out = []
    for i in range(n):
        country = rng.choice(COUNTRIES)
        ns = table[NAME_SETS[country]]
        first, last = rng.choice(ns["first"]), rng.choice(ns["last"])
        handle = re.sub(r"[^a-z0-9.]", "", ascii_fold(f"{first}.{last}").lower())[:40] + f".{i}"
        out.append(
            Person(
                handle=handle,
                display_name=f"{first} {last}",
                first=first,
                last=last,
                email=f"{handle}@example.com",
                country=country,
                org="Acme",
                role="engineer",
            )
        )
    return out


def write_members(home: Path, ps: list[Any], seed: int, consent_rate: float) -> dict[str, int]:
    """Members, countries, statuses and consent events by bulk insert (one transaction)."""
    from optin.services.setup import DEFAULT_POLICY_EFFECTIVE_AT, init_database
    from optin.settings import Settings
    from optin.storage.database import Database

    db = Database.open(Settings(home=home))
    init_database(db, now=AS_OF, effective_at=DEFAULT_POLICY_EFFECTIVE_AT, allow_backdate=True)
    rng = random.Random(seed + 1)
    counts = {"members": 0, "events": 0}
    seq = 0
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        members, countries, statuses, events = [], [], [], []

        def flush() -> None:
            cur.executemany(
                "INSERT INTO members (id, handle, handle_folded, display_name, birth_date, "
                "joined_at, role) VALUES (?, ?, ?, ?, ?, ?, 'member')",
                members,
            )
            cur.executemany(
                "INSERT INTO member_countries (member_id, since, recorded_at, country) "
                "VALUES (?,?,?,?)",
                countries,
            )
            cur.executemany(
                "INSERT INTO member_statuses (member_id, since, recorded_at, status) "
                "VALUES (?,?,?,?)",
                statuses,
            )
            cur.executemany(
                "INSERT INTO consent_events (seq, event_id, member_id, purpose, action, at, "
                "recorded_at, policy_version, source, personal, prev_hash, hash) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                events,
            )
            for x in (members, countries, statuses, events):
                x.clear()

        for i, p in enumerate(ps):
            mid = f"m{i:08d}"
            joined = JOINED_FROM + timedelta(seconds=rng.randrange(200 * 86400))
            birth = date(1950 + rng.randrange(55), 1 + rng.randrange(12), 1)
            members.append(
                (mid, p.handle, p.handle.casefold(), p.display_name, str(birth), _t(joined))
            )
            countries.append((mid, _t(joined), _t(joined), p.country))
            statuses.append((mid, _t(joined), _t(joined), "active"))
            if rng.random() < 0.02:
                closed = joined + timedelta(days=rng.randrange(30, 900))
                statuses.append((mid, _t(closed), _t(closed), "closed"))
            at = joined + timedelta(days=rng.randrange(1, 300))
            for purpose in ("train_own_models", "share_with_providers"):
                r = rng.random()
                if r >= consent_rate:  # opt-in: many members never consent
                    continue
                seq += 1
                events.append(
                    (
                        seq,
                        f"e{seq:010d}",
                        mid,
                        purpose,
                        "grant",
                        _t(at),
                        _t(at),
                        1,
                        "import",
                        None,
                        "0" * 64,
                        "0" * 64,
                    )
                )
                if r < consent_rate * 0.1:  # a later withdrawal
                    seq += 1
                    w = at + timedelta(days=rng.randrange(1, 400))
                    events.append(
                        (
                            seq,
                            f"e{seq:010d}",
                            mid,
                            purpose,
                            "withdraw",
                            _t(w),
                            _t(w),
                            1,
                            "import",
                            None,
                            "0" * 64,
                            "0" * 64,
                        )
                    )
            if len(members) >= 50_000:
                flush()
        flush()
        cur.execute("UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1", (seq, "0" * 64))
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    db.dispose()
    counts.update(members=len(ps), events=seq)
    return counts


# -- lake ------------------------------------------------------------------------------


def write_lake(lake: Path, ps: list[Any], posts: int, days: int, seed: int) -> int:
    """``posts`` items over ``days`` days before the as-of day, one Parquet file a day,
    written in row groups as they are generated (memory: one row group)."""
    rng = random.Random(seed + 2)
    start = AS_OF - timedelta(days=days)
    per_day = [posts // days + (1 if d < posts % days else 0) for d in range(days)]
    cid = 0
    total_bytes = 0
    for d, n in enumerate(per_day):
        day0 = start + timedelta(days=d)
        path = lake / f"day={day0.date().isoformat()}" / "part-0.parquet"
        cid = write_day(path, ps, n, day0, rng, cid)
        total_bytes += path.stat().st_size
    return total_bytes


def write_day(
    path: Path, ps: list[Any], n: int, day0: datetime, rng: random.Random, cid: int
) -> int:
    """``n`` items created on the day from ``day0`` as one Parquet file, content ids
    after ``cid``; returns the last content id used."""
    from optin.demo.text import compose

    n_members = len(ps)

    def other() -> Any:
        return ps[rng.randrange(n_members)]

    path.parent.mkdir(parents=True, exist_ok=True)
    # the created times of a day, in content-id order
    secs = sorted(rng.randrange(86400 * 10**6) for _ in range(n))
    with pq.ParquetWriter(path, LAKE_SCHEMA, compression="zstd") as w:
        for lo in range(0, n, 10_000):
            rows: dict[str, list[Any]] = {f.name: [] for f in LAKE_SCHEMA}
            for k in range(lo, min(n, lo + 10_000)):
                cid += 1
                a = int(n_members * rng.random() ** 1.7)
                r = rng.random()
                kind = next(k_ for k_, upto in KINDS if r < upto)
                vis = (
                    "private"
                    if kind == "message"
                    else ("public" if rng.random() < 0.85 else "connections")
                )
                lang = "en"
                text, _spans = compose(kind, lang, rng, ps[a], other)
                created = day0 + timedelta(microseconds=secs[k])
                r2 = rng.random()
                rows["content_id"].append(f"c{cid:010d}")
                rows["author_id"].append(f"m{a:08d}")
                rows["kind"].append(kind)
                rows["visibility"].append(vis)
                rows["created_at"].append(created)
                rows["edited_at"].append(created + timedelta(hours=1) if r2 < 0.08 else None)
                rows["deleted_at"].append(created + timedelta(hours=2) if r2 > 0.98 else None)
                rows["language"].append(lang)
                rows["text"].append(text)
            w.write_table(pa.table(rows, schema=LAKE_SCHEMA))
    return cid


# -- the build, sampled ----------------------------------------------------------------


class Sampler:
    """Peak RSS and CPU seconds of a process and all its descendants (psutil, 0.2 s)."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.seen: dict[int, dict[str, Any]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            for p in procs:
                try:
                    with p.oneshot():
                        rss = p.memory_info().rss
                        cpu = p.cpu_times()
                        info = self.seen.setdefault(
                            p.pid,
                            {"ppid": p.ppid(), "cmd": " ".join(p.cmdline())[:160], "rss": 0},
                        )
                        info["rss"] = max(info["rss"], rss)
                        info["cpu"] = cpu.user + cpu.system
                        info["name"] = p.name()
                except psutil.Error:
                    continue
            self.stop.wait(0.2)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()

    def roles(self) -> dict[str, list[dict[str, Any]]]:
        """driver: the build process; workers: the Dask worker processes (a LocalCluster's
        nannies live in the driver and spawn them: ``multiprocessing.spawn``); helpers:
        the rest (the resource tracker, SQLite projection readers)."""
        root = self.root.pid
        out: dict[str, list[dict[str, Any]]] = {"driver": [], "workers": [], "helpers": []}
        for pid, info in self.seen.items():
            info = {**info, "pid": pid}
            if pid == root:
                out["driver"].append(info)
            elif "spawn_main" in info["cmd"]:
                out["workers"].append(info)
            else:
                out["helpers"].append(info)
        return out


def subset(lake: Path, out: Path, n_days: int) -> tuple[Path, int, int]:
    """A lake of the first ``n_days`` day partitions of ``lake`` (hard links)."""
    days = sorted(d for d in lake.iterdir() if d.name.startswith("day="))[:n_days]
    rows = size = 0
    for d in days:
        src = d / "part-0.parquet"
        dst = out / d.name / "part-0.parquet"
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, dst)
        rows += pq.ParquetFile(src).metadata.num_rows
        size += src.stat().st_size
    return out, rows, size


def sampled(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a build command that prints its result as JSON, sampling its process tree:
    the result, wall, CPU seconds of the tree (the rusage of reaped children: wait4
    would race ``communicate``), the sampler's roles and the load before and after."""
    load0 = os.getloadavg()
    before = os.times()
    w0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler = Sampler(proc.pid)
    out_b, err_b = proc.communicate()
    wall = time.perf_counter() - w0
    after = os.times()
    sampler.close()
    if proc.returncode != 0:
        raise SystemExit(f"build failed ({proc.returncode}):\n{err_b.decode()[-3000:]}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return {
        "result": json.loads(out_b),
        "wall_s": wall,
        "cpu_s": cpu,
        "roles": sampler.roles(),
        "load_before": load0,
        "load_after": os.getloadavg(),
    }


def run_build(
    home: Path,
    lake: Path,
    workers: int,
    posts: int,
    lake_bytes: int,
    dedupe_on: str,
    optin: str | None = None,
) -> dict[str, Any]:
    # a fresh build each run: the snapshot of the same inputs would be "up to date"
    shutil.rmtree(home / "snapshots", ignore_errors=True)
    with sqlite3.connect(home / "optin.db") as conn:
        for table in ("snapshot_records", "snapshot_stale_members", "snapshots"):
            conn.execute(f"DELETE FROM {table}")
    env = {**os.environ, "OPTIN_HOME": str(home)}
    cmd = [
        optin or str(Path(sys.executable).with_name("optin")), "snapshot", "build", "--purpose", "train_own_models",
        "--as-of", AS_OF.isoformat(), "--content", str(lake), "--engine", "dask",
        "--workers", str(workers), "--dedupe-on", dedupe_on, "--json",
    ]  # fmt: skip
    run = sampled(cmd, env)
    result, wall, tree_cpu, roles, load0 = (
        run["result"], run["wall_s"], run["cpu_s"], run["roles"], run["load_before"]
    )  # fmt: skip
    if result.get("status") != "built":
        raise SystemExit(f"expected a fresh build, got {result.get('status')}")
    driver = roles["driver"][0]
    wk = roles["workers"]
    sampled_cpu = sum(i.get("cpu", 0.0) for r in roles.values() for i in r)
    timings = result.get("timings", {})
    return {
        "workers": workers,
        "wall_s": wall,
        "load_before": load0,
        "load_after": os.getloadavg(),
        "records": result.get("records"),
        "posts_per_s": posts / wall,
        "lake_mb_per_s": lake_bytes / wall / 1e6,
        "cpu_s_tree": tree_cpu,
        "cpu_s_sampled": sampled_cpu,
        "cpu_s_per_million_posts": tree_cpu / posts * 1e6,
        "driver_cpu_s": driver.get("cpu", 0.0),
        "driver_peak_rss_mb": driver["rss"] / 2**20,
        "worker_peak_rss_mb": [round(i["rss"] / 2**20) for i in wk],
        "worker_cpu_s": [round(i.get("cpu", 0.0), 1) for i in wk],
        "helpers_peak_rss_mb": [round(i["rss"] / 2**20) for i in roles["helpers"]],
        "timings": timings,
    }


def report(r: dict[str, Any], posts: int) -> None:
    lb, la = r["load_before"], r["load_after"]
    print(
        f"  workers={r['workers']}: wall {r['wall_s']:.1f} s (load {lb[0]:.2f} before, "
        f"{la[0]:.2f} after), {r['posts_per_s']:,.0f} posts/s, {r['lake_mb_per_s']:.2f} MB/s "
        f"of lake, {r['records']:,} records out"
    )
    print(
        f"    CPU {r['cpu_s_tree']:.1f} s (driver+workers, rusage; sampled "
        f"{r['cpu_s_sampled']:.1f} s) = {r['cpu_s_per_million_posts']:,.0f} CPU-s per million "
        f"posts; driver CPU {r['driver_cpu_s']:.1f} s"
    )
    print(
        f"    driver peak RSS {r['driver_peak_rss_mb']:.0f} MB; worker peak RSS "
        f"{r['worker_peak_rss_mb']} MB (CPU {r['worker_cpu_s']} s); nannies/readers "
        f"{r['helpers_peak_rss_mb']} MB"
    )
    t = r["timings"]
    wall = {k: v for k, v in t.items() if not k.startswith(("cpu_", "records_"))}
    print("    driver wall by phase (s): " + ", ".join(f"{k} {v:.2f}" for k, v in wall.items()))
    steps = sorted(k[4:] for k in t if k.startswith("cpu_"))
    for s in steps:
        cpu, n = t[f"cpu_{s}"], t.get(f"records_{s}", 0)
        rate = n / cpu if cpu else float("inf")
        print(
            f"    step {s:<13} {n:>9,} records in, {cpu:7.1f} CPU-s, "
            f"{rate:>9,.0f} records/CPU-s, {cpu / max(n, 1) * 1e6:>8,.0f} CPU-s per M records"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--posts", type=int, default=30_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--workers", type=int, action="append", help="repeatable; default 2 then 1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--consent-rate", type=float, default=0.55, help="share of members who ever grant"
    )
    ap.add_argument(
        "--dedupe-on", default="workers", help="driver, workers or auto (default workers)"
    )
    ap.add_argument("--keep", type=Path, help="keep (or reuse) the generated data here")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument(
        "--subset-days",
        type=int,
        action="append",
        help="also build on the lake's first N days only (hard links; repeatable), to "
        "scale the posts with the same members",
    )
    ap.add_argument("--subsets-only", action="store_true", help="skip the whole lake")
    ap.add_argument("--optin", help="the optin entry point to build with (default: this venv's)")
    args = ap.parse_args()
    workers = args.workers or [2, 1]
    tmp = None
    if args.keep:
        base = args.keep
        base.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="optin-scale-")
        base = Path(tmp.name)
    home, lake = base / "home", base / "lake"
    meta_path = base / "meta.json"
    print(
        f"scale bench: {args.members:,} members, {args.posts:,} posts, {args.days} days; {load()}"
    )
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        print(f"  reusing {base}")
    else:
        w0, c0 = time.perf_counter(), time.process_time()
        ps = people(args.members, args.seed)
        counts = write_members(home, ps, args.seed, args.consent_rate)
        w1, c1 = time.perf_counter(), time.process_time()
        print(
            f"  members: {counts['members']:,} members, {counts['events']:,} consent events in "
            f"{w1 - w0:.1f} s wall, {c1 - c0:.1f} s CPU"
        )
        lake_bytes = write_lake(lake, ps, args.posts, args.days, args.seed)
        w2, c2 = time.perf_counter(), time.process_time()
        print(
            f"  lake: {args.posts:,} posts, {lake_bytes / 1e6:.1f} MB Parquet in "
            f"{w2 - w1:.1f} s wall, {c2 - c1:.1f} s CPU ({args.posts / max(c2 - c1, 1e-9):,.0f} "
            f"posts/CPU-s); {load()}"
        )
        del ps
        meta = {"members": args.members, "posts": args.posts, "lake_bytes": lake_bytes}
        meta_path.write_text(json.dumps(meta))
    results = []
    lakes = [] if args.subsets_only else [(lake, meta["posts"], meta["lake_bytes"])]
    for n_days in sorted(args.subset_days or [], reverse=True):
        lakes.insert(0, subset(lake, base / f"lake-{n_days}d", n_days))
    for path, n_posts, n_bytes in lakes:
        print(f"  lake {path.name}: {n_posts:,} posts, {n_bytes / 1e6:.1f} MB")
        for w in workers:
            r = run_build(home, path, w, n_posts, n_bytes, args.dedupe_on, args.optin)
            r["posts"] = n_posts
            report(r, n_posts)
            results.append(r)
    if len(results) > 1:
        by_w = {r["workers"]: r for r in results if r["posts"] == meta["posts"]}
        if 1 in by_w and 2 in by_w:
            print(
                f"  speed-up 2 workers vs 1: {by_w[1]['wall_s'] / by_w[2]['wall_s']:.2f}x wall "
                f"(load {by_w[2]['load_before'][0]:.2f} / {by_w[1]['load_before'][0]:.2f} at the "
                "starts; on a shared 2-core machine read this with the load)"
            )
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "runs": results}, indent=2))
    print(f"  {load()}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
