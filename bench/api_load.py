"""Load test of the consent API: POST /api/v1/consents at rising request rates.

Starts ``uvicorn`` (one process, 127.0.0.1) on a fresh database — by default an isolated
schema in PostgreSQL at postgresql+psycopg://postgres@127.0.0.1:5432/test, or a SQLite
file with ``--sqlite`` — with N members and an API key, then drives an open-loop load
(requests are sent on schedule, whatever the latency) at each target rate for a bounded
time, and prints throughput and p50/p99/max latency per step. Afterwards it checks that
the ledger holds exactly the acknowledged (201) events and that the chain verifies.

    python bench/api_load.py                       # PostgreSQL, rates 50,100,200,400
    python bench/api_load.py --sqlite --rates 50,100,200 --seconds 5

Target: p99 <= 50 ms at 200 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from optin.services import web_auth
from optin.services.setup import DEFAULT_POLICY_EFFECTIVE_AT, init_database
from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.models import ConsentEventRow, MemberCountryRow, MemberRow, MemberStatusRow

PG_URL = os.environ.get("OPTIN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SERVER = """
import sys, uvicorn
from optin.storage.database import Database
from optin.settings import Settings
from optin.web import create_app
url, home, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
settings = Settings(home=home, database_url=url)
db = Database(url, home=settings.home, pool_size=20, max_overflow=20) if url.startswith("postgresql") else Database(url, home=settings.home)
uvicorn.run(create_app(settings, db=db), host="127.0.0.1", port=port, log_level="warning",
            access_log=False, server_header=False)
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0.0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(url: str, home: Path, members: int) -> tuple[Database, str]:
    db = Database(url, home=home)
    init_database(
        db, now=datetime.now(UTC), effective_at=DEFAULT_POLICY_EFFECTIVE_AT, allow_backdate=True
    )
    t0 = datetime(2024, 2, 1, tzinfo=UTC)
    with db.session() as s:
        s.execute(
            MemberRow.__table__.insert(),
            [
                {
                    "id": f"m{i}",
                    "handle": f"member{i}",
                    "display_name": f"Member {i}",
                    "email": None,
                    "birth_date": datetime(1990, 1, 1).date(),
                    "joined_at": t0,
                    "role": "member",
                    "password_hash": None,
                    "erased_at": None,
                }
                for i in range(members)
            ],
        )
        s.execute(
            MemberCountryRow.__table__.insert(),
            [{"member_id": f"m{i}", "since": t0, "country": "US"} for i in range(members)],
        )
        s.execute(
            MemberStatusRow.__table__.insert(),
            [{"member_id": f"m{i}", "since": t0, "status": "active"} for i in range(members)],
        )
        key = web_auth.create_api_key(s, "bench", ["consents:write"], now=datetime.now(UTC))
    return db, key.token


class RawClient:
    """A lean HTTP/1.1 keep-alive client over asyncio streams, so that the load
    generator (same machine) spends little CPU: a pool of connections, one request at a
    time on each, responses read by Content-Length."""

    def __init__(self, host: str, port: int, key: str, max_connections: int = 256) -> None:
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {key}\r\n".encode()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.sem = asyncio.Semaphore(max_connections)

    async def post_json(self, path: str, body: bytes) -> int:
        async with self.sem:
            if self.idle:
                reader, writer = self.idle.pop()
                try:
                    return await self._exchange(reader, writer, path, body)
                except (OSError, asyncio.IncompleteReadError):
                    writer.close()  # the server closed it while idle (keep-alive timeout)
            reader, writer = await asyncio.open_connection(self.host, self.port)
            return await self._exchange(reader, writer, path, body)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, body: bytes
    ) -> int:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n".encode()
            + self.auth
            + b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status

    def close(self) -> None:
        for _, w in self.idle:
            w.close()


