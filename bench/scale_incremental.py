"""Issue 15's incremental figure at the scale of ``bench/scale.py``: after a full build
of the generated lake, 1% new posts and 0.1% withdrawals, then an incremental build
(``--since``) and a full build at the same as-of and build times, side by side.

Needs a data directory that ``bench/scale.py --keep DIR`` left with the whole lake built
last (its ``home`` holds that snapshot: the parent). This bench then

1. draws 0.1% of the members among those whose last event for the purpose is a grant
   and records a withdrawal for each (``record_consent``, the real ledger path);
2. appends 1% new posts to the lake as a new day partition (the day of the old as-of,
   ``day=YYYY-MM-DD/part-0.parquet``, by the same text model, new content ids);
3. copies the home (database and snapshots) aside for the full build;
4. builds ``--since PARENT`` in the home and a full build in the copy, each as a child
   process (the service's ``build_snapshot`` with the Dask engine, as
   ``optin snapshot build --content LAKE --engine dask`` calls it, but with a fixed
   build time so the two decide eligibility at the same instant), sampled like
   ``bench/scale.py`` (peak RSS of the driver and of each worker; CPU of the whole
   tree);
5. compares the two snapshots' records (content id -> text, kind, language, month) and
   step tables.

The appended day and the withdrawals stay in DIR (rerunning the scale bench on DIR
afterwards measures another lake): run it on a copy you can drop.

    .venv/bin/python bench/scale_incremental.py --keep DIR --workers 2
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import AS_OF, load, people, sampled, write_day

PURPOSE = "train_own_models"


def _child(spec: dict[str, Any]) -> None:
    """In the child process: one build, its result as JSON on stdout."""
    from optin.pipeline.config import BuildConfig
    from optin.services.snapshots import build_snapshot
    from optin.settings import Settings
    from optin.storage.database import Database

    settings = Settings(home=Path(spec["home"]))
    db = Database.open(settings)
    cfg = BuildConfig(purpose=PURPOSE)
    r = build_snapshot(
        db, settings, PURPOSE, datetime.fromisoformat(spec["as_of"]), engine="dask",
        workers=spec["workers"], config=cfg, now=datetime.fromisoformat(spec["now"]),
        content=spec["lake"], dedupe_on=spec["dedupe_on"], since=spec.get("since"),
    )  # fmt: skip
    print(json.dumps({**r.to_dict(), "steps": r.manifest["counts"]["steps"]}))


def run(spec: dict[str, Any]) -> dict[str, Any]:
    r = sampled([sys.executable, __file__, "--child", json.dumps(spec)])
    roles = r.pop("roles")
    r["driver_peak_rss_mb"] = roles["driver"][0]["rss"] / 2**20
    r["worker_peak_rss_mb"] = [round(i["rss"] / 2**20) for i in roles["workers"]]
    return r


def contents(home: Path, result: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """content id -> (text, kind, language, month) of a snapshot's records."""
    with sqlite3.connect(home / "optin.db") as conn:
        cid = dict(
            conn.execute(
                "SELECT record_id, content_id FROM snapshot_records WHERE snapshot_id = ?",
                (result["snapshot_id"],),
            ).fetchall()
        )
    path = Path(result["path"])
    manifest = json.loads((path / "manifest.json").read_text())
    out: dict[str, tuple[Any, ...]] = {}
    for f in manifest["files"]:
        t = pq.read_table(path / f["path"])
        cols = ("record_id", "text", "kind", "language", "created_month")
        for rid, text, kind, lang, month in zip(*(t[c].to_pylist() for c in cols), strict=True):
            out[cid[rid]] = (text, kind, lang, month)
    return out


def parent_snapshot(home: Path, lake: Path) -> tuple[str, datetime]:
    """The home's latest snapshot (it must be of ``lake``) and its build time."""
    with sqlite3.connect(home / "optin.db") as conn:
        row = conn.execute(
            "SELECT id, path FROM snapshots WHERE status = 'complete' "
            "ORDER BY built_at DESC LIMIT 1"
        ).fetchone()
    if row is None:
        raise SystemExit(f"{home}: no snapshot; run bench/scale.py --keep on it first")
    manifest = json.loads((home / row[1] / "manifest.json").read_text())
    source = manifest.get("content_source", {})
    if str(lake) not in json.dumps(source):
        raise SystemExit(f"{home}: the latest snapshot {row[0]} is not of {lake}: {source}")
    return row[0], datetime.fromisoformat(manifest["built_at"])


