"""Bulk eligibility throughput: ``decide_all`` over N members with ~5 events each.

Builds the members, country/status histories and consent events directly with bulk
inserts (the events carry placeholder hashes: this measures eligibility, not the
ledger), then times, for one purpose at one time T:

* projection: streaming every member's state out of the database (SQL + row decoding)
* decide_all: projection + domain decisions (what snapshot builds use)

Each backend runs twice: read in the calling thread, and with the default readers
(PostgreSQL: ``optin.storage.projection.PG_READERS`` threads, chunks by member id under
one exported snapshot; SQLite: ``SQLITE_READERS`` child processes with read-only
connections). Client CPU counts this process only (not the SQLite reader processes, not
the PostgreSQL server): on a shared machine the wall figures are the ones that count.

on SQLite and, if reachable, PostgreSQL. Prints members/s.

    .venv/bin/python bench/eligibility.py --members 1000000
    .venv/bin/python bench/eligibility.py --members 200000 --backend sqlite
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from optin.services.eligibility import decide_all
from optin.services.setup import DEFAULT_POLICY_EFFECTIVE_AT, init_database
from optin.storage import projection
from optin.storage.database import Database
from optin.storage.projection import iter_member_states, iter_state_rows

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_S = 700 * 86400
COUNTRIES = (
    ["US"] * 8
    + ["IN"] * 5
    + ["BR"] * 4
    + [
        "NG",
        "JP",
        "CA",
        "MX",
        "ID",
        "PH",
        "KE",
        "AU",
        "ZA",
        "AR",
        "DE",
        "FR",
        "GB",
        "ES",
        "IT",
        "NL",
        "SE",
        "CH",
    ]
)
PURPOSES = ("train_own_models", "share_with_providers")


def generate(n: int, events_per_member: float, seed: int):
    """Yield row tuples per table (times as aware datetimes)."""
    rng = random.Random(seed)
    members, countries, statuses, events = [], [], [], []
    seq = 0
    max_events = int(events_per_member * 2)
    for i in range(n):
        mid = f"m{i:08d}"
        joined = START + timedelta(seconds=rng.randrange(SPAN_S // 4))
        r = rng.random()
        birth = (
            None
            if r < 0.02
            else (
                date(2010, 1, 1)
                if r < 0.07
                else date(1950 + rng.randrange(50), 1 + rng.randrange(12), 1)
            )
        )
        members.append((mid, f"h{i}", f"Member {i}", birth, joined))
        countries.append((mid, joined, rng.choice(COUNTRIES)))
        if rng.random() < 0.1:
            countries.append(
                (mid, joined + timedelta(days=rng.randrange(1, 500)), rng.choice(COUNTRIES))
            )
        statuses.append((mid, joined, "active"))
        if rng.random() < 0.03:
            statuses.append((mid, joined + timedelta(days=rng.randrange(1, 600)), "closed"))
        for _ in range(rng.randint(0, max_events)):
            seq += 1
            at = joined + timedelta(seconds=rng.randrange(SPAN_S // 2))
            events.append(
                (
                    seq,
                    f"e{seq:010d}",
                    mid,
                    rng.choice(PURPOSES),
                    "grant" if rng.random() < 0.7 else "withdraw",
                    at,
                    at,
                    1,
                    "import",
                    None,
                    "0" * 64,
                    "0" * 64,
                )
            )
    return members, countries, statuses, events


def _sqlite_time(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(db: Database, data) -> None:
    members, countries, statuses, events = data
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.executemany(
            "INSERT INTO members (id, handle, handle_folded, display_name, birth_date, "
            "joined_at, role) VALUES (?, ?, ?, ?, ?, ?, 'member')",
            (
                (m, h, h.casefold(), d, b.isoformat() if b else None, _sqlite_time(j))
                for m, h, d, b, j in members
            ),
        )
        cur.executemany(
            "INSERT INTO member_countries (member_id, since, recorded_at, country) "
            "VALUES (?,?,?,?)",
            ((m, _sqlite_time(t), _sqlite_time(t), c) for m, t, c in countries),
        )
        cur.executemany(
            "INSERT INTO member_statuses (member_id, since, recorded_at, status) VALUES (?,?,?,?)",
            ((m, _sqlite_time(t), _sqlite_time(t), s) for m, t, s in statuses),
        )
        cur.executemany(
            "INSERT INTO consent_events (seq, event_id, member_id, purpose, action, at, "
            "recorded_at, policy_version, source, personal, prev_hash, hash) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            ((*e[:5], _sqlite_time(e[5]), _sqlite_time(e[6]), *e[7:]) for e in events),
        )
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def load_pg(db: Database, data) -> None:
    members, countries, statuses, events = data
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(
            "COPY members (id, handle, handle_folded, display_name, birth_date, joined_at, "
            "role) FROM STDIN"
        ) as cp:
            for m, h, d, b, j in members:
                cp.write_row((m, h, h.casefold(), d, b, j, "member"))
        with cur.copy(
            "COPY member_countries (member_id, since, recorded_at, country) FROM STDIN"
        ) as cp:
            for m, t, c in countries:
                cp.write_row((m, t, t, c))
        with cur.copy(
            "COPY member_statuses (member_id, since, recorded_at, status) FROM STDIN"
        ) as cp:
            for m, t, st in statuses:
                cp.write_row((m, t, t, st))
        with cur.copy(
            "COPY consent_events (seq, event_id, member_id, purpose, action, at, "
            "recorded_at, policy_version, source, personal, prev_hash, hash) "
            "FROM STDIN"
        ) as cp:
            for row in events:
                cp.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def measure(db: Database, n: int, at: datetime, purpose: str) -> None:
    """Wall time and this process's CPU time (the machine may be shared)."""
    t, c = time.perf_counter(), time.process_time()
    count = 0
    for rows, _ in iter_state_rows(db.engine, purpose, at):
        count += len(rows)
    sql, sql_cpu = time.perf_counter() - t, time.process_time() - c
    assert count == n, (count, n)
    t, c = time.perf_counter(), time.process_time()
    count = sum(1 for _ in iter_member_states(db.engine, purpose, at))
    proj, proj_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    reasons: Counter[str] = Counter()
    for d in decide_all(db, purpose, at):
        reasons[d.reason] += 1
    full, full_cpu = time.perf_counter() - t, time.process_time() - c
    for label, wall, cpu in (
        ("SQL rows only     ", sql, sql_cpu),
        ("MemberState stream", proj, proj_cpu),
        ("decide_all        ", full, full_cpu),
    ):
        print(
            f"  {label}: wall {wall:6.2f} s = {n / wall:10,.0f} members/s | "
            f"client CPU {cpu:6.2f} s = {n / max(cpu, 1e-9):10,.0f} members/s"
        )
    top = ", ".join(f"{k} {v}" for k, v in reasons.most_common(6))
    print(f"  reasons: {top}")


