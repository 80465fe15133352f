"""Abuse under load: oversized and deeply nested bodies, with and without an API key,
while normal consent traffic runs.

Starts ``uvicorn`` (one process, 127.0.0.1 only) exactly as ``bench/api_load.py`` does, on
a fresh database (PostgreSQL schema by default, SQLite with ``--sqlite``). For
``--seconds`` it drives POST /api/v1/consents open-loop at ``--rate`` requests/s (the
code of ``api_load.py``) and, at the same time, ``--attackers`` connections that send,
round-robin:

* ``big-nokey``: Content-Length 200 MB, no key, body streamed until the server answers;
* ``big-key``: Content-Length 200 MB with a valid key;
* ``chunked-nokey``: an endless chunked body without a key;
* ``chunked-key``: an endless chunked body with a valid key;
* ``deep-key``: 1,000,000 ``[`` (just under the 1 MiB cap) with a valid key;
* ``deep-nokey``: the same without a key.

It samples the server's RSS every 100 ms and prints: the normal traffic's p50/p99, the
status codes each attack got, and the server's RSS before and at most. It stops by
itself and exits 1 when a bound is missed (p99 > 50 ms, RSS growth > ``--rss-bound``
MiB, an attack answered other than 401/413/400, or the ledger differs from the 201s).

    python bench/abuse_load.py --sqlite              # ~45 s
    python bench/abuse_load.py                       # PostgreSQL
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_load
from optin.storage import ledger
from optin.storage.models import ConsentEventRow

EXPECTED = {
    "big-nokey": 413,  # Content-Length is checked first, before the key
    "big-key": 413,
    "chunked-nokey": 401,  # no length: the key is checked before one byte is read
    "chunked-key": 413,
    "deep-key": 400,
    "deep-nokey": 401,
}
CHUNK = b" " * 65536


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def _send_until_answer(
    writer: asyncio.StreamWriter, answer: asyncio.Task[bytes], body: bytes | None, chunked: bool
) -> int:
    """Write the body (or endless chunks) until the server answers; bytes sent."""
    sent = 0
    limit = 200 * 1024 * 1024
    try:
        if body is not None:
            writer.write(body)
            await writer.drain()
            return len(body)
        while not answer.done() and sent < limit:
            part = (b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n") if chunked else CHUNK
            writer.write(part)
            await writer.drain()
            sent += len(CHUNK)
            await asyncio.sleep(0)
    except (ConnectionError, OSError):
        pass  # the server answered and closed: that is the point
    return sent


async def attack(host: str, port: int, kind: str, key: str) -> tuple[int, int]:
    """One abusive request; (status, body bytes sent)."""
    reader, writer = await asyncio.open_connection(host, port)
    auth = f"Authorization: Bearer {key}\r\n".encode() if kind.endswith("-key") else b""
    body: bytes | None = None
    if kind.startswith("deep"):
        body = b"[" * 1_000_000
        length = b"Content-Length: %d\r\n" % len(body)
    elif kind.startswith("chunked"):
        length = b"Transfer-Encoding: chunked\r\n"
    else:
        length = b"Content-Length: 209715200\r\n"
    writer.write(
        f"POST /api/v1/consents HTTP/1.1\r\nHost: {host}\r\n".encode()
        + auth
        + b"Content-Type: application/json\r\n"
        + length
        + b"\r\n"
    )
    answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
    # a refusal that needs no body comes at once: read it before streaming (as a client
    # would after a quick answer), so the server's close does not reset it away
    await asyncio.wait([answer], timeout=0.3)
    sent = 0
    if not answer.done():
        sent = await _send_until_answer(writer, answer, body, kind.startswith("chunked"))
    try:
        head = await asyncio.wait_for(answer, 15)
        status = int(head[9:12])
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
        status = 0
    writer.close()
    return status, sent


async def attackers(
    host: str, port: int, key: str, n: int, seconds: float, pause: float
) -> dict[str, Counter[int]]:
    results: dict[str, Counter[int]] = {k: Counter() for k in EXPECTED}
    kinds = list(EXPECTED)
    stop = time.monotonic() + seconds

    async def loop(i: int) -> None:
        j = i
        while time.monotonic() < stop:
            kind = kinds[j % len(kinds)]
            j += 1
            try:
                status, _ = await attack(host, port, kind, key)
            except OSError:
                status = 0
            results[kind][status] += 1
            await asyncio.sleep(pause)

    await asyncio.gather(*(loop(i) for i in range(n)))
    return results


async def sample_rss(pid: int, seconds: float, out: list[float]) -> None:
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        out.append(rss_mib(pid))
        await asyncio.sleep(0.1)


async def run_all(
    base: str, key: str, args: argparse.Namespace, pid: int
) -> tuple[dict[str, float | int], dict[str, Counter[int]], list[float]]:
    host, port = base.removeprefix("http://").split(":")
    rss: list[float] = []
    normal, abuse, _ = await asyncio.gather(
        api_load.step(base, key, args.rate, args.seconds, args.members, 0),
        attackers(host, int(port), key, args.attackers, args.seconds, args.pause),
        sample_rss(pid, args.seconds + 1, rss),
    )
    return normal, abuse, rss


def _database(args: argparse.Namespace, home: Path) -> tuple[str, str | None]:
    if args.sqlite:
        return f"sqlite:///{home / 'optin.db'}", None
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
    return url, schema


def _wait_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/api/v1/openapi.json", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def report(
    normal: dict[str, float | int],
    abuse: dict[str, Counter[int]],
    rss: list[float],
    before: float,
    args: argparse.Namespace,
) -> bool:
    p99 = float(normal["p99"])
    grown = max(rss) - before
    print(
        f"normal traffic: {normal['sent']} sent at {args.rate}/s, {normal['ok']} × 201, "
        f"{normal['errors']} other ({normal['codes'] or 'none'}); p50 {normal['p50']:.1f} ms, "
        f"p99 {p99:.1f} ms, max {normal['max']:.1f} ms"
    )
    ok = p99 <= 50.0 and int(normal["errors"]) == 0
    for kind, want in EXPECTED.items():
        got = abuse[kind]
        # 0: the connection was reset while the client was still sending an endless body
        # after the server's answer and close (the kernel drops the unread answer)
        allowed = {want, 0} if kind.startswith("chunked") else {want}
        fine = bool(got) and set(got) <= allowed and got[want] > 0
        ok = ok and fine
        shown = ", ".join(f"{n} × {s}" for s, n in sorted(got.items()))
        print(f"  {kind:<14} -> {shown or 'none sent'}  (expected {want}){'' if fine else '  !!'}")
    print(
        f"server RSS: {before:.0f} MiB before, {max(rss):.0f} MiB at most "
        f"(+{grown:.0f} MiB; bound +{args.rss_bound} MiB), {len(rss)} samples"
    )
    return ok and grown <= args.rss_bound


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sqlite", action="store_true", help="use a SQLite file instead of PostgreSQL")
    ap.add_argument("--db-url", default=api_load.PG_URL, help="PostgreSQL URL (a fresh schema)")
    ap.add_argument("--rate", type=int, default=200, help="normal consent requests/s")
    ap.add_argument("--seconds", type=float, default=30.0, help="duration of the abuse run")
    ap.add_argument(
        "--baseline", type=float, default=10.0, help="seconds of normal traffic alone, first"
    )
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--attackers", type=int, default=4, help="parallel abusive connections")
    ap.add_argument("--pause", type=float, default=0.05, help="seconds between attacks, each")
    ap.add_argument("--rss-bound", type=int, default=100, help="MiB the server may grow by")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="optin-abuse-"))
    url, schema = _database(args, home)
    db, key = api_load.setup(url, home, args.members)
    port = api_load.free_port()
    server = subprocess.Popen([sys.executable, "-c", api_load.SERVER, url, str(home), str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, server)
        warm = asyncio.run(api_load.step(base, key, 20, 1.0, args.members, 10**6))
        before = rss_mib(server.pid)
        print(
            f"abuse under load on {'SQLite' if args.sqlite else 'PostgreSQL'}: uvicorn 1 process, "
            f"{args.seconds:g} s, {args.attackers} attackers; {os.cpu_count()} CPUs, load "
            f"average {os.getloadavg()[0]:.1f} before the run"
        )
        alone = asyncio.run(
            api_load.step(base, key, args.rate, args.baseline, args.members, 2 * 10**6)
        )
        print(
            f"baseline, normal traffic alone: {alone['sent']} sent, p50 {alone['p50']:.1f} ms, "
            f"p99 {alone['p99']:.1f} ms, max {alone['max']:.1f} ms"
        )
        normal, abuse, rss = asyncio.run(run_all(base, key, args, server.pid))
        ok = report(normal, abuse, rss, before, args)
        with db.session() as s:
            total = s.execute(select(func.count()).select_from(ConsentEventRow)).scalar_one()
            rep = ledger.verify(s)
        acked = int(normal["ok"]) + int(warm["ok"]) + int(alone["ok"])
        print(
            f"ledger: {total} events, {acked} acknowledged (201, incl. warm-up); chain "
            f"{'verifies' if rep.ok else 'BROKEN'}"
        )
        ok = ok and rep.ok and total == acked
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        server.terminate()
        server.wait(10)
        db.dispose()
        if schema:
            admin = create_engine(args.db_url)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
