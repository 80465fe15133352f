"""Withdrawal propagation benchmark: 1,000 withdrawals on a demo platform's snapshot.

Builds a demo platform and one snapshot, then has N members with records in it withdraw
(each through ``record_consent``, which propagates), and prints:

- the time of the withdrawals (each marking the affected snapshot stale), and of one
  propagation over all N members at once (``optin lineage refresh`` does this for every
  member);
- the time to derive the child snapshot without their records
  (``optin snapshot derive --drop-ineligible``), and of a full rebuild of the same
  snapshot at the same time (target: derive >= 20x faster);
- the verify of the child (no personal-data rescan) and peak RSS (this process, and the
  build's worker processes).

    python bench/propagation.py                                  # 20k members, 200k posts
    python bench/propagation.py --members 100000 --posts 1000000 # the issue's target size
    python bench/propagation.py --home ./data --reuse            # an existing demo home

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

from optin.services.consent import record_consent
from optin.services.demo import generate_demo
from optin.services.derive import derive_snapshot
from optin.services.propagation import propagate
from optin.services.snapshots import build_snapshot, get_snapshot
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import SnapshotRecordRow

PURPOSE = "train_own_models"


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
        f"{w_s / max(1, len(chosen)) * 1000:.1f} ms each",
    )
    sm = get_snapshot(db, parent.snapshot_id)
    assert sm.status == "stale" and sm.stale_records == affected, (sm.status, sm.stale_records)
    _say("  snapshot state", None, f"{sm.status}: {sm.stale_records:,} records stale")

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
        f"(target >= 20x); child {child.records:,} vs rebuild {rebuilt.records:,} records"
    )
    db.dispose()
    return 0 if rep.status == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
