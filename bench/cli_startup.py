"""CLI start-up: how long ``optin`` takes before it does anything.

Runs each command ``--runs`` times as a fresh process (``python -m optin.cli.main``, the
same code as the ``optin`` script) against a small SQLite home made once with
``optin init``, and prints the median and min wall time and the median process CPU time
(user + system of the child) per command, in ms, with the machine's load average.
``--importtime`` also prints the ten slowest imports of ``optin --help``
(``python -X importtime``, cumulative microseconds).

    python bench/cli_startup.py                   # optin --help, consent show, eligibility
    python bench/cli_startup.py --runs 20 --importtime

Target (issue 16): median ``optin --help`` <= 300 ms on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "optin --help": ["--help"],
    "optin --version": ["--version"],
    "optin consent show": ["consent", "show", "m-nobody"],
    "optin eligibility": ["eligibility", "m-nobody", "--purpose", "train_own_models"],
}


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "optin.cli.main", *argv],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.returncode


def _importtime(env: dict[str, str]) -> list[tuple[int, str]]:
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "optin.cli.main", "--help"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cum, name = line[len("import time:") :].split("|", 2)
        rows.append((int(cum), name.strip()))
    return sorted(rows, reverse=True)[:10]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--importtime", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="optin-startup-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPTIN_")}
        env["OPTIN_HOME"] = str(Path(tmp) / "home")
        _, _, rc = _run(["init"], env)
        if rc != 0:
            print("optin init failed", file=sys.stderr)
            return 1
        print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
              f"{os.getloadavg()[2]:.2f} ({os.cpu_count()} CPUs)")  # fmt: skip
        print(f"{'command':24} {'median ms':>10} {'min ms':>8} {'cpu ms':>8}  exit")
        for label, argv in COMMANDS.items():
            _run(argv, env)  # warm the page cache
            walls, cpus, codes = [], [], set()
            for _ in range(args.runs):
                w, c, rc = _run(argv, env)
                walls.append(w)
                cpus.append(c)
                codes.add(rc)
            print(
                f"{label:24} {statistics.median(walls) * 1000:10.0f} {min(walls) * 1000:8.0f} "
                f"{statistics.median(cpus) * 1000:8.0f}  {sorted(codes)}"
            )
        if args.importtime:
            print("\nslowest imports of `optin --help` (cumulative ms):")
            for cum, name in _importtime(env):
                print(f"  {cum / 1000:8.1f}  {name}")
        la = os.getloadavg()
        print(f"load average after: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
