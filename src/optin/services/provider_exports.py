"""Provider exports and the deletion notices that follow them.

::

    e = create_export(db, settings, "latest", "Mistral AI", "hf-parquet", now=now, actor="ops")
    n = on_members_ineligible(db, ["m17"], reason="consent withdrawn", now=now)

``create_export`` writes a snapshot of the purpose ``share_with_providers`` in a
provider's format under ``$OPTIN_HOME/exports/<id>/`` (built in ``.<id>.partial/``,
every file through :mod:`optin.files`, then the directory is renamed into place) and
records the sharing: who, when, which records (``export_records``), the policy version
and the legal basis (consent, with the justifying consent events counted), with the
lineage edge snapshot -> export in the same transaction. Only
providers that the policy in force names as recipients of ``share_with_providers``
receive exports; others are refused with the list of allowed recipients. Eligibility is
checked again at export time: records whose author is no longer eligible, or whose
content was deleted, are left out (and counted).

``on_members_ineligible`` is the hook the propagation service calls when members'
content becomes ineligible: it finds the exported records of those members that are
ineligible now (author not eligible for ``share_with_providers``, or content deleted)
and no notice has named yet, and in one transaction per export marks the export
``stale`` (count and reason), marks the records noticed and writes the deletion notices
to the outbox (:mod:`optin.services.outbox` delivers them). Calling it again, or for
members who are still eligible, does nothing.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from optin.domain.model import PolicyVersion
from optin.errors import (
    ConflictError,
    InputError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
)
from optin.files import atomic_write_bytes, private_dir
from optin.pipeline.export_formats import FORMATS, documents
from optin.pipeline.io import sha256_bytes
from optin.pipeline.merkle import CONSTRUCTION, merkle_root
from optin.services.choices import parse_choice
from optin.services.eligibility import decide_all
from optin.services.policy import current_policy
from optin.services.providers import Provider, Signer, find_provider
from optin.services.snapshots import SnapshotSummary, get_snapshot, resolve_snapshot_id
from optin.settings import Settings
from optin.storage import lineage as lineage_repo
from optin.storage import snapshots as snapshot_repo
from optin.storage.database import Database
from optin.storage.db import Session
from optin.storage.repos import providers as repo

#: The purpose whose snapshots may go to providers.
SHARE_PURPOSE = "share_with_providers"
#: Export formats (see :mod:`optin.pipeline.export_formats`).
EXPORT_FORMATS: tuple[str, ...] = tuple(FORMATS)
#: Most record ids one deletion notice lists (larger purges become several notices).
NOTICE_MAX_RECORDS = 10_000
PUBLIC_KEY_PATH = "/api/v1/provider/public-key"
ACK_PATH = "/api/v1/provider/acks"
_BULK_ELIGIBILITY = 5_000  # above this many authors, decide for everyone and filter


def exports_dir(settings: Settings) -> Path:
    return settings.home / "exports"


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class ExportSummary:
    """One provider export as every adapter shows it."""

    id: str
    provider_id: str
    provider: str
    snapshot_id: str
    format: str
    created_at: datetime
    created_by: str
    path: str
    records: int
    policy_version: int
    legal_basis: str
    consent_events: int
    status: str
    stale_count: int
    stale_reason: str | None
    stale_at: datetime | None
    manifest_sha256: str
    sharing_record: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, row: Any, provider: Any) -> ExportSummary:
        return cls(
            id=row.id,
            provider_id=provider.id,
            provider=provider.name,
            snapshot_id=row.snapshot_id,
            format=row.format,
            created_at=row.created_at,
            created_by=row.created_by,
            path=row.path,
            records=int(row.record_count),
            policy_version=int(row.policy_version),
            legal_basis=row.legal_basis,
            consent_events=int(row.consent_events),
            status=row.status,
            stale_count=int(row.stale_count or 0),
            stale_reason=row.stale_reason,
            stale_at=row.stale_at,
            manifest_sha256=row.manifest_sha256,
            sharing_record=json.loads(row.sharing_record or "{}"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider_id": self.provider_id,
            "provider": self.provider,
            "snapshot_id": self.snapshot_id,
            "format": self.format,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "path": self.path,
            "records": self.records,
            "policy_version": self.policy_version,
            "legal_basis": self.legal_basis,
            "consent_events": self.consent_events,
            "status": self.status,
            "stale_count": self.stale_count,
            "stale_reason": self.stale_reason,
            "stale_at": self.stale_at.isoformat() if self.stale_at else None,
            "manifest_sha256": self.manifest_sha256,
            "sharing_record": self.sharing_record,
        }


# -- checks ----------------------------------------------------------------------------


def _check_snapshot(snap: SnapshotSummary) -> None:
    if snap.purpose != SHARE_PURPOSE:
        raise InputError(
            "only snapshots of the purpose share_with_providers can go to providers",
            field="SNAPSHOT",
            value=f"{snap.id} (purpose {snap.purpose})",
            allowed=f"a snapshot built with `optin snapshot build --purpose {SHARE_PURPOSE}`",
        )
    # a stale snapshot may go out: the export re-checks every author and leaves out the
    # records that are no longer eligible
    if (snap.build_status or snap.status) != "complete" or snap.status == "retired":
        raise ConflictError(
            f"snapshot {snap.id} is {snap.status}, not complete; export a complete snapshot "
            "(build a fresh one with `optin snapshot build`)"
        )


def allowed_recipients(pv: PolicyVersion) -> tuple[str, ...]:
    """The recipients the policy version names for ``share_with_providers``."""
    purpose = pv.purposes.get(SHARE_PURPOSE)
    return tuple(purpose.recipients) if purpose is not None else ()


def _check_recipient(pv: PolicyVersion, provider: Provider) -> None:
    allowed = allowed_recipients(pv)
    if _norm(provider.name) not in {_norm(r) for r in allowed}:
        raise PermissionDeniedError(
            f"provider {provider.name!r} is not a recipient of {SHARE_PURPOSE} in policy "
            f"version {pv.version}; allowed: {', '.join(allowed) or 'none'} (publish a "
            "policy that names it before exporting to it)"
        )


# -- the plan: which records go ----------------------------------------------------------


@dataclass
class _Plan:
    keep: dict[str, tuple[str, str, str | None]]  # record id -> (content, author, event)
    excluded: dict[str, int]


def eligible_members(db: Database, member_ids: Iterable[str], at: datetime) -> set[str]:
    """Which of ``member_ids`` are eligible for ``share_with_providers`` at ``at``."""
    ids = set(member_ids)
    if not ids:
        return set()
    subset = ids if len(ids) <= _BULK_ELIGIBILITY else None
    return {
        d.member_id
        for d in decide_all(db, SHARE_PURPOSE, at, member_ids=subset)
        if d.eligible and d.member_id in ids
    }


def _deleted(session: Session, content_ids: Sequence[str]) -> set[str]:
    facts = snapshot_repo.content_facts(session, content_ids)
    return {c for c in content_ids if c not in facts or facts[c].deleted_at is not None}


def _plan(db: Database, snapshot_id: str, now: datetime) -> _Plan:
    with db.session() as s:
        prov = [
            (p.record_id, p.content_id, p.author_id, p.consent_event_id)
            for p in snapshot_repo.iter_provenance(s, snapshot_id)
        ]
        deleted = _deleted(s, [p[1] for p in prov])
    eligible = eligible_members(db, {p[2] for p in prov}, now)
    keep: dict[str, tuple[str, str, str | None]] = {}
    excluded: Counter[str] = Counter()
    for rid, cid, aid, ev in prov:
        if aid not in eligible:
            excluded["author_not_eligible_now"] += 1
        elif cid in deleted:
            excluded["content_deleted"] += 1
        else:
            keep[rid] = (cid, aid, ev)
    return _Plan(keep, dict(excluded))


def _snapshot_dir(settings: Settings, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else settings.home / p


def _tables(sdir: Path, manifest: dict[str, Any], keep: dict[str, Any]) -> Iterator[pa.Table]:
    """The snapshot's shards (each checked against the manifest's hash), filtered to
    the records in ``keep``."""
    value_set = pa.array(sorted(keep), pa.string())
    for f in manifest.get("files", []):
        path = sdir / f["path"]
        try:
            data = path.read_bytes()
        except OSError as e:
            raise IntegrityError(f"cannot read snapshot shard: {e}", where=str(path)) from None
        if sha256_bytes(data) != f["sha256"]:
            raise IntegrityError(
                "snapshot shard does not match its manifest hash; run `optin snapshot verify`",
                where=str(path),
            )
        table = pq.read_table(pa.BufferReader(data))
        yield table.filter(pc.is_in(table["record_id"], value_set=value_set))


class _Tally:
    """Counts what the format writer consumed (record ids, kinds)."""

    def __init__(self) -> None:
        self.record_ids: list[str] = []
        self.kinds: Counter[str] = Counter()

    def watch(self, tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
        for t in tables:
            self.record_ids.extend(t["record_id"].to_pylist())
            self.kinds.update(t["kind"].to_pylist())
            yield t


def export_edge_meta(provider_id: str, provider: str, fmt: str, records: int) -> dict[str, Any]:
    """The ``meta`` of the lineage edge snapshot -> export."""
    return {"provider": provider, "provider_id": provider_id, "format": fmt, "records": records}


def backfill_export_edges(db: Database) -> int:
    """Add the lineage edge snapshot -> export for exports that have none (made before
    exports wrote edges); returns how many were added."""
    with db.session() as s:
        rows = lineage_repo.exports_without_edge(s)
        for r in rows:
            lineage_repo.add_edge(
                s,
                "export",
                r.snapshot_id,
                r.id,
                at=r.created_at,
                meta=export_edge_meta(r.provider_id, r.provider, r.format, int(r.record_count)),
            )
    return len(rows)


# -- create ----------------------------------------------------------------------------


def _manifest(
    *,
    export_id: str,
    fmt: str,
    provider: Provider,
    snap: SnapshotSummary,
    pv: PolicyVersion,
    now: datetime,
    tally: _Tally,
    files: list[dict[str, Any]],
    consent_events: int,
    excluded: dict[str, int],
    key_id: str,
) -> dict[str, Any]:
    m = snap.manifest or {}
    return {
        "format": fmt,
        "manifest_format": "optin-export/1",
        "export_id": export_id,
        "created_at": now.isoformat(),
        "provider": {"id": provider.id, "name": provider.name},
        "snapshot": {
            "id": snap.id,
            "purpose": snap.purpose,
            "purpose_title": m.get("purpose_title", snap.purpose),
            "as_of": snap.as_of.isoformat(),
            "manifest_sha256": snap.manifest_sha256,
        },
        "policy": {"version": pv.version, "sha256": pv.sha256},
        "legal_basis": {
            "basis": "consent",
            "purpose": SHARE_PURPOSE,
            "consent_events": consent_events,
        },
        "record_count": len(tally.record_ids),
        "by_kind": dict(sorted(tally.kinds.items())),
        "excluded_since_snapshot": dict(sorted(excluded.items())),
        "files": files,
        "record_id": m.get("record_id", "opaque keyed hash"),
        "merkle": {
            "root": merkle_root(tally.record_ids),
            "leaves": len(tally.record_ids),
            "construction": CONSTRUCTION,
        },
        "deletion_notices": {
            "algorithm": "Ed25519",
            "key_id": key_id,
            "public_key_path": PUBLIC_KEY_PATH,
            "ack_path": ACK_PATH,
            "deadline_days": provider.deadline_days,
        },
    }


def _log_fields(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    """The ledger head the export was made at, the transparency log's cosigned
    checkpoint covering it, and the manifest's signature field (issue 13; the last two
    are empty when the log is not set up)."""
    from optin.services.tlog import manifest_pin, manifest_signature_field
    from optin.storage import ledger

    with db.session() as s:
        head = ledger.ledger_head(s)
    pin = manifest_pin(db, settings, head.seq, now=now)
    return {
        "ledger": {"length": head.seq, "head_hash": head.hash, **pin},
        **manifest_signature_field(settings),
    }


def _sign(settings: Settings, directory: Path, manifest_text: str) -> None:
    from optin.services.tlog import write_manifest_note

    write_manifest_note(settings, directory, manifest_text)


def _write_files(
    tmp: Path, fmt: str, tables: Iterator[pa.Table], tally: _Tally
) -> list[dict[str, Any]]:
    if tmp.exists():
        shutil.rmtree(tmp)
    private_dir(tmp)
    return [f.to_dict() for f in FORMATS[fmt]().write(tmp, tally.watch(tables))]


def create_export(
    db: Database,
    settings: Settings,
    snapshot: str,
    provider: str,
    fmt: str,
    *,
    now: datetime,
    actor: str,
) -> ExportSummary:
    """Export the snapshot ``snapshot`` (an id or ``latest``) to ``provider`` (name or
    public id) in ``fmt``; see the module docstring for the rules."""
    fmt = parse_choice(fmt, {f: f for f in EXPORT_FORMATS}, field="--format")
    snap = get_snapshot(db, resolve_snapshot_id(db, snapshot))
    _check_snapshot(snap)
    pv = current_policy(db, now)
    with db.session() as s:
        prov = find_provider(s, provider)
    _check_recipient(pv, prov)
    plan = _plan(db, snap.id, now)
    export_id = f"exp-{now:%Y%m%d}-{secrets.token_hex(4)}"
    root = exports_dir(settings)
    tmp, final = root / f".{export_id}.partial", root / export_id
    tally = _Tally()
    files = _write_files(
        tmp, fmt, _tables(_snapshot_dir(settings, snap.path), snap.manifest or {}, plan.keep), tally
    )
    if len(tally.record_ids) != len(plan.keep):
        shutil.rmtree(tmp, ignore_errors=True)
        raise IntegrityError(
            f"snapshot {snap.id}: {len(plan.keep)} records to export but "
            f"{len(tally.record_ids)} found in its shards; run `optin snapshot verify`"
        )
    kept = [plan.keep[r] for r in tally.record_ids]
    events = len({ev for _c, _a, ev in kept if ev is not None})
    manifest = _manifest(
        export_id=export_id,
        fmt=fmt,
        provider=prov,
        snap=snap,
        pv=pv,
        now=now,
        tally=tally,
        files=files,
        consent_events=events,
        excluded=plan.excluded,
        key_id=Signer(settings).key_id,
    )
    manifest = {**manifest, **_log_fields(db, settings, now)}  # issue 13
    for name, text in documents(manifest).items():
        atomic_write_bytes(tmp / name, text.encode("utf-8"))
    manifest_text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_bytes(tmp / "manifest.json", manifest_text.encode("utf-8"))
    _sign(settings, tmp, manifest_text)
    os.replace(tmp, final)
    sharing = {
        "export_id": export_id,
        "shared_with": {"id": prov.id, "name": prov.name},
        "shared_by": actor,
        "shared_at": now.isoformat(),
        "snapshot_id": snap.id,
        "format": fmt,
        "records": len(tally.record_ids),
        "record_ids": {"merkle_root": manifest["merkle"]["root"], "listed_in": "export_records"},
        "policy_version": pv.version,
        "policy_sha256": pv.sha256,
        "legal_basis": {"basis": "consent", "purpose": SHARE_PURPOSE, "consent_events": events},
        "excluded_since_snapshot": manifest["excluded_since_snapshot"],
    }
    with db.session() as s:
        row = repo.add_export(
            s,
            id=export_id,
            provider_id=prov.id,
            snapshot_id=snap.id,
            format=fmt,
            created_at=now,
            created_by=actor[:200],
            path=str(final.relative_to(settings.home)),
            record_count=len(tally.record_ids),
            policy_version=pv.version,
            legal_basis="consent",
            consent_events=events,
            status="complete",
            stale_count=0,
            manifest_sha256=sha256_bytes(manifest_text.encode("utf-8")),
            sharing_record=json.dumps(sharing, sort_keys=True),
        )
        repo.insert_export_records(
            s,
            export_id,
            (
                {"record_id": rid, "content_id": c, "member_id": a, "consent_event_id": ev}
                for rid, (c, a, ev) in zip(tally.record_ids, kept, strict=True)
            ),
        )
        lineage_repo.add_edge(
            s,
            "export",
            snap.id,
            export_id,
            at=now,
            meta=export_edge_meta(prov.id, prov.name, fmt, len(tally.record_ids)),
        )
        provider_row = repo.get_provider(s, prov.id)
        return ExportSummary.from_rows(row, provider_row)


# -- list / show -----------------------------------------------------------------------


def list_exports(db: Database, *, snapshot_id: str | None = None) -> list[ExportSummary]:
    """Every export (or a snapshot's), newest first."""
    with db.session() as s:
        return [
            ExportSummary.from_rows(e, p) for e, p in repo.list_exports(s, snapshot_id=snapshot_id)
        ]


def get_export(db: Database, export_id: str) -> ExportSummary:
    with db.session() as s:
        hit = repo.get_export(s, export_id)
        if hit is None:
            known = [e.id for e, _ in repo.list_exports(s)[:10]]
            raise NotFoundError(
                f"export {export_id!r} does not exist; known: {', '.join(known) or 'none'} "
                "(see `optin export list`)"
            )
        return ExportSummary.from_rows(*hit)


def export_record_ids(db: Database, export_id: str) -> list[str]:
    with db.session() as s:
        return repo.export_record_ids(s, export_id)


# -- deletion notices (the propagation hook) -------------------------------------------


def _payload(
    notice_id: str,
    export: Any,
    provider: Any,
    record_ids: list[str],
    *,
    reason: str,
    now: datetime,
    due: datetime,
) -> str:
    body = {
        "type": "optin.deletion-notice/1",
        "notice_id": notice_id,
        "provider": {"id": provider.id, "name": provider.name},
        "export_id": export.id,
        "snapshot_id": export.snapshot_id,
        "created_at": now.isoformat(),
        "purge_by": due.isoformat(),
        "reason": reason,
        "record_count": len(record_ids),
        "record_ids": record_ids,
        "acknowledge": {"method": "POST", "path": ACK_PATH, "body": {"notice_id": notice_id}},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def enqueue_notices(
    session: Session, export_id: str, record_ids: Sequence[str], *, reason: str, now: datetime
) -> int:
    """In the caller's transaction: mark the export stale and write deletion notices for
    those of ``record_ids`` no notice has named yet; returns the notices written."""
    export = repo.lock_export(session, export_id)
    if export is None:
        return 0
    fresh = repo.unnoticed_records(session, export_id, record_ids)
    if not fresh:
        return 0
    provider = repo.get_provider(session, export.provider_id)
    assert provider is not None
    repo.mark_noticed(session, export_id, fresh, now)
    repo.mark_stale(session, export_id, len(fresh), reason, now)
    due = now + timedelta(days=int(provider.deadline_days))
    n = 0
    for i in range(0, len(fresh), NOTICE_MAX_RECORDS):
        chunk = fresh[i : i + NOTICE_MAX_RECORDS]
        nid = f"dn_{uuid.uuid4().hex}"
        repo.add_notice(
            session,
            id=nid,
            provider_id=provider.id,
            export_id=export_id,
            created_at=now,
            due_at=due,
            reason=reason,
            record_count=len(chunk),
            payload=_payload(nid, export, provider, chunk, reason=reason, now=now, due=due),
            attempts=0,
            next_attempt_at=now,
        )
        n += 1
    return n


def on_members_ineligible(
    db: Database, member_ids: Iterable[str], *, reason: str, now: datetime
) -> int:
    """The propagation hook: stale-mark the exports holding these members' records that
    are ineligible at ``now`` and enqueue deletion notices for them, one transaction per
    export (stale marking and outbox rows together). Returns the notices enqueued."""
    ids = sorted(set(member_ids))
    if not ids:
        return 0
    with db.session() as s:
        candidates = repo.unnoticed_records_of_members(s, ids)
    if not candidates:
        return 0
    eligible = eligible_members(db, {r.member_id for r in candidates}, now)
    with db.session() as s:
        deleted = _deleted(s, [r.content_id for r in candidates if r.member_id in eligible])
    affected: dict[str, list[str]] = defaultdict(list)
    for r in candidates:
        if r.member_id not in eligible or r.content_id in deleted:
            affected[r.export_id].append(r.record_id)
    n = 0
    for export_id in sorted(affected):
        with db.session() as s:
            n += enqueue_notices(s, export_id, affected[export_id], reason=reason, now=now)
    return n


__all__ = [
    "EXPORT_FORMATS",
    "NOTICE_MAX_RECORDS",
    "SHARE_PURPOSE",
    "ExportSummary",
    "allowed_recipients",
    "backfill_export_edges",
    "create_export",
    "eligible_members",
    "enqueue_notices",
    "export_edge_meta",
    "export_record_ids",
    "exports_dir",
    "get_export",
    "list_exports",
    "on_members_ineligible",
]
