"""Erasure benchmark: N members erased on a demo platform with a snapshot and an export.

Builds a demo platform (``--members``, ``--posts``), a snapshot of
``share_with_providers`` and a provider export of it, then erases ``--erase`` members
who have records in that snapshot, in one batch (``erase_members``: one scan of the
other members' texts, one propagation, one derivation per snapshot, one compaction), and
prints the time of each phase, the counts, and peak RSS. ``--single K`` also times K
one-member erasures (``erase_member``, each with its own compaction).

    python bench/erasure.py                                     # 20k members, 200k posts
    python bench/erasure.py --members 100000 --posts 1000000    # the issue's target size
    python bench/erasure.py --members 2000 --posts 20000 --erase 100

Every figure is measured in this process on the machine it runs on; the machine may be
shared, so print ``uptime`` next to them.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from optin.services import provider_exports, providers
from optin.services.demo import generate_demo
from optin.services.erasure import erase_member, erase_members
from optin.services.snapshots import build_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import SnapshotRecordRow
from optin.storage.provider_models import DeletionNoticeRow

PURPOSE = "share_with_providers"
RECIPIENT = "Azure OpenAI Service (Microsoft)"


def _rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def _say(label: str, seconds: float | None = None, extra: str = "") -> None:
    own, kids = _rss_mb()
    t = f"{seconds:9.2f} s" if seconds is not None else " " * 11
    print(f"{label:<40} {t}  {extra}  [peak RSS {own:,.0f} MB, workers {kids:,.0f} MB]", flush=True)


def _size(db: Database, home: Path) -> str:
    if db.dialect == "sqlite":
        sizes = [(home / n).stat().st_size if (home / n).exists() else 0
                 for n in ("optin.db", "optin.db-wal")]  # fmt: skip
        return f"db {sizes[0] / 1e6:,.1f} MB + wal {sizes[1] / 1e6:,.1f} MB"
    return "db: PostgreSQL"


def _notices(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(DeletionNoticeRow)) or 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--posts", type=int, default=200_000)
    ap.add_argument("--erase", type=int, default=1_000, help="members erased in one batch")
    ap.add_argument("--single", type=int, default=0, help="one-member erasures timed after")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="optin-bench-erase-"))
    settings = Settings(home=home)
    db = Database.open(settings)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    print(
        f"size: {args.members:,} members, {args.posts:,} posts; erase {args.erase:,} in one "
        f"batch, {args.single} one by one; {args.workers} worker(s); home {home}; "
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}",
        flush=True,
    )
    t = time.perf_counter()
    generate_demo(
        db, members=args.members, posts=args.posts, seed=args.seed, now=now, accounts=False
    )
    _say("demo", time.perf_counter() - t, _size(db, home))
    t = time.perf_counter()
    snap = build_snapshot(db, settings, PURPOSE, now=now, workers=args.workers)
    _say("snapshot build", time.perf_counter() - t, f"{snap.records:,} records")
    providers.add_provider(db, RECIPIENT, webhook_url="http://127.0.0.1:9/hook", now=now)
    t = time.perf_counter()
    exp = provider_exports.create_export(
        db, settings, snap.snapshot_id, RECIPIENT, "hf-parquet", now=now, actor="bench"
    )
    _say("export", time.perf_counter() - t, f"{exp.records:,} records")
    with db.session() as s:
        authors = sorted(
            set(
                s.execute(
                    select(SnapshotRecordRow.author_id).where(
                        SnapshotRecordRow.snapshot_id == snap.snapshot_id
                    )
                ).scalars()
            )
        )
    batch = authors[: args.erase]
    single = authors[args.erase : args.erase + args.single]
    at = now + timedelta(minutes=30)
    t = time.perf_counter()
    reports = erase_members(db, settings, batch, now=at, request_id="bench", actor="bench")
    took = time.perf_counter() - t
    content = sum(r.content_deleted for r in reports)
    r0 = reports[0] if reports else None
    _say(
        f"erase {len(batch):,} members (one batch)",
        took,
        f"{content:,} items deleted, {r0.mentions_rewritten if r0 else 0:,} mentions rewritten, "
        f"{len({s for r in reports for s in r.snapshots_retired})} snapshot(s) retired, "
        f"{_notices(db):,} notice(s) queued; "
        f"{len(batch) / took if took else 0:,.1f} members/s",
    )
    _say("after", None, _size(db, home))
    for i, mid in enumerate(single):
        t = time.perf_counter()
        r = erase_member(db, settings, mid, now=at + timedelta(minutes=1 + i), actor="bench")
        _say(f"erase 1 member ({mid})", time.perf_counter() - t, f"{r.content_deleted} items")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
