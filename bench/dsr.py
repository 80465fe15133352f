"""Data-subject request benchmark: the access package of a member with 1,000 items on a
demo platform, and (where this build has the erasure engine) erasure of N members.

Builds a demo platform (or reuses one), gives one member exactly ``--items`` content
items, builds a snapshot so lineage has something to say, then opens, verifies and
completes an access request for that member (``optin dsr complete``: the package zip
with index.html, data.json and a receipt per consent event) and prints the time, the
package size and peak RSS.

    python bench/dsr.py                                   # 20k members, 200k posts
    python bench/dsr.py --members 100000 --posts 1000000  # the issue's target size
    python bench/dsr.py --erase 1000                      # + erasure of 1,000 members

ERASURE SECTION (``--erase N``): calls ``optin.services.erasure.erase_member`` for N
members when that module is importable; in a build without it, it prints that erasure
is not available in this build and measures nothing.

Every figure is measured in this process on the machine it runs on.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from optin.services import dsr
from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import ContentRow, MemberRow


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _say(label: str, seconds: float | None = None, extra: str = "") -> None:
    t = f"{seconds:9.2f} s" if seconds is not None else " " * 11
    print(f"{label:<44} {t}  {extra}  [peak RSS {_rss_mb():,.0f} MB]", flush=True)


def _member_with_items(db: Database, items: int, now: datetime) -> str:
    """The member with the most content, topped up to exactly ``items`` items."""
    with db.session() as s:
        mid, have = s.execute(
            select(ContentRow.author_id, func.count())
            .group_by(ContentRow.author_id)
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
    t0 = time.perf_counter()
    done = dsr.complete(db, home, r.id, actor="cli:bench", now=now)
    dt = time.perf_counter() - t0
    pkg = next((home / dsr.PACKAGES_DIR).glob(f"*{done.id}*.zip"))
    with zipfile.ZipFile(pkg) as z:
        files = len(z.namelist())
        items = len(json.loads(z.read("data.json"))["content"])
        raw = sum(i.file_size for i in z.infolist())
    _say(
        f"access package ({items:,} items)",
        dt,
        f"{pkg.stat().st_size / 1e6:.2f} MB zip ({raw / 1e6:.2f} MB raw), {files} files",
    )


def _erase(db: Database, home: Path, n: int, now: datetime) -> None:
    """ERASURE SECTION: only where the erasure engine is part of this build."""
    try:
        from optin.services.erasure import erase_member  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        print(
            f"erasure of {n:,} members: not available in this build "
            "(optin.services.erasure is not installed)",
            flush=True,
        )
        return
    with db.session() as s:
        ids = list(
            s.scalars(
                select(MemberRow.id)
                .where(MemberRow.role == "member")
                .order_by(MemberRow.id)
                .limit(n)
            )
        )
    t0 = time.perf_counter()
    for i, mid in enumerate(ids):
        r = dsr.open_request(
            db, mid, "erasure", channel="cli", actor="cli:bench", now=now, identity_method="bench"
        )
        erase_member(db, mid, now=now, request_id=r.id, actor="cli:bench")
        if (i + 1) % 100 == 0:
            _say(f"  erased {i + 1:,}", time.perf_counter() - t0)
    _say(f"erasure of {len(ids):,} members", time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--posts", type=int, default=200_000)
    ap.add_argument("--items", type=int, default=1_000, help="content items of the member")
    ap.add_argument("--home", type=Path, default=None, help="data directory (default: temp)")
    ap.add_argument("--reuse", action="store_true", help="reuse the demo in --home")
    ap.add_argument("--erase", type=int, default=0, metavar="N", help="also erase N members")
    args = ap.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="optin-bench-dsr-"))
    settings = Settings(home=home)
    db = Database.open(settings)
    now = datetime.now(UTC)
    print(f"optin bench/dsr: home {home}, load average {os.getloadavg()}", flush=True)
    if not args.reuse:
        t0 = time.perf_counter()
        generate_demo(db, members=args.members, posts=args.posts, seed=7, now=now, accounts=False)
        _say(f"demo ({args.members:,} members, {args.posts:,} posts)", time.perf_counter() - t0)
        t0 = time.perf_counter()
        build_snapshot(db, settings, "train_own_models", engine="inline", now=now)
        _say("snapshot (lineage to report)", time.perf_counter() - t0)
    mid = _member_with_items(db, args.items, now)
    _access(db, home, mid, now + timedelta(seconds=1))
    if args.erase:
        _erase(db, home, args.erase, now + timedelta(seconds=2))
    print(f"load average at the end {os.getloadavg()}", flush=True)
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
