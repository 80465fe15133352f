"""Audit a trained model against the audit thresholds of the policy in force.

The measurements are :mod:`optin.training.audit`'s; this module picks the thresholds
(the policy in force at ``now`` in the database, or a given policy when there is no
database), checks the result (:func:`optin.training.audit.audit_passes`) and records it
in the model card. Marking a failing model ``blocked`` is the models table's job: the
caller gets the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from optin.domain.model import AuditThresholds, PolicyVersion
from optin.services.policy import current_policy
from optin.storage.database import Database
from optin.training.audit import (
    AuditOptions,
    AuditResult,
    AuditVerdict,
    audit_passes,
    run_audit,
    write_audit,
)


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
    return ModelAudit(result, verdict, policy.audit, version, card)


__all__ = ["ModelAudit", "audit_model", "policy_in_force"]
