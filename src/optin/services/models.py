"""The model registry: list, show and retire models, flag them when their training
data stops being eligible, and tell a member which model versions held their content.

No torch here (training itself is :mod:`optin.services.training`). A model's files live
in ``$OPTIN_HOME/models/<model id>/v<version>/``; only the current version keeps
weights: when a version is superseded or the model is retired, the weights (and every
adapter) in its directory are deleted and its model card stays as the record.

States of a model: ``active``; ``blocked`` (its last audit failed a policy threshold:
:func:`record_audit`); ``needs_retrain`` (records it was trained on are no longer
eligible: the count and the reason come from withdrawal propagation, through the
:func:`optin.services.propagation.model_flags` hook); ``retired`` (weights destroyed;
the reason and the successor recorded).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from optin.errors import ConflictError, NotFoundError
from optin.files import atomic_write_json, shred
from optin.services.propagation import PropagationReport
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.repos import models as repo

#: Files of a version directory that survive the destruction of its weights.
CARD_FILES = ("README.md", "model_card.json")


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def models_dir(settings: Settings) -> Path:
    return settings.home / "models"


def version_dir(settings: Settings, stored: str) -> Path:
    p = Path(stored)
    return p if p.is_absolute() else settings.home / p


@dataclass
class ModelSummary:
    id: str
    purpose: str
    created_at: datetime
    status: str
    version: int
    shards: int
    base: str
    snapshot_id: str
    privacy: dict[str, Any]
    needs_retrain_records: int
    needs_retrain_reason: str | None
    retired_at: datetime | None
    retired_reason: str | None
    path: str
    #: the last audit recorded (``passed``, ``recorded_at``, ``failed``); None: never
    audit: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "purpose": self.purpose,
            "created_at": _iso(self.created_at),
            "status": self.status,
            "version": self.version,
            "shards": self.shards,
            "base": self.base,
            "snapshot_id": self.snapshot_id,
            "privacy": self.privacy,
            "needs_retrain_records": self.needs_retrain_records,
            "needs_retrain_reason": self.needs_retrain_reason,
            "retired_at": _iso(self.retired_at),
            "retired_reason": self.retired_reason,
            "path": self.path,
            "audit": self.audit,
        }


def _audit_summary(card_json: str | None) -> dict[str, Any] | None:
    card = json.loads(card_json or "{}")
    audit = card.get("audit")
    if not audit or "passed" not in audit:
        return None
    return {
        "passed": bool(audit["passed"]),
        "recorded_at": audit.get("recorded_at"),
        "failed": None if audit["passed"] else _failed_checks(card),
    }


def _summary(s: Any, row: Any) -> ModelSummary:
    v = repo.get_version(s, row.id, row.current_version)
    return ModelSummary(
        id=row.id,
        purpose=row.purpose,
        created_at=row.created_at,
        status=row.status,
        version=row.current_version,
        shards=row.shards,
        base=row.base,
        snapshot_id=v.snapshot_id if v else "",
        privacy=json.loads(v.privacy) if v else {},
        needs_retrain_records=int(row.needs_retrain_records or 0),
        needs_retrain_reason=row.needs_retrain_reason,
        retired_at=row.retired_at,
        retired_reason=row.retired_reason,
        path=v.path if v else row.path,
        audit=_audit_summary(v.card) if v else None,
    )


def list_models(db: Database) -> list[ModelSummary]:
    with db.session() as s:
        return [_summary(s, r) for r in repo.list_models(s)]


def resolve_model_id(db: Database, ref: str) -> str:
    """A model id from an id, a unique prefix, or ``latest``."""
    with db.session() as s:
        if ref == "latest":
            rows = repo.list_models(s)
            if not rows:
                raise NotFoundError("no model has been trained yet; see `optin train --help`")
            return rows[0].id
        if repo.get_model(s, ref) is not None:
            return ref
        found = repo.find_models(s, ref)
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFoundError(f"model {ref!r} does not exist; see `optin model list`")
    raise NotFoundError(f"model {ref!r} is ambiguous: {', '.join(found[:5])}")


def show_model(db: Database, ref: str) -> dict[str, Any]:
    """A model, its versions (with the parts each used) and its parts."""
    mid = resolve_model_id(db, ref)
    with db.session() as s:
        row = repo.get_model(s, mid)
        assert row is not None
        summary = _summary(s, row)
        uses = repo.version_components(s, mid)
        versions = [
            {
                "version": v.version,
                "snapshot_id": v.snapshot_id,
                "created_at": _iso(v.created_at),
                "status": v.status,
                "ended_at": _iso(v.ended_at),
                "path": v.path,
                "privacy": json.loads(v.privacy),
                "components": uses.get(v.version, []),
            }
            for v in repo.versions(s, mid)
        ]
        parts = [
            {
                "id": c.id,
                "name": c.name,
                "cohort": c.cohort,
                "trained_in": c.trained_in,
                "snapshot_id": c.snapshot_id,
                "records": c.records,
                "members": c.members,
                "status": c.status,
                "destroyed_at": _iso(c.destroyed_at),
                "destroyed_reason": c.destroyed_reason,
            }
            for c in repo.components(s, mid)
        ]
    return {"model": summary.to_dict(), "versions": versions, "components": parts}


def model_card(db: Database, ref: str, version: int | None = None) -> dict[str, Any]:
    mid = resolve_model_id(db, ref)
    with db.session() as s:
        row = repo.get_model(s, mid)
        assert row is not None
        v = repo.get_version(s, mid, version or row.current_version)
        if v is None:
            raise NotFoundError(f"model {mid} has no version {version}")
        card: dict[str, Any] = json.loads(v.card)
        return card


def destroy_weights(path: Path) -> list[str]:
    """Delete everything in a version directory but its model card; the names deleted."""
    gone: list[str] = []
    if not path.is_dir():
        return gone
    for child in sorted(path.iterdir()):
        if child.name in CARD_FILES:
            continue
        gone.append(child.name)
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    return gone


def retire_model(
    db: Database,
    settings: Settings,
    ref: str,
    *,
    reason: str,
    now: datetime,
    superseded_by: str | None = None,
) -> dict[str, Any]:
    """Retire a model: destroy the weights of its current version (cards stay), mark
    every part destroyed and every version retired, record why and the successor."""
    if not reason.strip():
        raise ConflictError("retiring a model needs a reason (--reason)")
    mid = resolve_model_id(db, ref)
    with db.session() as s:
        row = repo.get_model(s, mid)
        assert row is not None
        if row.status == "retired":
            raise ConflictError(f"model {mid} was already retired on {_iso(row.retired_at)}")
        if superseded_by is not None and repo.get_model(s, superseded_by) is None:
            raise NotFoundError(f"model {superseded_by!r} (--superseded-by) does not exist")
        paths = [version_dir(settings, v.path) for v in repo.versions(s, mid)]
        for v in repo.versions(s, mid):
            if v.status != "retired":
                v.status, v.ended_at = "retired", v.ended_at or now
        for c in repo.components(s, mid):
            if c.status == "live":
                repo.destroy_component(s, c.id, at=now, reason=f"model retired: {reason}")
        row.status, row.retired_at, row.retired_reason = "retired", now, reason
        row.superseded_by = superseded_by
    destroyed = [n for p in paths for n in destroy_weights(p)]
    return {"model_id": mid, "retired_at": _iso(now), "destroyed": destroyed}


def record_audit(
    db: Database, ref: str, *, audit: dict[str, Any], passed: bool, now: datetime
) -> dict[str, Any]:
    """Keep an audit of the current version (what ``optin.training.audit`` measured) in
    the registry's copy of the model card; a failed audit marks the model ``blocked``
    (a passing one lifts it). The card file itself is the audit's writer's."""
    mid = resolve_model_id(db, ref)
    with db.session() as s:
        row = repo.get_model(s, mid)
        assert row is not None
        if row.status == "retired":
            raise ConflictError(f"model {mid} is retired; there is nothing to audit")
        v = repo.get_version(s, mid, row.current_version)
        assert v is not None
        card = json.loads(v.card)
        card["audit"] = {**audit, "passed": passed, "recorded_at": now.isoformat()}
        v.card = json.dumps(card, sort_keys=True)
        if not passed:
            row.status = "blocked"
        elif row.status == "blocked":
            row.status = "needs_retrain" if row.needs_retrain_records else "active"
        return {"model_id": mid, "version": v.version, "status": row.status}


def current_dir(db: Database, settings: Settings, ref: str) -> tuple[str, Path]:
    """A model's id and the directory of its current version."""
    mid = resolve_model_id(db, ref)
    with db.session() as s:
        row = repo.get_model(s, mid)
        assert row is not None
        v = repo.get_version(s, mid, row.current_version)
        assert v is not None
        return mid, version_dir(settings, v.path)