def run_backend(name: str, db: Database, data, n: int) -> None:
    print(f"[{name}] loading {n:,} members, {len(data[3]):,} events ...", flush=True)
    t = time.perf_counter()
    (load_sqlite if name == "sqlite" else load_pg)(db, data)
    print(f"  loaded in {time.perf_counter() - t:.1f} s", flush=True)
    at = START + timedelta(days=500)
    attr = "PG_READERS" if name == "postgresql" else "SQLITE_READERS"
    kind = "threads" if name == "postgresql" else "processes"
    default = getattr(projection, attr)
    for purpose in PURPOSES[:1]:
        for readers in sorted({0, default}):
            setattr(projection, attr, readers)
            label = "in the calling thread" if readers == 0 else f"{readers} reader {kind}"
            print(f"[{name}] decide_all(purpose={purpose}, at={at.date()}), {label}, 2 runs:")
            measure(db, n, at, purpose)
            measure(db, n, at, purpose)
    setattr(projection, attr, default)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--events-per-member", type=float, default=5.0)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    t = time.perf_counter()
    data = generate(args.members, args.events_per_member, args.seed)
    print(
        f"generated {args.members:,} members / {len(data[3]):,} events in "
        f"{time.perf_counter() - t:.1f} s",
        flush=True,
    )
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
            init_database(
                db,
                now=datetime.now(UTC),
                effective_at=DEFAULT_POLICY_EFFECTIVE_AT,
                allow_backdate=True,
            )
            run_backend("sqlite", db, data, args.members)
            db.dispose()
    if args.backend in ("postgresql", "both"):
        try:
            admin = create_engine(args.pg_url)
            with admin.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS bench_elig CASCADE"))
                conn.execute(text("CREATE SCHEMA bench_elig"))
        except Exception as e:
            print(f"[postgresql] skipped: unreachable ({type(e).__name__}: {e})")
            return 0
        url = make_url(args.pg_url).update_query_dict({"options": "-csearch_path=bench_elig"})
        db = Database(url.render_as_string(hide_password=False))
        try:
            init_database(
                db,
                now=datetime.now(UTC),
                effective_at=DEFAULT_POLICY_EFFECTIVE_AT,
                allow_backdate=True,
            )
            run_backend("postgresql", db, data, args.members)
        finally:
            db.dispose()
            with admin.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS bench_elig CASCADE"))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
