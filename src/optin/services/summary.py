"""A one-screen summary of a platform: members, consent rates by regime, eligibility,
ledger integrity, snapshots. Used by ``optin summary`` and the quick start."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from itertools import tee
from typing import Any

from sqlalchemy import func, select

from optin.domain.eligibility import ELIGIBLE_REASONS, decide_bulk
from optin.domain.model import ConsentAction, Regime
from optin.services.database import Database
from optin.services.policy import current_policy, policy_set
from optin.storage import ledger
from optin.storage.models import MemberRow, SnapshotRow
from optin.storage.projection import iter_member_states

UNKNOWN = "unknown"


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
    ps = policy_set(db)
    pol = current_policy(db, now)
    rules = pol.jurisdictions
    with db.session() as s:
        members = int(s.scalar(select(func.count()).select_from(MemberRow)) or 0)
        report = ledger.verify(s)
        snaps = [
            {
                "id": r.id,
                "purpose": r.purpose,
                "as_of": r.as_of.isoformat(),
                "status": r.status,
                "records": r.record_count,
            }
            for r in s.scalars(select(SnapshotRow).order_by(SnapshotRow.as_of.desc()).limit(5))
        ]
    regime_count: Counter[str] = Counter()
    purposes: list[PurposeSummary] = []
    for i, (pid, purpose) in enumerate(sorted(pol.purposes.items())):
        summ = PurposeSummary(pid, purpose.title)
        table: dict[str, Counter[str]] = defaultdict(Counter)
        reasons: Counter[str] = Counter()
        states, to_decide = tee(iter_member_states(db.engine, pid, now))
        for state, d in zip(states, decide_bulk(to_decide, pid, now, ps), strict=True):
            regime = rules.regime(state.country).value if state.country else UNKNOWN
            if i == 0:
                regime_count[regime] += 1
            row = table[regime]
            row["members"] += 1
            on = state.last_action is ConsentAction.GRANT
            row["switched_on"] += on
            summ.switched_on += on
            ok = d.reason in ELIGIBLE_REASONS
            row["eligible"] += ok
            summ.eligible += ok
            reasons[d.reason.value] += 1
        summ.by_regime = {k: dict(v) for k, v in sorted(table.items())}
        summ.reasons = dict(reasons.most_common())
        purposes.append(summ)
    order = [r.value for r in Regime] + [UNKNOWN]
    return PlatformSummary(
        at=now,
        members=members,
        members_by_regime={k: regime_count[k] for k in order if regime_count[k]},
        policy_version=pol.version,
        purposes=purposes,
        ledger=report.to_dict(),
        snapshots=snaps,
    )
