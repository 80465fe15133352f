"""Audit a trained model against the audit thresholds of the policy in force.

The measurements are :mod:`optin.training.audit`'s; this module picks the thresholds
(the policy in force at ``now`` in the database, or a given policy when there is no
database), checks the result (:func:`optin.training.audit.audit_passes`) and records it
in the model card; for a registered model :func:`record_in_registry` keeps it in the
registry, where a failed audit marks the model ``blocked``
(:func:`optin.services.models.record_audit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from optin.domain.model import AuditThresholds, PolicyVersion
from optin.errors import InputError, NotFoundError
from optin.files import atomic_write_bytes
from optin.services import models as registry
from optin.services.policy import current_policy
from optin.settings import Settings
from optin.storage.database import Database
from optin.training.audit import (
    AuditOptions,
    AuditResult,
    AuditVerdict,
    audit_passes,
    read_model_card,
    run_audit,
    thresholds_to_dict,
    write_audit,
)
from optin.training.card import render_readme


@dataclass(frozen=True)
class ModelAudit:
    """An audit, its verdict and the thresholds it was judged by."""

    result: AuditResult
    verdict: AuditVerdict
    thresholds: AuditThresholds
    policy_version: int | None
    card: Path | None


def policy_in_force(db: Database, now: datetime) -> PolicyVersion:
    """The policy version whose ``[audit]`` thresholds apply at ``now``."""
    return current_policy(db, now)


def audit_model(
    model_dir: Path,
    policy: PolicyVersion,
    *,
    now: datetime,
    options: AuditOptions | None = None,
    write: bool = True,
    policy_version: int | None = None,
) -> ModelAudit:
    """Audit ``model_dir`` under ``policy``'s thresholds; with ``write``, record the
    result in its model card (``policy_version`` defaults to ``policy.version``)."""
    result = run_audit(model_dir, options)
    verdict = audit_passes(result, policy.audit)
    version = policy.version if policy_version is None else policy_version
    card = (
        write_audit(
            model_dir,
            result,
            verdict,
            thresholds=policy.audit,
            audited_at=now,
            policy_version=version,
        )
        if write
        else None
    )
    if card is not None:
        _rerender_readme(model_dir)
    return ModelAudit(result, verdict, policy.audit, version, card)


def _rerender_readme(model_dir: Path) -> None:
    """An optin model card's README.md says what the card says: render it again with
    the audit (a card optin did not write keeps its README)."""
    card = read_model_card(model_dir)
    if card.get("format") != "optin-model-card/1":
        return
    atomic_write_bytes(Path(model_dir) / "README.md", render_readme(card).encode("utf-8"))


def locate_model(db: Database | None, settings: Settings, target: str) -> tuple[Path, str | None]:
    """The directory to audit and the registered model it belongs to: ``target`` is a
    model directory (registered or not) or a model id, unique prefix or ``latest``."""
    path = Path(target)
    if path.is_dir():
        return path, (None if db is None else registry.model_of_dir(db, settings, path))
    if db is None:
        raise InputError(
            "no such model directory, and there is no database to look a model id up in",
            file=target,
            allowed="a model directory, or a model id of `optin model list`",
        )
    mid, model_dir = registry.current_dir(db, settings, target)
    if not (model_dir / "model_card.json").is_file():
        raise NotFoundError(f"model {mid}: its directory {model_dir} has no model card")
    return model_dir, mid


def record_in_registry(
    db: Database, model_id: str, audit: ModelAudit, *, now: datetime
) -> dict[str, Any]:
    """Keep the audit in the registry; a failed one marks the model ``blocked``."""
    return registry.record_audit(
        db,
        model_id,
        audit={
            "result": audit.result.to_dict(),
            "verdict": audit.verdict.to_dict(),
            "thresholds": thresholds_to_dict(audit.thresholds),
            "policy_version": audit.policy_version,
            "audited_at": now.isoformat(),
        },
        passed=audit.verdict.passed,
        now=now,
    )


__all__ = [
    "ModelAudit",
    "audit_model",
    "locate_model",
    "policy_in_force",
    "record_in_registry",
]
