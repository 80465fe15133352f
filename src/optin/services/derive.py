"""``optin snapshot derive ID --drop-ineligible [--retire]``: a child snapshot without
the records that are no longer eligible, made from the parent's redacted shards.

Nothing is redacted or deduplicated again: each parent shard is read, the dropped record
ids are filtered out, and the rest is written as a new shard of the same name (a shard
that loses nothing is copied byte for byte). The child's manifest is the parent's with:

- ``parent``: the parent's id, manifest sha256 and Merkle root;
- ``removed``: the dropped record ids as a *salted* hash list
  (``sha256(salt || record_id)``, salt in the manifest). Whoever holds the parent can
  check each of its record ids against the list and delete the matches; the list alone
  does not name record ids, and two children never share hashes for the same record, so
  lists cannot be joined across snapshots or exports to follow a member;
- a ``derive`` row in the step table (records dropped by reason), the ledger head and the
  policy version at derive time, the new file digests and Merkle root.

The child keeps the parent's record ids (keyed with the parent's snapshot key, named in
``record_id_key_of``) and provenance rows (copied, less the dropped ones); Croissant and
datasheet come from the same writers as a build. A ``snapshot_derived`` lineage edge
links parent and child.

A record is dropped when its author is not eligible now for the snapshot's purpose by
:func:`optin.domain.eligibility.eligibility` on the author's full history, or its content
was deleted or erased since the build: the same judgement as ``optin snapshot verify``.

``retire`` then deletes the parent's shards (its manifest, Croissant and datasheet stay)
and records the retirement (time, superseding child).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from optin.domain.eligibility import eligibility
from optin.errors import ConflictError, NotFoundError
from optin.pipeline.documents import write_documents
from optin.pipeline.io import atomic_write_bytes, sha256_bytes
from optin.pipeline.merkle import merkle_root
from optin.pipeline.steps.write import parquet_bytes
from optin.services.policy import policy_set
from optin.services.snapshots import snapshot_dir, stored_path
from optin.settings import Settings
from optin.storage import ledger
from optin.storage import lineage as lineage_repo
from optin.storage import snapshots as repo
from optin.storage.database import Database
from optin.storage.members import member_histories


@dataclass
class DeriveResult:
    snapshot_id: str
    parent_id: str
    path: Path
    status: str  # derived | up_to_date
    records: int
    removed: int
    removed_by_reason: dict[str, int]
    retired: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "parent_id": self.parent_id,
            "path": str(self.path),
            "status": self.status,
            "records": self.records,
            "removed": self.removed,
            "removed_by_reason": self.removed_by_reason,
            "retired_parent": self.retired,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


@dataclass
class _Parent:
    id: str
    purpose: str
    as_of: datetime
    path: Path
    engine: str
    profile: str
    manifest: dict[str, Any]
    manifest_sha256: str


def ineligible_records(
    db: Database, snapshot_id: str, purpose: str, now: datetime
) -> dict[str, str]:
    """record id -> why it is no longer eligible (author's reason, or ``CONTENT_DELETED``)
    for every record of the snapshot."""
    with db.session() as s:
        prov = [
            (r.record_id, r.content_id, r.author_id) for r in repo.iter_provenance(s, snapshot_id)
        ]
        histories = member_histories(s, {a for _, _, a in prov})
        deleted = lineage_repo.deleted_content(s, [c for _, c, _ in prov])
    ps = policy_set(db)
    why: dict[str, str] = {}
    for a in {a for _, _, a in prov}:
        h = histories.get(a)
        if h is None:
            why[a] = "AUTHOR_UNKNOWN"
            continue
        d = eligibility(h, purpose, now, ps)
        if not d.eligible:
            why[a] = str(d.reason)
    out: dict[str, str] = {}
    for rid, cid, aid in prov:
        if aid in why:
            out[rid] = why[aid]
        elif cid in deleted:
            out[rid] = "CONTENT_DELETED"
    return out


def _load_parent(db: Database, settings: Settings, snapshot_id: str) -> _Parent:
    with db.session() as s:
        row = repo.get_snapshot(s, snapshot_id)
        if row is None:
            raise NotFoundError(
                f"snapshot {snapshot_id!r} does not exist; see `optin snapshot list`"
            )
        if row.retired_at is not None:
            raise ConflictError(
                f"snapshot {snapshot_id} was retired on {row.retired_at.isoformat()} "
                f"(superseded by {row.retired_by}); its shards are gone; derive from "
                f"{row.retired_by} instead"
            )
        if row.status != "complete":
            raise ConflictError(
                f"snapshot {snapshot_id} is {row.status!r}; only a complete snapshot can be "
                "derived from"
            )
        return _Parent(
            row.id,
            row.purpose,
            row.as_of,
            snapshot_dir(settings.home, row.path),
            row.engine,
            row.profile,
            json.loads(row.manifest or "{}"),
            str(row.manifest_sha256),
        )


def _child_id(parent: _Parent, removed: list[str]) -> str:
    h = hashlib.sha256(parent.id.encode())
    for rid in removed:
        h.update(b"\n" + rid.encode())
    return f"{parent.purpose}-{parent.as_of:%Y%m%d}-{h.hexdigest()[:12]}"


def _write_shards(
    parent: _Parent, child_dir: Path, drop: set[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The child's shards (parent's less ``drop``) and every kept record id."""
    cfg = parent.manifest.get("config", {})
    rgs, level = int(cfg.get("row_group_size", 10_000)), int(cfg.get("zstd_level", 3))
    value_set = pa.array(sorted(drop), pa.string())
    files: list[dict[str, Any]] = []
    kept: list[str] = []
    (child_dir / "data").mkdir(parents=True, exist_ok=True)
    for f in parent.manifest.get("files", []):
        src, dst = parent.path / f["path"], child_dir / f["path"]
        ids = pq.read_table(src, columns=["record_id"])["record_id"]
        mask = pc.invert(pc.is_in(ids, value_set=value_set))
        n = pc.sum(mask).as_py() or 0
        if n == len(ids):
            shutil.copyfile(src, dst)
            kept.extend(ids.to_pylist())
            files.append(dict(f))
            continue
        if n == 0:
            continue
        table = pq.read_table(src).filter(mask)
        data = parquet_bytes(table, row_group_size=rgs, zstd_level=level)
        atomic_write_bytes(dst, data)
        kept.extend(table["record_id"].to_pylist())
        files.append(
            {"path": f["path"], "sha256": sha256_bytes(data), "rows": n, "bytes": len(data)}
        )
    return files, kept


def _removed_list(removed: list[str]) -> dict[str, Any]:
    salt = secrets.token_hex(16)
    hashes = sorted(hashlib.sha256(bytes.fromhex(salt) + r.encode()).hexdigest() for r in removed)
    return {
        "count": len(removed),
        "salt": salt,
        "hash": "sha256(bytes.fromhex(salt) || utf-8 record id), hex; sorted",
        "why_salted": "lets a holder of the parent find the records to delete without "
        "publishing record ids, and keeps lists of different snapshots unlinkable",
        "hashes": hashes,
    }


def _child_manifest(
    db: Database,
    settings: Settings,
    parent: _Parent,
    child_id: str,
    *,
    now: datetime,
    files: list[dict[str, Any]],
    kept: list[str],
    removed: dict[str, str],
    consented_under: list[int],
) -> dict[str, Any]:
    from optin.pipeline.merkle import CONSTRUCTION
    from optin.services.tlog import manifest_pin

    m = json.loads(json.dumps(parent.manifest))
    m.pop("signed_note", None)  # the child's own signature, if any, is added by _finish
    with db.session() as s:
        head = ledger.ledger_head(s)
    pv_now = policy_set(db).in_force(now)
    n = len(kept)
    steps = list(m.get("counts", {}).get("steps", []))
    n_in = steps[-1]["out"] if steps else n + len(removed)
    steps.append(
        {
            "step": "derive",
            "in": n_in,
            "out": n,
            "dropped": dict(sorted(Counter(removed.values()).items())),
        }
    )
    m.update(
        {
            "snapshot_id": child_id,
            "built_at": now.isoformat(),
            "ledger": {
                "length": head.seq,
                "head_hash": head.hash,
                **manifest_pin(db, settings, head.seq, now=now),  # issue 13
            },
            "files": files,
            "record_count": n,
            "merkle": {"root": merkle_root(kept), "leaves": n, "construction": CONSTRUCTION},
            "parent": {
                "id": parent.id,
                "manifest_sha256": parent.manifest_sha256,
                "merkle_root": parent.manifest.get("merkle", {}).get("root"),
            },
            "removed": _removed_list(sorted(removed)),
            "record_id_key_of": parent.manifest.get("record_id_key_of", parent.id),
            "derived": {
                "rule": "parent's records less those whose author is not eligible at "
                "built_at (domain.eligibility) or whose content was deleted; shards "
                "filtered, not re-redacted",
            },
        }
    )
    m["counts"]["steps"] = steps
    m["counts"]["records"] = n
    m["policy"]["consented_under"] = consented_under
    if pv_now is not None:
        m["policy"]["in_force_at_build"] = pv_now.version
    return m


def derive_snapshot(
    db: Database, settings: Settings, snapshot_id: str, *, now: datetime, retire: bool = False
) -> DeriveResult:
    """Write the child of ``snapshot_id`` without its no-longer-eligible records."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    parent = _load_parent(db, settings, snapshot_id)
    removed = ineligible_records(db, parent.id, parent.purpose, now)
    timings["judge"] = time.perf_counter() - t0
    if not removed:
        raise ConflictError(
            f"snapshot {parent.id}: every record is still eligible; nothing to drop "
            "(`optin snapshot verify` says why it is stale, if it is)"
        )
    by_reason = dict(sorted(Counter(removed.values()).items()))
    child_id = _child_id(parent, sorted(removed))
    child_dir = settings.snapshots_dir / child_id
    with db.session() as s:
        existing = repo.get_snapshot(s, child_id)
        if existing is not None and existing.status == "complete":
            return DeriveResult(
                child_id,
                parent.id,
                child_dir,
                "up_to_date",
                int(existing.record_count),
                len(removed),
                by_reason,
                timings=timings,
            )
    t1 = time.perf_counter()
    files, kept = _write_shards(parent, child_dir, set(removed))
    timings["shards"] = time.perf_counter() - t1
    result = _finish(db, settings, parent, child_id, child_dir, files, kept, removed, now)
    result.removed_by_reason = by_reason
    if retire:
        retire_snapshot(db, settings, parent.id, by=child_id, now=now)
        result.retired = True
    timings["total"] = time.perf_counter() - t0
    result.timings = timings
    return result


def _finish(
    db: Database,
    settings: Settings,
    parent: _Parent,
    child_id: str,
    child_dir: Path,
    files: list[dict[str, Any]],
    kept: list[str],
    removed: dict[str, str],
    now: datetime,
) -> DeriveResult:
    """Manifest, documents, provenance, status ``complete`` and the lineage edge."""
    with db.session() as s:
        versions = repo.provenance_versions(s, parent.id, exclude=set(removed))
    manifest = _child_manifest(
        db,
        settings,
        parent,
        child_id,
        now=now,
        files=files,
        kept=kept,
        removed=removed,
        consented_under=versions,
    )
    from optin.services.tlog import manifest_signature_field, write_manifest_note

    manifest = {**manifest, **manifest_signature_field(settings)}
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    pv_t = policy_set(db).in_force(parent.as_of)
    assert pv_t is not None  # the parent was built under it
    write_documents(child_dir, manifest, pv_t)
    atomic_write_bytes(child_dir / "manifest.json", text.encode("utf-8"))
    write_manifest_note(settings, child_dir, text)  # issue 13: a signed note
    with db.session() as s:
        repo.upsert_building(
            s,
            snapshot_id=child_id,
            purpose=parent.purpose,
            as_of=parent.as_of,
            built_at=now,
            path=stored_path(settings.home, child_dir),
            engine=parent.engine,
            profile=parent.profile,
        )
        n = lineage_repo.copy_provenance(s, parent.id, child_id, removed)
        if n != len(kept):  # pragma: no cover - defensive
            raise ConflictError(f"snapshot {child_id}: {n} provenance rows for {len(kept)} records")
        repo.complete(
            s,
            child_id,
            built_at=now,
            record_count=len(kept),
            manifest_text=text,
            manifest_sha256=sha256_bytes(text.encode("utf-8")),
        )
        lineage_repo.set_parent(s, child_id, parent.id)
        lineage_repo.add_edge(
            s,
            "snapshot_derived",
            parent.id,
            child_id,
            at=now,
            meta={"removed": len(removed), "reason": "drop_ineligible"},
        )
    return DeriveResult(child_id, parent.id, child_dir, "derived", len(kept), len(removed), {})


def retire_snapshot(
    db: Database, settings: Settings, snapshot_id: str, *, by: str, now: datetime
) -> None:
    """Delete the shards of ``snapshot_id`` (superseded by ``by``) and record it."""
    with db.session() as s:
        row = repo.get_snapshot(s, snapshot_id)
        if row is None:
            raise NotFoundError(f"snapshot {snapshot_id!r} does not exist")
        base = snapshot_dir(settings.home, row.path)
        lineage_repo.retire(s, snapshot_id, at=now, by=by)
    shutil.rmtree(base / "data", ignore_errors=True)
    shutil.rmtree(base / "_incremental", ignore_errors=True)  # the rows kept for --since


__all__ = ["DeriveResult", "derive_snapshot", "ineligible_records", "retire_snapshot"]
