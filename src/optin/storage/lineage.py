"""Lineage SQL: the edges of the lineage graph beyond the provenance rows, the
withdrawal-propagation rows (``snapshot_stale_members``) and snapshot retirement.

The graph, end to end::

    member --(snapshot_records.author_id)--> content --(snapshot_records.content_id)-->
    record --(snapshot_records.snapshot_id)--> snapshot --snapshot_derived--> snapshot
    snapshot --export--> provider export          snapshot --model--> model

Edge kinds in ``lineage_edges`` (``src`` -> ``dst``; ``meta`` is a JSON object):

``snapshot_derived``
    parent snapshot id -> child snapshot id; written by ``optin snapshot derive``.
    ``meta``: ``{"removed": n, "reason": "drop_ineligible"}``.
``export``
    snapshot id -> export id; written by the provider-export service in the export's
    transaction (``optin lineage refresh`` adds the edges of older exports).
    ``meta``: ``{"provider": NAME, "provider_id": ID, "format": FORMAT, "records": n}``.
``model``
    snapshot id -> model id; written by the training service (``optin train`` and
    ``optin train update``). ``meta``: ``{"version": n, "records": n, "parts": [...],
    "privacy_unit": ..., "epsilon": ..., "delta": ..., "privacy": {the guarantee}}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from optin.storage.models import (
    ContentRow,
    LineageEdgeRow,
    SnapshotRecordRow,
    SnapshotRow,
    SnapshotStaleRow,
)
from optin.storage.provider_models import ProviderExportRow, ProviderRow

#: The edge kinds :func:`add_edge` accepts.
EDGE_KINDS = ("snapshot_derived", "export", "model")


def add_edge(
    session: Session,
    kind: str,
    src: str,
    dst: str,
    *,
    at: datetime,
    meta: dict[str, Any] | None = None,
) -> LineageEdgeRow:
    """Record one lineage edge ``src -> dst`` of ``kind`` (one of :data:`EDGE_KINDS`)."""
    if kind not in EDGE_KINDS:
        raise ValueError(f"unknown lineage edge kind {kind!r}; allowed: {', '.join(EDGE_KINDS)}")
    row = LineageEdgeRow(
        kind=kind, src=src, dst=dst, at=at, meta=json.dumps(meta or {}, sort_keys=True)
    )
    session.add(row)
    session.flush()
    return row


def edges_from(session: Session, srcs: Sequence[str], kind: str | None = None) -> list[Any]:
    """Edges leaving any of ``srcs`` (of ``kind`` when given), oldest first."""
    q = select(LineageEdgeRow).where(LineageEdgeRow.src.in_(list(srcs)))
    if kind is not None:
        q = q.where(LineageEdgeRow.kind == kind)
    return list(session.execute(q.order_by(LineageEdgeRow.at, LineageEdgeRow.id)).scalars())


def edges_to(session: Session, dsts: Sequence[str], kind: str | None = None) -> list[Any]:
    """Edges arriving at any of ``dsts`` (of ``kind`` when given), oldest first."""
    q = select(LineageEdgeRow).where(LineageEdgeRow.dst.in_(list(dsts)))
    if kind is not None:
        q = q.where(LineageEdgeRow.kind == kind)
    return list(session.execute(q.order_by(LineageEdgeRow.at, LineageEdgeRow.id)).scalars())


def exports_without_edge(session: Session) -> list[Any]:
    """Provider exports that no ``export`` edge reaches yet (written before the export
    service wrote edges): rows of (id, snapshot_id, created_at, format, record_count,
    provider_id, provider)."""
    e = ProviderExportRow
    has_edge = (
        select(LineageEdgeRow.id)
        .where(LineageEdgeRow.kind == "export", LineageEdgeRow.dst == e.id)
        .exists()
    )
    return list(
        session.execute(
            select(
                e.id,
                e.snapshot_id,
                e.created_at,
                e.format,
                e.record_count,
                e.provider_id,
                ProviderRow.name.label("provider"),
            )
            .join(ProviderRow, ProviderRow.id == e.provider_id)
            .where(~has_edge)
            .order_by(e.created_at, e.id)
        ).all()
    )


def edge_meta(row: Any) -> dict[str, Any]:
    try:
        value = json.loads(row.meta or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# -- member / content -> snapshots ---------------------------------------------------


def member_snapshot_counts(session: Session, member_ids: Sequence[str]) -> list[Any]:
    """(snapshot_id, author_id, records) for every snapshot holding records of
    ``member_ids`` (retired snapshots included)."""
    out: list[Any] = []
    ids = list(member_ids)
    for i in range(0, len(ids), 900):
        out.extend(
            session.execute(
                select(
                    SnapshotRecordRow.snapshot_id,
                    SnapshotRecordRow.author_id,
                    func.count().label("records"),
                )
                .where(SnapshotRecordRow.author_id.in_(ids[i : i + 900]))
                .group_by(SnapshotRecordRow.snapshot_id, SnapshotRecordRow.author_id)
            ).all()
        )
    return out


def member_records_in(session: Session, snapshot_id: str, member_ids: Sequence[str]) -> list[Any]:
    """(record_id, content_id, author_id) of ``member_ids`` in one snapshot."""
    out: list[Any] = []
    ids = list(member_ids)
    for i in range(0, len(ids), 900):
        out.extend(
            session.execute(
                select(
                    SnapshotRecordRow.record_id,
                    SnapshotRecordRow.content_id,
                    SnapshotRecordRow.author_id,
                ).where(
                    SnapshotRecordRow.snapshot_id == snapshot_id,
                    SnapshotRecordRow.author_id.in_(ids[i : i + 900]),
                )
            ).all()
        )
    return out


def deleted_content(session: Session, content_ids: Sequence[str]) -> set[str]:
    """The ids among ``content_ids`` that are deleted or no longer exist (erased)."""
    ids = list(content_ids)
    present: set[str] = set()
    deleted: set[str] = set()
    for i in range(0, len(ids), 900):
        for cid, gone in session.execute(
            select(ContentRow.id, ContentRow.deleted_at).where(ContentRow.id.in_(ids[i : i + 900]))
        ):
            present.add(cid)
            if gone is not None:
                deleted.add(cid)
    return deleted | (set(ids) - present)


def content_records(session: Session, content_id: str) -> list[Any]:
    """(snapshot_id, record_id, author_id, shard) of every record made from ``content_id``."""
    return list(
        session.execute(
            select(
                SnapshotRecordRow.snapshot_id,
                SnapshotRecordRow.record_id,
                SnapshotRecordRow.author_id,
                SnapshotRecordRow.shard,
            )
            .where(SnapshotRecordRow.content_id == content_id)
            .order_by(SnapshotRecordRow.snapshot_id)
        ).all()
    )


def content_author(session: Session, content_id: str) -> Any:
    return session.execute(
        select(ContentRow.id, ContentRow.author_id, ContentRow.kind, ContentRow.deleted_at).where(
            ContentRow.id == content_id
        )
    ).one_or_none()


def member_content_count(session: Session, member_id: str) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(ContentRow).where(ContentRow.author_id == member_id)
        )
        or 0
    )


# -- stale rows ------------------------------------------------------------------------


def set_stale(
    session: Session, snapshot_id: str, member_id: str, *, records: int, reason: str, at: datetime
) -> bool:
    """Record (or update) that ``records`` of the member's records in the snapshot are no
    longer eligible; True when the row is new or its count changed."""
    row = session.get(SnapshotStaleRow, (snapshot_id, member_id))
    if row is None:
        session.add(
            SnapshotStaleRow(
                snapshot_id=snapshot_id, member_id=member_id, records=records, reason=reason, at=at
            )
        )
        session.flush()
        return True
    if row.records == records:
        return False
    row.records, row.reason, row.at = records, reason, at
    session.flush()
    return True


def clear_stale(session: Session, snapshot_id: str, member_id: str) -> bool:
    """Remove the member's stale row (the records are eligible again); True if one went."""
    res = session.execute(
        delete(SnapshotStaleRow).where(
            SnapshotStaleRow.snapshot_id == snapshot_id, SnapshotStaleRow.member_id == member_id
        )
    )
    return bool(getattr(res, "rowcount", 0))