def model_of_dir(db: Database, settings: Settings, path: Path) -> str | None:
    """The model whose current version lives in ``path`` (None: not a registered one)."""
    want = Path(path).resolve()
    with db.session() as s:
        for row in repo.list_models(s):
            v = repo.get_version(s, row.id, row.current_version)
            if v is not None and version_dir(settings, v.path).resolve() == want:
                return str(row.id)
    return None


def _failed_checks(card: dict[str, Any]) -> str:
    audit = card.get("audit") or {}
    checks = (audit.get("verdict") or {}).get("checks") or []
    failed = [
        f"{c.get('name')} {c.get('measured')} > {c.get('limit')}"
        for c in checks
        if c.get("passed") is False
    ]
    return "; ".join(failed) or "a policy threshold"


def require_usable(db: Database, ref: str, *, use: str) -> str:
    """The model id, if its current version may be ``use``d (exported, served): not
    blocked by a failed audit, not waiting to be retrained without withdrawn content,
    not retired. Otherwise a :class:`ConflictError` that says why and what to do."""
    mid = resolve_model_id(db, ref)
    with db.session() as s:
        row = repo.get_model(s, mid)
        assert row is not None
        v = repo.get_version(s, mid, row.current_version)
        card = json.loads(v.card) if v is not None else {}
        status = row.status
        at = (card.get("audit") or {}).get("recorded_at", "")
        reason = row.needs_retrain_reason
        retired = _iso(row.retired_at)
    if status == "blocked":
        raise ConflictError(
            f"model {mid} is blocked and cannot be {use}: its privacy audit of {at[:19]} "
            f"failed ({_failed_checks(card)}); retrain it (for example with differential "
            "privacy) and run `optin audit` again: a passing audit lifts the block"
        )
    if status == "needs_retrain":
        raise ConflictError(
            f"model {mid} cannot be {use}: it still holds content that is no longer "
            f"eligible ({reason})"
        )
    if status == "retired":
        raise ConflictError(f"model {mid} was retired on {retired}; its weights are gone")
    return mid


