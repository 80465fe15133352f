"""Lineage queries: where a member's content, one content item or one snapshot went
(snapshots, derived snapshots, provider exports, models), from the provenance rows and
the ``lineage_edges`` table (:mod:`optin.storage.lineage`).

Only what the system records is reported. A snapshot's exports are the ``export``
edges leaving it (written with each export); a member's (or a content item's) exports
are those whose ``export_records`` include the member's records (an export leaves out
records no longer eligible when it is made), each with the deletion notices that asked
the provider to remove them: when requested, delivered and confirmed. Models appear
once ``model`` edges exist; a member's ``model_versions`` come from the model
registry's training sets (:func:`optin.services.models.member_models`): which versions
held their records and which later versions no longer do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from optin.errors import NotFoundError
from optin.services.consent import consent_history
from optin.services.models import member_models
from optin.services.snapshots import SnapshotSummary
from optin.storage import lineage as repo
from optin.storage import snapshots as snap_repo
from optin.storage.database import Database
from optin.storage.repos import providers as provider_repo


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _edges(rows: Sequence[Any], key: str) -> list[dict[str, Any]]:
    return [{"snapshot_id": r.src, key: r.dst, "at": _iso(r.at), **repo.edge_meta(r)} for r in rows]


def _export_state(export: Any) -> dict[str, Any]:
    return {
        "status": export.status,
        "stale_records": int(export.stale_count or 0),
        "stale_reason": export.stale_reason,
        "stale_at": _iso(export.stale_at),
    }


def _exports_of_snapshots(s: Any, snapshot_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The exports the ``export`` edges reach from these snapshots, with their state."""
    out = _edges(repo.edges_from(s, list(snapshot_ids), "export"), "export_id")
    rows = provider_repo.exports_by_ids(s, [e["export_id"] for e in out])
    for e in out:
        hit = rows.get(e["export_id"])
        if hit is not None:
            e.update(_export_state(hit[0]))
    return out


def _notice(row: Any) -> dict[str, Any]:
    state = (
        "acknowledged"
        if row.acked_at is not None
        else "delivered"
        if row.delivered_at is not None
        else "pending"
    )
    return {
        "notice_id": row.id,
        "requested_at": _iso(row.created_at),
        "due_at": _iso(row.due_at),
        "delivered_at": _iso(row.delivered_at),
        "confirmed_at": _iso(row.acked_at),
        "state": state,
        "reason": row.reason,
    }


def _removal(notices: list[Any]) -> dict[str, Any] | None:
    """When removal of the member's records was requested from the provider, delivered
    and confirmed (the latest time each, once every notice got there)."""
    if not notices:
        return None
    delivered = [n.delivered_at for n in notices]
    acked = [n.acked_at for n in notices]
    return {
        "requested_at": _iso(min(n.created_at for n in notices)),
        "due_at": _iso(max(n.due_at for n in notices)),
        "delivered_at": _iso(max(delivered)) if all(delivered) else None,  # type: ignore[type-var]
        "confirmed_at": _iso(max(acked)) if all(acked) else None,  # type: ignore[type-var]
        "notices": [_notice(n) for n in notices],
    }


def _exports_holding(
    s: Any, *, member_id: str | None = None, content_id: str | None = None
) -> list[dict[str, Any]]:
    """The exports that included records of the member (or of the content item), with
    how many, their state and, for a member, the deletion notices naming them."""
    counts = provider_repo.member_export_counts(s, member_id=member_id, content_id=content_id)
    rows = provider_repo.exports_by_ids(s, [c.export_id for c in counts])
    notices: dict[str, list[Any]] = {}
    if member_id is not None:
        for n, _name in provider_repo.member_notices(s, member_id):
            notices.setdefault(n.export_id, []).append(n)
    out = []
    for c in counts:
        export, provider = rows[c.export_id]
        entry = {
            "snapshot_id": export.snapshot_id,
            "export_id": export.id,
            "at": _iso(export.created_at),
            "provider": provider.name,
            "provider_id": provider.id,
            "format": export.format,
            "records": int(export.record_count),
            **_export_state(export),
            "included_records": int(c.records),
            "noticed_records": int(c.noticed),
        }
        if member_id is not None:
            entry["removal"] = _removal(notices.get(export.id, []))
        out.append(entry)
    return sorted(out, key=lambda e: (e["at"] or "", e["export_id"]))


def resolve_member_ref(db: Database, ref: str) -> str:
    """A member id from an id or ``@handle``."""
    with db.session() as s:
        mid = repo.find_member(s, ref)
    if mid is None:
        raise NotFoundError(
            f"member {ref!r} does not exist; give a member id or @handle (see `optin members`)"
        )
    return mid


