"""The admin dashboard's figures (the web layer draws the charts): per purpose at month
starts and now, the share of members who can choose that switched it on (consent) and
the share that may be used (eligibility); eligible members and reasons now, rates by
regime. Staff accounts are not members and are not counted.

::

    figures = dashboard_figures(db, now=now)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from optin.services.ledger import ledger_status
from optin.services.statistics import consent_statistics, rates_at
from optin.storage.database import Database

MONTHS = 12
#: consent rates at past month starts: (url, purpose, time) -> (computed at, rate).
#: The past rarely changes (only imports with past times change it), so these points are
#: recomputed every PAST_TTL seconds; the "now" point is always fresh.
PAST_TTL = 600.0
_past: dict[tuple[str, str, datetime], tuple[float, tuple[float | None, float | None]]] = {}
_lock = threading.Lock()


@dataclass
class DashboardFigures:
    members: int
    ledger_length: int
    ledger_hash: str
    policy_version: int
    purposes: list[tuple[str, str]]  # (id, title), in the policy's order
    eligible_now: dict[str, int]
    reasons_now: dict[str, dict[str, int]]
    rate_by_regime: dict[str, dict[str, float]]
    months: list[str]
    #: share of the members who can choose that may be used (eligible), per month
    rate_over_time: dict[str, list[float | None]]
    #: share of the members who can choose whose last choice switched the use on
    consent_over_time: dict[str, list[float | None]]


def month_points(now: datetime, n: int = MONTHS) -> list[datetime]:
    """The first instant of each of the last ``n - 1`` months, then ``now``."""
    pts: list[datetime] = []
    y, m = now.year, now.month
    for _ in range(n - 1):
        pts.append(datetime(y, m, 1, tzinfo=UTC))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    pts.reverse()
    return [p for p in pts if p < now] + [now]


def _past_rates(db: Database, purpose: str, at: datetime) -> tuple[float | None, float | None]:
    key = (db.url, purpose, at)
    tick = time.monotonic()  # a cache age, not a time the figures depend on
    with _lock:
        hit = _past.get(key)
    if hit is not None and tick - hit[0] < PAST_TTL:
        return hit[1]
    rate = rates_at(db, purpose, at)
    with _lock:
        if len(_past) > 5000:
            _past.clear()
        _past[key] = (tick, rate)
    return rate


def dashboard_figures(db: Database, *, now: datetime) -> DashboardFigures:
    """Every figure of the dashboard as of ``now``."""
    head = ledger_status(db)
    stats = consent_statistics(db, now=now)
    points = month_points(now)
    over_time: dict[str, list[float | None]] = {}
    consent_over_time: dict[str, list[float | None]] = {}
    for pid, st in stats.purposes.items():
        past = [_past_rates(db, pid, at) for at in points[:-1]]
        consent_over_time[pid] = [*(on for on, _ in past), st.switched_on_rate]
        over_time[pid] = [*(ok for _, ok in past), st.consent_rate]
    return DashboardFigures(
        members=max((st.members for st in stats.purposes.values()), default=0),
        ledger_length=head.seq,
        ledger_hash=head.hash,
        policy_version=stats.policy_version,
        purposes=[(pid, st.title) for pid, st in stats.purposes.items()],
        eligible_now={pid: st.eligible for pid, st in stats.purposes.items()},
        reasons_now={pid: st.reasons for pid, st in stats.purposes.items()},
        rate_by_regime={
            pid: {r: c["eligible"] / c["members"] for r, c in st.by_decided_regime.items()}
            for pid, st in stats.purposes.items()
        },
        months=[p.strftime("%b %y") for p in points[:-1]] + ["now"],
        rate_over_time=over_time,
        consent_over_time=consent_over_time,
    )


__all__ = ["MONTHS", "DashboardFigures", "dashboard_figures", "month_points"]