def export_model(db: Database, settings: Settings, ref: str, dest: Path) -> dict[str, Any]:
    """Copy the current version of a usable model (:func:`require_usable`) to ``dest``
    (which must not exist): weights, tokenizer, adapters and the model card, never the
    audit inputs (member text, canary secrets). Written under a temporary name, then
    renamed."""
    mid = require_usable(db, ref, use="exported")
    _, src = current_dir(db, settings, mid)
    dest = Path(dest)
    if dest.exists():
        raise ConflictError(f"{dest} already exists; export to a new directory")
    if not dest.parent.is_dir():
        raise NotFoundError(f"the directory {dest.parent} does not exist")
    tmp = dest.parent / f".{dest.name}.tmp-{secrets.token_hex(3)}"
    try:
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("audit"))
        card_path = tmp / "model_card.json"
        if card_path.is_file():
            card = json.loads(card_path.read_text("utf-8"))
            for key in ("canaries", "audit_records", "reference_model"):
                card.pop(key, None)
            card["exported"] = {"from": mid, "audit_inputs": "left out"}
            atomic_write_json(card_path, card)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    return {"model_id": mid, "path": str(dest), "files": files}


# -- withdrawal propagation ----------------------------------------------------------


def scrub_audit_inputs(db: Database, record_ids: set[str]) -> int:
    """Remove the lines of ``record_ids`` from the audit inputs (``audit/*.jsonl``, the
    copies of member text that ``optin train --canaries/--holdout`` writes) of every
    model version, so a withdrawn or erased member's text is not kept there; the old
    file is overwritten with zeros (:func:`optin.files.shred`) before the new one takes
    its place. Returns the lines removed."""
    if not record_ids:
        return 0
    with db.session() as s:
        paths = [Path(v.path) for row in repo.list_models(s) for v in repo.versions(s, row.id)]
    removed = 0
    for p in paths:
        folder = (p if p.is_absolute() or db.home is None else db.home / p) / "audit"
        if not folder.is_dir():
            continue
        for f in sorted(folder.glob("*.jsonl")):
            if f.name == "canaries.jsonl":
                continue
            lines = f.read_text("utf-8").splitlines(keepends=True)
            keep = [ln for ln in lines if _record_id(ln) not in record_ids]
            if len(keep) == len(lines):
                continue
            removed += len(lines) - len(keep)
            tmp = f.with_name(f".{f.name}.scrub-{secrets.token_hex(3)}")
            tmp.write_text("".join(keep), "utf-8")
            os.chmod(tmp, 0o600)
            shred(f)
            os.replace(tmp, f)
    return removed


