"""Transparency log throughput, proof latency and full verification (issue 13).

1. **Appends with the log**: for ``--seconds``, batches of ``--batch`` events are appended
   with ``append_many`` (one transaction each) while the background checkpoint publisher
   of ``optin serve`` (:class:`optin.services.log_publisher.CheckpointPublisher`) runs
   in its thread: it integrates the new events into the tree, signs a new checkpoint at
   most every second and has one local witness on 127.0.0.1 cosign it over HTTP. The
   events/s count only events covered by a cosigned checkpoint at the end. Side by
   side: the same batches with the plain chain append only.
2. **Proof latency on a real ledger** of ``--leaves`` events (default 1,000,000; the
   ledger appended, the tree integrated): p50/p99 of inclusion proofs for random leaves
   (one query for the stored subtree hashes each), proof files and consistency proofs.
3. **Full-log verification** of that ledger: recompute the root from the leaf hashes,
   open every readable commitment against its ledger row, check the checkpoint; beside
   it the plain chain verification.
4. **Proof latency at ``--bulk-leaves``** (default 10,000,000): appending 10M ledger
   events and sealing 10M salts takes too long here, so the tree *storage* (every
   stored subtree hash of a 10M-leaf tree over synthetic leaf hashes, the same
   ``tlog_nodes`` table and primary key) is built directly in bulk with COPY in its own
   schema, and proofs are generated from it by the same code as on a real ledger.

    .venv/bin/python bench/log.py --backend postgresql --seconds 10 --leaves 1000000 \
        --bulk-leaves 10000000
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from optin.services import tlog as svc
from optin.services.setup import init_database
from optin.services.witness import WitnessService, make_server
from optin.settings import Settings
from optin.storage import ledger
from optin.storage import tlog as store
from optin.storage.database import Database
from optin.tlog import merkle

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2024, 6, 1, tzinfo=UTC)


def _drafts(start: int, n: int) -> list[ledger.EventDraft]:
    return [
        ledger.EventDraft(
            member_id=f"b{(start + i) % 5000}",
            purpose="train_own_models",
            action="grant" if (start + i) % 2 == 0 else "withdraw",
            at=T0 + timedelta(seconds=start + i),
            policy_version=1,
            source="system",
            personal={"ip": f"10.0.0.{i % 250}"} if i % 4 == 0 else None,
        )
        for i in range(n)
    ]


def _now() -> datetime:
    return datetime.now(UTC)


def appends(db: Database, settings: Settings | None, seconds: float, batch: int) -> int:
    """Appended events/s for ``seconds``; with the log (the background publisher and its
    witness) when ``settings`` is given."""
    from optin.services.log_publisher import CheckpointPublisher

    warm = _warm_up(db, settings)
    pub = CheckpointPublisher(db, settings, clock=_now) if settings is not None else None
    if pub is not None:
        pub.start()
    n = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    while time.perf_counter() - t0 < seconds:
        with db.session() as s:
            ledger.append_many(s, _drafts(n, batch), now=_now())
        n += batch
    run_s = time.perf_counter() - t0
    extra = ""
    if pub is not None and settings is not None:
        while True:  # until the publisher has a cosigned checkpoint of every event
            with db.session() as s:
                cp = store.latest_checkpoint(s)
            if cp is not None and cp.size == warm + n and cp.cosigners:
                break
            time.sleep(0.01)
        pub.stop()
        with db.session() as s:
            cps = store.checkpoints(s, limit=100_000)
        cosigned = sum(1 for c in cps if c.cosigners)
        gaps = [(a.created_at - b.created_at).total_seconds() for a, b in itertools.pairwise(cps)]
        extra = (
            f"; {pub.published} checkpoints signed by the publisher during the run, "
            f"{cosigned} of {len(cps)} cosigned by {', '.join(cps[0].cosigners)}, min gap "
            f"{min(gaps, default=0):.2f} s; appended at {n / run_s:,.0f} events/s while "
            "the publisher ran (the rate shown counts until the final cosigned checkpoint)"
        )
    el = time.perf_counter() - t0
    cpu = time.process_time() - c0
    mode = "chain + tree + checkpoints/1 s + witness" if settings else "plain chain append"
    print(
        f"  {mode:42s} {n:>9,} events in {el:5.1f} s wall ({cpu:5.1f} s process CPU, all "
        f"threads) = {n / el:>8,.0f} events/s{extra}"
    )
    return n


def _warm_up(db: Database, settings: Settings | None) -> int:
    """One event with personal data for each of the 5,000 bench members, untimed, so
    every member has its key (as members of a running platform do) and key creation
    (a file each) is not what is measured; with the log, integrated and checkpointed."""
    drafts = [
        ledger.EventDraft(
            member_id=f"b{i}",
            purpose="train_own_models",
            action="withdraw",
            at=_now(),
            policy_version=1,
            source="system",
            personal={"ip": "10.0.0.1"},
        )
        for i in range(5000)
    ]
    with db.session() as s:
        ledger.append_many(s, drafts, now=_now())
    if settings is not None:
        svc.publish_checkpoint(db, settings, now=_now(), force=True)
    return len(drafts)


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000


def build(db: Database, settings: Settings, leaves: int) -> None:
    t = time.perf_counter()
    step = 100_000
    done = 0
    while done < leaves:
        k = min(step, leaves - done)
        with db.session() as s:
            ledger.append_many(s, _drafts(10_000_000 + done, k), now=_now())
        done += k
    ta = time.perf_counter() - t
    t = time.perf_counter()
    c = time.process_time()
    svc.integrate(db, now=_now())
    ti = time.perf_counter() - t
    ci = time.process_time() - c
    svc.publish_checkpoint(db, settings, now=_now(), force=True)
    print(
        f"  built: {leaves:,} ledger events in {ta:.1f} s, tree integrated in {ti:.1f} s "
        f"wall ({ci:.1f} s CPU) = {leaves / ti:,.0f} leaves/s"
    )


def _recorder(plan: list[tuple[int, int]]) -> merkle.NodeGetter:
    def get(level: int, idx: int) -> bytes:
        plan.append((level, idx))
        return bytes(32)

    return get


def proofs(db: Database, settings: Settings, samples: int) -> None:
    with db.session() as s:
        size = store.tree_state(s).size
        ids = [
            r[0]
            for r in s.execute(
                text("SELECT event_id FROM tlog_leaves WHERE idx = ANY(:i)")
                if db.dialect == "postgresql"
                else text("SELECT event_id FROM tlog_leaves ORDER BY random() LIMIT :n"),
                {"i": random.sample(range(size), samples)}
                if db.dialect == "postgresql"
                else {"n": samples},
            )
        ]

    def one_gen(s: Any) -> None:
        idx = random.randrange(size)
        plan: list[tuple[int, int]] = []
        merkle.inclusion_proof(_recorder(plan), idx, size)
        assert len(merkle.inclusion_proof(store.node_getter(s, plan), idx, size)) <= 64

    it = iter(ids)
    lat = _timed(samples, lambda: svc.inclusion_proof_file(db, settings, next(it), now=_now()))
    with db.session() as s:  # generation from stored hashes inside an open transaction
        gen = _timed(samples, lambda: one_gen(s))
    raw = _timed(samples, lambda: svc.inclusion(db, random.randrange(size), size))
    cons = _timed(
        max(20, samples // 10), lambda: svc.consistency(db, random.randrange(1, size), size)
    )
    _report(f"{size:,} leaves: inclusion proof generation (open transaction, one query)", gen)
    _report(f"{size:,} leaves: inclusion proof, own transaction (one query)", raw)
    _report(
        f"{size:,} leaves: inclusion proof file (one transaction: leaf + checkpoint, nodes)", lat
    )
    _report(f"{size:,} leaves: consistency proof to the full size", cons)


def _timed(n: int, fn: Callable[[], Any]) -> tuple[list[float], float]:
    """Wall times of ``n`` calls and the process CPU time they took in all."""
    out: list[float] = []
    c = time.process_time()
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out, time.process_time() - c


def _report(what: str, timed: tuple[list[float], float]) -> None:
    xs, cpu = timed
    print(
        f"  {what}: p50 {statistics.median(xs) * 1000:.2f} ms, p99 {_pct(xs, 0.99):.2f} ms "
        f"wall, {cpu / len(xs) * 1000:.2f} ms process CPU each, over {len(xs)}"
    )


def full_verify(db: Database, settings: Settings) -> None:
    t, c = time.perf_counter(), time.process_time()
    r = svc.verify_log(db, settings)
    el, cl = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    with db.session() as s:
        chain = ledger.verify(s)
    ec, cc = time.perf_counter() - t, time.process_time() - c
    print(
        f"  full log verification: {r.size:,} leaves ({r.checked_commitments:,} commitments "
        f"opened) in {el:.1f} s wall ({cl:.1f} s CPU), ok={r.ok}; plain chain verification "
        f"{chain.length:,} events in {ec:.1f} s wall ({cc:.1f} s CPU), ok={chain.ok}"
    )


# -- 4. proofs from a bulk-built 10M-leaf tree storage ----------------------------------


def _bulk_nodes(leaves: int) -> Iterator[str]:
    """COPY text lines of every stored subtree hash of a tree of ``leaves`` synthetic
    leaves, built with the same right-frontier stack as ``storage.tlog.integrate``."""
    stack: list[tuple[int, bytes]] = []
    lines: list[str] = []
    for i in range(leaves):
        h = merkle.leaf_hash(i.to_bytes(8, "big"))
        lines.append(f"0\t{i}\t\\\\x{h.hex()}\n")
        level, idx = 0, i
        while stack and stack[-1][0] == level:
            h = merkle.node_hash(stack.pop()[1], h)
            level, idx = level + 1, idx >> 1
            lines.append(f"{level}\t{idx}\t\\\\x{h.hex()}\n")
        stack.append((level, h))
        if len(lines) >= 50_000:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)
    acc = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        acc = merkle.node_hash(h, acc)
    yield f"ROOT {acc.hex()}"


def bulk(pg_url: str, leaves: int, samples: int) -> None:
    """Proof latency against a bulk-built tree storage of ``leaves`` leaves (PostgreSQL)."""
    import psycopg

    raw = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    t = time.perf_counter()
    root = b""
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_tree CASCADE")
        conn.execute("CREATE SCHEMA bench_tree")
        conn.execute("CREATE TABLE bench_tree.tlog_nodes (level int, idx bigint, hash bytea)")
        conn.execute(
            "CREATE TABLE bench_tree.tlog_state (id int PRIMARY KEY, size bigint, root bytea)"
        )
        with conn.cursor() as cur, cur.copy("COPY bench_tree.tlog_nodes FROM STDIN") as cp:
            for chunk in _bulk_nodes(leaves):
                if chunk.startswith("ROOT "):
                    root = bytes.fromhex(chunk[5:])
                    continue
                cp.write(chunk)
        tc = time.perf_counter() - t
        conn.execute(
            "ALTER TABLE bench_tree.tlog_nodes ADD CONSTRAINT pk_bench_nodes "
            "PRIMARY KEY (level, idx)"
        )
        conn.execute("INSERT INTO bench_tree.tlog_state VALUES (1, %s, %s)", (leaves, root))
        conn.execute("ANALYZE bench_tree.tlog_nodes")
        rows = conn.execute("SELECT count(*) FROM bench_tree.tlog_nodes").fetchone()
        size_mb = conn.execute(
            "SELECT pg_total_relation_size('bench_tree.tlog_nodes') / 1048576"
        ).fetchone()
    print(
        f"  bulk tree storage: {leaves:,} leaves, {rows[0] if rows else 0:,} stored subtree "
        f"hashes ({size_mb[0] if size_mb else 0} MiB with the primary key) by COPY in "
        f"{tc:.0f} s, primary key built in {time.perf_counter() - t - tc:.0f} s"
    )
    url = (
        make_url(pg_url)
        .update_query_dict({"options": "-csearch_path=bench_tree"})
        .render_as_string(hide_password=False)
    )
    db = Database(url)  # the bulk tree holds no salts: no member key store needed
    try:
        _bulk_proofs(db, leaves, root, samples)
    finally:
        db.dispose()
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS bench_tree CASCADE")


def _bulk_proofs(db: Database, size: int, root: bytes, samples: int) -> None:
    def one_gen(s: Any) -> None:
        idx = random.randrange(size)
        plan: list[tuple[int, int]] = []
        merkle.inclusion_proof(_recorder(plan), idx, size)
        p = merkle.inclusion_proof(store.node_getter(s, plan), idx, size)
        leaf = merkle.leaf_hash(idx.to_bytes(8, "big"))
        assert merkle.verify_inclusion(leaf, idx, size, p, root)

    with db.session() as s:  # generation from stored hashes inside an open transaction
        gen = _timed(samples, lambda: one_gen(s))
    own = _timed(samples, lambda: svc.inclusion(db, random.randrange(size), size))
    cons = _timed(
        max(20, samples // 10), lambda: svc.consistency(db, random.randrange(1, size), size)
    )
    server: list[float] = []
    with db.session() as s:  # the node query's execution time inside PostgreSQL
        raw = s.connection().connection.driver_connection
        assert raw is not None
        for _ in range(samples):
            idx = random.randrange(size)
            plan: list[tuple[int, int]] = []
            merkle.inclusion_proof(_recorder(plan), idx, size)
            got = raw.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + store._PG_NODES,
                ([k[0] for k in plan], [k[1] for k in plan]),
            ).fetchone()
            assert got is not None
            server.append(float(got[0][0]["Execution Time"]) / 1000)
    _report(f"{size:,} leaves: inclusion proof generation (open transaction, one query)", gen)
    _report(
        f"{size:,} leaves: the node query's execution inside PostgreSQL (EXPLAIN)", (server, 0.0)
    )
    _report(f"{size:,} leaves: inclusion proof, own transaction (svc.inclusion)", own)
    _report(f"{size:,} leaves: consistency proof to the full size (own transaction)", cons)


def run(url: str, home: Path, args: argparse.Namespace) -> None:
    db = Database(url, home=home)  # home: where the member key store lives
    init_database(db, now=_now())
    base = Settings(home=home, database_url=url, log_origin="bench.optin.local/log")
    svc.keygen(base)
    wkey_file = home / "witness.key"
    wkey, _, _ = svc.keygen(base, path=wkey_file, name="bench.optin.local/w1", alg=0x04)
    witness = WitnessService(wkey_file, home / "witness.state", [svc.log_signer(base).verifier])
    server = make_server(witness, "127.0.0.1", 0, _now)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = base.model_copy(
        update={"log_witnesses": [f"http://127.0.0.1:{server.server_port} {wkey}"]}
    )
    try:
        plain = (
            Database(url.replace("bench_log", "bench_plain"), home=home / "plain")
            if "bench_log" in url
            else None
        )
        if plain is not None and not args.skip_appends:
            init_database(plain, now=_now())
            appends(plain, None, args.seconds, args.batch)
            plain.dispose()
        if not args.skip_appends:
            appends(db, settings, args.seconds, args.batch)
        if args.leaves:
            build(db, settings, args.leaves)
            proofs(db, settings, args.samples)
            full_verify(db, settings)
    finally:
        server.shutdown()
        db.dispose()
    if args.bulk_leaves and url.startswith("postgresql"):
        bulk(args.pg_url, args.bulk_leaves, args.samples)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--leaves", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument(
        "--bulk-leaves",
        type=int,
        default=10_000_000,
        help="Leaves of the bulk-built tree storage for proof latency (PostgreSQL; 0: skip).",
    )
    ap.add_argument(
        "--skip-appends", action="store_true", help="Only the proof and verification parts."
    )
    ap.add_argument("--pg-url", default=PG_URL)
    args = ap.parse_args()
    print(_load("start"))
    try:
        return _main(args)
    finally:
        print(_load("end"))


def _load(when: str) -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average (1, 5, 15 min) at {when}: {one:.2f} {five:.2f} {fifteen:.2f}"


def _main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if args.backend == "sqlite":
            print("[sqlite]")
            plain = Database(f"sqlite:///{home / 'plain.db'}", home=home / "plain")
            init_database(plain, now=_now())
            appends(plain, None, args.seconds, args.batch)
            plain.dispose()
            run(f"sqlite:///{home / 'log.db'}", home, args)
            return 0
        admin = create_engine(args.pg_url)
        schemas = ("bench_log", "bench_plain")
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = (
            make_url(args.pg_url)
            .update_query_dict({"options": "-csearch_path=bench_log"})
            .render_as_string(hide_password=False)
        )
        print("[postgresql]")
        try:
            run(url, home, args)
        finally:
            with admin.begin() as conn:
                for schema in schemas:
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
