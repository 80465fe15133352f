"""The admin dashboard's figures and charts, computed from the ledger (bulk
eligibility at month ends), the policy, and the snapshots' manifests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from optin.services import dashboard as figures_service
from optin.services import outbox
from optin.services import snapshots as snapshot_service
from optin.services.ledger import ledger_status
from optin.services.models import ModelSummary, list_models
from optin.services.setup import Database
from optin.services.snapshots import SnapshotSummary
from optin.web import backend, charts


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
    consent_over_time: dict[str, list[float | None]]
    snapshots: list[SnapshotSummary]
    charts: dict[str, str] = field(default_factory=dict)
    #: deletion notices to providers by state, and the overdue ones (never cached)
    notice_counts: dict[str, int] = field(default_factory=dict)
    overdue_notices: list[Any] = field(default_factory=list)
    #: trained models with their guarantee and last audit (never cached)
    models: list[ModelSummary] = field(default_factory=list)


_cache: dict[tuple[object, ...], Dashboard] = {}
_lock = threading.Lock()


def build(db: Database, now: datetime) -> Dashboard:
    """All figures; cached per (ledger head, policy versions, snapshot count, hour)."""
    head = ledger_status(db)
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
        return _with_notices(hit, db, now)
    f = figures_service.dashboard_figures(db, now=now)
    dash = Dashboard(
        members=f.members,
        ledger_length=f.ledger_length,
        policy_version=f.policy_version,
        purposes=f.purposes,
        eligible_now=f.eligible_now,
        reasons_now=f.reasons_now,
        rate_by_regime=f.rate_by_regime,
        months=f.months,
        rate_over_time=f.rate_over_time,
        consent_over_time=f.consent_over_time,
        snapshots=snaps,
    )
    dash.charts = render_charts(dash)
    with _lock:
        if len(_cache) > 16:
            _cache.clear()
        _cache[key] = dash
    return _with_notices(dash, db, now)


def _with_notices(d: Dashboard, db: Database, now: datetime) -> Dashboard:
    return replace(
        d,
        notice_counts=outbox.notice_counts(db, now=now),
        overdue_notices=outbox.list_notices(db, now=now, overdue_only=True, limit=20),
        models=list_models(db)[:20],
    )


def short_name(purpose_id: str) -> str:
    """A chart label for a purpose: its id in words ('train own models')."""
    return purpose_id.replace("_", " ")


def render_charts(d: Dashboard) -> dict[str, str]:
    titles = {pid: short_name(pid) for pid, _ in d.purposes}
    out: dict[str, str] = {}
    out["consent_over_time"] = charts.line_chart(
        "Consent over time: share of members who can choose that switched each use on",
        d.months,
        [(titles[p], d.consent_over_time[p]) for p, _ in d.purposes],
    )
    out["over_time"] = charts.line_chart(
        "Eligibility over time: share of members who can choose whose content may be used",
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
    out.update(_snapshot_charts(d.snapshots))
    return out


def _by_total(counts: list[dict[str, int]]) -> list[str]:
    """The names counted in any of ``counts``, largest total first."""
    return sorted({r for c in counts for r in c}, key=lambda r: -sum(c.get(r, 0) for c in counts))


def _snapshot_charts(snapshots: list[SnapshotSummary]) -> dict[str, str]:
    snaps = [s for s in snapshots if s.excluded or s.findings][:6]
    if not snaps:
        return {}
    names = [s.id[:16] for s in snaps]
    excluded = [s.excluded for s in snaps]
    findings = [s.findings for s in snaps]
    return {
        "exclusions": charts.hbar_chart(
            "Snapshots: records excluded, by reason",
            [(r, [float(c.get(r, 0)) for c in excluded]) for r in _by_total(excluded)],
            names,
            label_width=200,
        ),
        "findings": charts.hbar_chart(
            "Snapshots: personal data found and redacted, by label",
            [(lab, [float(c.get(lab, 0)) for c in findings]) for lab in _by_total(findings)],
            names,
            label_width=160,
        ),
    }
