"""Time ``optin demo`` at a given size and print wall time, peak RSS and throughput.

    .venv/bin/python bench/demo.py                       # default size (2,000 / 10,000)
    .venv/bin/python bench/demo.py --members 100000 --posts 1000000
    .venv/bin/python bench/demo.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench

SQLite runs in a fresh temporary data directory (kept with --keep). With
--database-url the database must be empty (a fresh schema or database).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from optin.services.demo import generate_demo
from optin.storage.database import Database


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--posts", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="optin-bench-demo-"))
    url = args.database_url or f"sqlite:///{home / 'optin.db'}"
    db = Database(url, home=home)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    summary = generate_demo(db, members=args.members, posts=args.posts, seed=args.seed, now=now)
    wall = time.perf_counter() - t0
    db.dispose()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    db_file = home / "optin.db"
    gt = home / "demo" / "ground_truth.jsonl"
    out = {
        "backend": url.split(":", 1)[0],
        "members": args.members,
        "posts": args.posts,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(rss_mb, 1),
        "content_per_s": round(args.posts / wall) if wall else None,
        "ledger_events": summary.ledger_events,
        "phases_s": summary.timings,
        "db_mb": round(db_file.stat().st_size / 2**20, 1) if db_file.exists() else None,
        "ground_truth_mb": round(gt.stat().st_size / 2**20, 1) if gt.exists() else None,
        "pii_spans": sum(summary.pii_by_label.values()),
        "eligible": summary.eligible,
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:16} {v}")
    if args.keep:
        print(f"data directory kept: {home}", file=sys.stderr)
    else:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