def stale_summary(session: Session, snapshot_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """snapshot id -> {"records": n, "members": m, "reasons": {reason: records},
    "since": first, "latest": last} for every stale snapshot (of ``snapshot_ids``)."""
    q = select(
        SnapshotStaleRow.snapshot_id,
        SnapshotStaleRow.reason,
        func.sum(SnapshotStaleRow.records),
        func.count(),
        func.min(SnapshotStaleRow.at),
        func.max(SnapshotStaleRow.at),
    ).group_by(SnapshotStaleRow.snapshot_id, SnapshotStaleRow.reason)
    if snapshot_ids is not None:
        q = q.where(SnapshotStaleRow.snapshot_id.in_(list(snapshot_ids)))
    out: dict[str, Any] = {}
    for sid, reason, n, m, first, last in session.execute(q):
        cur = out.setdefault(
            sid, {"records": 0, "members": 0, "reasons": {}, "since": first, "latest": last}
        )
        cur["records"] += int(n or 0)
        cur["members"] += int(m or 0)
        cur["reasons"][str(reason)] = int(n or 0)
        cur["since"] = min(cur["since"], first)
        cur["latest"] = max(cur["latest"], last)
    return out


def stale_members(session: Session, snapshot_id: str) -> dict[str, Any]:
    """member id -> stale row of one snapshot."""
    return {
        r.member_id: r
        for r in session.execute(
            select(SnapshotStaleRow).where(SnapshotStaleRow.snapshot_id == snapshot_id)
        ).scalars()
    }


def member_stale_rows(session: Session, member_id: str) -> list[Any]:
    return list(
        session.execute(
            select(SnapshotStaleRow).where(SnapshotStaleRow.member_id == member_id)
        ).scalars()
    )


# -- derived snapshots and retirement -------------------------------------------------


def set_parent(session: Session, snapshot_id: str, parent_id: str) -> None:
    row = session.get(SnapshotRow, snapshot_id)
    if row is not None:
        row.parent_id = parent_id
        session.flush()


def children(session: Session, snapshot_id: str) -> list[SnapshotRow]:
    return list(
        session.execute(
            select(SnapshotRow).where(SnapshotRow.parent_id == snapshot_id).order_by(SnapshotRow.id)
        ).scalars()
    )


def retire(session: Session, snapshot_id: str, *, at: datetime, by: str) -> None:
    row = session.get(SnapshotRow, snapshot_id)
    if row is not None:
        row.retired_at, row.retired_by = at, by
        session.flush()


def copy_provenance(
    session: Session, parent_id: str, child_id: str, drop: Iterable[str], *, chunk: int = 5_000
) -> int:
    """Copy the parent's provenance rows to the child, without the record ids in ``drop``
    (the shard names stay: the child's shards keep the parent's file names)."""
    from sqlalchemy import insert

    dropped = set(drop)
    n = 0
    batch: list[dict[str, Any]] = []
    last: str | None = None
    while True:
        q = select(
            SnapshotRecordRow.record_id,
            SnapshotRecordRow.content_id,
            SnapshotRecordRow.author_id,
            SnapshotRecordRow.consent_event_id,
            SnapshotRecordRow.policy_version,
            SnapshotRecordRow.shard,
        ).where(SnapshotRecordRow.snapshot_id == parent_id)
        if last is not None:
            q = q.where(SnapshotRecordRow.record_id > last)
        rows = session.execute(q.order_by(SnapshotRecordRow.record_id).limit(20_000)).all()
        if not rows:
            break
        last = rows[-1].record_id
        for r in rows:
            if r.record_id in dropped:
                continue
            batch.append({"snapshot_id": child_id, **r._asdict()})
            if len(batch) >= chunk:
                session.execute(insert(SnapshotRecordRow), batch)
                n += len(batch)
                batch = []
    if batch:
        session.execute(insert(SnapshotRecordRow), batch)
        n += len(batch)
    return n


def live_snapshot_authors(session: Session, purposes: Sequence[str] | None = None) -> list[str]:
    """Every author with records in a complete, not retired snapshot (of ``purposes``)."""
    q = (
        select(SnapshotRecordRow.author_id)
        .join(SnapshotRow, SnapshotRow.id == SnapshotRecordRow.snapshot_id)
        .where(SnapshotRow.status == "complete", SnapshotRow.retired_at.is_(None))
        .distinct()
    )
    if purposes is not None:
        q = q.where(SnapshotRow.purpose.in_(list(purposes)))
    return [str(a) for a in session.execute(q).scalars()]


def snapshots_by_ids(session: Session, ids: Sequence[str]) -> dict[str, SnapshotRow]:
    if not ids:
        return {}
    return {
        r.id: r
        for r in session.execute(select(SnapshotRow).where(SnapshotRow.id.in_(list(ids)))).scalars()
    }


def find_member(session: Session, ref: str) -> str | None:
    """A member id from an id or ``@handle``."""
    from optin.storage.models import MemberRow

    handle = ref[1:] if ref.startswith("@") else ref
    return session.execute(
        select(MemberRow.id).where(or_(MemberRow.id == ref, MemberRow.handle == handle))
    ).scalar_one_or_none()


__all__ = [
    "EDGE_KINDS",
    "add_edge",
    "children",
    "clear_stale",
    "content_author",
    "content_records",
    "copy_provenance",
    "deleted_content",
    "edge_meta",
    "edges_from",
    "edges_to",
    "exports_without_edge",
    "find_member",
    "live_snapshot_authors",
    "member_content_count",
    "member_records_in",
    "member_snapshot_counts",
    "member_stale_rows",
    "retire",
    "set_parent",
    "set_stale",
    "snapshots_by_ids",
    "stale_members",
    "stale_summary",
]