def withdraw(home: Path, share: float, members: int, seed: int, at: datetime) -> int:
    from optin.services.consent import record_consent
    from optin.settings import Settings
    from optin.storage.database import Database

    with sqlite3.connect(home / "optin.db") as conn:
        granting = [
            m
            for (m,) in conn.execute(
                "SELECT member_id FROM consent_events e WHERE purpose = ? AND action = 'grant' "
                "AND seq = (SELECT MAX(seq) FROM consent_events f WHERE f.member_id = e.member_id "
                "AND f.purpose = e.purpose) ORDER BY member_id",
                (PURPOSE,),
            )
        ]
    n = max(1, round(members * share))
    chosen = random.Random(seed).sample(granting, min(n, len(granting)))
    db = Database.open(Settings(home=home))
    for m in chosen:
        record_consent(db, m, PURPOSE, "withdraw", source="web", at=at, now=at)
    db.dispose()
    return len(chosen)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--keep", type=Path, help="the data directory of bench/scale.py --keep")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--new", type=float, default=0.01, help="new posts, share of the lake's")
    ap.add_argument("--withdraw", type=float, default=0.001, help="withdrawing members, share")
    ap.add_argument("--seed", type=int, default=0, help="the seed bench/scale.py used")
    ap.add_argument("--dedupe-on", default="workers")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    if args.keep is None:
        ap.error("--keep DIR is required")
    base = args.keep.resolve()
    meta = json.loads((base / "meta.json").read_text())
    home, lake = base / "home", base / "lake"
    parent, built_at = parent_snapshot(home, lake)
    print(f"incremental at scale: {base} ({meta['members']:,} members, {meta['posts']:,} posts)")
    print(f"  parent {parent} (built {built_at.isoformat()}); {load()}")
    at = max(datetime.now(UTC), built_at + timedelta(seconds=1))
    now2 = at + timedelta(minutes=1)
    as_of2 = AS_OF + timedelta(days=1)
    if (base / "incremental.json").exists():
        raise SystemExit(f"{base}: this bench already changed the data (incremental.json)")
    w0 = time.perf_counter()
    n_withdrawn = withdraw(home, args.withdraw, meta["members"], args.seed + 7, at)
    ps = people(meta["members"], args.seed)
    n_new = max(1, round(meta["posts"] * args.new))
    day = lake / f"day={AS_OF.date().isoformat()}" / "part-0.parquet"
    write_day(day, ps, n_new, AS_OF, random.Random(args.seed + 11), meta["posts"])
    del ps
    (base / "incremental.json").write_text(json.dumps({"new": n_new, "withdrawn": n_withdrawn}))
    print(
        f"  changes: {n_withdrawn:,} withdrawals, {n_new:,} new posts in {day.parent.name} "
        f"({time.perf_counter() - w0:.0f} s)"
    )
    full_home = base / "home-full"
    shutil.rmtree(full_home, ignore_errors=True)
    shutil.copytree(home, full_home)
    spec = {
        "lake": str(lake),
        "as_of": as_of2.isoformat(),
        "now": now2.isoformat(),
        "workers": args.workers,
        "dedupe_on": args.dedupe_on,
    }
    inc = run({**spec, "home": str(home), "since": parent})
    report("incremental", inc)
    full = run({**spec, "home": str(full_home)})
    report("full", full)
    equal = contents(home, inc["result"]) == contents(full_home, full["result"])
    same_steps = inc["result"]["steps"] == full["result"]["steps"]
    ratio = inc["cpu_s"] / full["cpu_s"]
    i = inc["result"].get("incremental", {})
    print(
        f"  incremental: reused {i.get('reused', 0):,}, new {i.get('new', 0):,}, edited "
        f"{i.get('edited', 0):,}, processed {i.get('processed', 0):,}, dropped "
        f"{i.get('dropped', {})}"
    )
    print(
        f"  CPU incremental / full = {inc['cpu_s']:.1f} / {full['cpu_s']:.1f} s = {ratio:.1%} "
        f"(target <= 5%: {'met' if ratio <= 0.05 else 'MISSED'}); records "
        f"{inc['result']['records']:,} / {full['result']['records']:,}; contents equal: "
        f"{equal}; step tables equal: {same_steps}; {load()}"
    )
    if args.json:
        args.json.write_text(json.dumps({"incremental": inc, "full": full}, indent=2))
    sys.exit(0 if equal and same_steps else 1)


def report(label: str, r: dict[str, Any]) -> None:
    t = r["result"].get("timings", {})
    keys = ("eligibility", "parent_rows", "select", "shards", "dedupe_global", "finalise", "total")
    print(
        f"  {label:<12} {r['result']['records']:>8,} records: wall {r['wall_s']:7.1f} s, CPU "
        f"{r['cpu_s']:8.1f} s, driver peak {r['driver_peak_rss_mb']:6.0f} MB, workers "
        f"{r['worker_peak_rss_mb']} MB (load {r['load_before'][0]:.2f} -> "
        f"{r['load_after'][0]:.2f})"
    )
    print("    timings (wall s): " + ", ".join(f"{k} {t[k]:.1f}" for k in keys if k in t))


if __name__ == "__main__":
    main()
