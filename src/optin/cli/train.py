"""``optin train SNAPSHOT``, ``optin train update MODEL`` and ``optin model
list|show|retire``: a thin layer over the training and model-registry services."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from optin.cli.context import console, err_console, print_json, settings_from
from optin.cli.core import open_db
from optin.cli.output import Table, esc
from optin.errors import InputError

if TYPE_CHECKING:
    from optin.services.training import TrainResult

model_app = typer.Typer(help="Trained models: list, show, retire, export.", no_args_is_help=True)
JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of text.")


class TrainingBar:
    """A progress bar per trained part on stderr: steps, tokens/s and the loss."""

    def __init__(self, enabled: bool) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} tokens/s  loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            console=err_console,
            disable=not enabled,
        )
        self.tasks: dict[str, Any] = {}
        self.started: dict[str, float] = {}

    def __enter__(self) -> TrainingBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, label: str, step: int, steps: int, tokens: int, loss: float) -> None:
        if label not in self.tasks:
            self.tasks[label] = self.progress.add_task(esc(label), total=steps, rate="-", loss="-")
            self.started[label] = time.perf_counter()
        elapsed = time.perf_counter() - self.started[label]
        rate = f"{tokens / elapsed:,.0f}" if elapsed > 0 else "-"
        self.progress.update(self.tasks[label], completed=step, rate=rate, loss=f"{loss:.3f}")


def _summary(result: TrainResult, verb: str) -> None:
    card = result.card
    t = card["training"]
    console.print(
        f"model [bold]{esc(result.model_id)}[/] v{result.version} {verb} on snapshot "
        f"{esc(result.snapshot_id)}: {t['records']:,} records of {t['members']:,} members, "
        f"{t['tokens']:,} tokens at {t['tokens_per_s']:,.0f} tokens/s, loss "
        f"{t['first_loss']} -> {t['last_loss']}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(esc(card["privacy_statement"]), highlight=False, soft_wrap=True)
    if result.kept:
        console.print(f"kept: {esc(', '.join(result.kept))}", highlight=False)
    if result.destroyed:
        console.print(
            f"destroyed files of earlier versions: {esc(', '.join(result.destroyed))}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"written to {esc(result.path)}", highlight=False)


def train(
    ctx: typer.Context,
    target: str = typer.Argument(
        ...,
        help="Snapshot id (or `latest`) to train on; or `update` followed by a MODEL id to "
        "retrain only what is no longer eligible.",
    ),
    model: str = typer.Argument(None, help="With `update`: the model id (or `latest`)."),
    base: str = typer.Option(
        "tiny", "--base", help="`tiny` (a small GPT-2 from scratch) or a local HF model dir."
    ),
    shards: int = typer.Option(
        0, "--shards", help="Cohorts for unlearning (one LoRA adapter each); 0: none.", min=0
    ),
    dp_epsilon: float = typer.Option(
        None, "--dp-epsilon", help="Target epsilon (with --dp-delta)."
    ),
    dp_delta: float = typer.Option(None, "--dp-delta", help="Target delta (with --dp-epsilon)."),
    dp_unit: str = typer.Option(
        "member", "--dp-unit", help="Privacy unit: member (default) or example."
    ),
    max_examples: int = typer.Option(
        4, "--max-examples-per-member", help="k: examples per sampled member per step.", min=1
    ),
    clip_norm: float = typer.Option(1.0, "--clip-norm", help="C: clip each unit's gradient."),
    steps: int = typer.Option(40, "--steps", help="Optimizer steps (per part).", min=1),
    batch: int = typer.Option(
        16, "--batch", help="Examples per step; with DP the expected members per step.", min=1
    ),
    lr: float = typer.Option(3e-3, "--lr", help="Learning rate."),
    seed: int = typer.Option(0, "--seed", help="Seed."),
    context: int = typer.Option(128, "--context", help="tiny: context length.", min=8),
    allow_stale: bool = typer.Option(
        False, "--allow-stale", help="Train on a stale snapshot (ineligible records left out)."
    ),
    reason: str = typer.Option(None, "--reason", help="Why, with --allow-stale (recorded)."),
    canaries: int = typer.Option(
        0,
        "--canaries",
        help="Insert N fake secrets at each repetition count 1, 4 and 16 (for `optin audit`).",
        min=0,
    ),
    canary_digits: int = typer.Option(
        6, "--canary-digits", help="Free digits of each canary's secret (|R| = 10^digits)."
    ),
    holdout: float = typer.Option(
        0.0,
        "--holdout",
        help="Fraction of members (keyed hash) never trained on: the membership-inference "
        "attack's non-members.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    as_json: bool = JSON_OPT,
) -> None:
    """Train a model on a verified snapshot, or update one (`optin train update MODEL`)."""
    from optin.services.training import TrainOptions, train_model, update_model

    settings = settings_from(ctx)
    db = open_db(ctx)
    show = not (quiet or as_json) and err_console.is_terminal
    if target == "update":
        if not model:
            raise InputError("`optin train update` needs a MODEL id", field="MODEL")
        with TrainingBar(show) as bar:
            result = update_model(db, settings, model, now=datetime.now(UTC), progress=bar)
    else:
        if model:
            raise InputError(
                "unexpected second argument",
                field="MODEL",
                value=model,
                allowed="`optin train SNAPSHOT` or `optin train update MODEL`",
            )
        opts = TrainOptions(
            base=base,
            shards=shards,
            dp_epsilon=dp_epsilon,
            dp_delta=dp_delta,
            dp_unit=dp_unit,
            max_examples_per_member=max_examples,
            clip_norm=clip_norm,
            steps=steps,
            batch=batch,
            lr=lr,
            seed=seed,
            context=context,
            allow_stale=allow_stale,
            reason=reason,
            canaries=canaries,
            canary_digits=canary_digits,
            holdout=holdout,
        )
        with TrainingBar(show) as bar:
            result = train_model(db, settings, target, opts, now=datetime.now(UTC), progress=bar)
    if as_json:
        print_json(result.to_dict())
        return
    _summary(result, "updated" if target == "update" else "trained")


def list_cmd(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """List trained models, newest first."""
    from optin.services.models import list_models

    rows = list_models(open_db(ctx))
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    if not rows:
        console.print("no models yet (`optin train SNAPSHOT`)")
        return
    t = Table("model", "version", "status", "snapshot", "shards", "privacy", "audit", "created")
    for r in rows:
        p = r.privacy
        priv = (
            f"{p['unit']}-level ε={p['epsilon']} δ={p['delta']}"
            if p.get("unit") in ("member", "example")
            else "none"
        )
        status = r.status
        if r.status == "needs_retrain":
            status += f" ({r.needs_retrain_records} records)"
        t.add_row(
            r.id,
            str(r.version),
            status,
            r.snapshot_id,
            str(r.shards or "-"),
            priv,
            "-" if r.audit is None else ("pass" if r.audit["passed"] else "FAIL"),
            r.created_at.isoformat(),
        )
    console.print(t)


def show(
    ctx: typer.Context,
    model_id: str = typer.Argument(..., help="Model id, unique prefix, or `latest`."),
    as_json: bool = JSON_OPT,
) -> None:
    """A model: its state, versions and parts (with what destroyed them)."""
    from optin.services.models import show_model

    info = show_model(open_db(ctx), model_id)
    if as_json:
        print_json(info)
        return
    m = info["model"]
    console.print(
        f"model [bold]{esc(m['id'])}[/]: {esc(m['status'])}, version {m['version']}, "
        f"base {esc(m['base'])}, shards {m['shards'] or '-'}",
        highlight=False,
    )
    if m["needs_retrain_reason"]:
        console.print(f"needs retrain: {esc(m['needs_retrain_reason'])}", highlight=False)
    a = m.get("audit")
    if a is None:
        console.print("last audit: none (`optin audit MODEL`)", highlight=False)
    else:
        verdict = "passed" if a["passed"] else f"FAILED ({a['failed']}): blocked"
        console.print(
            f"last audit: {esc(verdict)} at {esc(a['recorded_at'] or '-')}",
            highlight=False,
            soft_wrap=True,
        )
    if m["retired_at"]:
        console.print(
            f"retired {esc(m['retired_at'])}: {esc(m['retired_reason'])}", highlight=False
        )
    t = Table("version", "status", "snapshot", "created", "ended", "parts")
    for v in info["versions"]:
        t.add_row(
            str(v["version"]),
            v["status"],
            v["snapshot_id"],
            v["created_at"],
            v["ended_at"] or "-",
            str(len(v["components"])),
        )
    console.print(t)
    t = Table("part", "trained in", "records", "members", "status", "destroyed because")
    for c in info["components"]:
        t.add_row(
            c["name"],
            f"v{c['trained_in']}",
            str(c["records"]),
            str(c["members"]),
            c["status"],
            c["destroyed_reason"] or "-",
        )
    console.print(t)


def retire(
    ctx: typer.Context,
    model_id: str = typer.Argument(..., help="Model id, unique prefix, or `latest`."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded)."),
    superseded_by: str = typer.Option(None, "--superseded-by", help="The model replacing it."),
    as_json: bool = JSON_OPT,
) -> None:
    """Retire a model: its weights are destroyed, its model cards and records stay."""
    from optin.services.models import retire_model

    out = retire_model(
        open_db(ctx),
        settings_from(ctx),
        model_id,
        reason=reason,
        superseded_by=superseded_by,
        now=datetime.now(UTC),
    )
    if as_json:
        print_json(out)
        return
    gone = ", ".join(out["destroyed"]) or "-"
    console.print(
        f"model {esc(out['model_id'])} retired; destroyed: {esc(gone)}",
        highlight=False,
        soft_wrap=True,
    )


def export(
    ctx: typer.Context,
    model_id: str = typer.Argument(..., help="Model id, unique prefix, or `latest`."),
    dest: Path = typer.Argument(..., help="A new directory to copy the model into."),
    as_json: bool = JSON_OPT,
) -> None:
    """Copy a model's current version out (weights, tokenizer, card; never the audit
    inputs). Refused for a model that is blocked by a failed audit, waiting to be
    retrained, or retired."""
    from optin.services.models import export_model

    out = export_model(open_db(ctx), settings_from(ctx), model_id, dest)
    if as_json:
        print_json(out)
        return
    console.print(
        f"model {esc(out['model_id'])} exported to {esc(out['path'])} ({len(out['files'])} files)",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    model_app.command("list")(list_cmd)
    model_app.command("show")(show)
    model_app.command("retire")(retire)
    model_app.command("export")(export)
    app.add_typer(model_app, name="model")
