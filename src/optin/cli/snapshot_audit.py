"""``optin snapshot audit``: draw a reproducible sample of a snapshot's records for
people (or, on the demo platform, the ground truth) to mark the personal data left, and
the measured leak rate with its 95% interval once every sampled record is reviewed.

(``optin audit`` is another command: the memorization audit of a trained model.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from optin.cli.context import console, print_json, settings_from
from optin.cli.core import open_db
from optin.cli.output import esc
from optin.errors import InputError


def _actor() -> str:
    from optin.cli.snapshot import _actor as actor

    return actor()


def audit(
    ctx: typer.Context,
    snapshot_id: str = typer.Argument(..., help="Snapshot id, or `latest`."),
    sample: int = typer.Option(
        None,
        "--sample",
        help="Draw (or continue) a sample of N kept records: ranked by HMAC-SHA256 of the "
        "record id under the seed, the N smallest; the same N and seed keep the reviews.",
        min=1,
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the sample (recorded in the audit)."),
    replace: bool = typer.Option(
        False, "--replace", help="Discard an existing audit's reviews and draw a new sample."
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="Write the reviewers' JSONL here (default: data/audit-sample.jsonl in the "
        "snapshot directory, removed with the shards).",
        dir_okay=False,
    ),
    import_file: Path = typer.Option(
        None,
        "--import",
        help="Import a reviewed sample JSONL (verdict clean|leak|null, findings as "
        "start/end/label in Unicode code points, optionally text): all lines are checked "
        "first; any error and nothing is saved.",
        dir_okay=False,
    ),
    ground_truth: bool = typer.Option(
        None,
        "--ground-truth/--people",
        help="Mark the sample from the demo platform's ground truth (the personal data its "
        "generator planted), or leave it to people. Default: the ground truth where "
        "demo/ground_truth.jsonl exists and no sampled record is reviewed yet, else people.",
        show_default=False,
    ),
    reviewer: str = typer.Option(
        None, "--reviewer", help="Who reviewed the imported lines without a `reviewer` field."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Measure a snapshot's leak rate on a reviewed random sample: people mark it on the
    admin review page or in the JSONL (--import), the demo ground truth marks it itself;
    the rate and its 95% Wilson interval go into audit.json, croissant.json and
    datasheet.md once every sampled record is reviewed."""
    from optin.services import snapshot_audit as sa

    settings = settings_from(ctx)
    db = open_db(ctx)
    now = datetime.now(UTC)
    if import_file is not None and (sample is not None or ground_truth):
        raise InputError(
            "--import is given alone (the sample must exist already)",
            field="--import",
            allowed="--import FILE [--reviewer NAME], or --sample N [--seed S]",
        )
    by = reviewer or _actor()
    imported: int | None = None
    status: Any
    if sample is not None:
        status = sa.start_audit(
            db, settings, snapshot_id, size=sample, seed=seed, by=by, now=now,
            replace=replace, out=out,
        )  # fmt: skip
        use_truth = (
            ground_truth
            if ground_truth is not None
            else sa.ground_truth_path(settings).exists() and status.reviewed == 0
        )
        if use_truth:
            sa.mark_from_ground_truth(db, settings, status.snapshot_id, now=now)
            # the same sample again: keeps the marks, rewrites the reviewers' copy with them
            status = sa.start_audit(
                db, settings, status.snapshot_id, size=sample, seed=seed, by=by, now=now,
                out=out,
            )  # fmt: skip
    elif import_file is not None:
        status, imported = sa.import_reviews(db, settings, snapshot_id, import_file, by=by, now=now)
    else:
        if ground_truth:
            raise InputError("--ground-truth needs --sample N", field="--ground-truth")
        status = sa.audit_status(db, settings, snapshot_id)
        if status is None:
            if as_json:
                print_json({"snapshot_id": snapshot_id, "audited": False})
            else:
                console.print(
                    esc(
                        f"snapshot {snapshot_id}: not audited; draw a sample with "
                        f"`optin snapshot audit {snapshot_id} --sample 200`"
                    ),
                    highlight=False,
                )
            return
    if as_json:
        d = status.to_dict()
        if imported is not None:
            d["imported"] = imported
        print_json(d)
        return
    _print(status, imported)


def _print(status: Any, imported: int | None) -> None:
    say = lambda text: console.print(esc(text), highlight=False)  # noqa: E731
    if imported is not None:
        say(f"imported {imported} review(s)")
    say(
        f"snapshot {status.snapshot_id}: sample of {status.sample:,} of "
        f"{status.population:,} records (seed {status.seed}); {status.reviewed:,} reviewed"
    )
    say(f"reviewers' copy: {status.sample_file}")
    say(f"review page: /admin/snapshots/{status.snapshot_id}/audit")
    r = status.result
    if r:
        lo, hi = r["ci95"]
        say(
            f"leak rate {r['leak_rate']:.1%} ({r['with_personal_data']} of {r['reviewed']} "
            f"records hold personal data), 95% Wilson CI {lo:.1%}-{hi:.1%}; source "
            f"{r['source']}; written into audit.json, croissant.json and datasheet.md"
        )
        if r["by_label"]:
            say("by label: " + ", ".join(f"{k} {v}" for k, v in r["by_label"].items()))
    else:
        say("no leak rate yet: the documents say 'not audited' until every record is reviewed")


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
