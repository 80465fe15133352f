"""The admin dashboard's figures and charts, computed from the ledger (bulk
eligibility at month ends), the policy, and the snapshots' manifests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from optin.domain.eligibility import Decision, Reason
from optin.errors import OptinError
from optin.services import snapshots as snapshot_service
from optin.services.database import Database
from optin.services.snapshots import SnapshotSummary
from optin.storage.ledger import ledger_head
from optin.web import backend, charts

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
MONTHS = 12


@dataclass
class Dashboard:
    members: int
    ledger_length: int
    policy_version: int
    purposes: list[tuple[str, str]]  # (id, title)
    eligible_now: dict[str, int]
    reasons_now: dict[str, dict[str, int]]
    rate_by_regime: dict[str, dict[str, float]]
    months: list[str]
    rate_over_time: dict[str, list[float | None]]
    snapshots: list[SnapshotSummary]
    charts: dict[str, str] = field(default_factory=dict)


def month_points(now: datetime, n: int = MONTHS) -> list[datetime]:
    """The first instant of each of the last ``n - 1`` months, then ``now``."""
    pts: list[datetime] = []
    y, m = now.year, now.month
    for _ in range(n - 1):
        pts.append(datetime(y, m, 1, tzinfo=UTC))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    pts.reverse()
    return [p for p in pts if p < now] + [now]


def consent_rate(decisions: list[Decision]) -> float | None:
    pool = [d for d in decisions if d.reason in CAN_CHOOSE]
    if not pool:
        return None
    return sum(1 for d in pool if d.eligible) / len(pool)


_cache: dict[tuple[object, ...], Dashboard] = {}
_lock = threading.Lock()
#: consent rates at past month starts: (url, purpose, time) -> (computed at, rate).
#: The past rarely changes (only imports with past times change it), so these points are
#: recomputed every PAST_TTL; the "now" point is always fresh.
_past: dict[tuple[str, str, datetime], tuple[float, float | None]] = {}
PAST_TTL = 600.0


def _past_rate(db: Database, purpose: str, at: datetime) -> float | None:
    key = (db.url, purpose, at)
    now = time.monotonic()
    with _lock:
        hit = _past.get(key)
    if hit is not None and now - hit[0] < PAST_TTL:
        return hit[1]
    try:
        rate = consent_rate(backend.decide_all(db, purpose, at))
    except OptinError:  # the purpose did not exist at that time
        rate = None
    with _lock:
        if len(_past) > 5000:
            _past.clear()
        _past[key] = (now, rate)
    return rate


def build(db: Database, now: datetime) -> Dashboard:
    """All figures; cached per (ledger head, policy versions, snapshot count, hour)."""
    pv = backend.current_policy(db, now)
    with db.session() as s:
        head = ledger_head(s)
    snaps = snapshot_service.list_snapshots(db, limit=50)
    key = (
        db.url,
        head.seq,
        head.hash,
        len(backend.policies(db)),
        len(snaps),
        [sn.status for sn in snaps].count("complete"),
        now.strftime("%Y%m%d%H"),
    )
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    purposes = [(p.id, p.title) for p in pv.purposes.values()]
    points = month_points(now)
    months = [p.strftime("%b %y") for p in points[:-1]] + ["now"]
    over_time: dict[str, list[float | None]] = {}
    eligible_now: dict[str, int] = {}
    reasons_now: dict[str, dict[str, int]] = {}
    by_regime: dict[str, dict[str, float]] = {}
    members = 0
    for pid, _title in purposes:
        series: list[float | None] = []
        for at in points[:-1]:
            series.append(_past_rate(db, pid, at))
        latest = backend.decide_all(db, pid, now)
        series.append(consent_rate(latest))
        over_time[pid] = series
        members = max(members, len(latest))
        eligible_now[pid] = sum(1 for d in latest if d.eligible)
        reasons_now[pid] = dict(Counter(str(d.reason) for d in latest).most_common())
        regimes: dict[str, list[Decision]] = {}
        for d in latest:
            regimes.setdefault(str(d.regime) if d.regime else "unknown", []).append(d)
        by_regime[pid] = {
            r: sum(1 for d in ds if d.eligible) / len(ds) for r, ds in sorted(regimes.items())
        }
    dash = Dashboard(
        members=members,
        ledger_length=head.seq,
        policy_version=pv.version,
        purposes=purposes,
        eligible_now=eligible_now,
        reasons_now=reasons_now,
        rate_by_regime=by_regime,
        months=months,
        rate_over_time=over_time,
        snapshots=snaps,
    )
    dash.charts = render_charts(dash)
    with _lock:
        if len(_cache) > 16:
            _cache.clear()
        _cache[key] = dash
    return dash


def short_name(purpose_id: str) -> str:
    """A chart label for a purpose: its id in words ('train own models')."""
    return purpose_id.replace("_", " ")


def render_charts(d: Dashboard) -> dict[str, str]:
    titles = {pid: short_name(pid) for pid, _ in d.purposes}
    out: dict[str, str] = {}
    out["over_time"] = charts.line_chart(
        "Consent rate per purpose over time (members who can choose)",
        d.months,
        [(titles[p], d.rate_over_time[p]) for p, _ in d.purposes],
    )
    regimes = sorted({r for p in d.rate_by_regime.values() for r in p})
    out["by_regime"] = charts.hbar_chart(
        "Share of members whose content is usable, by regime",
        [
            (r.replace("_", "-"), [d.rate_by_regime[p].get(r, 0.0) for p, _ in d.purposes])
            for r in regimes
        ],
        [titles[p] for p, _ in d.purposes],
        percent=True,
        label_width=110,
    )
    out["eligible"] = charts.hbar_chart(
        "Eligible members per purpose now",
        [(titles[p], [float(d.eligible_now[p])]) for p, _ in d.purposes],
        ["eligible members"],
        label_width=170,
    )
    snaps = [s for s in d.snapshots if s.excluded or s.findings][:6]
    if snaps:
        reasons = sorted(
            {r for s in snaps for r in s.excluded},
            key=lambda r: -sum(s.excluded.get(r, 0) for s in snaps),
        )
        out["exclusions"] = charts.hbar_chart(
            "Snapshots: records excluded, by reason",
            [(r, [float(s.excluded.get(r, 0)) for s in snaps]) for r in reasons],
            [s.id[:16] for s in snaps],
            label_width=200,
        )
        labels = sorted(
            {r for s in snaps for r in s.findings},
            key=lambda r: -sum(s.findings.get(r, 0) for s in snaps),
        )
        out["findings"] = charts.hbar_chart(
            "Snapshots: personal data found and redacted, by label",
            [(lab, [float(s.findings.get(lab, 0)) for s in snaps]) for lab in labels],
            [s.id[:16] for s in snaps],
            label_width=160,
        )
    return out
