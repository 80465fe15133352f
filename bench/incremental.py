"""Incremental snapshot build vs a full build after a small change (issue 15 point 4).

On a demo platform: a full snapshot as of NOW (built an hour later), then 1% new posts
(by random members, texts from the demo's own post composer, created in the next day)
and withdrawals by 0.1% of the members (drawn among the snapshot's authors). Then, at the
same as-of and build times:

- ``optin snapshot build --since PARENT`` (the incremental build), in this process;
- a full build on a copy of the data directory taken after the changes.

Both run with ``--engine inline`` (the shards in this process); CPU is this process's
``time.process_time`` plus the CPU of its finished children (the SQLite eligibility
reader processes, ``RUSAGE_CHILDREN``). Prints wall, CPU and ``os.getloadavg()``, the
ratio of CPU seconds (target: at most 5%), the incremental build's step timings, and
whether the two snapshots hold the same records with the same texts (by content id).

    python bench/incremental.py --members 5000 --posts 50000
    python bench/incremental.py --home /tmp/incr-demo     # reuse a generated demo home
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import select

from optin.demo.text import Person, compose
from optin.pipeline.config import BuildConfig
from optin.services.consent import record_consent
from optin.services.demo import generate_demo
from optin.services.snapshots import BuildResult, build_snapshot
from optin.settings import Settings
from optin.storage import snapshots as repo
from optin.storage.database import Database
from optin.storage.models import ContentRow, MemberRow, SnapshotRecordRow

NOW = datetime(2026, 11, 20, tzinfo=UTC)
PURPOSE = "train_own_models"


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the SQLite reader processes)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def ensure_demo(home: Path, members: int, posts: int) -> None:
    db = Database.open(Settings(home=home))
    if db.is_initialized() and db.table_counts().get("content_items", 0):
        db.dispose()
        return
    home.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    generate_demo(db, members=members, posts=posts, seed=0, now=NOW, accounts=False)
    db.dispose()
    print(f"demo: {members:,} members, {posts:,} posts in {time.perf_counter() - t0:.0f} s")


def timed_build(
    db: Database, settings: Settings, label: str, *, as_of: datetime, now: datetime,
    shard_size: int, since: str | None = None,
) -> tuple[BuildResult, float, float]:  # fmt: skip
    cfg = BuildConfig(purpose=PURPOSE, shard_size=shard_size, row_group_size=shard_size)
    w0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
    r = build_snapshot(
        db, settings, PURPOSE, as_of, engine="inline", workers=1, config=cfg, now=now,
        since=since,
    )  # fmt: skip
    wall, own = time.perf_counter() - w0, time.process_time() - c0
    kids = _children_cpu() - k0
    cpu = own + kids
    steps = {s["step"]: s for s in r.manifest["counts"]["steps"]}
    print(
        f"{label:<12} {r.records:>9,} records of {steps['consent']['out']:>9,} gated rows: "
        f"wall {wall:8.2f} s, CPU {cpu:8.2f} s (this process {own:.2f}, reader processes "
        f"{kids:.2f}; {load()})",
        flush=True,
    )
    return r, wall, cpu


def change(
    db: Database, parent: BuildResult, posts: float, withdraw: float, seed: int
) -> dict[str, int]:
    """1% new posts, 0.1% of members withdraw (among the parent's authors)."""
    rng = random.Random(seed)
    with db.session() as s:
        members = s.execute(select(ContentRow.author_id).distinct()).scalars().all()
        n_posts = db.table_counts().get("content_items", 0)
        authors = sorted(
            {
                r.author_id
                for r in s.execute(
                    select(SnapshotRecordRow.author_id).where(
                        SnapshotRecordRow.snapshot_id == parent.snapshot_id
                    )
                )
            }
        )
        people = {
            m.id: Person(
                handle=m.handle,
                display_name=m.display_name,
                first=m.display_name.split()[0],
                last=m.display_name.split()[-1],
                email=f"{m.handle}@example.com",
                country="US",
                org="Northwind",
                role="designer",
            )
            for m in s.execute(select(MemberRow.id, MemberRow.handle, MemberRow.display_name))
            if m.display_name and m.display_name.split() and m.handle
        }
    n_new = max(1, round(n_posts * posts))
    n_withdraw = max(1, round(len(members) * withdraw))
    at = NOW + timedelta(hours=2)
    for a in rng.sample(authors, min(n_withdraw, len(authors))):
        record_consent(db, a, PURPOSE, "withdraw", source="web", at=at, now=at)
    rows = []
    ids = sorted(people)

    def others() -> Person:
        return people[rng.choice(ids)]

    for i in range(n_new):
        author = rng.choice(ids)
        rows.append(
            {
                "id": f"bench-new-{i:08d}",
                "author_id": author,
                "kind": "post",
                "visibility": "public",
                "text": compose("post", "en", rng, people[author], others)[0],
                "language": "en",
                "created_at": NOW + timedelta(hours=2, seconds=rng.randint(0, 20 * 3600)),
                "edited_at": None,
                "deleted_at": None,
            }
        )
    with db.session() as s:
        s.execute(ContentRow.__table__.insert(), rows)
    return {"new_posts": n_new, "withdrawn_members": min(n_withdraw, len(authors))}


def contents(db: Database, r: BuildResult) -> dict[str, tuple[Any, ...]]:
    with db.session() as s:
        cid = {p.record_id: p.content_id for p in repo.iter_provenance(s, r.snapshot_id)}
    out: dict[str, tuple[Any, ...]] = {}
    for f in r.manifest["files"]:
        t = pq.read_table(r.path / f["path"])
        for rid, text, kind, lang, month in zip(
            *(t[c].to_pylist() for c in ("record_id", "text", "kind", "language", "created_month")),
            strict=True,
        ):
            out[cid[rid]] = (text, kind, lang, month)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--members", type=int, default=5_000)
    ap.add_argument("--posts", type=int, default=50_000)
    ap.add_argument("--new", type=float, default=0.01, help="new posts, share of all posts")
    ap.add_argument("--withdraw", type=float, default=0.001, help="withdrawing members, share")
    ap.add_argument("--shard-size", type=int, default=10_000)
    ap.add_argument("--home", type=Path, default=None, help="reuse or create this demo home")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="cProfile the incremental build")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="optin-incr-"))
    demo = args.home or base / "demo"
    ensure_demo(demo, args.members, args.posts)
    work = base / "a"
    shutil.copytree(demo, work, ignore=shutil.ignore_patterns("snapshots"))
    st = Settings(home=work)
    db = Database.open(st)
    print(f"{args.members:,} members, {args.posts:,} posts; {load()}")
    parent, _, _ = timed_build(
        db, st, "parent(full)", as_of=NOW, now=NOW + timedelta(hours=1), shard_size=args.shard_size
    )
    changes = change(db, parent, args.new, args.withdraw, args.seed)
    print(f"changes: {changes}")
    db.dispose()
    full_home = base / "b"
    shutil.copytree(work, full_home)
    as_of2, now2 = NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1)
    db = Database.open(st)
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile(time.process_time)  # CPU, not wall (the host is loaded)
        prof.enable()
    child, _, c_cpu = timed_build(
        db, st, "incremental", as_of=as_of2, now=now2, shard_size=args.shard_size,
        since=parent.snapshot_id,
    )  # fmt: skip
    if prof is not None:
        import pstats

        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
    st_full = Settings(home=full_home)
    db_full = Database.open(st_full)
    full, _, f_cpu = timed_build(
        db_full, st_full, "full", as_of=as_of2, now=now2, shard_size=args.shard_size
    )
    inc = child.manifest["incremental"]
    print(
        f"incremental: reused {inc['reused']:,}, new {inc['new']:,}, edited {inc['edited']:,}, "
        f"resurrected {inc['resurrected']:,}, processed {inc['processed']:,}, "
        f"dropped {inc['dropped']}"
    )
    keys = ("eligibility", "directory", "parent_rows", "select", "shards", "dedupe_global",
            "reuse", "merkle", "finalise", "keep_rows", "total")  # fmt: skip
    print("incremental timings (wall s): " + ", ".join(
        f"{k} {child.timings[k]:.2f}" for k in keys if k in child.timings))  # fmt: skip
    print("full timings (wall s): " + ", ".join(
        f"{k} {full.timings[k]:.2f}" for k in keys if k in full.timings))  # fmt: skip
    ratio = c_cpu / f_cpu if f_cpu else float("nan")
    equal = contents(db, child) == contents(db_full, full)
    same_steps = child.manifest["counts"]["steps"] == full.manifest["counts"]["steps"]
    print(
        f"CPU incremental / full = {c_cpu:.2f} / {f_cpu:.2f} s = {ratio:.1%} (target <= 5%: "
        f"{'met' if ratio <= 0.05 else 'MISSED'}); contents equal: {equal}; step tables "
        f"equal: {same_steps}; {load()}"
    )
    db.dispose()
    db_full.dispose()
    shutil.rmtree(base, ignore_errors=True)  # a --home demo is outside it and stays
    sys.exit(0 if equal and same_steps else 1)


if __name__ == "__main__":
    main()