def _summaries(s: Any, ids: Sequence[str]) -> dict[str, SnapshotSummary]:
    rows = repo.snapshots_by_ids(s, list(ids))
    stale = repo.stale_summary(s, list(rows))
    kids: dict[str, list[str]] = {}
    for e in repo.edges_from(s, list(rows), "snapshot_derived"):
        kids.setdefault(e.src, []).append(e.dst)
    return {
        sid: SnapshotSummary.from_row(r, stale=stale.get(sid), children=kids.get(sid, []))
        for sid, r in rows.items()
    }


def _snapshot_brief(sm: SnapshotSummary) -> dict[str, Any]:
    return {
        "id": sm.id,
        "purpose": sm.purpose,
        "as_of": _iso(sm.as_of),
        "status": sm.status,
        "records": sm.records,
        "stale_records": sm.stale_records,
        "parent_id": sm.parent_id,
        "children": list(sm.children),
        "retired_at": _iso(sm.retired_at),
        "retired_by": sm.retired_by,
    }


def member_lineage(db: Database, ref: str) -> dict[str, Any]:
    """Where the member's content went: snapshots (with the member's record counts and
    whether they are stale), exports and models of those snapshots, withdrawals."""
    mid = resolve_member_ref(db, ref)
    with db.session() as s:
        counts = {c.snapshot_id: int(c.records) for c in repo.member_snapshot_counts(s, [mid])}
        stale_rows = {r.snapshot_id: r for r in repo.member_stale_rows(s, mid)}
        summaries = _summaries(s, sorted(counts))
        exports = _exports_holding(s, member_id=mid)
        models = _edges(repo.edges_from(s, sorted(counts), "model"), "model_id")
        items = repo.member_content_count(s, mid)
    snapshots = []
    for sid in sorted(counts, key=lambda x: (summaries[x].as_of, x), reverse=True):
        entry = _snapshot_brief(summaries[sid])
        entry["member_records"] = counts[sid]
        row = stale_rows.get(sid)
        entry["member_stale"] = (
            {"records": row.records, "reason": row.reason, "at": _iso(row.at)} if row else None
        )
        snapshots.append(entry)
    withdrawals = [
        {"purpose": e.purpose, "at": _iso(e.at), "event_id": e.event_id}
        for e in consent_history(db, mid)
        if str(e.action) == "withdraw"
    ]
    return {
        "member_id": mid,
        "content_items": items,
        "records": sum(counts.values()),
        "snapshots": snapshots,
        "exports": exports,
        "models": models,
        "model_versions": member_models(db, mid),
        "withdrawals": withdrawals,
    }


def snapshot_lineage(db: Database, snapshot_id: str) -> dict[str, Any]:
    """A snapshot's parent, children (with what each removed), exports, models and
    stale state."""
    with db.session() as s:
        row = snap_repo.get_snapshot(s, snapshot_id)
        if row is None:
            raise NotFoundError(
                f"snapshot {snapshot_id!r} does not exist; see `optin snapshot list`"
            )
        sm = _summaries(s, [snapshot_id])[snapshot_id]
        derived_from = repo.edges_to(s, [snapshot_id], "snapshot_derived")
        derived = repo.edges_from(s, [snapshot_id], "snapshot_derived")
        exports = _exports_of_snapshots(s, [snapshot_id])
        models = _edges(repo.edges_from(s, [snapshot_id], "model"), "model_id")
        stale = repo.stale_summary(s, [snapshot_id]).get(snapshot_id)
    return {
        "snapshot": _snapshot_brief(sm),
        "parent": (
            {"id": derived_from[0].src, "at": _iso(derived_from[0].at)} if derived_from else None
        ),
        "children": [{"id": e.dst, "at": _iso(e.at), **repo.edge_meta(e)} for e in derived],
        "exports": exports,
        "models": models,
        "stale": (
            {
                "records": stale["records"],
                "members": stale["members"],
                "reasons": stale["reasons"],
                "since": _iso(stale["since"]),
            }
            if stale
            else None
        ),
    }


def content_lineage(db: Database, content_id: str) -> dict[str, Any]:
    """The records made from one content item, the snapshots holding them, and their
    exports and models."""
    with db.session() as s:
        c = repo.content_author(s, content_id)
        records = repo.content_records(s, content_id)
        if c is None and not records:
            raise NotFoundError(f"content {content_id!r} does not exist")
        sids = sorted({r.snapshot_id for r in records})
        summaries = _summaries(s, sids)
        exports = _exports_holding(s, content_id=content_id)
        models = _edges(repo.edges_from(s, sids, "model"), "model_id")
    return {
        "content_id": content_id,
        "author_id": c.author_id if c else (records[0].author_id if records else None),
        "deleted": c is None or c.deleted_at is not None,
        "records": [
            {
                "snapshot_id": r.snapshot_id,
                "record_id": r.record_id,
                "shard": r.shard,
                "snapshot_status": summaries[r.snapshot_id].status,
            }
            for r in records
        ],
        "exports": exports,
        "models": models,
    }


__all__ = ["content_lineage", "member_lineage", "resolve_member_ref", "snapshot_lineage"]