async def step(
    base: str, key: str, rate: int, seconds: float, members: int, offset: int
) -> dict[str, float | int]:
    n = int(rate * seconds)
    latencies: list[float] = []
    codes: dict[int, int] = {}
    host, port = base.removeprefix("http://").split(":")
    client = RawClient(host, int(port), key)

    async def one(i: int) -> None:
        m = offset + i
        body = json.dumps(
            {
                "member_id": f"m{m % members}",
                "purpose": "train_own_models",
                "action": "grant" if m % 3 else "withdraw",
            }
        ).encode()
        t = time.perf_counter()
        try:
            code = await client.post_json("/api/v1/consents", body)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            code = 0
        latencies.append(time.perf_counter() - t)
        codes[code] = codes.get(code, 0) + 1

    start = time.perf_counter()
    tasks = []
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - start
    client.close()
    lat = sorted(latencies)
    return {
        "rate": rate,
        "sent": n,
        "ok": codes.get(201, 0),
        "errors": n - codes.get(201, 0),
        "codes": ",".join(f"{k}:{v}" for k, v in sorted(codes.items()) if k != 201),
        "throughput": codes.get(201, 0) / wall,
        "p50": statistics.median(lat) * 1000,
        "p99": lat[max(0, int(len(lat) * 0.99) - 1)] * 1000,
        "max": lat[-1] * 1000,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sqlite", action="store_true", help="use a SQLite file instead of PostgreSQL")
    ap.add_argument("--db-url", default=PG_URL, help="PostgreSQL URL (a fresh schema is used)")
    ap.add_argument("--rates", default="50,100,200,400", help="target requests/s per step")
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each step")
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    home = Path(tempfile.mkdtemp(prefix="optin-bench-"))
    schema = None
    if args.sqlite:
        url = f"sqlite:///{home / 'optin.db'}"
    else:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = create_engine(args.db_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = (
            make_url(args.db_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    db, key = setup(url, home, args.members)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, url, str(home), str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/v1/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        backend = "SQLite" if args.sqlite else "PostgreSQL"
        print(
            f"POST /api/v1/consents on {backend}, uvicorn 1 process, {args.members} members, "
            f"{args.seconds:g} s per step, open loop; {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.1f} before the run"
        )
        print(
            f"{'target/s':>9} {'sent':>6} {'201':>6} {'err':>5} {'got/s':>8} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'CPU ms/req server':>18} {'client':>7}"
        )
        offset = 0
        warm = asyncio.run(step(base, key, 20, 1.0, args.members, 10**6))  # warm-up
        acked = int(warm["ok"])
        for rate in rates:
            c0 = cpu_seconds(server.pid)
            m0 = time.process_time()
            r = asyncio.run(step(base, key, rate, args.seconds, args.members, offset))
            ccpu = (time.process_time() - m0) * 1000 / max(1, int(r["sent"]))
            cpu = (cpu_seconds(server.pid) - c0) * 1000 / max(1, int(r["sent"]))
            offset += int(r["sent"])
            acked += int(r["ok"])
            print(
                f"{r['rate']:>9} {r['sent']:>6} {r['ok']:>6} {r['errors']:>5} "
                f"{r['throughput']:>8.1f} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['max']:>8.1f} "
                f"{cpu:>18.2f} {ccpu:>7.2f}" + (f"  (non-201: {r['codes']})" if r["codes"] else "")
            )
        with db.session() as s:
            total = s.execute(select(func.count()).select_from(ConsentEventRow)).scalar_one()
            rep = ledger.verify(s)
        same = "==" if total == acked else "!="
        print(
            f"ledger: {total} events {same} {acked} acknowledged (201) responses "
            f"(incl. {int(warm['ok'])} warm-up); chain "
            f"{'verifies' if rep.ok else 'BROKEN: ' + str(rep.problem)}"
        )
        return 0 if rep.ok and total == acked else 1
    finally:
        server.terminate()
        server.wait(10)
        db.dispose()
        if schema and not args.keep:
            admin = create_engine(args.db_url)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
