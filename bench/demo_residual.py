"""Residual personal data in a demo snapshot, measured against the demo's ground truth.

Counts the snapshot's kept records whose text still holds a ground-truth span verbatim
(``demo/ground_truth.jsonl`` in the demo home), by label, and the records that hold a
member's display name from the platform directory (CJK names included), verbatim (as a
whole word for Latin-script spans).

    OPTIN_HOME=$(mktemp -d) python3 dev.py demo
    .venv/bin/python bench/demo_residual.py --home $OPTIN_HOME [--show 20]

Independent of the redactor: it reads the Parquet shards, the ground truth and the
members table, and compares strings. A span shorter than 3 characters is not counted
(it would match by chance anywhere).
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq


def _holds(text: str, span: str) -> bool:
    """``span`` verbatim in ``text``, as a whole word where it starts or ends with a
    letter or digit ("Jun" is not in "Juniper"; a CJK name is matched anywhere)."""
    if span not in text:
        return False
    if _CJK.search(span):
        return True
    left = r"(?<!\w)" if span[0].isalnum() else ""
    right = r"(?!\w)" if span[-1].isalnum() else ""
    return re.search(left + re.escape(span) + right, text) is not None


_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def latest_snapshot(home: Path) -> Path:
    snaps = sorted((home / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime)
    if not snaps:
        sys.exit(f"no snapshot under {home / 'snapshots'}")
    return snaps[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", required=True, type=Path)
    ap.add_argument("--snapshot", type=Path, help="snapshot folder (default: the newest)")
    ap.add_argument("--show", type=int, default=0, help="print this many residual examples")
    args = ap.parse_args()
    home: Path = args.home
    snap = args.snapshot or latest_snapshot(home)
    db = sqlite3.connect(home / "optin.db")
    content_of = dict(
        db.execute(
            "select record_id, content_id from snapshot_records where snapshot_id = ?", (snap.name,)
        )
    )
    names = [
        (mid, name)
        for mid, name in db.execute(
            "select id, display_name from members where display_name is not null"
        )
        if name and len(name) >= 2
    ]
    truth: dict[str, list[tuple[str, str]]] = {}
    with (home / "demo" / "ground_truth.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            truth[row["id"]] = [
                (s["label"], row["text"][s["start"] : s["end"]])
                for s in row["spans"]
                if s["end"] - s["start"] >= 3
            ]
    records = 0
    with_span: set[str] = set()
    by_label: Counter[str] = Counter()
    rec_by_label: Counter[str] = Counter()
    with_name: set[str] = set()
    examples: list[tuple[str, str, str]] = []
    for shard in sorted((snap / "data").glob("*.parquet")):
        for row in pq.read_table(shard, columns=["record_id", "text"]).to_pylist():
            records += 1
            rid, text = row["record_id"], row["text"]
            seen: set[str] = set()
            for label, span in truth.get(content_of.get(rid, ""), []):
                if _holds(text, span):
                    with_span.add(rid)
                    by_label[label] += 1
                    seen.add(label)
                    examples.append((label, span, text))
            for label in seen:
                rec_by_label[label] += 1
            for _mid, name in names:
                if _holds(text, name):
                    with_name.add(rid)
                    examples.append(("DIRECTORY_NAME", name, text))
    rate = len(with_span) / records if records else 0.0
    print(f"snapshot {snap.name}: {records} records")
    print(f"records with a ground-truth span verbatim: {len(with_span)} ({rate:.2%})")
    print(f"  spans by label: {dict(by_label.most_common())}")
    print(f"  records by label: {dict(rec_by_label.most_common())}")
    print(f"records with a member's display name verbatim: {len(with_name)}")
    for label, span, text in examples[: args.show]:
        print(f"--- {label}: {span!r}\n    {text[:300]!r}")


if __name__ == "__main__":
    main()
