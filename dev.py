#!/usr/bin/env python3
"""One entry point for people and CI: set up the virtual environment and run things.

    python3 dev.py demo     # set up, build the demo platform, snapshot it, verify, summarise
    python3 dev.py test     # set up (dev extras, Chromium, PostgreSQL) and run lint, types, tests
    python3 dev.py check    # lint + types only
    python3 dev.py bench NAME [ARGS]   # run bench/NAME.py in the venv
    python3 dev.py docs     # regenerate docs/cli.md from the CLI

Needs only python3 (3.11+). Creates ./.venv; reinstalls when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
#: The ``train`` extra's torch pin (pyproject.toml; a test holds the two together).
#: Installed alone first: pip then takes the CPU build of this version on disk, where a
#: range asked for by another package would pull a multi-GB CUDA build.
TORCH_PIN = "torch==2.13.0"


def sh(*cmd: str | Path, check: bool = True, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    rc = subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)
    if check and rc != 0:
        sys.exit(rc)
    return rc


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs before the venv exists
        sys.exit(f"optin needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".optin-installed-{extras or 'base'}-{digest}"
    if stamp.exists():
        return
    sh(PY, "-m", "pip", "install", "-q", "--upgrade", "pip")
    if extras in ("dev", "train"):  # dev includes the train extra
        sh(PY, "-m", "pip", "install", "-q", TORCH_PIN)
    target = f".[{extras}]" if extras else "."
    sh(PY, "-m", "pip", "install", "-q", "-e", target)
    stamp.touch()


def ensure_chromium() -> None:
    if Path("/usr/bin/chromium").exists():
        return
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sh(apt, "update", "-qq", check=False, env=env)
        sh(apt, "install", "-y", "-qq", "chromium", "chromium-driver", check=False, env=env)
    if not Path("/usr/bin/chromium").exists():
        print(
            "warning: /usr/bin/chromium is missing; browser tests will fail. "
            "Install it with: apt-get install -y chromium chromium-driver",
            flush=True,
        )


def ensure_postgres() -> None:
    if os.environ.get("OPTIN_TEST_PG_URL", "").startswith("skip"):
        return
    ready = shutil.which("pg_isready")
    if ready and subprocess.call([ready, "-q", "-h", "127.0.0.1", "-p", "5432"]) == 0:
        return
    for cmd in (["pg_ctlcluster", "15", "main", "start"], ["service", "postgresql", "start"]):
        if shutil.which(cmd[0]):
            subprocess.call(cmd)
            for _ in range(30):
                if ready and subprocess.call([ready, "-q", "-h", "127.0.0.1"]) == 0:
                    return
                time.sleep(1)
    print(
        "warning: PostgreSQL is not reachable on 127.0.0.1:5432; PostgreSQL tests will "
        "fail in CI and be skipped locally",
        flush=True,
    )


def optin(*args: str) -> None:
    sh(BIN / "optin", *args)


def cmd_demo(argv: list[str]) -> None:
    ensure_venv("dask")
    home = Path(os.environ.get("OPTIN_HOME", str(ROOT / "optin-data")))
    if (home / "demo" / "ground_truth.jsonl").exists() and (home / "optin.db").exists():
        print(f"removing the previous demo platform in {home}", flush=True)
        shutil.rmtree(home)
    elif home.exists() and any(home.iterdir()):
        sys.exit(f"{home} exists and is not a demo platform; set OPTIN_HOME to an empty folder")
    # the demo's history starts in 2024: its first policy is backdated, explicitly
    optin("--home", str(home), "init", "--effective-at", "2024-01-01", "--allow-backdate")
    # the transparency log's and the manifests' signing keys: the snapshot is a signed note
    optin("--home", str(home), "log", "keygen")
    optin("--home", str(home), "demo", *argv)
    optin("--home", str(home), "snapshot", "build", "--purpose", "train_own_models")
    # a measured leak rate: 200 sampled records, marked from the demo's ground truth
    optin("--home", str(home), "snapshot", "audit", "latest", "--sample", "200")
    optin("--home", str(home), "snapshot", "verify", "latest")
    optin("--home", str(home), "summary")


def cmd_check(_: list[str]) -> None:
    ensure_venv("dev")
    sh(BIN / "ruff", "check", "src", "tests", "bench", "dev.py")
    sh(BIN / "ruff", "format", "--check", "src", "tests", "bench", "dev.py")
    sh(BIN / "mypy")


def cmd_test(argv: list[str]) -> None:
    ensure_venv("dev")
    ensure_chromium()
    ensure_postgres()
    cmd_check([])
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    workers = os.environ.get("OPTIN_TEST_WORKERS", "2")
    sh(BIN / "pytest", "-n", workers, "--timeout", "600", *argv, env=env)


def cmd_bench(argv: list[str]) -> None:
    ensure_venv("dev")
    if not argv:
        sys.exit(
            "usage: python3 dev.py bench NAME [ARGS]; NAME is one of: "
            + ", ".join(sorted(p.stem for p in (ROOT / "bench").glob("*.py")))
        )
    sh(PY, ROOT / "bench" / f"{argv[0]}.py", *argv[1:])


def cmd_docs(_: list[str]) -> None:
    ensure_venv("dev")
    code = (
        "import pathlib; from optin.cli.docs import render_cli_markdown; "
        "from optin.privacy.docs import render_privacy_markdown; "
        "pathlib.Path('docs/cli.md').write_text(render_cli_markdown()); "
        "pathlib.Path('docs/privacy.md').write_text(render_privacy_markdown())"
    )
    sh(PY, "-c", code)


COMMANDS = {
    "demo": cmd_demo,
    "test": cmd_test,
    "check": cmd_check,
    "bench": cmd_bench,
    "docs": cmd_docs,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
