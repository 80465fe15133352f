"""Consent statistics: per purpose, how many members switched it on, how many may be
used, why not, by regime. The one computation behind ``optin summary``, the admin
dashboard and the demo report. Staff accounts (the admin) are not members: they are
left out of every count.

::

    stats = consent_statistics(db, now=now)
    stats.purposes["train_own_models"].eligible
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from optin.domain.eligibility import ELIGIBLE_REASONS, Decision, PolicySet, Reason
from optin.domain.model import ConsentAction, Regime
from optin.errors import OptinError
from optin.services.eligibility import decide_all, decide_with_rows
from optin.services.policy import current_policy, policy_set
from optin.storage.database import Database
from optin.storage.repos import summary as summary_repo

UNKNOWN = "unknown"
#: Members who can make a choice (the denominator of a consent rate).
CAN_CHOOSE = frozenset(
    {
        Reason.ELIGIBLE,
        Reason.ELIGIBLE_OPT_OUT_DEFAULT,
        Reason.NO_CONSENT,
        Reason.WITHDRAWN,
        Reason.STALE_POLICY,
    }
)
_GRANT = f"{ConsentAction.GRANT.value} "  # a projection row's last choice starts so
#: Regimes in display order, then members without a known country.
REGIME_ORDER = (*(r.value for r in Regime), UNKNOWN)


@dataclass
class PurposeStatistics:
    """One purpose at one time.

    ``by_regime`` groups by the regime of the member's country under the policy in force
    (``members`` / ``switched_on`` / ``eligible`` each); ``by_decided_regime`` by the
    regime the decision names (None, shown as ``unknown``, when the decision stopped
    before the jurisdiction, e.g. a closed account): ``members`` / ``eligible``.
    """

    purpose: str
    title: str
    members: int = 0
    eligible: int = 0
    switched_on: int = 0
    can_choose: int = 0
    eligible_of_can_choose: int = 0
    switched_on_of_can_choose: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    by_regime: dict[str, dict[str, int]] = field(default_factory=dict)
    by_decided_regime: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def consent_rate(self) -> float | None:
        """Eligible share of the members who can choose (None when nobody can)."""
        return self.eligible_of_can_choose / self.can_choose if self.can_choose else None

    @property
    def switched_on_rate(self) -> float | None:
        """Share of the members who can choose whose last choice switched it on."""
        return self.switched_on_of_can_choose / self.can_choose if self.can_choose else None


@dataclass
class ConsentStatistics:
    at: datetime
    policy_version: int
    members_by_regime: dict[str, int]
    #: in the policy's order
    purposes: dict[str, PurposeStatistics]


def consent_rate(decisions: Iterable[Decision]) -> float | None:
    """Eligible share of the decisions whose member can choose (None when none can)."""
    pool = [d for d in decisions if d.reason in CAN_CHOOSE]
    if not pool:
        return None
    return sum(1 for d in pool if d.eligible) / len(pool)


def _staff(db: Database) -> frozenset[str]:
    with db.session() as s:
        return summary_repo.staff_ids(s)


def consent_rate_at(db: Database, purpose: str, at: datetime) -> float | None:
    """:func:`consent_rate` of every member (staff left out) at ``at``; None also when
    the purpose was unknown then."""
    staff = _staff(db)
    try:
        return consent_rate(d for d in decide_all(db, purpose, at) if d.member_id not in staff)
    except OptinError:
        return None


def rates_at(db: Database, purpose: str, at: datetime) -> tuple[float | None, float | None]:
    """``(switched on, eligible)``: shares of the members who can choose at ``at``
    whose last choice switched ``purpose`` on, and who may be used for it (staff left
    out); ``(None, None)`` when nobody can choose or the purpose was unknown then."""
    staff = _staff(db)
    pool = on = ok = 0
    try:
        for (mid, _b, _c, _s, last), d in decide_with_rows(db, purpose, at):
            if mid in staff or d.reason not in CAN_CHOOSE:
                continue
            pool += 1
            on += last is not None and last.startswith(_GRANT)
            ok += d.eligible
    except OptinError:
        return None, None
    return (on / pool, ok / pool) if pool else (None, None)


def _purpose_statistics(
    db: Database,
    ps: PolicySet,
    pid: str,
    now: datetime,
    regime_count: Counter[str] | None,
) -> PurposeStatistics:
    pol = ps.in_force(now)
    assert pol is not None  # consent_statistics found it
    rules = pol.jurisdictions
    out = PurposeStatistics(pid, pol.purposes[pid].title)
    table: dict[str, Counter[str]] = defaultdict(Counter)
    decided: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    staff = _staff(db)
    for (mid, _birth, country, _status, last), d in decide_with_rows(db, pid, now):
        if mid in staff:
            continue
        regime = rules.regime(country).value if country else UNKNOWN
        if regime_count is not None:
            regime_count[regime] += 1
        on = last is not None and last.startswith(_GRANT)
        ok = d.reason in ELIGIBLE_REASONS
        table[regime].update(members=1, switched_on=on, eligible=ok)
        decided[str(d.regime) if d.regime else UNKNOWN].update(members=1, eligible=d.eligible)
        out.members += 1
        out.switched_on += on
        out.eligible += ok
        if d.reason in CAN_CHOOSE:
            out.can_choose += 1
            out.eligible_of_can_choose += d.eligible
            out.switched_on_of_can_choose += on
        reasons[d.reason.value] += 1
    out.by_regime = {
        k: {n: v[n] for n in ("members", "switched_on", "eligible")}
        for k, v in sorted(table.items())
    }
    out.by_decided_regime = {
        k: {"members": v["members"], "eligible": v["eligible"]} for k, v in sorted(decided.items())
    }
    out.reasons = dict(reasons.most_common())
    return out


def consent_statistics(
    db: Database, *, now: datetime, purposes: Iterable[str] | None = None
) -> ConsentStatistics:
    """Statistics for every purpose of the policy in force at ``now`` (or the given
    ones, which must be among them), one bulk eligibility pass per purpose."""
    ps = policy_set(db)
    pol = current_policy(db, now)
    wanted = (
        list(pol.purposes) if purposes is None else [p for p in pol.purposes if p in set(purposes)]
    )
    regime_count: Counter[str] = Counter()
    stats: dict[str, PurposeStatistics] = {}
    for i, pid in enumerate(wanted):
        stats[pid] = _purpose_statistics(db, ps, pid, now, regime_count if i == 0 else None)
    return ConsentStatistics(
        at=now,
        policy_version=pol.version,
        members_by_regime={k: regime_count[k] for k in REGIME_ORDER if regime_count[k]},
        purposes=stats,
    )


__all__ = [
    "CAN_CHOOSE",
    "UNKNOWN",
    "ConsentStatistics",
    "PurposeStatistics",
    "consent_rate",
    "consent_rate_at",
    "consent_statistics",
    "rates_at",
]
