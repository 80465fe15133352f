"""``optin train SNAPSHOT`` and ``optin train update MODEL``: models as derived data.

Training (:func:`train_model`):

1. the ``train`` extra must be installed (:func:`optin.training.require_extra`);
2. the snapshot must verify (:func:`optin.services.verify.verify_snapshot`, the
   independent check). A ``stale`` snapshot is refused unless ``allow_stale`` with a
   reason, which the model card records; its no-longer-eligible records are left out
   (the same judgement as ``optin snapshot derive``). Only snapshots of
   ``train_own_models`` are trained on;
3. each record's author comes from the provenance rows; the trainer sees only opaque
   unit indices (``0..members-1``), never member ids;
4. without shards one model is trained (``--base tiny``: a byte-level BPE tokenizer
   trained on the snapshot's text and a small GPT-2; ``--base PATH``: a local Hugging
   Face model, fine-tuned). With ``shards = S`` members are split into S cohorts by
   ``HMAC-SHA256(platform key, member id) mod S`` (the key is derived from the
   installation's secret per model, so cohorts are stable across versions and not
   guessable); the base holds **no member content** (``tiny``: the data-free byte
   alphabet and random weights; ``PATH``: the given model), and each cohort trains its
   own LoRA adapter; inference averages the adapters' logits
   (:class:`optin.training.lm.CohortEnsemble`);
5. the version directory is written under a temporary name and renamed
   (``models/<id>/v<n>``), with ``model_card.json`` and ``README.md``;
6. the registry gets the model, the version, its parts and each part's training set
   (record ids), and a ``model`` lineage edge snapshot → model;
7. with ``canaries`` / ``holdout`` (:class:`_AuditKit`): the canaries (installation-
   keyed per model, each its own privacy unit, one cohort's when sharded) are trained
   with the records, the held-out members (keyed hash below ``holdout``, the same in
   every version) are not, and ``audit/`` gets what :mod:`optin.training.audit`'s card
   contract names (``canaries``, ``audit_records``; ``reference_model`` for a local
   base). Propagation later removes withdrawn or erased members' lines from it
   (:func:`optin.services.models.scrub_audit_inputs`).

Updating (:func:`update_model`): the records of the current version's snapshot that are
no longer eligible are found, the child snapshot without them is derived (or the
existing one reused) and verified, and only the parts whose training set held any of
them are retrained on the child; a sharded model keeps its other adapters (copied into
the new version). Then the new version becomes current, the replaced parts are marked
destroyed (with the reason) and every older version directory loses its weights: old
and new adapters side by side would leak what was removed. No intermediate checkpoint
is ever written. With an audit kit, the update also writes ``withdrawn``: the removed
records the previous version was trained on (read from the parent snapshot), so
``optin audit`` measures whether the new version still knows them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from optin.errors import ConflictError, InputError, NotFoundError
from optin.files import atomic_write_bytes, atomic_write_json, private_dir
from optin.services import models as registry
from optin.services.derive import derive_snapshot, ineligible_records
from optin.services.snapshots import (
    resolve_snapshot_id,
    snapshot_dir,
    snapshot_key,
    stored_path,
)
from optin.services.tlog import manifest_pin
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage import ledger
from optin.storage import lineage as lineage_repo
from optin.storage import snapshots as snap_repo
from optin.storage.database import Database
from optin.storage.repos import models as repo
from optin.training import require_extra
from optin.training.card import data_statement, privacy_statement, render_readme

#: The purpose a model may be trained for.
TRAINING_PURPOSE = "train_own_models"
#: progress(label, step, steps, tokens so far, loss)
TrainProgress = Callable[[str, int, int, int, float], None]


@dataclass(frozen=True)
class TrainOptions:
    """How to train (recorded in the model card, reused by ``train update``)."""

    base: str = "tiny"
    shards: int = 0
    dp_epsilon: float | None = None
    dp_delta: float | None = None
    dp_unit: str = "member"
    max_examples_per_member: int = 4
    clip_norm: float = 1.0
    steps: int = 40
    batch: int = 16
    lr: float = 3e-3
    seed: int = 0
    layers: int = 2
    width: int = 128
    context: int = 128
    vocab: int = 2048
    allow_stale: bool = False
    reason: str | None = None
    #: canaries inserted per repetition count (1, 4, 16); 0: none
    canaries: int = 0
    canary_digits: int = 6
    #: fraction of members held out of training (keyed hash), the audit's non-members
    holdout: float = 0.0

    def check(self) -> None:
        if self.shards < 0 or self.shards == 1:
            raise InputError(
                "--shards must be 0 (no shards) or at least 2",
                field="--shards",
                value=self.shards,
                allowed="0, or 2 and more",
            )
        if (self.dp_epsilon is None) != (self.dp_delta is None):
            raise InputError(
                "differential privacy needs both --dp-epsilon and --dp-delta",
                field="--dp-delta" if self.dp_delta is None else "--dp-epsilon",
                allowed="both, or neither",
            )
        if self.dp_epsilon is not None and self.dp_epsilon <= 0:
            raise InputError("epsilon must be > 0", field="--dp-epsilon", value=self.dp_epsilon)
        if self.dp_delta is not None and not 0 < self.dp_delta < 1:
            raise InputError("delta must be in (0, 1)", field="--dp-delta", value=self.dp_delta)
        if self.dp_unit not in ("member", "example"):
            raise InputError(
                "unknown privacy unit",
                field="--dp-unit",
                value=self.dp_unit,
                allowed="member, example",
            )
        for name, value in (
            ("--max-examples-per-member", self.max_examples_per_member),
            ("--steps", self.steps),
            ("--batch", self.batch),
        ):
            if value < 1:
                raise InputError("must be at least 1", field=name, value=value)
        if not 0 <= self.canaries <= 100:
            raise InputError(
                "--canaries must be between 0 and 100 (per repetition count)",
                field="--canaries",
                value=self.canaries,
                allowed="0..100",
            )
        if not 1 <= self.canary_digits <= 6:
            raise InputError(
                "--canary-digits must be between 1 and 6",
                field="--canary-digits",
                value=self.canary_digits,
                allowed="1..6",
            )
        if not 0 <= self.holdout < 0.5:
            raise InputError(
                "--holdout is the fraction of members held out of training",
                field="--holdout",
                value=self.holdout,
                allowed="0 <= fraction < 0.5",
            )
        if self.allow_stale and not (self.reason or "").strip():
            raise InputError(
                "--allow-stale needs --reason TEXT (it is recorded in the model card)",
                field="--reason",
            )

    @property
    def dp(self) -> bool:
        return self.dp_epsilon is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    model_id: str
    version: int
    path: Path
    snapshot_id: str
    card: dict[str, Any]
    retrained: list[str] = field(default_factory=list)  # parts trained in this run
    kept: list[str] = field(default_factory=list)  # parts carried over
    destroyed: list[str] = field(default_factory=list)  # parts whose files were destroyed
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "version": self.version,
            "path": str(self.path),
            "snapshot_id": self.snapshot_id,
            "retrained": self.retrained,
            "kept": self.kept,
            "destroyed": self.destroyed,
            "seconds": round(self.seconds, 3),
            "privacy": self.card.get("privacy"),
            "training": self.card.get("training"),
        }


# -- the snapshot's records ----------------------------------------------------------


@dataclass
class _Snapshot:
    id: str
    purpose: str
    as_of: datetime
    manifest: dict[str, Any]
    manifest_sha256: str
    record_ids: list[str]
    texts: list[str]
    authors: list[str]
    stale: dict[str, Any] | None = None


def _checked_snapshot(
    db: Database, settings: Settings, snapshot_id: str, opts: TrainOptions, now: datetime
) -> _Snapshot:
    """The snapshot, verified; its records less those no longer eligible (if stale)."""
    report = verify_snapshot(db, settings, snapshot_id, now=now)
    leave_out: dict[str, str] = {}
    stale: dict[str, Any] | None = None
    if report.status == "stale" and opts.allow_stale:
        with db.session() as s:
            row = snap_repo.get_snapshot(s, snapshot_id)
            assert row is not None
            purpose = row.purpose
        leave_out = ineligible_records(db, snapshot_id, purpose, now)
        stale = {"reason": opts.reason, "stale_records": len(leave_out), "left_out": True}
    elif report.status == "stale":
        try:
            report.raise_for_status()
        except ConflictError as e:
            raise ConflictError(
                f"{e.message}; or train on it anyway with --allow-stale --reason TEXT (the "
                "ineligible records are left out and the reason is recorded)"
            ) from None
    else:
        report.raise_for_status()
    return _load_records(db, settings, snapshot_id, set(leave_out), stale)


def _load_records(
    db: Database,
    settings: Settings,
    snapshot_id: str,
    leave_out: set[str],
    stale: dict[str, Any] | None,
) -> _Snapshot:
    with db.session() as s:
        row = snap_repo.get_snapshot(s, snapshot_id)
        if row is None:
            raise NotFoundError(f"snapshot {snapshot_id!r} does not exist")
        if row.purpose != TRAINING_PURPOSE:
            raise ConflictError(
                f"snapshot {snapshot_id} is of purpose {row.purpose!r}; models are trained "
                f"only on snapshots of {TRAINING_PURPOSE!r} (the members' consent is per "
                "purpose)"
            )
        authors = {r.record_id: r.author_id for r in snap_repo.iter_provenance(s, snapshot_id)}
        base = snapshot_dir(settings.home, row.path)
        manifest = json.loads(row.manifest or "{}")
        snap = _Snapshot(
            row.id,
            row.purpose,
            row.as_of,
            manifest,
            str(row.manifest_sha256),
            [],
            [],
            [],
            stale,
        )
    texts: dict[str, str] = {}
    for f in manifest.get("files", []):
        table = pq.read_table(base / f["path"], columns=["record_id", "text"])
        for rid, text in zip(
            table["record_id"].to_pylist(), table["text"].to_pylist(), strict=True
        ):
            if rid not in leave_out:
                texts[str(rid)] = str(text)
    for rid in sorted(texts):
        if rid not in authors:  # verify checked provenance; defensive
            raise ConflictError(f"snapshot {snapshot_id}: record {rid} has no provenance row")
        snap.record_ids.append(rid)
        snap.texts.append(texts[rid])
        snap.authors.append(authors[rid])
    if not snap.record_ids:
        raise ConflictError(f"snapshot {snapshot_id} has no records to train on")
    return snap


def _cohort_key(settings: Settings, model_id: str) -> bytes:
    return snapshot_key(settings, model_id, "model-cohort")


def cohort_of(key: bytes, member_id: str, shards: int) -> int:
    """A member's cohort: ``HMAC-SHA256(key, member id)`` as an integer, mod ``shards``."""
    digest = hmac.new(key, member_id.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % shards


# -- the audit kit: canaries, held-out members, audit records ----------------------------

#: The version directory's folder of audit inputs (member text and canary secrets).
AUDIT_DIR = "audit"
#: Records of each group written for the audit (the first by record id).
AUDIT_SAMPLE = 200


def _fraction(key: bytes, name: str) -> float:
    digest = hmac.new(key, name.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass
class _AuditKit:
    """What ``--canaries`` and ``--holdout`` add to a run: the canaries (each its own
    privacy unit, assigned to a cohort by a keyed hash of its id), the records of the
    held-out members (never trained on: the audit's non-members), and for an update the
    records of the members no longer eligible (``withdrawn``)."""

    canaries: list[Any] = field(default_factory=list)
    cohort_of_canary: dict[str, int | None] = field(default_factory=dict)
    held_out: list[tuple[str, str]] = field(default_factory=list)  # (record id, text)
    held_out_members: int = 0
    withdrawn: list[tuple[str, str]] | None = None
    withdrawn_note: str | None = None

    def units(self, cohort: int | None) -> list[list[str]]:
        """The canary pseudo-units trained with ``cohort`` (None: an unsharded model)."""
        return [
            [c.text] * c.repetitions
            for c in self.canaries
            if self.cohort_of_canary.get(c.id) == cohort
        ]

    @property
    def active(self) -> bool:
        return bool(self.canaries or self.held_out)


def _audit_kit(
    settings: Settings, model_id: str, snap: _Snapshot, opts: TrainOptions
) -> tuple[_Snapshot, _AuditKit]:
    """Split off the held-out members (``HMAC(key, member id)`` as a fraction below
    ``holdout``: stable across versions) and draw the canaries; the snapshot to train
    on is the rest."""
    kit = _AuditKit()
    if opts.canaries:
        from optin.training.canaries import make_canaries

        key = snapshot_key(settings, model_id, "model-canaries")
        kit.canaries = make_canaries(opts.canaries, key, digits=opts.canary_digits)
        for c in kit.canaries:
            kit.cohort_of_canary[c.id] = (
                cohort_of(key, f"canary:{c.id}", opts.shards) if opts.shards else None
            )
    if not opts.holdout:
        return snap, kit
    key = snapshot_key(settings, model_id, "model-holdout")
    out = _Snapshot(
        snap.id, snap.purpose, snap.as_of, snap.manifest, snap.manifest_sha256, [], [], [],
        snap.stale,
    )  # fmt: skip
    held: set[str] = set()
    memo: dict[str, bool] = {}
    for rid, text, author in zip(snap.record_ids, snap.texts, snap.authors, strict=True):
        if author not in memo:
            memo[author] = _fraction(key, author) < opts.holdout
        if memo[author]:
            held.add(author)
            kit.held_out.append((rid, text))
        else:
            out.record_ids.append(rid)
            out.texts.append(text)
            out.authors.append(author)
    kit.held_out_members = len(held)
    if not out.record_ids:
        raise ConflictError(
            f"--holdout {opts.holdout} held out every member of snapshot {snap.id}; "
            "nothing is left to train on"
        )
    return out, kit


def _jsonl(rows: Sequence[tuple[str, str]]) -> bytes:
    return "".join(
        json.dumps({"record_id": r, "text": t}, ensure_ascii=False) + "\n"
        for r, t in sorted(rows)[:AUDIT_SAMPLE]
    ).encode("utf-8")


def _write_audit_kit(
    out: Path, kit: _AuditKit, snap: _Snapshot, parts: list[_Part], opts: TrainOptions
) -> dict[str, Any]:
    """Write ``out/audit/`` and return the card's keys that point at it (the contract of
    :mod:`optin.training.audit`) plus ``audit_inputs``, what they are."""
    if not kit.active and kit.withdrawn is None:
        return {}
    from optin.training.canaries import write_canaries

    folder = out / AUDIT_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    keys: dict[str, Any] = {}
    records: dict[str, str] = {}
    if kit.canaries:
        write_canaries(folder / "canaries.jsonl", kit.canaries)
        keys["canaries"] = f"{AUDIT_DIR}/canaries.jsonl"
    trained = {r for p in parts for r in p.record_ids}
    text_of = dict(zip(snap.record_ids, snap.texts, strict=True))
    training = [(r, text_of[r]) for r in sorted(trained) if r in text_of]
    groups = {"training": training, "non_members": kit.held_out, "withdrawn": kit.withdrawn}
    for name, rows in groups.items():
        if rows:
            atomic_write_bytes(folder / f"{name}.jsonl", _jsonl(rows))
            records[name] = f"{AUDIT_DIR}/{name}.jsonl"
    if records:
        keys["audit_records"] = records
    if opts.base != "tiny":  # the model before fine-tuning calibrates the loss attack
        keys["reference_model"] = "base" if opts.shards else str(Path(opts.base).resolve())
    unit = {
        "member": "each canary is its own privacy unit (one pseudo-member holding all its "
        "repetitions), so the guarantee covers it as it covers a member who posted it "
        "that many times",
        "example": "each repetition of a canary is its own example (example-level DP): a "
        "canary repeated r times is protected only by group privacy (about r times ε)",
    }.get(opts.dp_unit if opts.dp else "", "no DP: nothing bounds what a canary leaves")
    keys["audit_inputs"] = {
        "canaries": {
            "per_repetition_count": opts.canaries,
            "repetitions": sorted({c.repetitions for c in kit.canaries}),
            "digits": opts.canary_digits,
            "formats": sorted({c.format for c in kit.canaries}),
            "inserted": sum(c.repetitions for c in kit.canaries),
            "privacy_unit": unit,
            "cohorts": (
                "each canary trains with one cohort's adapter (keyed hash of its id)"
                if opts.shards
                else None
            ),
            "tokenizer": "trained on the snapshot's records only (canaries left out)",
        }
        if kit.canaries
        else None,
        "held_out": {
            "fraction": opts.holdout,
            "members": kit.held_out_members,
            "records": len(kit.held_out),
            "why": "members chosen by a keyed hash and never trained on: the "
            "membership-inference attack's non-members",
        }
        if opts.holdout
        else None,
        "withdrawn": (
            {"records": len(kit.withdrawn or []), "note": kit.withdrawn_note}
            if kit.withdrawn is not None or kit.withdrawn_note
            else None
        ),
        "sample": f"at most {AUDIT_SAMPLE} records per group (the first by record id)",
        "reference_model": keys.get("reference_model")
        or "none: --base tiny has no pre-trained model, so the loss attack is uncalibrated",
        "files": f"{AUDIT_DIR}/ holds member text and the canary secrets: it stays in this "
        "directory (mode 0700), is deleted with the version's weights, and `optin model "
        "export` leaves it out",
    }
    return keys


# -- training the parts -----------------------------------------------------------------


@dataclass
class _Part:
    name: str
    cohort: int | None
    record_ids: list[str]
    members: int
    stats: dict[str, Any]
    privacy: dict[str, Any]


def _settings(opts: TrainOptions) -> Any:
    from optin.training.trainer import DPSettings, TrainSettings

    dp = None
    if opts.dp:
        assert opts.dp_epsilon is not None and opts.dp_delta is not None
        dp = DPSettings(
            epsilon=opts.dp_epsilon,
            delta=opts.dp_delta,
            unit=opts.dp_unit,
            clip_norm=opts.clip_norm,
            max_examples_per_member=opts.max_examples_per_member,
        )
    return TrainSettings(steps=opts.steps, lr=opts.lr, batch=opts.batch, seed=opts.seed, dp=dp)


def _fit(
    model: Any,
    tokenizer: Any,
    snap: _Snapshot,
    idx: list[int],
    opts: TrainOptions,
    label: str,
    progress: TrainProgress | None,
    extra: Sequence[Sequence[str]] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train on the records ``idx`` (one privacy unit per author) and the ``extra``
    pseudo-units (each a list of texts: a canary and its repetitions)."""
    from optin.training.lm import context_of, encode
    from optin.training.trainer import train

    members = sorted({snap.authors[i] for i in idx})
    unit = {m: n for n, m in enumerate(members)}  # opaque to the trainer
    texts = [snap.texts[i] for i in idx]
    units = [unit[snap.authors[i]] for i in idx]
    context = context_of(model)
    for j, group in enumerate(extra):
        need = max(len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1 for t in group)
        if need > context:
            raise InputError(
                f"a canary takes {need} tokens with this tokenizer, more than the context",
                field="--context",
                value=context,
                allowed=f"at least {need} with --canaries",
            )
        texts += list(group)
        units += [len(members) + j] * len(group)
    examples = encode(tokenizer, texts, context)

    def step(i: int, n: int, tokens: int, loss: float) -> None:
        if progress:
            progress(label, i, n, tokens, loss)

    stats = train(model, examples, units, _settings(opts), step)
    privacy = stats.guarantee.to_dict() if stats.guarantee else {"unit": "none"}
    return stats.to_dict(), privacy


def _train_whole(
    snap: _Snapshot,
    opts: TrainOptions,
    out: Path,
    progress: TrainProgress | None,
    version: int,
    extra: Sequence[Sequence[str]] = (),
) -> tuple[list[_Part], dict[str, Any]]:
    from optin.training.lm import TinyConfig, load_base, save, tiny_gpt2, train_tokenizer

    cfg = TinyConfig(opts.layers, opts.width, 4, opts.context, opts.vocab)
    if opts.base == "tiny":
        tok = train_tokenizer(snap.texts, opts.vocab)
        model = tiny_gpt2(tok, cfg, opts.seed)
        base = {
            "kind": "tiny",
            "description": f"tiny GPT-2 trained from scratch ({cfg.to_dict()})",
            "config": cfg.to_dict(),
        }
        tokenizer = f"byte-level BPE, {len(tok)} tokens, trained locally on this snapshot's text"
    else:
        model, tok = load_base(Path(opts.base))
        base = {"kind": "path", "description": f"fine-tuned from {opts.base}", "path": opts.base}
        tokenizer = f"the base model's ({len(tok)} tokens)"
    idx = list(range(len(snap.record_ids)))
    name = f"model-v{version}"
    stats, privacy = _fit(model, tok, snap, idx, opts, name, progress, extra)
    save(model, tok, out)
    part = _Part(name, None, list(snap.record_ids), len(set(snap.authors)), stats, privacy)
    return [part], {"base": base, "tokenizer": tokenizer}


def _shard_base(opts: TrainOptions, out: Path) -> tuple[Any, Any, dict[str, Any]]:
    """The shared base of a sharded model, saved in ``out/base`` (no member content)."""
    from optin.training.lm import TinyConfig, load_base, save, tiny_gpt2, train_tokenizer

    cfg = TinyConfig(opts.layers, opts.width, 4, opts.context, opts.vocab)
    if opts.base == "tiny":
        tok = train_tokenizer([], 256)
        model = tiny_gpt2(tok, cfg, opts.seed)
        info = {
            "base": {
                "kind": "tiny",
                "description": "tiny GPT-2, random weights, never trained on member content "
                f"({cfg.to_dict()}); every cohort adapter is trained on its cohort only",
                "config": cfg.to_dict(),
            },
            "tokenizer": "byte-level, the 256 byte symbols and no merges (learned from no "
            "data, so it holds no member content)",
        }
    else:
        model, tok = load_base(Path(opts.base))
        info = {
            "base": {
                "kind": "path",
                "description": f"{opts.base}, frozen (LoRA adapters per cohort on top)",
                "path": opts.base,
            },
            "tokenizer": f"the base model's ({len(tok)} tokens)",
        }
    for p in model.parameters():
        p.requires_grad_(False)
    save(model, tok, out / "base")
    return model, tok, info


def _train_adapter(
    base: Any,
    tok: Any,
    snap: _Snapshot,
    idx: list[int],
    cohort: int,
    name: str,
    opts: TrainOptions,
    out: Path,
    progress: TrainProgress | None,
    extra: Sequence[Sequence[str]] = (),
) -> _Part:
    from optin.training.lm import lora, save

    model = lora(base, seed=opts.seed + cohort)
    stats, privacy = _fit(model, tok, snap, idx, opts, name, progress, extra)
    save(model, None, out / "adapters" / name)
    ids = [snap.record_ids[i] for i in idx]
    return _Part(name, cohort, ids, len({snap.authors[i] for i in idx}), stats, privacy)


def _cohorts(
    settings: Settings, model_id: str, snap: _Snapshot, shards: int
) -> dict[int, list[int]]:
    key = _cohort_key(settings, model_id)
    by: dict[int, list[int]] = {c: [] for c in range(shards)}
    memo: dict[str, int] = {}
    for i, a in enumerate(snap.authors):
        if a not in memo:
            memo[a] = cohort_of(key, a, shards)
        by[memo[a]].append(i)
    return by


# -- cards, directories, registry -------------------------------------------------------


def _ledger(db: Database, settings: Settings, snap: _Snapshot, now: datetime) -> dict[str, Any]:
    with db.session() as s:
        head = ledger.ledger_head(s)
    pin = manifest_pin(db, settings, head.seq, now=now).get("transparency_log")
    m = snap.manifest.get("ledger", {})
    return {
        "snapshot": {"length": m.get("length"), "head_hash": m.get("head_hash")},
        "at_training": {"length": head.seq, "head_hash": head.hash},
        "checkpoint": (
            {
                "checkpoint": pin["checkpoint"],
                "tree_size": pin["tree_size"],
                "log_key": pin["log_key"],
            }
            if pin
            else None
        ),
    }


def _privacy(parts: list[_Part]) -> dict[str, Any]:
    """The guarantee of the whole model: every part's (one unit, one ε: they match)."""
    first = parts[0].privacy
    if first.get("unit") in ("member", "example") and len(parts) > 1:
        # each member is in one cohort only: the model's ε is the largest part's ε
        worst = max(parts, key=lambda p: float(p.privacy.get("epsilon", 0)))
        out = dict(worst.privacy)
        out["composition"] = (
            "parallel: each member's records are in exactly one cohort's adapter, so the "
            "model's guarantee is the largest of the adapters' (each accounted alone)"
        )
        return out
    return dict(first)


def _card(
    *,
    model_id: str,
    version: int,
    now: datetime,
    snap: _Snapshot,
    opts: TrainOptions,
    info: dict[str, Any],
    parts: list[_Part],
    ledger_pin: dict[str, Any],
    sharding: dict[str, Any] | None,
) -> dict[str, Any]:
    privacy = _privacy(parts)
    tokens = sum(int(p.stats.get("tokens", 0)) for p in parts)
    seconds = sum(float(p.stats.get("seconds", 0)) for p in parts)
    trained = [p for p in parts if p.stats]
    card: dict[str, Any] = {
        "format": "optin-model-card/1",
        "model_id": model_id,
        "version": version,
        "created_at": now.isoformat(),
        "snapshot": {
            "id": snap.id,
            "purpose": snap.purpose,
            "as_of": snap.as_of.isoformat(),
            "manifest_sha256": snap.manifest_sha256,
            "merkle_root": snap.manifest.get("merkle", {}).get("root"),
            "records": len(snap.record_ids),
        },
        "ledger": ledger_pin,
        "allow_stale": snap.stale,
        "base": info["base"],
        "tokenizer": info["tokenizer"],
        "options": opts.to_dict(),
        "privacy": privacy if privacy.get("unit") != "none" else None,
        "training": {
            "records": sum(len(p.record_ids) for p in parts),
            "members": sum(p.members for p in parts),
            "steps": max((int(p.stats.get("steps", 0)) for p in trained), default=0),
            "tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1) if seconds > 0 else 0.0,
            "examples": "one per record: its first tokens up to the context length, then "
            "an end-of-text token",
            "first_loss": trained[0].stats.get("first_loss") if trained else None,
            "last_loss": trained[-1].stats.get("last_loss") if trained else None,
            "parts": {p.name: p.stats for p in parts},
        },
        "checkpoints": "none kept: weights are written once, at the end of training; a "
        "superseded version keeps only its model card",
        "sharding": sharding,
        "audit": None,
    }
    card["data_statement"] = data_statement(card)
    card["privacy_statement"] = privacy_statement(card["privacy"] or {})
    return card


def _write_card(path: Path, card: dict[str, Any]) -> None:
    atomic_write_json(path / "model_card.json", card)
    atomic_write_bytes(path / "README.md", render_readme(card).encode("utf-8"))


def _tmp_dir(root: Path, version: int) -> Path:
    private_dir(root)
    tmp = root / f".tmp-v{version}-{os.getpid()}-{secrets.token_hex(3)}"
    tmp.mkdir(mode=0o700)
    return tmp


def _register(
    db: Database,
    settings: Settings,
    *,
    model_id: str,
    version: int,
    now: datetime,
    snap: _Snapshot,
    opts: TrainOptions,
    card: dict[str, Any],
    final: Path,
    new_parts: list[_Part],
    kept: list[str],
    replaced: dict[str, str],
) -> None:
    """One transaction: the model (new or updated), the version, the new parts and their
    training sets, the parts it uses, the replaced parts destroyed, the lineage edge."""
    stored = stored_path(settings.home, final)
    with db.session() as s:
        row = repo.get_model(s, model_id)
        if row is None:
            repo.add_model(
                s,
                id=model_id,
                created_at=now,
                purpose=snap.purpose,
                base=opts.base,
                shards=opts.shards,
                status="active",
                current_version=version,
                needs_retrain_records=0,
                path=stored_path(settings.home, final.parent),
            )
        else:
            for v in repo.versions(s, model_id):
                if v.status == "current":
                    v.status, v.ended_at = "superseded", now
            row.current_version, row.status = version, "active"
            row.needs_retrain_records, row.needs_retrain_reason = 0, None
            row.needs_retrain_at = None
        repo.add_version(
            s,
            model_id=model_id,
            version=version,
            snapshot_id=snap.id,
            created_at=now,
            status="current",
            path=stored,
            privacy=json.dumps(card.get("privacy") or {"unit": "none"}, sort_keys=True),
            card=json.dumps(card, sort_keys=True),
        )
        ids = list(kept)
        for p in new_parts:
            cid = f"{model_id}/{p.name}"
            repo.add_component(
                s,
                records=[(snap.id, r) for r in p.record_ids],
                id=cid,
                model_id=model_id,
                name=p.name,
                cohort=p.cohort,
                trained_in=version,
                snapshot_id=snap.id,
                members=p.members,
                status="live",
            )
            ids.append(cid)
        repo.link(s, model_id, version, ids)
        for cid, why in replaced.items():
            repo.destroy_component(s, cid, at=now, reason=why)
        privacy = card.get("privacy") or {}
        lineage_repo.add_edge(
            s,
            "model",
            snap.id,
            model_id,
            at=now,
            meta={
                "version": version,
                "records": card["training"]["records"],
                "parts": sorted(p.name for p in new_parts),
                "privacy_unit": privacy.get("unit", "none"),
                "epsilon": privacy.get("epsilon"),
                "delta": privacy.get("delta"),
                # the whole guarantee: unit, sampling, accountant, sigma, C, k, steps
                "privacy": privacy or {"unit": "none"},
            },
        )


def _sweep(db: Database, settings: Settings, model_id: str) -> list[str]:
    """Destroy the weights of every version directory but the current one."""
    with db.session() as s:
        paths = [
            registry.version_dir(settings, v.path)
            for v in repo.versions(s, model_id)
            if v.status != "current"
        ]
    return [f"{p.name}/{n}" for p in paths for n in registry.destroy_weights(p)]


# -- entry points ---------------------------------------------------------------------------


def _model_id(snap: _Snapshot, now: datetime) -> str:
    return f"model-{now:%Y%m%d}-{secrets.token_hex(4)}"


def train_model(
    db: Database,
    settings: Settings,
    snapshot_ref: str,
    opts: TrainOptions,
    *,
    now: datetime,
    progress: TrainProgress | None = None,
) -> TrainResult:
    """Train a model on a verified snapshot; see the module docstring."""
    import time

    opts.check()
    require_extra()
    t0 = time.perf_counter()
    if opts.base != "tiny" and not (Path(opts.base) / "config.json").is_file():
        raise InputError(
            "not a Hugging Face model directory (no config.json)",
            field="--base",
            value=opts.base,
            allowed="tiny, or a local model directory",
        )
    sid = resolve_snapshot_id(db, snapshot_ref)
    snap = _checked_snapshot(db, settings, sid, opts, now)
    model_id = _model_id(snap, now)
    root = registry.models_dir(settings) / model_id
    whole = snap
    snap, kit = _audit_kit(settings, model_id, whole, opts)
    tmp = _tmp_dir(root, 1)
    try:
        parts, info, sharding = _train_parts(settings, model_id, snap, opts, tmp, progress, 1, kit)
        card = _card(
            model_id=model_id,
            version=1,
            now=now,
            snap=snap,
            opts=opts,
            info=info,
            parts=parts,
            ledger_pin=_ledger(db, settings, snap, now),
            sharding=sharding,
        )
        card["snapshot"]["records"] = len(whole.record_ids)
        card.update(_write_audit_kit(tmp, kit, snap, parts, opts))
        _write_card(tmp, card)
        final = root / "v1"
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _register(
        db,
        settings,
        model_id=model_id,
        version=1,
        now=now,
        snap=snap,
        opts=opts,
        card=card,
        final=final,
        new_parts=parts,
        kept=[],
        replaced={},
    )
    return TrainResult(
        model_id,
        1,
        final,
        sid,
        card,
        retrained=[p.name for p in parts],
        seconds=time.perf_counter() - t0,
    )


def _sharding_doc(
    opts: TrainOptions, cohorts: list[dict[str, Any]], retired: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "shards": opts.shards,
        "assignment": "HMAC-SHA256(the installation's key for this model, member id) "
        f"as an integer mod {opts.shards}",
        "combine": "Inference averages the logits of the cohorts' adapted models "
        "(optin.training.lm.CohortEnsemble); the base holds no member content, so "
        "retraining one cohort's adapter removes exactly that cohort's influence.",
        "cohorts": cohorts,
        "retired": retired,
    }


def _train_cohort(
    base: Any,
    tok: Any,
    snap: _Snapshot,
    idx: list[int],
    cohort: int,
    version: int,
    opts: TrainOptions,
    tmp: Path,
    progress: TrainProgress | None,
    extra: Sequence[Sequence[str]] = (),
) -> tuple[_Part | None, dict[str, Any]]:
    """Train one cohort's adapter (none for an empty cohort) and its sharding entry."""
    name = f"cohort-{cohort:02d}-v{version}"
    part = None
    if idx:
        part = _train_adapter(base, tok, snap, idx, cohort, name, opts, tmp, progress, extra)
    doc = {
        "cohort": cohort,
        "adapter": f"adapters/{name}" if part is not None else None,
        "records": len(idx) if part is not None else 0,
        "members": part.members if part is not None else 0,
        "trained_in": version,
        "snapshot_id": snap.id,
    }
    return part, doc


def _train_parts(
    settings: Settings,
    model_id: str,
    snap: _Snapshot,
    opts: TrainOptions,
    tmp: Path,
    progress: TrainProgress | None,
    version: int,
    kit: _AuditKit,
) -> tuple[list[_Part], dict[str, Any], dict[str, Any] | None]:
    if not opts.shards:
        whole, info = _train_whole(snap, opts, tmp, progress, version, kit.units(None))
        return whole, info, None
    base, tok, info = _shard_base(opts, tmp)
    parts: list[_Part] = []
    cohorts: list[dict[str, Any]] = []
    for c, idx in _cohorts(settings, model_id, snap, opts.shards).items():
        part, doc = _train_cohort(
            base, tok, snap, idx, c, version, opts, tmp, progress, kit.units(c)
        )
        if part is not None:
            parts.append(part)
        cohorts.append(doc)
    return parts, info, _sharding_doc(opts, cohorts, [])


@dataclass
class _Have:
    """A part the current version uses, with its training set."""

    id: str
    name: str
    cohort: int | None
    members: int
    training_set: list[tuple[str, str]]


@dataclass
class _Current:
    version: int
    snapshot_id: str
    path: str
    card: str
    parts: list[_Have]


def _current(db: Database, model_id: str) -> _Current:
    with db.session() as s:
        row = repo.get_model(s, model_id)
        assert row is not None
        if row.status == "retired":
            raise ConflictError(
                f"model {model_id} was retired on {row.retired_at}; it cannot be updated"
            )
        v = repo.get_version(s, model_id, row.current_version)
        assert v is not None
        uses = set(repo.version_components(s, model_id).get(row.current_version, []))
        parts = [
            _Have(c.id, c.name, c.cohort, int(c.members), repo.component_records(s, c.id))
            for c in repo.components(s, model_id)
            if c.id in uses
        ]
        return _Current(v.version, v.snapshot_id, v.path, v.card, parts)


def _child_snapshot(
    db: Database, settings: Settings, snapshot_id: str, now: datetime
) -> tuple[str, set[str]]:
    """The verified child of ``snapshot_id`` without its no-longer-eligible records,
    and those records."""
    with db.session() as s:
        row = snap_repo.get_snapshot(s, snapshot_id)
        assert row is not None
        purpose, retired_by = row.purpose, row.retired_by
    gone = set(ineligible_records(db, snapshot_id, purpose, now))
    if not gone:
        return snapshot_id, gone
    # a retired parent's shards are gone: its successor is the child
    child = retired_by or derive_snapshot(db, settings, snapshot_id, now=now).snapshot_id
    verify_snapshot(db, settings, child, now=now).raise_for_status()
    return child, gone


def _withdrawn_records(
    db: Database, settings: Settings, cur: _Current, gone: set[str]
) -> tuple[list[tuple[str, str]] | None, str]:
    """The records of the current version's training set that are no longer eligible,
    with their text from the parent snapshot's shards (for the audit: does the
    retrained model still know them?); None when the parent's shards are gone."""
    trained = {r for c in cur.parts for _, r in c.training_set}
    ids = gone & trained
    with db.session() as s:
        row = snap_repo.get_snapshot(s, cur.snapshot_id)
        retired = row is None or row.retired_at is not None
    if retired:
        return None, (
            f"snapshot {cur.snapshot_id} was retired (its shards are gone), so the "
            f"{len(ids)} withdrawn records cannot be audited"
        )
    try:
        parent = _load_records(db, settings, cur.snapshot_id, set(), None)
    except (OSError, ConflictError):
        return None, f"the shards of snapshot {cur.snapshot_id} could not be read"
    rows = [(r, t) for r, t in zip(parent.record_ids, parent.texts, strict=True) if r in ids]
    return rows, (
        f"records of members no longer eligible that v{cur.version} was trained on (read "
        f"from snapshot {cur.snapshot_id}); this version was retrained without them"
    )


def update_model(
    db: Database,
    settings: Settings,
    model_ref: str,
    *,
    now: datetime,
    progress: TrainProgress | None = None,
) -> TrainResult:
    """Retrain only the parts whose training records are no longer eligible, on the
    derived snapshot; see the module docstring."""
    import time

    require_extra()
    t0 = time.perf_counter()
    model_id = registry.resolve_model_id(db, model_ref)
    cur = _current(db, model_id)
    parts = cur.parts
    old_card = json.loads(cur.card)
    opts = TrainOptions(**{**old_card["options"], "allow_stale": False, "reason": None})
    child_id, gone = _child_snapshot(db, settings, cur.snapshot_id, now)
    hit = {c.id: len(gone & {r for _, r in c.training_set}) for c in parts}
    hit = {cid: n for cid, n in hit.items() if n}
    if not hit:
        raise ConflictError(
            f"model {model_id} v{cur.version}: every record it was trained on is still "
            "eligible; nothing to retrain"
        )
    whole = _load_records(db, settings, child_id, set(), None)
    snap, kit = _audit_kit(settings, model_id, whole, opts)
    if kit.active:
        kit.withdrawn, kit.withdrawn_note = _withdrawn_records(db, settings, cur, gone)
    version = cur.version + 1
    root = registry.models_dir(settings) / model_id
    old_dir = registry.version_dir(settings, cur.path)
    tmp = _tmp_dir(root, version)
    replaced = {
        cid: f"retrained without {n} record(s) no longer eligible (v{version}, snapshot {child_id})"
        for cid, n in hit.items()
    }
    try:
        if not opts.shards:
            new_parts, info = _train_whole(snap, opts, tmp, progress, version, kit.units(None))
            sharding = None
            kept: list[str] = []
        else:
            new_parts, info, sharding, kept = _update_shards(
                settings,
                model_id,
                snap,
                opts,
                old_card,
                parts,
                hit,
                old_dir,
                tmp,
                version,
                progress,
                now,
                kit,
            )
        all_parts = new_parts + [_kept_part(c) for c in parts if c.id in kept]
        card = _card(
            model_id=model_id,
            version=version,
            now=now,
            snap=snap,
            opts=opts,
            info=info,
            parts=all_parts,
            ledger_pin=_ledger(db, settings, snap, now),
            sharding=sharding,
        )
        card["previous_version"] = {
            "version": cur.version,
            "snapshot_id": cur.snapshot_id,
            "retrained": sorted(hit),
            "records_removed": sum(hit.values()),
        }
        card["snapshot"]["records"] = len(whole.record_ids)
        card.update(_write_audit_kit(tmp, kit, snap, all_parts, opts))
        _write_card(tmp, card)
        final = root / f"v{version}"
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _register(
        db,
        settings,
        model_id=model_id,
        version=version,
        now=now,
        snap=snap,
        opts=opts,
        card=card,
        final=final,
        new_parts=new_parts,
        kept=kept,
        replaced=replaced,
    )
    destroyed = _sweep(db, settings, model_id)
    return TrainResult(
        model_id,
        version,
        final,
        child_id,
        card,
        retrained=[p.name for p in new_parts],
        kept=kept,
        destroyed=destroyed,
        seconds=time.perf_counter() - t0,
    )


def _kept_part(c: _Have) -> _Part:
    return _Part(c.name, c.cohort, [r for _, r in c.training_set], int(c.members), {}, {})


def _update_shards(
    settings: Settings,
    model_id: str,
    snap: _Snapshot,
    opts: TrainOptions,
    old_card: dict[str, Any],
    parts: list[_Have],
    hit: dict[str, int],
    old_dir: Path,
    tmp: Path,
    version: int,
    progress: TrainProgress | None,
    now: datetime,
    kit: _AuditKit,
) -> tuple[list[_Part], dict[str, Any], dict[str, Any], list[str]]:
    from optin.training.lm import load_base

    shutil.copytree(old_dir / "base", tmp / "base")
    base, tok = load_base(tmp / "base")
    for p in base.parameters():
        p.requires_grad_(False)
    info = {"base": old_card["base"], "tokenizer": old_card["tokenizer"]}
    by_cohort = {c.cohort: c for c in parts}
    groups = _cohorts(settings, model_id, snap, opts.shards)
    old = {c["cohort"]: c for c in old_card["sharding"]["cohorts"]}
    new_parts: list[_Part] = []
    kept: list[str] = []
    cohorts: list[dict[str, Any]] = []
    retired = list(old_card["sharding"].get("retired", []))
    for c in range(opts.shards):
        prev = by_cohort.get(c)
        if prev is not None and prev.id not in hit:
            shutil.copytree(old_dir / "adapters" / prev.name, tmp / "adapters" / prev.name)
            kept.append(prev.id)
            cohorts.append(old[c])
            continue
        if prev is None:  # a cohort without members before stays as it was
            cohorts.append(old[c])
            continue
        retired.append(
            {
                "component": prev.name,
                "reason": f"{hit[prev.id]} record(s) no longer eligible",
                "at": now.isoformat(),
            }
        )
        part, doc = _train_cohort(
            base, tok, snap, groups[c], c, version, opts, tmp, progress, kit.units(c)
        )
        if part is not None:
            new_parts.append(part)
        cohorts.append(doc)
    return new_parts, info, _sharding_doc(opts, cohorts, retired), kept


__all__ = [
    "TRAINING_PURPOSE",
    "TrainOptions",
    "TrainProgress",
    "TrainResult",
    "cohort_of",
    "train_model",
    "update_model",
]
