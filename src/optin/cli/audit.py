"""``optin audit MODEL``: canary exposure, extraction probes and membership inference
for a trained model, judged by the policy's ``[audit]`` thresholds.

``MODEL`` is a registered model (id, prefix or ``latest``: its current version) or a
model directory. What is audited comes from ``model_card.json`` (the contract is in
:mod:`optin.training.audit`); the result is written back into that card and, for a
registered model, into the registry (a failure marks it ``blocked``). Exit status: 0
when every measured threshold holds, 1 when one is exceeded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from optin.cli.context import console, print_json, settings_from
from optin.cli.output import Table, styled
from optin.errors import InputError, OptinError

if TYPE_CHECKING:
    from optin.domain.model import PolicyVersion
    from optin.services.model_audit import ModelAudit
    from optin.services.setup import Database


def _database(ctx: typer.Context) -> Database | None:
    from optin.services.setup import Database

    settings = settings_from(ctx)
    if settings.database_url or (settings.home / "optin.db").exists():
        db = Database.open(settings)
        if db.is_initialized():
            return db
        db.dispose()
    return None


def _policy(
    db: Database | None, policy_file: Path | None, now: datetime
) -> tuple[PolicyVersion, str]:
    """The policy whose thresholds apply, and where it came from."""
    from optin.domain.policy import default_policy_text, parse_policy
    from optin.services.model_audit import policy_in_force

    if policy_file is not None:
        try:
            text = policy_file.read_text("utf-8")
        except OSError as e:
            raise InputError(
                f"cannot read the policy file: {e.strerror}", file=str(policy_file)
            ) from None
        return parse_policy(text, version=0, effective_at=now, source=str(policy_file)), str(
            policy_file
        )
    if db is not None:
        pv = policy_in_force(db, now)
        return pv, f"policy version {pv.version}"
    pv = parse_policy(default_policy_text(), version=0, effective_at=now, source="default_policy")
    return pv, "the shipped default policy (no database)"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print(audit: ModelAudit, source: str) -> None:
    data: dict[str, Any] = audit.result.to_dict()
    reps = data["canaries"]["by_repetition"]
    if reps:
        t = Table(title="canary exposure (bits)", title_justify="left")
        for col in ("repetitions", "canaries", "mean", "max", "chance", "log2 |R|"):
            t.add_column(col, justify="right")
        for r in reps:
            t.add_row(
                str(r["repetitions"]),
                str(r["canaries"]),
                _fmt(r["mean_bits"]),
                _fmt(r["max_bits"]),
                _fmt(r["chance_bits"]),
                _fmt(r["space_bits"], 1),
            )
        console.print(t)
    else:
        console.print("canary exposure: not measured (the model card names no canaries)")
    for name, e in data["extraction"].items():
        console.print(
            f"extraction ({name}): {e['probed']} probed, {e['skipped_short']} too short; "
            f"verbatim {_fmt(e['verbatim_rate'], 3)}, near-verbatim "
            f"{_fmt(e['near_verbatim_rate'], 3)}",
            highlight=False,
            markup=False,
        )
    for name, m in data["membership"].items():
        kind = "calibrated by a reference model" if m["calibrated"] else "uncalibrated"
        console.print(
            f"membership inference ({name} vs non-members, {kind}): AUC {_fmt(m['auc'], 3)} "
            f"({m['members']} vs {m['non_members']} records)",
            highlight=False,
            markup=False,
        )
    t = Table(title=f"thresholds of {source}", title_justify="left")
    for col in ("check", "limit", "measured", "result"):
        t.add_column(col)
    for c in audit.verdict.checks:
        if c.passed is None:
            result = styled("not measured", "yellow")
        else:
            result = styled("pass", "green") if c.passed else styled("FAIL", "bold red")
        t.add_row(c.name, _fmt(c.limit, 3), _fmt(c.measured, 3), result)
    console.print(t)
    if audit.card is not None:
        console.print(f"written to {audit.card}", highlight=False, markup=False)


def audit(
    ctx: typer.Context,
    model: str = typer.Argument(
        ...,
        help="A model id (or unique prefix, or `latest`) of `optin model list`, or a model "
        "directory (save_pretrained) with its model_card.json.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    policy_file: Path | None = typer.Option(
        None,
        "--policy",
        help="Judge by this policy file's [audit] thresholds (default: the policy in force "
        "in the database, else the shipped default policy).",
    ),
    no_write: bool = typer.Option(
        False,
        "--no-write",
        help="Do not write the result into the model card file (a registered model's "
        "audit is still recorded in the registry: a failure blocks it).",
    ),
    max_candidates: int = typer.Option(
        1000,
        "--max-candidates",
        min=1,
        help="Candidates scored per canary; a larger space is sampled (sampled-rank estimate).",
    ),
    prefix_tokens: int = typer.Option(16, "--prefix-tokens", min=1, help="Probe prompt length."),
    new_tokens: int = typer.Option(16, "--new-tokens", min=1, help="Tokens greedy-decoded."),
    near_threshold: float = typer.Option(
        0.9,
        "--near-threshold",
        min=0.0,
        max=1.0,
        help="Edit similarity at or above which a continuation is near-verbatim.",
    ),
) -> None:
    """Audit a trained model: canary exposure, extraction probes, membership inference.

    A registered model's result is recorded in the registry: a failed audit marks it
    blocked (it cannot be exported until an audit passes). Exits 1 when a threshold of
    the policy's [audit] table is exceeded."""
    now = datetime.now(UTC)
    db = _database(ctx)
    try:
        _audit(
            db,
            ctx,
            model,
            as_json,
            policy_file,
            no_write,
            now,
            max_candidates,
            prefix_tokens,
            new_tokens,
            near_threshold,
        )
    finally:
        if db is not None:
            db.dispose()


def _audit(
    db: Database | None,
    ctx: typer.Context,
    model: str,
    as_json: bool,
    policy_file: Path | None,
    no_write: bool,
    now: datetime,
    max_candidates: int,
    prefix_tokens: int,
    new_tokens: int,
    near_threshold: float,
) -> None:
    from optin.services.model_audit import audit_model, locate_model, record_in_registry
    from optin.training.audit import AuditOptions

    model_dir, model_id = locate_model(db, settings_from(ctx), model)
    policy, source = _policy(db, policy_file, now)
    options = AuditOptions(
        max_candidates=max_candidates,
        prefix_tokens=prefix_tokens,
        new_tokens=new_tokens,
        near_threshold=near_threshold,
    )
    done = audit_model(
        model_dir,
        policy,
        now=now,
        options=options,
        write=not no_write,
        policy_version=policy.version or None,
    )
    registry: dict[str, Any] | None = None
    if db is not None and model_id is not None:
        registry = record_in_registry(db, model_id, done, now=now)
    if as_json:
        print_json(
            {
                "result": done.result.to_dict(),
                "verdict": done.verdict.to_dict(),
                "policy": source,
                "card": None if done.card is None else str(done.card),
                "registry": registry,
            }
        )
    else:
        _print(done, source)
        if registry is not None:
            note = (
                " (blocked: it cannot be exported until an audit passes)"
                if registry["status"] == "blocked"
                else ""
            )
            console.print(
                f"recorded for model {registry['model_id']} v{registry['version']}: "
                f"status {registry['status']}{note}",
                highlight=False,
                markup=False,
            )
    if not done.verdict.passed:
        failed = "; ".join(
            f"{c.name} {_fmt(c.measured, 3)} > {_fmt(c.limit, 3)}" for c in done.verdict.failures
        )
        raise OptinError(f"audit failed under {source}: {failed}")


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command to ``app``."""
    app.command("audit")(audit)
