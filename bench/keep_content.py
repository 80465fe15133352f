"""How much consenting content the record-drop rule keeps, and what it lets through.

Two modes:

    # a demo home (OPTIN_HOME=... python3 dev.py demo): the consent-gated records of
    # PURPOSE, redacted as a snapshot build redacts them, under each drop rule; and, for
    # every complete snapshot in the home, the records that still hold a ground-truth
    # span verbatim (demo/ground_truth.jsonl)
    .venv/bin/python bench/keep_content.py demo --home "$OPTIN_HOME"

    # third-party dev splits: the share of documents each rule would drop
    .venv/bin/python bench/keep_content.py bench --split dev

A rule is ``words<K`` (fewer than K words of original text left outside the redacted
spans: ``optin.privacy.anonymize.engine.real_words``) or ``density>X`` (more than X of
the non-space characters redacted, the rule before issue 17). The drop decision depends
on the findings only, never on the operator. Prints wall and CPU time and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RULES: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("density>0.25 (before)", lambda r: r["n"] > 0 and r["density"] > 0.25),
    *(
        (f"words<{k}", lambda r, k=k: r["n"] > 0 and r["words"] < k)  # type: ignore[misc]
        for k in (2, 3, 4, 5, 6, 8)
    ),
    ("none", lambda r: False),
]


def _records(redactor: Any, texts: list[str]) -> list[dict[str, Any]]:
    out = []
    for t in texts:
        x = redactor.redact(t)
        out.append({"n": len(x.applied), "density": x.density, "words": x.real_words, "red": x})
    return out


def demo(home: Path, purpose: str, profile: str) -> int:
    from optin.privacy.api import Redactor, RedactorConfig
    from optin.services.policy import policy_set
    from optin.services.snapshots import Selection, _eligibility, _write_directory
    from optin.settings import Settings
    from optin.storage import snapshots as repo
    from optin.storage.database import Database

    settings = Settings(home=home)
    db = Database.open(settings)
    now = datetime.now(UTC)
    sel = Selection.resolve(policy_set(db), purpose, now, now)
    elig = _eligibility(db, purpose, now, now)
    rows: list[dict[str, Any]] = []
    with db.session() as s:
        for t in repo.iter_selected(s, *sel.filters, authors=elig.proofs.keys()):
            rows += t.select(["content_id", "author_id", "text"]).to_pylist()
    truth = _truth(home)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "directory.jsonl"
        _write_directory(db, directory)
        red = Redactor(
            RedactorConfig(profile=profile, drop_density=None, directory_path=str(directory))
        )
        recs = _records(red, [r["text"] for r in rows])
    authors = Counter(r["author_id"] for r in rows)
    print(f"{len(rows)} consent-gated records of {len(authors)} members ({purpose}, {profile})")
    print(f"{'rule':24} {'dropped':>8} {'share':>7} {'members hit':>12} {'members emptied':>16} "
          f"{'kept w/ GT span':>16}")  # fmt: skip
    for name, rule in RULES:
        dropped = [i for i, r in enumerate(recs) if rule(r)]
        dset = set(dropped)
        hit = Counter(rows[i]["author_id"] for i in dropped)
        emptied = sum(1 for a, n in hit.items() if n == authors[a])
        leak = sum(
            1
            for i, r in enumerate(recs)
            if i not in dset and _holds(r["red"].text, truth.get(rows[i]["content_id"], []))
        )
        print(
            f"{name:24} {len(dropped):8} {len(dropped) / len(rows):7.1%} {len(hit):12} "
            f"{emptied:16} {leak:16}"
        )
    print("\nsnapshots in the home (records holding a ground-truth span verbatim):")
    with db.session() as s:
        for snap in repo.list_snapshots(s):
            if snap.status != "complete":
                continue
            _snapshot_leaks(db, home, snap, truth)
    return 0


def _snapshot_leaks(db: Any, home: Path, snap: Any, truth: dict[str, list[str]]) -> None:
    import pyarrow.parquet as pq
    from sqlalchemy import select

    from optin.services.snapshots import snapshot_dir
    from optin.storage.models import SnapshotRecordRow

    m = json.loads(snap.manifest or "{}")
    with db.session() as s:
        cid = dict(
            s.execute(
                select(SnapshotRecordRow.record_id, SnapshotRecordRow.content_id).where(
                    SnapshotRecordRow.snapshot_id == snap.id
                )
            ).all()
        )
    n = leaks = 0
    for f in m.get("files", []):
        t = pq.read_table(snapshot_dir(home, snap.path) / f["path"], columns=["record_id", "text"])
        for rid, text in zip(t["record_id"].to_pylist(), t["text"].to_pylist(), strict=True):
            n += 1
            leaks += _holds(text or "", truth.get(cid.get(rid, ""), []))
    cfg = m.get("config", {})
    dropped = {
        k: v
        for st in m["counts"]["steps"]
        if st["step"] == "redact"
        for k, v in st["dropped"].items()
    }
    print(
        f"  {snap.id}: operator {cfg.get('operator')}, min_real_words "
        f"{cfg.get('min_real_words')}, drop_density {cfg.get('drop_density')}: redact drops "
        f"{dropped or 0}, {n} records, {leaks} ({leaks / max(n, 1):.2%}) hold a ground-truth span"
    )


def _truth(home: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with open(home / "demo" / "ground_truth.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            out[r["id"]] = [r["text"][s["start"] : s["end"]] for s in r["spans"]]
    return out


def _holds(text: str, spans: list[str]) -> bool:
    return any(v.strip() and v in text for v in spans)


def bench(split: str, profile: str) -> int:
    from optin.privacy.api import Redactor, RedactorConfig

    shared = Path(os.environ.get("OPTIN_SHARED", ROOT.parent / "shared"))
    red = Redactor(RedactorConfig(profile=profile, drop_density=None))
    print(f"{'dataset':16} {'docs':>6} " + " ".join(f"{n:>22}" for n, _ in RULES))
    for ds in ("panorama_spia", "presidio_synth", "wnut17", "tab"):
        path = shared / "benchmarks" / "pii" / ds / f"{split}.jsonl"
        if not path.exists():
            continue
        with open(path, encoding="utf-8") as fh:
            texts = [json.loads(line)["text"] for line in fh if line.strip()]
        recs = _records(red, texts)
        cells = []
        for _, rule in RULES:
            k = sum(1 for r in recs if rule(r))
            cells.append(f"{k:>10} ({k / len(recs):6.1%})  ")
        print(f"{ds:16} {len(texts):6} " + " ".join(f"{c:>22}" for c in cells))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    d = sub.add_parser("demo")
    d.add_argument("--home", type=Path, default=Path(os.environ.get("OPTIN_HOME", ".")))
    d.add_argument("--purpose", default="train_own_models")
    d.add_argument("--profile", default="default")
    b = sub.add_parser("bench")
    b.add_argument("--split", default="dev", choices=["dev"])  # test is for the report
    b.add_argument("--profile", default="default")
    args = ap.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    rc = (
        demo(args.home, args.purpose, args.profile)
        if args.mode == "demo"
        else bench(args.split, args.profile)
    )
    print(
        f"\nwall {time.perf_counter() - t0:.1f} s, CPU {time.process_time() - c0:.1f} s, "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return rc


if __name__ == "__main__":
    sys.exit(main())
