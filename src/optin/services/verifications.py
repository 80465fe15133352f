"""The kept results of snapshot verification (``optin snapshot verify`` and the admin
page's Verify button): one JSON object per line in ``verifications.jsonl`` in the
snapshot's directory, newest last.

Each line holds the time of the run, the result (``pass``, ``stale``, ``fail`` or
``retired``), who ran it, and per check its name, state and counts with the *number*
of problems (the problem texts are not kept: they can quote record ids and residual
findings; run the verification again to read them). The file is rewritten whole with
the atomic writer, so a reader sees the old history or the new one, never half a line;
a line that does not parse (edited by hand) is skipped, not trusted. Each append holds
an exclusive lock on ``.verifications.lock`` beside it from reading the history to
renaming the new file, so two verifications of one snapshot at the same time (two
``optin snapshot verify`` processes, or the CLI and the admin page) both keep their line.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from optin.files import atomic_text, file_lock

FILE = "verifications.jsonl"
#: held while a result is appended (created once, never removed)
LOCK = ".verifications.lock"
#: at most this many results are kept per snapshot (the oldest are dropped)
KEEP = 200
_RESULTS = ("pass", "stale", "fail", "retired")


def summary(report: Any, *, actor: str, now: datetime) -> dict[str, Any]:
    """The line kept for one verification ``report`` (a VerifyReport or its dict)."""
    d = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    return {
        "at": now.isoformat(),
        "snapshot_id": d["snapshot_id"],
        "result": d["status"],
        "by": actor,
        "checks": [
            {
                "name": c["name"],
                "state": c["state"],
                "counts": c.get("counts") or {},
                "problems": len(c.get("problems") or []),
            }
            for c in d.get("checks", [])
        ],
    }


def record(directory: Path, report: Any, *, actor: str, now: datetime) -> dict[str, Any]:
    """Append the result of ``report`` to ``directory``'s history (atomically) and return
    the line kept."""
    line = summary(report, actor=actor, now=now)
    with file_lock(Path(directory) / LOCK):  # read, add, rename: one writer at a time
        kept = [json.dumps(e, sort_keys=True) for e in history(directory)][-(KEEP - 1) :]
        kept.append(json.dumps(line, sort_keys=True))
        with atomic_text(Path(directory) / FILE, mkdir=False) as f:
            f.write("\n".join(kept) + "\n")
    return line


def history(directory: Path) -> list[dict[str, Any]]:
    """Every kept result of the snapshot in ``directory``, oldest first (empty when it
    was never verified or the directory is gone)."""
    path = Path(directory) / FILE
    try:
        text = path.read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for raw in text.splitlines():
        try:
            e = json.loads(raw)
        except ValueError:
            continue
        if isinstance(e, dict) and e.get("result") in _RESULTS and isinstance(e.get("at"), str):
            out.append(e)
    return out


def latest(directory: Path) -> dict[str, Any] | None:
    """The newest kept result, or None."""
    h = history(directory)
    return h[-1] if h else None


__all__ = ["FILE", "KEEP", "LOCK", "history", "latest", "record", "summary"]
