"""optin's pure domain: purposes, policies, jurisdictions, consent, eligibility.

No I/O, no clock, no database: time is always a parameter.

The policy-change names (:mod:`optin.domain.changes`, with :mod:`difflib`) are loaded on
first use (PEP 562): the short CLI commands decide eligibility without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from optin.domain.eligibility import (
    ELIGIBLE_REASONS,
    Decision,
    MemberState,
    PolicySet,
    Reason,
    birth_date_at,
    decide,
    decide_bulk,
    eligibility,
    grant_void_reason,
    project,
)
from optin.domain.model import (
    DEFAULT_NOTICE_DAYS,
    AccountStatus,
    AuditThresholds,
    BirthDateCorrection,
    CapacityRules,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ContentItem,
    ContentKind,
    JurisdictionRules,
    Member,
    MemberHistory,
    PolicyVersion,
    Purpose,
    Regime,
    Visibility,
)
from optin.domain.policy import (
    PURPOSE_ID_PATTERN,
    check_purpose_id,
    default_policy_text,
    is_valid_purpose_id,
    parse_policy,
)

if TYPE_CHECKING:
    from optin.domain.changes import (
        ChangeKind,
        PolicyChange,
        PublishRequirements,
        changes_for_country,
        check_publish,
        describe_change,
        describe_changes,
        policy_changes,
        policy_text_diff,
        publish_requirements,
        regime_table,
        schedule_in_force,
    )

#: The names loaded from :mod:`optin.domain.changes` on first use.
_CHANGES = frozenset(
    {
        "ChangeKind",
        "PolicyChange",
        "PublishRequirements",
        "changes_for_country",
        "check_publish",
        "describe_change",
        "describe_changes",
        "policy_changes",
        "policy_text_diff",
        "publish_requirements",
        "regime_table",
        "schedule_in_force",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _CHANGES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module("optin.domain.changes"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_CHANGES})


__all__ = [
    "DEFAULT_NOTICE_DAYS",
    "ELIGIBLE_REASONS",
    "PURPOSE_ID_PATTERN",
    "AccountStatus",
    "AuditThresholds",
    "BirthDateCorrection",
    "CapacityRules",
    "ChangeKind",
    "ConsentAction",
    "ConsentEvent",
    "ConsentSource",
    "ContentItem",
    "ContentKind",
    "Decision",
    "JurisdictionRules",
    "Member",
    "MemberHistory",
    "MemberState",
    "PolicyChange",
    "PolicySet",
    "PolicyVersion",
    "PublishRequirements",
    "Purpose",
    "Reason",
    "Regime",
    "Visibility",
    "birth_date_at",
    "changes_for_country",
    "check_publish",
    "check_purpose_id",
    "decide",
    "decide_bulk",
    "default_policy_text",
    "describe_change",
    "describe_changes",
    "eligibility",
    "grant_void_reason",
    "is_valid_purpose_id",
    "parse_policy",
    "policy_changes",
    "policy_text_diff",
    "project",
    "publish_requirements",
    "regime_table",
    "schedule_in_force",
]
