"""The admin dashboard's figures and charts, computed from the ledger (bulk
eligibility at month ends), the policy, and the snapshots' manifests."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from optin.services import dashboard as figures_service
from optin.services.ledger import ledger_status
from optin.services.setup import Database
from optin.storage.models import SnapshotRow
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
    snapshots: list[dict[str, Any]]
    charts: dict[str, str] = field(default_factory=dict)


def _find(manifest: Any, *names: str) -> dict[str, int]:
    """The first mapping of counts found under any of ``names`` (searched recursively)."""
    if isinstance(manifest, dict):
        for name in names:
            v = manifest.get(name)
            if isinstance(v, dict) and v and all(isinstance(x, int) for x in v.values()):
                return {str(k): int(x) for k, x in v.items()}
        for v in manifest.values():
            hit = _find(v, *names)
            if hit:
                return hit
    return {}


def exclusions(manifest: dict[str, Any]) -> dict[str, int]:
    """Records excluded at every step, by reason (``counts.steps[*].dropped``)."""
    steps = manifest.get("counts", {}).get("steps") if isinstance(manifest, dict) else None
    if not isinstance(steps, list):
        return _find(manifest, "excluded_by_reason", "exclusions", "excluded")
    out: Counter[str] = Counter()
    for step in steps:
        dropped = step.get("dropped") if isinstance(step, dict) else None
        if isinstance(dropped, dict):
            out.update({str(k): int(v) for k, v in dropped.items() if isinstance(v, int)})
    return dict(out.most_common())


def snapshot_summary(row: SnapshotRow) -> dict[str, Any]:
    try:
        manifest = json.loads(row.manifest) if row.manifest else {}
    except ValueError:
        manifest = {}
    return {
        "id": row.id,
        "purpose": row.purpose,
        "as_of": row.as_of,
        "built_at": row.built_at,
        "status": row.status,
        "records": row.record_count,
        "excluded": exclusions(manifest),
        "findings": _find(manifest, "findings_by_label", "findings"),
    }


def list_snapshots(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.scalars(
            select(SnapshotRow).order_by(SnapshotRow.built_at.desc(), SnapshotRow.id).limit(limit)
        ).all()
        return [snapshot_summary(r) for r in rows]


_cache: dict[tuple[object, ...], Dashboard] = {}
_lock = threading.Lock()


def build(db: Database, now: datetime) -> Dashboard:
    """All figures; cached per (ledger head, policy versions, snapshot count, hour)."""
    head = ledger_status(db)
    snaps = list_snapshots(db)
    key = (
        db.url,
        head.seq,
        head.hash,
        len(backend.policies(db)),
        len(snaps),
        [sn["status"] for sn in snaps].count("complete"),
        now.strftime("%Y%m%d%H"),
    )
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
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
    out.update(_snapshot_charts(d.snapshots))
    return out


def _by_total(snaps: list[dict[str, Any]], key: str) -> list[str]:
    """The names counted under ``key`` in any snapshot, largest total first."""
    return sorted(
        {r for s in snaps for r in s[key]}, key=lambda r: -sum(s[key].get(r, 0) for s in snaps)
    )


def _snapshot_charts(snapshots: list[dict[str, Any]]) -> dict[str, str]:
    snaps = [s for s in snapshots if s["excluded"] or s["findings"]][:6]
    if not snaps:
        return {}
    names = [s["id"][:16] for s in snaps]
    return {
        "exclusions": charts.hbar_chart(
            "Snapshots: records excluded, by reason",
            [
                (r, [float(s["excluded"].get(r, 0)) for s in snaps])
                for r in _by_total(snaps, "excluded")
            ],
            names,
            label_width=200,
        ),
        "findings": charts.hbar_chart(
            "Snapshots: personal data found and redacted, by label",
            [
                (lab, [float(s["findings"].get(lab, 0)) for s in snaps])
                for lab in _by_total(snaps, "findings")
            ],
            names,
            label_width=160,
        ),
    }
