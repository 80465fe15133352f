"""A one-screen summary of a platform: members, consent rates by regime, eligibility,
ledger integrity, snapshots. Used by ``optin summary`` and the quick start."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from optin.services.ledger import verify_ledger
from optin.services.statistics import UNKNOWN, consent_statistics
from optin.storage.database import Database
from optin.storage.repos import summary as repo


@dataclass
class PurposeSummary:
    purpose: str
    title: str
    eligible: int = 0
    switched_on: int = 0
    by_regime: dict[str, dict[str, int]] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class PlatformSummary:
    at: datetime
    members: int
    members_by_regime: dict[str, int]
    policy_version: int
    purposes: list[PurposeSummary]
    ledger: dict[str, object]
    snapshots: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "members": self.members,
            "members_by_regime": self.members_by_regime,
            "policy_version": self.policy_version,
            "purposes": [
                {
                    "purpose": p.purpose,
                    "title": p.title,
                    "eligible": p.eligible,
                    "switched_on": p.switched_on,
                    "by_regime": p.by_regime,
                    "reasons": p.reasons,
                }
                for p in self.purposes
            ],
            "ledger": self.ledger,
            "snapshots": self.snapshots,
        }


def platform_summary(db: Database, *, now: datetime) -> PlatformSummary:
    """Summarise the platform as of ``now`` (one bulk pass per purpose)."""
    with db.session() as s:
        members = repo.member_count(s)
        snaps = repo.latest_snapshots(s, 5)
    report = verify_ledger(db)
    stats = consent_statistics(db, now=now)
    purposes = [
        PurposeSummary(
            pid,
            st.title,
            eligible=st.eligible,
            switched_on=st.switched_on,
            by_regime=st.by_regime,
            reasons=st.reasons,
        )
        for pid, st in sorted(stats.purposes.items())
    ]
    return PlatformSummary(
        at=now,
        members=members,
        members_by_regime=stats.members_by_regime,
        policy_version=stats.policy_version,
        purposes=purposes,
        ledger=report.to_dict(),
        snapshots=snaps,
    )


__all__ = ["UNKNOWN", "PlatformSummary", "PurposeSummary", "platform_summary"]
