"""Withdrawal propagation benchmark: 1,000 withdrawals on a demo platform's snapshot.

Builds a demo platform, one ``share_with_providers`` snapshot and an export of it to a
provider whose webhook is the provider stub (``tests/provider_stub.py``, in its own
process, verifying every signature), then has N members with records in it withdraw
(each through ``record_consent``, which propagates), and prints:

- the time of the withdrawals (each marking the affected snapshot and export stale and
  writing a deletion notice to the outbox), and of one propagation over all N members at
  once (``optin lineage refresh`` does this for every member);
- notice throughput: the outbox worker delivering the N notices to the stub
  (target >= 500 notices/s; ``bench/notices.py`` measures bursts and latency in depth);
- the time to derive the child snapshot without their records
  (``optin snapshot derive --drop-ineligible``), and of a full rebuild of the same
  snapshot at the same time (target: derive >= 20x faster);
- the verify of the child (no personal-data rescan) and peak RSS (this process, and the
  build's worker processes).

    python bench/propagation.py                                  # 20k members, 200k posts
    python bench/propagation.py --members 100000 --posts 1000000 # the issue's target size

Every figure is measured in this process on the machine it runs on.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.notices import RemoteStub

from optin.services import providers
from optin.services.consent import record_consent
from optin.services.demo import generate_demo
from optin.services.derive import derive_snapshot
from optin.services.outbox import OutboxWorker, RetryPolicy
from optin.services.propagation import propagate
from optin.services.provider_exports import create_export, get_export
from optin.services.snapshots import build_snapshot, get_snapshot
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import SnapshotRecordRow

PURPOSE = "share_with_providers"
PROVIDER = "Azure OpenAI Service (Microsoft)"


def _rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def _say(label: str, seconds: float | None = None, extra: str = "") -> None:
    own, kids = _rss_mb()
    t = f"{seconds:9.2f} s" if seconds is not None else " " * 11
    print(f"{label:<44} {t}  {extra}  [peak RSS {own:,.0f} MB, workers {kids:,.0f} MB]", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--posts", type=int, default=200_000)
    ap.add_argument("--withdrawals", type=int, default=1_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--engine", default="local")
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=500, help="outbox batch")
    ap.add_argument("--concurrency", type=int, default=16, help="outbox connections")
    args = ap.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="optin-bench-prop-"))
    settings = Settings(home=home)
    db = Database.open(settings)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    print(
        f"size: {args.members:,} members, {args.posts:,} posts, {args.withdrawals:,} "
        f"withdrawals; engine {args.engine}, {args.workers} worker(s); home {home}"
    )

    t = time.perf_counter()
    generate_demo(
        db, members=args.members, posts=args.posts, seed=args.seed, now=t0, accounts=False
    )
    _say("demo platform", time.perf_counter() - t)

    t = time.perf_counter()
    parent = build_snapshot(
        db, settings, PURPOSE, as_of=t0, engine=args.engine, workers=args.workers, now=t0
    )
    build_s = time.perf_counter() - t
    _say("snapshot build", build_s, f"{parent.records:,} records")

    stub = RemoteStub(providers.public_key_info(settings)["public_key"])
    try:
        return _after_build(db, settings, args, parent, build_s, stub, t0)
    finally:
        stub.down()
        db.dispose()


def _after_build(db, settings, args, parent, build_s, stub, t0) -> int:  # type: ignore[no-untyped-def]
    providers.add_provider(db, PROVIDER, webhook_url=stub.url, now=t0)
    t = time.perf_counter()
    export = create_export(
        db, settings, parent.snapshot_id, PROVIDER, "hf-parquet", now=t0, actor="bench"
    )
    _say("export create (hf-parquet)", time.perf_counter() - t, f"{export.records:,} records")

    with db.session() as s:
        authors = Counter(
            s.execute(
                select(SnapshotRecordRow.author_id).where(
                    SnapshotRecordRow.snapshot_id == parent.snapshot_id
                )
            ).scalars()
        )
    rng = random.Random(args.seed)
    chosen = rng.sample(sorted(authors), min(args.withdrawals, len(authors)))
    affected = sum(authors[a] for a in chosen)

    at = t0 + timedelta(minutes=10)
    t = time.perf_counter()
    for mid in chosen:
        record_consent(db, mid, PURPOSE, "withdraw", source="cli", at=at, now=at)
    w_s = time.perf_counter() - t
    _say(
        f"{len(chosen):,} withdrawals (each propagates)",
        w_s,
        f"{w_s / max(1, len(chosen)) * 1000:.1f} ms each (snapshot + export stale, notice)",
    )
    sm = get_snapshot(db, parent.snapshot_id)
    assert sm.status == "stale" and sm.stale_records == affected, (sm.status, sm.stale_records)
    _say("  snapshot state", None, f"{sm.status}: {sm.stale_records:,} records stale")
    ex = get_export(db, export.id)
    assert ex.status == "stale" and 0 < ex.stale_count <= affected, (ex.status, ex.stale_count)
    _say("  export state", None, f"{ex.status}: {ex.stale_count:,} records to purge")

    worker = OutboxWorker(
        db,
        settings,
        clock=lambda: datetime.now(UTC),
        policy=RetryPolicy(timeout_seconds=10),
        batch=args.batch,
        concurrency=args.concurrency,
    )
    t = time.perf_counter()
    try:
        sent = worker.run(once=True)
    finally:
        worker.close()
    send_s = time.perf_counter() - t
    st = stub.stats()
    assert sent.delivered == st["notices"] == len(chosen), (sent, st)
    assert st["bad_signatures"] == 0, st
    _say(
        f"deliver {sent.delivered:,} notices to the stub",
        send_s,
        f"{sent.delivered / send_s:,.0f} notices/s (target >= 500; batch {args.batch}, "
        f"{args.concurrency} connections; {st['duplicates']} duplicates)",
    )

    t = time.perf_counter()
    propagate(db, member_ids=chosen, reason="refresh", now=at)
    mark_s = time.perf_counter() - t
    _say(f"mark stale: one propagation of {len(chosen):,} members", mark_s)

    later = t0 + timedelta(minutes=20)
    t = time.perf_counter()
    child = derive_snapshot(db, settings, parent.snapshot_id, now=later)
    derive_s = time.perf_counter() - t
    _say(
        "derive child (--drop-ineligible)",
        derive_s,
        f"{child.records:,} records, {child.removed:,} removed; "
        + ", ".join(f"{k} {v:.2f}s" for k, v in child.timings.items()),
    )

    t = time.perf_counter()
    rep = verify_snapshot(db, settings, child.snapshot_id, now=later, rescan=False)
    _say("verify child (no rescan)", time.perf_counter() - t, rep.status)

    t = time.perf_counter()
    rebuilt = build_snapshot(
        db, settings, PURPOSE, as_of=t0, engine=args.engine, workers=args.workers, now=later
    )
    rebuild_s = time.perf_counter() - t
    _say("full rebuild of the same snapshot", rebuild_s, f"{rebuilt.records:,} records")
    print(
        f"derive is {rebuild_s / derive_s:,.1f}x faster than a full rebuild "
        f"(target >= 20x); child {child.records:,} vs rebuild {rebuilt.records:,} records; "
        f"first build {build_s:.2f} s"
    )
    return 0 if rep.status == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
