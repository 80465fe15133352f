"""Deletion-notice delivery: throughput and latency to a provider stub on 127.0.0.1.

The stub (``tests/provider_stub.py``) runs in its own process, as a provider would, and
verifies every Ed25519 signature and stores notices by idempotency key.

1. **burst**: ``--notices`` notices (one record each) are enqueued through the real
   propagation path (``enqueue_notices``: lock, stale marking, outbox row), then one
   ``OutboxWorker.run(once=True)`` drains them: prints notices/s (target >= 500).
2. **steady**: a producer enqueues ``--rate`` notices/s for ``--seconds`` while the
   worker runs in its background thread (as inside ``optin serve``): prints the p50/p99
   delivery latency from the enqueue commit to the stub's receipt.

    .venv/bin/python bench/notices.py --backend sqlite
    .venv/bin/python bench/notices.py --backend postgresql --notices 10000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.provider_stub import ProviderStub

from optin.services import providers
from optin.services.outbox import OutboxWorker, RetryPolicy
from optin.services.provider_exports import enqueue_notices
from optin.services.setup import Database, init_database
from optin.settings import Settings
from optin.storage.repos import providers as repo

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA = "bench_notices"


def _now() -> datetime:
    return datetime.now(UTC)


def _serve(public_key: str, port: int, stop: object) -> None:
    stub = ProviderStub(public_key, port=port).up()
    stop.wait()  # type: ignore[attr-defined]
    stub.down()


class RemoteStub:
    """The stub in a child process; read through its GET /stats and /dump."""

    def __init__(self, public_key: str) -> None:
        self.port = ProviderStub(public_key).port
        self.url = f"http://127.0.0.1:{self.port}/optin/notices"
        self._stop = mp.Event()
        self._proc = mp.Process(target=_serve, args=(public_key, self.port, self._stop))
        self._proc.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the provider stub did not start")

    def _get(self, path: str) -> object:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as r:
            return json.loads(r.read())

    def stats(self) -> dict[str, int]:
        out = self._get("/stats")
        assert isinstance(out, dict)
        return out

    def dump(self) -> dict[str, list[object]]:
        out = self._get("/dump")
        assert isinstance(out, dict)
        return out

    def down(self) -> None:
        self._stop.set()
        self._proc.join(10)


def _setup(db: Database, stub: RemoteStub, records: int) -> str:
    """A provider and one export with ``records`` records; returns the export id."""
    now = _now()
    with db.session() as s:
        p = repo.add_provider(
            s,
            provider_id="prv_bench",
            name="Bench AI",
            webhook_url=stub.url,
            deadline_days=30,
            created_at=now,
        )
        repo.add_export(
            s,
            id="exp-bench",
            provider_id=p.id,
            snapshot_id="snap-bench",
            format="hf-parquet",
            created_at=now,
            created_by="bench",
            path="exports/exp-bench",
            record_count=records,
            policy_version=1,
            legal_basis="consent",
            consent_events=records,
            status="complete",
            stale_count=0,
            manifest_sha256="0" * 64,
            sharing_record="{}",
        )
        repo.insert_export_records(
            s,
            "exp-bench",
            (
                {
                    "record_id": f"r{i:08d}",
                    "member_id": f"m{i}",
                    "content_id": f"c{i}",
                    "consent_event_id": None,
                }
                for i in range(records)
            ),
        )
    return "exp-bench"


def _enqueue(db: Database, record_ids: list[str], per_tx: int = 200) -> list[float]:
    """One notice per record; returns the commit time of each notice's transaction."""
    times: list[float] = []
    for i in range(0, len(record_ids), per_tx):
        chunk = record_ids[i : i + per_tx]
        with db.session() as s:
            for rid in chunk:
                enqueue_notices(s, "exp-bench", [rid], reason="bench", now=_now())
        t = time.time()
        times.extend([t] * len(chunk))
    return times


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def burst(
    db: Database, settings: Settings, stub: RemoteStub, n: int, args: argparse.Namespace
) -> dict[str, float]:
    ids = [f"r{i:08d}" for i in range(n)]
    t0 = time.perf_counter()
    _enqueue(db, ids)
    enqueue_s = time.perf_counter() - t0
    worker = OutboxWorker(
        db,
        settings,
        clock=_now,
        policy=RetryPolicy(timeout_seconds=10),
        batch=args.batch,
        concurrency=args.concurrency,
    )
    t0 = time.perf_counter()
    try:
        result = worker.run(once=True)
    finally:
        worker.close()
    seconds = time.perf_counter() - t0
    st = stub.stats()
    assert result.delivered == n and st["notices"] == n, (result, st)
    assert st["bad_signatures"] == 0
    return {
        "notices": n,
        "enqueue_per_s": n / enqueue_s,
        "seconds": seconds,
        "notices_per_s": n / seconds,
        "duplicates": st["duplicates"],
    }


