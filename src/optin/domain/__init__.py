"""optin's pure domain: purposes, policies, jurisdictions, consent, eligibility.

No I/O, no clock, no database: time is always a parameter.
"""

from optin.domain.eligibility import (
    ELIGIBLE_REASONS,
    Decision,
    MemberState,
    PolicySet,
    Reason,
    decide,
    decide_bulk,
    eligibility,
    project,
)
from optin.domain.model import (
    AccountStatus,
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
from optin.domain.policy import default_policy_text, parse_policy

__all__ = [
    "ELIGIBLE_REASONS",
    "AccountStatus",
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
    "PolicySet",
    "PolicyVersion",
    "Purpose",
    "Reason",
    "Regime",
    "Visibility",
    "decide",
    "decide_bulk",
    "default_policy_text",
    "eligibility",
    "parse_policy",
    "project",
]
