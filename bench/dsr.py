"""Data-subject request benchmark (issue 12): the access package of a member with 1,000
items and the erasure of 1,000 members, on the 100k-member demo, through the request
queue, with times, CPU and peak RSS.

Builds a demo platform (``--members``, ``--posts``; the issue's size is 100k members and
1M posts), a snapshot of ``share_with_providers`` and a provider export of it (so the
erasure has snapshots to derive and retire, export files to shred and deletion notices
to queue), then:

1. **access**: gives one member exactly ``--items`` content items, opens, verifies and
   completes an access request (``optin dsr complete``: the zip with index.html,
   data.json and a receipt per consent event);
2. **erasure**: opens ``--erase`` erasure requests (admin channel, identity check
   recorded) for members with records in the snapshot and the export, and completes
   them in one pass (``optin dsr complete ID ID ...`` =
   :func:`optin.services.dsr.complete_erasures` ->
   :func:`optin.services.erasure.erase_members`: one scan of the other members' texts,
   one derivation per snapshot, one compaction);
3. ``--single K``: completes K more erasure requests one by one (``optin dsr complete
   ID`` each: its own scan, derivation and compaction) and prints p50 / p99 / max.

    python bench/dsr.py                                      # 100k members, 1M posts
    python bench/dsr.py --members 20000 --posts 200000       # a fifth of it
    python bench/dsr.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

Every figure is measured in this process on the machine it runs on: wall time, CPU time
of this process and of its worker processes, and peak RSS. The machine may be shared:
the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from optin.services import dsr, provider_exports, providers
from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import ContentRow, SnapshotRecordRow
from optin.storage.provider_models import DeletionNoticeRow, ExportRecordRow

PURPOSE = "share_with_providers"
RECIPIENT = "Azure OpenAI Service (Microsoft)"


def _rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    w, c = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - w, _cpu() - c


def _say(label: str, wall: float | None = None, cpu: float | None = None, extra: str = "") -> None:
    own, kids = _rss_mb()
    t = f"wall {wall:8.2f} s  cpu {cpu:8.2f} s" if wall is not None and cpu is not None else ""
    print(
        f"{label:<46} {t:<32} {extra}  [peak RSS {own:,.0f} MB, workers {kids:,.0f} MB]",
        flush=True,
    )


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _member_with_items(db: Database, items: int, now: datetime) -> str:
    """The member with the most content but at most ``items`` items, topped up to
    exactly ``items``."""
    with db.session() as s:
        mid, have = s.execute(
            select(ContentRow.author_id, func.count())
            .group_by(ContentRow.author_id)
            .having(func.count() <= items)
            .order_by(func.count().desc(), ContentRow.author_id)
            .limit(1)
        ).one()
        extra = [
            {
                "id": f"bench-dsr-{mid}-{i}",
                "author_id": mid,
                "kind": "post",
                "visibility": "public",
                "text": f"Bench post {i}: notes on the week's reading, with a link to nothing.",
                "language": "en",
                "created_at": now - timedelta(minutes=i + 1),
            }
            for i in range(max(0, items - int(have)))
        ]
        if extra:
            s.execute(ContentRow.__table__.insert(), extra)
    return str(mid)


def _access(db: Database, home: Path, mid: str, now: datetime) -> None:
    r = dsr.open_request(db, mid, "access", channel="cli", actor="cli:bench", now=now)
    dsr.verify(db, r.id, method="bench", actor="cli:bench", now=now)
    done, wall, cpu = _timed(lambda: dsr.complete(db, home, r.id, actor="cli:bench", now=now))
    pkg = next((home / dsr.PACKAGES_DIR).glob(f"*{done.id}*.zip"))
    with zipfile.ZipFile(pkg) as z:
        files = len(z.namelist())
        items = len(json.loads(z.read("data.json"))["content"])
        raw = sum(i.file_size for i in z.infolist())
    _say(
        f"access package ({items:,} items)",
        wall,
        cpu,
        f"{items / wall if wall else 0:,.0f} items/s; {pkg.stat().st_size / 1e6:.2f} MB zip "
        f"({raw / 1e6:.2f} MB raw), {files} files",
    )


def _victims(db: Database, snapshot_id: str, export_id: str, n: int, skip: str) -> list[str]:
    """Members with records in the snapshot and the export (the access member left out)."""
    with db.session() as s:
        in_snap = set(
            s.execute(
                select(SnapshotRecordRow.author_id).where(
                    SnapshotRecordRow.snapshot_id == snapshot_id
                )
            ).scalars()
        )
        exported = set(
            s.execute(
                select(ExportRecordRow.member_id).where(ExportRecordRow.export_id == export_id)
            ).scalars()
        )
    return sorted((in_snap & exported) - {skip})[:n]


def _open_erasures(db: Database, ids: list[str], now: datetime) -> list[str]:
    return [
        dsr.open_request(
            db, mid, "erasure", channel="admin", actor="admin:bench", now=now,
            identity_method="video call, ID document seen",
        ).id
        for mid in ids
    ]  # fmt: skip


def _counts(db: Database) -> tuple[int, int]:
    with db.session() as s:
        notices = int(s.scalar(select(func.count()).select_from(DeletionNoticeRow)) or 0)
        items = int(s.scalar(select(func.count()).select_from(ContentRow)) or 0)
    return notices, items


def _size(db: Database, home: Path) -> str:
    if db.dialect == "sqlite":
        sizes = [(home / n).stat().st_size if (home / n).exists() else 0
                 for n in ("optin.db", "optin.db-wal")]  # fmt: skip
        return f"db {sizes[0] / 1e6:,.1f} MB + wal {sizes[1] / 1e6:,.1f} MB"
    return "db: PostgreSQL"


def _erase_batch(db: Database, home: Path, ids: list[str], now: datetime) -> None:
    if not ids:
        print("erasure: no member has records in both the snapshot and the export", flush=True)
        return
    rids, wall, cpu = _timed(lambda: _open_erasures(db, ids, now))
    _say(f"open {len(rids):,} erasure requests", wall, cpu, f"{len(rids) / wall:,.0f} requests/s")
    notices0, items0 = _counts(db)
    done, wall, cpu = _timed(
        lambda: dsr.complete_erasures(db, home, rids, actor="cli:bench", now=now)
    )
    notices1, items1 = _counts(db)
    assert all(r.state == "completed" for r in done), "an erasure request was not completed"
    warn = sorted({w for r in done for w in r.warnings})
    _say(
        f"erase {len(done):,} members (one pass)",
        wall,
        cpu,
        f"{len(done) / wall:,.1f} members/s; {items0 - items1:,} content items deleted "
        f"({(items0 - items1) / wall:,.0f} items/s); {notices1 - notices0:,} deletion "
        f"notice(s) queued; compaction {'INCOMPLETE: ' + warn[0] if warn else 'complete'}",
    )
    _say("database after", extra=_size(db, home))


def _erase_single(db: Database, home: Path, ids: list[str], now: datetime) -> None:
    if not ids:
        return
    times: list[float] = []
    cpu_total = 0.0
    for i, rid in enumerate(_open_erasures(db, ids, now)):
        at = now + timedelta(seconds=i + 1)
        _done, wall, cpu = _timed(
            lambda rid=rid, at=at: dsr.complete(db, home, rid, actor="cli:bench", now=at)
        )
        times.append(wall)
        cpu_total += cpu
    times.sort()
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    _say(
        f"erase {len(times):,} members one request each",
        sum(times),
        cpu_total,
        f"per request p50 {statistics.median(times):.2f} s, p99 {p99:.2f} s, max {times[-1]:.2f} s",
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=1_000, help="content items of the member")
    ap.add_argument("--erase", type=int, default=1_000, help="members erased in one pass")
    ap.add_argument("--single", type=int, default=0, help="members erased one request each")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--home", type=Path, default=None, help="data directory (default: temp)")
    ap.add_argument("--database-url", default=None, help="default: SQLite in the home")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="optin-bench-dsr-"))
    settings = Settings(home=home, database_url=args.database_url)
    db = Database.open(settings)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    print(
        f"optin bench/dsr: {args.members:,} members, {args.posts:,} posts; access package "
        f"of {args.items:,} items; erase {args.erase:,} in one pass and {args.single} one by "
        f"one; {args.workers} worker(s); {db.dialect}; home {home}; load average {_load()}",
        flush=True,
    )
    _r, wall, cpu = _timed(
        lambda: generate_demo(
            db, members=args.members, posts=args.posts, seed=args.seed, now=now, accounts=False
        )
    )
    _say("demo", wall, cpu, _size(db, home))
    snap, wall, cpu = _timed(
        lambda: build_snapshot(db, settings, PURPOSE, now=now, workers=args.workers)
    )
    _say("snapshot build", wall, cpu, f"{snap.records:,} records")
    providers.add_provider(db, RECIPIENT, webhook_url="http://127.0.0.1:9/hook", now=now)
    exp, wall, cpu = _timed(
        lambda: provider_exports.create_export(
            db, settings, snap.snapshot_id, RECIPIENT, "hf-parquet", now=now, actor="bench"
        )
    )
    _say("provider export", wall, cpu, f"{exp.records:,} records")
    mid = _member_with_items(db, args.items, now)
    _access(db, home, mid, now + timedelta(minutes=1))
    victims = _victims(db, snap.snapshot_id, exp.id, args.erase + args.single, mid)
    _erase_batch(db, home, victims[: args.erase], now + timedelta(minutes=30))
    _erase_single(db, home, victims[args.erase :], now + timedelta(minutes=40))
    print(f"load average at the end {_load()}", flush=True)
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