def steady(
    db: Database, settings: Settings, stub: RemoteStub, first: int, args: argparse.Namespace
) -> dict[str, float]:
    worker = OutboxWorker(
        db,
        settings,
        clock=_now,
        batch=args.batch,
        concurrency=args.concurrency,
        poll_seconds=0.01,
    )
    worker.start()
    enqueued: dict[str, float] = {}
    tick = 0.05
    per_tick = max(1, int(args.rate * tick))
    next_id = first
    t_end = time.monotonic() + args.seconds
    before = set(stub.dump())
    try:
        while time.monotonic() < t_end:
            t_tick = time.monotonic()
            ids = [f"r{i:08d}" for i in range(next_id, next_id + per_tick)]
            next_id += per_tick
            for rid, t in zip(ids, _enqueue(db, ids, per_tx=per_tick), strict=True):
                enqueued[rid] = t
            time.sleep(max(0.0, tick - (time.monotonic() - t_tick)))
        deadline = time.monotonic() + 30
        while stub.stats()["notices"] - len(before) < len(enqueued):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        worker.stop()
    lat = []
    for key, (received, record_ids) in stub.dump().items():
        if key in before:
            continue
        [rid] = record_ids  # type: ignore[misc]
        lat.append(float(received) - enqueued[str(rid)])  # type: ignore[arg-type]
    return {
        "notices": len(enqueued),
        "delivered": len(lat),
        "rate_per_s": len(enqueued) / args.seconds,
        "p50_ms": _pct(lat, 50) * 1000,
        "p99_ms": _pct(lat, 99) * 1000,
        "max_ms": max(lat) * 1000 if lat else float("nan"),
    }


def _run(url: str, home: Path, args: argparse.Namespace, label: str) -> None:
    settings = Settings(home=home, database_url=url)
    db = Database(url, home=home)
    init_database(db, now=_now())
    stub = RemoteStub(providers.public_key_info(settings)["public_key"])
    try:
        total = args.notices + int(args.rate * args.seconds) + 100
        _setup(db, stub, total)
        b = burst(db, settings, stub, args.notices, args)
        print(
            f"[{label}] burst (batch {args.batch}, {args.concurrency} connections): "
            f"{b['notices']:,} notices delivered in {b['seconds']:.2f}s = "
            f"{b['notices_per_s']:,.0f} notices/s (target >= 500; enqueue "
            f"{b['enqueue_per_s']:,.0f}/s; duplicates at the stub {b['duplicates']})"
        )
        s = steady(db, settings, stub, args.notices, args)
        print(
            f"[{label}] steady: {s['notices']:,} notices at {s['rate_per_s']:,.0f}/s, "
            f"{s['delivered']:,} delivered; latency enqueue->provider p50 "
            f"{s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, max {s['max_ms']:.1f} ms"
        )
    finally:
        stub.down()
        db.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--notices", type=int, default=2000, help="burst size")
    ap.add_argument("--rate", type=float, default=100.0, help="steady enqueue rate (/s)")
    ap.add_argument("--seconds", type=float, default=5.0, help="steady phase length")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--pg-url", default=PG_URL)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            home = Path(tmp) / "sqlite"
            home.mkdir()
            _run(f"sqlite:///{home / 'optin.db'}", home, args, "sqlite")
        if args.backend in ("postgresql", "both"):
            admin = create_engine(args.pg_url)
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
                conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
            url = make_url(args.pg_url).update_query_dict({"options": f"-csearch_path={SCHEMA}"})
            home = Path(tmp) / "pg"
            home.mkdir()
            try:
                _run(url.render_as_string(hide_password=False), home, args, "postgresql")
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
                admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
