"""Consent ledger throughput.

1. ``--writers`` processes (default 8) append single events concurrently for
   ``--seconds`` (each append is its own transaction, as when members toggle switches),
   then the whole chain is verified: prints appends/s, p50/p99 latency, chain status.
2. One process bulk-appends ``--bulk`` events with ``append_many`` (imports, demo).

    .venv/bin/python bench/ledger.py --backend postgresql --writers 8 --seconds 10
    .venv/bin/python bench/ledger.py --backend sqlite
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from optin.services.setup import DEFAULT_POLICY_EFFECTIVE_AT, init_database
from optin.storage import db as db_module
from optin.storage import ledger
from optin.storage.database import Database

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2024, 6, 1, tzinfo=UTC)


def _draft(worker: int, i: int) -> ledger.EventDraft:
    return ledger.EventDraft(
        member_id=f"w{worker}-{i % 500}",
        purpose="train_own_models",
        action="grant" if i % 2 == 0 else "withdraw",
        at=T0 + timedelta(seconds=i),
        policy_version=1,
        source="system",
        personal={"ip": f"10.0.{worker}.{i % 250}"} if i % 4 == 0 else None,
    )


def _writer(
    url: str,
    worker: int,
    seconds: float,
    barrier: Any,
    out: mp.Queue,
    per_commit: int = 1,
    synchronous: str = "FULL",
    home: Path | None = None,
) -> None:
    db_module.SQLITE_SYNCHRONOUS = synchronous
    db = Database(url, home=home)  # home: where the member key store lives
    with db.engine.connect():
        pass  # connect before the clock starts
    lat: list[float] = []
    i = 0
    barrier.wait()
    end = time.time() + seconds
    while time.time() < end:
        t = time.perf_counter()
        with db.session() as s:
            ledger.append(
                s,
                ledger.EventDraft(
                    member_id=f"w{worker}-{i % 500}",
                    purpose="train_own_models",
                    action="grant" if i % 2 == 0 else "withdraw",
                    at=T0 + timedelta(seconds=i),
                    policy_version=1,
                    source="system",
                ),
                {"ip": f"10.0.{worker}.{i % 250}"} if i % 4 == 0 else None,
                now=datetime.now(UTC),
            )
        lat.append(time.perf_counter() - t)
        i += 1
    db.dispose()
    out.put(lat)


def concurrent(
    url: str,
    writers: int,
    seconds: float,
    per_commit: int = 1,
    synchronous: str = "FULL",
    home: Path | None = None,
) -> None:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    barrier = ctx.Barrier(writers + 1)  # every process imported and connected
    procs = [
        ctx.Process(
            target=_writer,
            args=(url, w, seconds, barrier, q, per_commit, synchronous, home),
        )
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    lats: list[float] = []
    for _ in procs:
        lats.extend(q.get())
    window = time.perf_counter() - t0
    for p in procs:
        p.join()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    n = len(lats)
    lats.sort()
    p50 = statistics.median(lats) * 1000
    p99 = lats[min(n - 1, int(n * 0.99))] * 1000
    mode = "1 event/commit" if per_commit == 1 else f"{per_commit} events/commit"
    if url.startswith("sqlite"):
        mode += f", synchronous={synchronous}"
    print(
        f"  {writers} writers ({mode}), {window:.1f} s: {n:,} appends = "
        f"{n / window:,.0f} appends/s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    db = Database(url)
    t = time.perf_counter()
    with db.session() as s:
        report = ledger.verify(s)
    el = time.perf_counter() - t
    db.dispose()
    status = "INTACT" if report.ok else f"BROKEN at seq {report.first_bad_seq}: {report.problem}"
    print(
        f"  chain {status}; length {report.length:,} (expected {n:,}); "
        f"verified in {el:.2f} s = {report.length / max(el, 1e-9):,.0f} events/s"
    )
    if not report.ok or report.length != n:
        raise SystemExit("ledger check failed")


def bulk(url: str, n: int) -> None:
    db = Database(url)
    drafts = [
        ledger.EventDraft(
            member_id=f"b{i % 10000}",
            purpose="share_with_providers",
            action="grant",
            at=T0 + timedelta(seconds=i),
            policy_version=1,
            source="import",
        )
        for i in range(n)
    ]
    t = time.perf_counter()
    with db.session() as s:
        ledger.append_many(s, drafts, now=datetime.now(UTC))
    el = time.perf_counter() - t
    print(f"  append_many: {n:,} events in {el:.2f} s = {n / el:,.0f} events/s")
    with db.session() as s:
        ok = ledger.verify(s).ok
    print(f"  chain {'INTACT' if ok else 'BROKEN'}")
    db.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--bulk", type=int, default=200_000)
    ap.add_argument(
        "--per-commit",
        type=int,
        default=1,
        help="events per transaction in the concurrent run (1: each toggle "
        "commits alone; >1: what group commit in the web app does)",
    )
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument(
        "--sqlite-synchronous",
        default="FULL",
        help="SQLite synchronous mode(s) for the concurrent run, comma-separated, run side "
        "by side (optin uses FULL; e.g. NORMAL,FULL to measure the cost)",
    )
    args = ap.parse_args()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("bulk",):
                db = Database(f"sqlite:///{Path(tmp) / name}.db")
                init_database(
                    db,
                    now=datetime.now(UTC),
                    effective_at=DEFAULT_POLICY_EFFECTIVE_AT,
                    allow_backdate=True,
                )
                db.dispose()
            print("[sqlite]")
            for sync in args.sqlite_synchronous.upper().split(","):
                db_module.SQLITE_SYNCHRONOUS = sync
                url = f"sqlite:///{Path(tmp) / sync}-concurrent.db"
                db = Database(url)
                init_database(
                    db,
                    now=datetime.now(UTC),
                    effective_at=DEFAULT_POLICY_EFFECTIVE_AT,
                    allow_backdate=True,
                )
                db.dispose()
                concurrent(url, args.writers, args.seconds, args.per_commit, sync)
            db_module.SQLITE_SYNCHRONOUS = "FULL"
            bulk(f"sqlite:///{Path(tmp) / 'bulk'}.db", args.bulk)
    if args.backend in ("postgresql", "both"):
        try:
            admin = create_engine(args.pg_url)
            with admin.begin() as conn:
                for schema in ("bench_ledger", "bench_bulk"):
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    conn.execute(text(f"CREATE SCHEMA {schema}"))
        except Exception as e:
            print(f"[postgresql] skipped: unreachable ({type(e).__name__}: {e})")
            return 0
        urls = {}
        for schema in ("bench_ledger", "bench_bulk"):
            u = make_url(args.pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
            urls[schema] = u.render_as_string(hide_password=False)
            db = Database(urls[schema])
            init_database(
                db,
                now=datetime.now(UTC),
                effective_at=DEFAULT_POLICY_EFFECTIVE_AT,
                allow_backdate=True,
            )
            db.dispose()
        print("[postgresql]")
        try:
            with tempfile.TemporaryDirectory() as home:
                concurrent(
                    urls["bench_ledger"],
                    args.writers,
                    args.seconds,
                    args.per_commit,
                    home=Path(home),
                )
            bulk(urls["bench_bulk"], args.bulk)
        finally:
            with admin.begin() as conn:
                for schema in ("bench_ledger", "bench_bulk"):
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
