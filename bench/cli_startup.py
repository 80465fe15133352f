"""CLI start-up: how long ``optin`` takes before it does anything.

Runs each command ``--runs`` times as a fresh process (``python -m optin.cli.entry``, the
same code as the ``optin`` script) and prints the median and min wall time and the median
process CPU time (user + system of the child) per command, in ms, with the machine's load
average. Two SQLite homes, made once: one with ``optin init`` only, where ``m-nobody``
does not exist (exit 66: opening the database and one lookup), and a demo home
(``optin demo``, fixed seed and time) where the member with the most consent events is
shown and decided (the whole read: policies, history, decisions, the table or JSON).
``--importtime`` also prints the ten slowest imports of ``optin --help`` and of
``optin consent show`` on the demo member (``python -X importtime``, cumulative ms).

The children inherit ``PYTHONDONTWRITEBYTECODE``: where it is set (as on the shared
development machine), every run compiles optin's own modules from source (an editable
install keeps no ``.pyc`` then). ``--bytecode-cache`` unsets it for the children, so the
warm-up run of each command writes the caches that an installed package has.

    python bench/cli_startup.py                   # optin --help, consent show, eligibility
    python bench/cli_startup.py --runs 20 --importtime

Target (issue 16): median <= 300 ms on an idle machine for ``optin --help`` and the
simple commands (``consent show``, ``eligibility``).
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

COMMANDS = {
    "optin --help": ["--help"],
    "optin --version": ["--version"],
    "optin consent show": ["consent", "show", "m-nobody"],
    "optin eligibility": ["eligibility", "m-nobody", "--purpose", "train_own_models"],
}
#: The same commands on a member of the demo home (``MEMBER`` is replaced).
DEMO_COMMANDS = {
    "consent show MEMBER": ["consent", "show", "MEMBER"],
    "consent show --json": ["consent", "show", "MEMBER", "--json"],
    "eligibility MEMBER": ["eligibility", "MEMBER", "--purpose", "train_own_models"],
    "eligibility --json": ["eligibility", "MEMBER", "--purpose", "train_own_models", "--json"],
}
DEMO = ["demo", "--members", "40", "--posts", "0", "--seed", "3", "--now", "2026-06-01T00:00:00Z"]


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "optin.cli.entry", *argv],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.returncode


def _importtime(argv: list[str], env: dict[str, str]) -> list[tuple[int, str]]:
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "optin.cli.entry", *argv],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cum, name = line[len("import time:") :].split("|", 2)
        rows.append((int(cum), name.strip()))
    return sorted(rows, reverse=True)[:10]


def _busiest_member(home: Path) -> str:
    """The member with the most consent events (ties: the smallest id)."""
    with closing(sqlite3.connect(home / "optin.db")) as conn:
        row = conn.execute(
            "SELECT member_id FROM consent_events GROUP BY member_id "
            "ORDER BY count(*) DESC, member_id LIMIT 1"
        ).fetchone()
    return str(row[0])


def _time(label: str, argv: list[str], env: dict[str, str], runs: int) -> None:
    _run(argv, env)  # warm the page cache
    walls, cpus, codes = [], [], set()
    for _ in range(runs):
        w, c, rc = _run(argv, env)
        walls.append(w)
        cpus.append(c)
        codes.add(rc)
    print(
        f"{label:24} {statistics.median(walls) * 1000:10.0f} {min(walls) * 1000:8.0f} "
        f"{statistics.median(cpus) * 1000:8.0f}  {sorted(codes)}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--importtime", action="store_true")
    ap.add_argument(
        "--bytecode-cache", action="store_true", help="unset PYTHONDONTWRITEBYTECODE for the runs"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="optin-startup-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPTIN_")}
        if args.bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["OPTIN_HOME"] = str(Path(tmp) / "home")
        demo_env = {**env, "OPTIN_HOME": str(Path(tmp) / "demo")}
        for argv, e in ((["init"], env), (DEMO, demo_env)):
            if _run(argv, e)[2] != 0:
                print(f"optin {argv[0]} failed", file=sys.stderr)
                return 1
        member = _busiest_member(Path(demo_env["OPTIN_HOME"]))
        la = os.getloadavg()
        print(f"load average before: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} ({os.cpu_count()} CPUs)")
        cache = "off" if env.get("PYTHONDONTWRITEBYTECODE") else "on"
        print(f"bytecode cache for optin's modules: {cache}")
        print(f"{'command':24} {'median ms':>10} {'min ms':>8} {'cpu ms':>8}  exit")
        for label, argv in COMMANDS.items():
            _time(label, argv, env, args.runs)
        print(f"demo home, member {member} (the most consent events):")
        for label, argv in DEMO_COMMANDS.items():
            _time(label, [member if a == "MEMBER" else a for a in argv], demo_env, args.runs)
        if args.importtime:
            for argv, e in ((["--help"], env), (["consent", "show", member], demo_env)):
                print(f"\nslowest imports of `optin {' '.join(argv)}` (cumulative ms):")
                for cum, name in _importtime(argv, e):
                    print(f"  {cum / 1000:8.1f}  {name}")
        la = os.getloadavg()
        print(f"load average after: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