def _record_id(line: str) -> str | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj.get("record_id") if isinstance(obj, dict) else None


def flag_models(db: Database, report: PropagationReport) -> None:
    """What the propagation hook ``model_flags`` does: a model (not retired) with a live
    part trained on records that this propagation found no longer eligible becomes
    ``needs_retrain``, with the count of those records (and, for a sharded model, which
    cohorts); and those records leave every model's audit inputs
    (:func:`scrub_audit_inputs`)."""
    scrub_audit_inputs(db, {r for impact in report.affected for r in impact.record_ids})
    hits: dict[str, dict[str, int]] = {}
    with db.session() as s:
        for impact in report.affected:
            for mid, by_part in repo.affected_parts(s, impact.record_ids).items():
                cur = hits.setdefault(mid, {})
                for cid, n in by_part.items():
                    cur[cid] = cur.get(cid, 0) + n
        for mid, by_part in hits.items():
            row = repo.get_model(s, mid)
            if row is None or row.status == "retired":
                continue
            n = sum(by_part.values())
            cohorts = sorted(
                c.cohort
                for c in repo.components(s, mid)
                if c.id in by_part and c.cohort is not None
            )
            what = f"cohorts {', '.join(map(str, cohorts))}" if cohorts else "the whole model"
            row.status = "needs_retrain"
            row.needs_retrain_records = int(row.needs_retrain_records or 0) + n
            row.needs_retrain_reason = (
                f"{report.reason}: {row.needs_retrain_records} training record(s) no longer "
                f"eligible ({what}); run `optin train update {mid}`"
            )
            row.needs_retrain_at = report.now


# -- a member's view -------------------------------------------------------------------


def member_models(db: Database, member_id: str) -> list[dict[str, Any]]:
    """Every version of every model whose training set held the member's records: how
    many, the guarantee, and the versions (later ones) that no longer hold them."""
    with db.session() as s:
        mine = repo.member_components(s, member_id)
        out: list[dict[str, Any]] = []
        for mid in repo.models_of_components(s, sorted(mine)):
            row = repo.get_model(s, mid)
            assert row is not None
            uses = repo.version_components(s, mid)
            first = min(
                (v for v, parts in uses.items() if any(p in mine for p in parts)), default=None
            )
            for v in repo.versions(s, mid):
                if first is None or v.version < first:
                    continue
                parts = uses.get(v.version, [])
                n = sum(mine.get(p, 0) for p in parts)
                out.append(
                    {
                        "model_id": mid,
                        "version": v.version,
                        "snapshot_id": v.snapshot_id,
                        "created_at": _iso(v.created_at),
                        "status": v.status,
                        "model_status": row.status,
                        "ended_at": _iso(v.ended_at),
                        "member_records": n,
                        "contains_member": n > 0,
                        "weights_exist": v.status == "current" and row.status != "retired",
                        "privacy": json.loads(v.privacy),
                    }
                )
    return out


__all__ = [
    "CARD_FILES",
    "ModelSummary",
    "current_dir",
    "destroy_weights",
    "export_model",
    "flag_models",
    "list_models",
    "member_models",
    "model_card",
    "model_of_dir",
    "models_dir",
    "record_audit",
    "require_usable",
    "resolve_model_id",
    "retire_model",
    "scrub_audit_inputs",
    "show_model",
    "version_dir",
]
