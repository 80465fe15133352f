"""Does `optin train update` forget? The membership-inference AUC on withdrawn members'
records before and after retraining their cohort.

Builds a demo platform and a snapshot in a temporary data directory, trains a sharded
tiny GPT-2 (no DP by default, so there is something to forget) with ``--holdout`` (the
attack's non-members), then:

1. takes the ``--withdraw`` members of cohort 0 with the most records and measures the
   loss attack's AUC on their records against the held-out members' records on v1
   (:func:`optin.training.audit.membership_inference`, uncalibrated: ``--base tiny`` has
   no reference model);
2. the members withdraw, the child snapshot is derived, ``train update`` retrains
   cohort 0 without them;
3. ``optin audit``'s own run (:func:`optin.training.audit.run_audit`) on v2 reports the
   AUC on the same records (the ``withdrawn`` group the update wrote) and on the
   training records still in the model.

0.5 is chance. CPU figures on a shared machine: the load average is printed.

    python bench/unlearning_audit.py                  # a few minutes on 2 loaded cores
    python bench/unlearning_audit.py --steps 300 --withdraw 8 --dp-epsilon 8
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=120)
    ap.add_argument("--posts", type=int, default=900)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--holdout", type=float, default=0.3)
    ap.add_argument("--withdraw", type=int, default=5, help="Members of cohort 0 who withdraw.")
    ap.add_argument("--dp-epsilon", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from optin.services.consent import record_consent
    from optin.services.demo import generate_demo
    from optin.services.derive import derive_snapshot
    from optin.services.snapshots import build_snapshot
    from optin.services.training import TrainOptions, _load_records, train_model, update_model
    from optin.settings import Settings
    from optin.storage.database import Database
    from optin.storage.repos import models as repo
    from optin.training.audit import membership_inference, read_records, run_audit
    from optin.training.lm import load_model

    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home")
        db = Database.open(settings)
        t0 = datetime.now(UTC) - timedelta(hours=1)
        generate_demo(db, members=args.members, posts=args.posts, seed=3, now=t0, accounts=False)
        sid = build_snapshot(db, settings, "train_own_models", engine="inline", now=t0).snapshot_id
        opts = TrainOptions(
            shards=2,
            steps=args.steps,
            batch=args.batch,
            width=args.width,
            layers=args.layers,
            context=args.context,
            holdout=args.holdout,
            dp_epsilon=args.dp_epsilon,
            dp_delta=1e-5 if args.dp_epsilon else None,
        )
        res = train_model(db, settings, sid, opts, now=datetime.now(UTC))
        with db.session() as s:
            c0 = next(c for c in repo.components(s, res.model_id) if c.cohort == 0)
            authors = sorted(repo.component_authors(s, c0.id).items(), key=lambda kv: -kv[1])
            leaving = [m for m, _ in authors[: args.withdraw]]
            trained0 = {r for _, r in repo.component_records(s, c0.id)}
            from sqlalchemy import select

            from optin.storage.models import SnapshotRecordRow

            ids = set(
                s.execute(
                    select(SnapshotRecordRow.record_id).where(
                        SnapshotRecordRow.snapshot_id == sid,
                        SnapshotRecordRow.author_id.in_(leaving),
                    )
                ).scalars()
            )
        snap = _load_records(db, settings, sid, set(), None)
        texts = [t for r, t in zip(snap.record_ids, snap.texts, strict=True) if r in ids & trained0]
        non = read_records(res.path / "audit" / "non_members.jsonl")
        model, tok = load_model(res.path)
        before = membership_inference(model, tok, texts, non, group="withdrawn")
        train_before = run_audit(res.path).membership["training"]
        now = datetime.now(UTC)
        for m in leaving:
            record_consent(db, m, "train_own_models", "withdraw", source="cli", at=now, now=now)
        derive_snapshot(db, settings, sid, now=now)
        upd = update_model(db, settings, res.model_id, now=datetime.now(UTC))
        after = run_audit(upd.path)
        gone, still = after.membership["withdrawn"], after.membership["training"]
        privacy = (res.card.get("privacy") or {}).get("epsilon")
        print(
            f"tiny GPT-2 {args.layers}x{args.width}, ctx {args.context}, 2 cohorts, "
            f"{args.steps} steps, batch {args.batch}, "
            + (f"member-level DP eps={privacy}" if privacy else "no DP")
        )
        print(f"non-members (held-out members' records): {before.non_members}")
        print("group | v1 AUC | v2 AUC")
        print("---|---|---")
        print(
            f"withdrawn ({len(leaving)} members, {before.members} records) | "
            f"{before.auc:.3f} | {gone.auc:.3f}"
        )
        print(
            f"training records (sample) | {train_before.auc:.3f} | {still.auc:.3f}  "
            f"(v2: {upd.retrained} retrained, {len(upd.kept)} kept)"
        )
        db.dispose()
    print(
        f"wall {time.perf_counter() - wall:.1f} s, process CPU {time.process_time() - cpu:.1f} s; "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
