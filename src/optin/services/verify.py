"""``optin snapshot verify``: re-check a snapshot independently of the build code.

Nothing here imports :mod:`optin.pipeline`: the Merkle root, file digests and the
eligibility of every included record are recomputed from first principles (the shards,
the provenance rows, the consent ledger via :func:`optin.domain.eligibility.eligibility`
on each author's full history, and the privacy analyzer), so a bug in the build cannot
hide itself.

One function per check (``check_manifest``, ``check_files``, ``check_provenance``,
``check_ledger``, ``check_eligibility``, ``check_personal_data``), each reading the
evidence the earlier ones gathered (:class:`Evidence`) and returning its :class:`Check`.

Outcomes: ``pass``; ``stale`` (the snapshot was sound when built, but since then members
withdrew, were erased, or content was deleted: it needs a rebuild / withdrawal
propagation); ``fail`` (tampering or corruption: a shard, the manifest, a provenance row,
the ledger, or a record that was never eligible).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from optin.domain.eligibility import PolicySet, eligibility
from optin.errors import ConflictError, IntegrityError, NotFoundError
from optin.services.policy import policy_set
from optin.settings import Settings
from optin.storage import ledger
from optin.storage import snapshots as repo
from optin.storage.database import Database
from optin.storage.members import member_histories
from optin.tlog.note import Verifier

#: Residual findings of these labels fail verification outright.
HARD_LABELS = frozenset({"CREDIT_CARD", "IBAN", "EMAIL", "GOV_ID"})
#: Other residual findings fail above this share of records.
RESIDUAL_TOLERANCE = 0.01
#: The independent rescan (optin.privacy.rescan) fails when the share of records with a
#: finding is above this with 95% confidence (the lower end of the Wilson interval), so
#: that one finding in a tiny snapshot is reported, not a failure by chance
INDEPENDENT_TOLERANCE = 0.05
_TAG = re.compile(r"\[[A-Z_]+\]|<[A-Z_]+_[0-9a-f]{2,16}>")
_SHOW = 5


@dataclass
class Check:
    name: str
    ok: bool = True
    stale: bool = False
    detail: str = ""
    skipped: bool = False
    counts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)

    @property
    def state(self) -> str:
        """``ok``, ``stale``, ``fail`` or ``skipped`` (could not run; ``detail`` says why)."""
        if self.skipped:
            return "skipped"
        if self.ok:
            return "ok"
        return "stale" if self.stale else "fail"

    def skip(self, reason: str) -> Check:
        self.skipped, self.detail = True, reason
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "ok": self.ok,
            "stale": self.stale,
            "detail": self.detail,
            "counts": self.counts,
            "problems": self.problems,
        }


@dataclass
class VerifyReport:
    snapshot_id: str
    checks: list[Check] = field(default_factory=list)
    retired: str | None = None  # "on <time>, superseded by <child>" once retired
    path: str | None = None  # the directory checked

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def skipped(self) -> list[str]:
        return [c.name for c in self.checks if c.skipped]

    @property
    def status(self) -> str:
        if self.retired is not None:
            return "retired"
        if self.ok:
            return "pass"
        if all(c.ok or c.stale for c in self.checks):
            return "stale"
        return "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "status": self.status,
            "ok": self.ok,
            "retired": self.retired,
            "path": self.path,
            "skipped": self.skipped,
            "checks": [c.to_dict() for c in self.checks],
        }

    def raise_for_status(self) -> None:
        if self.status == "pass":
            return
        if self.status == "retired":
            raise ConflictError(
                f"snapshot {self.snapshot_id} was retired {self.retired}: its shards are "
                "deleted and it can no longer be used; verify the snapshot that superseded it"
            )
        bad = [c for c in self.checks if not c.ok]
        where = "; ".join(f"{c.name}: {c.problems[0] if c.problems else c.detail}" for c in bad)
        if self.status == "stale":
            raise ConflictError(
                f"snapshot {self.snapshot_id} is no longer valid for use: {where}. The snapshot "
                "needs a rebuild or a derived snapshot without the affected records "
                "(`optin snapshot derive ID --drop-ineligible`)"
            )
        raise IntegrityError(
            f"snapshot {self.snapshot_id} failed verification: {where}", where=bad[0].name
        )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _merkle(ids: list[str]) -> str:
    """Independent re-implementation of the manifest's Merkle construction."""
    nodes = [hashlib.sha256(i.encode("utf-8")).digest() for i in sorted(ids)]
    if not nodes:
        return hashlib.sha256(b"").hexdigest()
    while len(nodes) > 1:
        paired = [
            hashlib.sha256(a + b).digest() for a, b in zip(nodes[::2], nodes[1::2], strict=False)
        ]
        if len(nodes) % 2 == 1:
            paired.append(nodes[-1])
        nodes = paired
    return nodes[0].hex()


def _parse_time(value: Any, what: str, check: Check) -> datetime | None:
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        check.fail(f"manifest field '{what}' is not an ISO time (got {value!r})")
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SnapshotFacts:
    """What the database recorded about the snapshot at build time."""

    snapshot_id: str
    status: str
    path: Path
    purpose: str
    as_of: datetime
    built_at: datetime | None
    manifest_sha256: str | None
    records: int
    retired_at: datetime | None = None
    retired_by: str | None = None

    @classmethod
    def load(
        cls, db: Database, snapshot_id: str, *, home: Path | None = None, path: Path | None = None
    ) -> SnapshotFacts:
        """The database's facts; a relative stored path is under ``home`` (the data
        directory in use, so a copied home checks its own files); ``path`` overrides it."""
        with db.session() as s:
            row = repo.get_snapshot(s, snapshot_id)
            if row is None:
                raise NotFoundError(
                    f"snapshot {snapshot_id!r} does not exist; see `optin snapshot list`"
                )
            return cls(
                snapshot_id=snapshot_id,
                status=row.status,
                path=path if path is not None else _stored_dir(home, row.path),
                purpose=row.purpose,
                as_of=row.as_of,
                built_at=row.built_at,
                manifest_sha256=row.manifest_sha256,
                records=int(row.record_count),
                retired_at=row.retired_at,
                retired_by=row.retired_by,
            )


def _stored_dir(home: Path | None, stored: str) -> Path:
    p = Path(stored)
    return p if p.is_absolute() or home is None else home / p


@dataclass(frozen=True)
class Trust:
    """What ``snapshot verify`` trusts besides the database: the manifest and log
    verifier keys (given on the command line, else this installation's key files), the
    witnesses and quorum of the settings, and ``strict`` (an unsigned manifest, one
    that pins no checkpoint, or a pinned checkpoint short of the quorum fails)."""

    manifest_key: Verifier | None = None
    log_key: Verifier | None = None
    witnesses: tuple[Verifier, ...] = ()
    quorum: int = 0
    strict: bool = False
    audit_key: Verifier | None = None  # issue 17: audit.json's signed note

    @classmethod
    def of(
        cls,
        settings: Settings,
        *,
        manifest_key: str | None = None,
        log_key: str | None = None,
        strict: bool = False,
    ) -> Trust:
        from optin.services import tlog

        return cls(
            tlog.trusted_manifest_key(settings, manifest_key),
            tlog.trusted_log_key(settings, log_key),
            tuple(w.key for w in tlog.witnesses(settings)),
            tlog.quorum(settings),
            strict,
            _trusted_audit_key(settings),
        )


def _trusted_audit_key(settings: Settings) -> Verifier | None:
    """The public half of this installation's audit key (``keys/audit.key``), or None."""
    from optin.services import tlog

    path = settings.keys_dir / "audit.key"
    return tlog.read_signer(path).verifier if path.exists() else None


@dataclass
class Evidence:
    """What the checks gather for the later ones: the manifest, the times it pins, the
    shards' record ids and the provenance rows."""

    facts: SnapshotFacts
    now: datetime
    manifest: dict[str, Any] = field(default_factory=dict)
    as_of: datetime | None = None
    built: datetime | None = None
    shard_ids: dict[str, str] = field(default_factory=dict)  # record id -> shard path
    shard_files: list[Path] = field(default_factory=list)  # digests matched
    provenance: dict[str, Any] = field(default_factory=dict)  # record id -> row
    trust: Trust = field(default_factory=lambda: Trust())


def verify_snapshot(
    db: Database,
    settings: Settings,
    snapshot_id: str,
    *,
    now: datetime,
    rescan: bool = True,
    tolerance: float = RESIDUAL_TOLERANCE,
    path: Path | None = None,
    trust: Trust | None = None,
) -> VerifyReport:
    """Verify ``snapshot_id`` (its files in ``path`` when given, else where the database
    says, relative to the data directory); never raises for a failed check (see
    :meth:`VerifyReport.raise_for_status`). ``trust`` defaults to :meth:`Trust.of`
    the settings."""
    facts = SnapshotFacts.load(db, snapshot_id, home=settings.home, path=path)
    ev = Evidence(facts, now, trust=trust or Trust.of(settings))
    report = VerifyReport(snapshot_id, path=str(facts.path))
    if facts.retired_at is not None:
        report.retired = f"on {facts.retired_at.isoformat()}, superseded by {facts.retired_by}"
        report.checks.append(check_manifest(ev))
        report.checks.append(check_signature(ev))
        reason = f"retired {report.retired}: shards deleted"
        for name in ("files", "provenance", "ledger", "log_inclusion", "eligibility",
                     "personal_data"):  # fmt: skip
            report.checks.append(Check(name).skip(reason))
        return report
    report.checks.append(check_manifest(ev))
    report.checks.append(check_signature(ev))
    if isinstance(ev.manifest.get("parent"), dict):  # derived or incremental
        report.checks.append(check_parent(db, ev, settings.home))
    report.checks.append(check_files(ev))
    report.checks.append(check_croissant(ev, digests=False))
    report.checks.append(check_provenance(db, ev))
    report.checks.append(check_ledger(db, ev))
    report.checks.append(check_log_inclusion(db, ev))
    report.checks.append(check_eligibility(db, ev))
    report.checks.append(check_personal_data(db, ev, rescan=rescan, tolerance=tolerance))
    report.checks.append(check_audit(ev))  # issue 17: the leak audit, if any
    return report


# -- 1. manifest -----------------------------------------------------------------------


def check_manifest(ev: Evidence) -> Check:
    """The manifest exists, is the one recorded at build time, and agrees with the
    database on id, purpose, record count and as-of time."""
    mc = Check("manifest")
    facts = ev.facts
    mpath = facts.path / "manifest.json"
    if facts.status != "complete":
        mc.fail(f"snapshot status is {facts.status!r}, not 'complete'")
    if not mpath.exists():
        mc.fail(f"{mpath} is missing")
    else:
        ev.manifest = _read_manifest(mpath, facts.manifest_sha256, mc)
    for key, expect in (
        ("snapshot_id", facts.snapshot_id),
        ("purpose", facts.purpose),
        ("record_count", facts.records),
    ):
        if ev.manifest and ev.manifest.get(key) != expect:
            mc.fail(
                f"manifest field '{key}' is {ev.manifest.get(key)!r}, the database says {expect!r}"
            )
    _check_times(ev, mc)
    return mc


def _read_manifest(mpath: Path, recorded: str | None, mc: Check) -> dict[str, Any]:
    digest = _sha256_file(mpath)
    if digest != recorded:
        mc.fail(
            f"{mpath}: sha256 {digest[:16]}... differs from the digest recorded at "
            f"build time {str(recorded)[:16]}... (manifest edited)"
        )
    try:
        manifest: dict[str, Any] = json.loads(mpath.read_text("utf-8"))
    except ValueError as e:
        mc.fail(f"{mpath}: not valid JSON ({e})")
        return {}
    return manifest


def _check_times(ev: Evidence, mc: Check) -> None:
    """The as-of time the manifest pins equals the database's; the build time is the
    manifest's (else the database's, else now)."""
    facts, manifest = ev.facts, ev.manifest
    as_of = _parse_time(manifest.get("as_of", facts.as_of.isoformat()), "as_of", mc)
    built = _parse_time(
        manifest.get("built_at", (facts.built_at or ev.now).isoformat()), "built_at", mc
    )
    if as_of is not None and as_of != facts.as_of:
        mc.fail(
            f"manifest field 'as_of' is {as_of.isoformat()}, the database says "
            f"{facts.as_of.isoformat()}"
        )
    # bitemporal: the re-derivation (domain.eligibility on histories that carry each
    # event's recorded_at) reads only what the ledger had recorded by as_of, like the build
    recorded = manifest.get("as_of_recorded")
    if recorded is not None:
        rec = _parse_time(recorded, "as_of_recorded", mc)
        if rec is not None and rec != facts.as_of:
            mc.fail(
                f"manifest field 'as_of_recorded' is {rec.isoformat()}; decisions are taken "
                f"on what the ledger had recorded by as_of {facts.as_of.isoformat()}"
            )
    ev.as_of = facts.as_of
    ev.built = built or facts.built_at or ev.now


# -- 1b. the manifest's signature (issue 13) ------------------------------------------------


def check_signature(ev: Evidence) -> Check:
    """``manifest.note`` is a signed note (``c2sp.org/signed-note``) by the trusted
    manifest key whose text is ``manifest.json`` byte for byte. Opened with the log's
    note verifier (:func:`optin.tlog.note.open_note`), not the signing code. A manifest
    built before manifests were signed (no note, and the manifest claims none) passes
    with an "unsigned" note, and fails under ``strict``."""
    from optin.services.tlog import MANIFEST_NOTE
    from optin.tlog.note import NoteError, open_note

    sc = Check("signature")
    base, trust = ev.facts.path, ev.trust
    note_path = base / MANIFEST_NOTE
    claimed = ev.manifest.get("signed_note") if ev.manifest else None
    if not note_path.exists():
        if claimed:
            sc.fail(f"{note_path} is missing, but the manifest says it was signed")
            return sc
        sc.detail = (
            f"unsigned (built {ev.manifest.get('built_at', 'at an unknown time')}, before "
            "manifests were signed or with no manifest key); --strict fails it"
        )
        if trust.strict:
            sc.fail("the manifest is unsigned (--strict)")
        sc.counts = {"signed": False}
        return sc
    if trust.manifest_key is None:
        why = "no trusted manifest key: give --manifest-key (printed by `optin log keygen`)"
        if trust.strict:
            sc.fail(why)
            return sc
        return sc.skip(why)
    key = trust.manifest_key
    try:
        text, _ = open_note(note_path.read_text("utf-8"), [key])
    except (NoteError, OSError, UnicodeDecodeError) as e:
        sc.fail(f"{note_path}: not a note signed by the trusted key {key.name}: {e}")
        return sc
    mpath = base / "manifest.json"
    if not mpath.exists() or text.encode("utf-8") != mpath.read_bytes():
        sc.fail(f"{note_path}: the signed text is not {mpath} (edited after signing)")
    elif isinstance(claimed, dict) and claimed.get("key") != key.vkey:
        sc.fail(f"the manifest names the key {str(claimed.get('key'))[:48]}..., not {key.vkey}")
    sc.detail = f"signed note by {key.name} (key id {key.key_id:08x})"
    sc.counts = {"signed": True}
    return sc


def check_parent(db: Database, ev: Evidence, home: Path | None) -> Check:
    """The manifest's ``parent`` block names a snapshot the database knows, with the
    manifest digest recorded for it (and its manifest file, where still present, has
    that digest); the parent's Merkle root, when named, is the one in its manifest."""
    pc_ = Check("parent")
    link = ev.manifest.get("parent") or {}
    pid, digest = link.get("id"), link.get("manifest_sha256")
    pc_.counts = {"parent": pid}
    with db.session() as s:
        row = repo.get_snapshot(s, str(pid)) if pid else None
    if row is None:
        pc_.fail(f"manifest field 'parent.id' is {pid!r}: no such snapshot in the database")
        return pc_
    if row.manifest_sha256 != digest:
        pc_.fail(
            f"manifest field 'parent.manifest_sha256' is {str(digest)[:16]}..., the database "
            f"recorded {str(row.manifest_sha256)[:16]}... for {pid}"
        )
    mpath = _stored_dir(home, row.path)
    if (mpath / "manifest.json").exists():
        on_disk = _sha256_file(mpath / "manifest.json")
        if on_disk != digest:
            pc_.fail(
                f"{mpath / 'manifest.json'}: sha256 {on_disk[:16]}... is not the parent link's"
            )
        else:
            root = json.loads((mpath / "manifest.json").read_text("utf-8")).get("merkle", {})
            if link.get("merkle_root") not in (None, root.get("root")):
                pc_.fail(f"manifest field 'parent.merkle_root' is not {pid}'s Merkle root")
    return pc_


# -- 2. files and Merkle root ------------------------------------------------------------


def check_files(ev: Evidence) -> Check:
    """Every shard is listed, present, of the listed digest and row count; record ids are
    unique across shards, and their Merkle root and count match the manifest."""
    fc = Check("files")
    base, manifest = ev.facts.path, ev.manifest
    listed = {f.get("path"): f for f in manifest.get("files", [])}
    on_disk = (
        {str(p.relative_to(base)) for p in (base / "data").glob("*.parquet")}
        if (base / "data").exists()
        else set()
    )
    for unlisted in sorted(on_disk - set(listed)):
        fc.fail(f"{base / unlisted}: shard not listed in the manifest")
    for rel, f in sorted(listed.items()):
        path = base / str(rel)
        ids = _shard_ids(path, f, fc)
        if ids is None:
            continue
        for rid in ids:
            if rid in ev.shard_ids:
                fc.fail(f"{path}: record id {rid} also in {ev.shard_ids[rid]}")
            ev.shard_ids[rid] = str(rel)
        ev.shard_files.append(path)
    fc.counts = {"files": len(listed), "records": len(ev.shard_ids)}
    _check_root(ev, fc)
    return fc


def _shard_ids(path: Path, listed: Mapping[str, Any], fc: Check) -> list[str] | None:
    """The record ids of one listed shard, or None when it is missing, modified or
    unreadable (the problem goes to ``fc``)."""
    if not path.exists():
        fc.fail(f"{path}: listed in the manifest but missing")
        return None
    digest = _sha256_file(path)
    if digest != listed.get("sha256"):
        fc.fail(
            f"{path}: sha256 {digest[:16]}... != manifest {str(listed.get('sha256'))[:16]}..."
            " (shard modified)"
        )
        return None
    try:
        ids: list[str] = pq.read_table(path, columns=["record_id"])["record_id"].to_pylist()
    except Exception as e:  # damaged file with a matching digest is impossible; be safe
        fc.fail(f"{path}: unreadable ({type(e).__name__})")
        return None
    if len(ids) != listed.get("rows"):
        fc.fail(f"{path}: {len(ids)} rows, manifest says {listed.get('rows')}")
    return ids


def _check_root(ev: Evidence, fc: Check) -> None:
    root = _merkle(list(ev.shard_ids))
    merkle = ev.manifest.get("merkle", {})
    if root != merkle.get("root"):
        fc.fail(
            f"Merkle root over the shards' record ids {root[:16]}... != manifest "
            f"{str(merkle.get('root'))[:16]}..."
        )
    if len(ev.shard_ids) != ev.manifest.get("record_count"):
        fc.fail(
            f"shards hold {len(ev.shard_ids)} records, manifest record_count is "
            f"{ev.manifest.get('record_count')}"
        )


# -- 2b. Croissant -------------------------------------------------------------------------


def check_croissant(ev: Evidence, *, digests: bool = True) -> Check:
    """``croissant.json`` names the snapshot and lists exactly the manifest's shards (with
    their digests when ``digests``; against a database the manifest itself is pinned by
    the recorded digest, so only the file list is compared there)."""
    cc = Check("croissant")
    cpath = ev.facts.path / "croissant.json"
    if not cpath.exists():
        cc.fail(f"{cpath} is missing")
        return cc
    try:
        doc = json.loads(cpath.read_text("utf-8"))
    except ValueError as e:
        cc.fail(f"{cpath}: not valid JSON ({e})")
        return cc
    if not isinstance(doc, dict):
        cc.fail(f"{cpath}: not a JSON object")
        return cc
    if ev.manifest and doc.get("name") != ev.manifest.get("snapshot_id"):
        cc.fail(f"{cpath}: name {doc.get('name')!r} is not the snapshot id")
    listed = {
        str(d.get("contentUrl")): d.get("sha256") if digests else None
        for d in doc.get("distribution", [])
        if isinstance(d, dict) and d.get("@type") == "cr:FileObject"
    }
    want = {
        str(f.get("path")): f.get("sha256") if digests else None
        for f in ev.manifest.get("files", [])
    }
    if listed != want:
        diff = sorted(set(listed.items()) ^ set(want.items()))
        cc.fail(f"{cpath}: file list differs from the manifest's, e.g. {diff[0][0]}")
    cc.counts = {"files": len(listed)}
    return cc


# -- verify a directory ----------------------------------------------------------------------


def verify_directory(
    db: Database | None,
    settings: Settings,
    path: Path,
    *,
    now: datetime,
    rescan: bool = True,
    tolerance: float = RESIDUAL_TOLERANCE,
    trust: Trust | None = None,
) -> VerifyReport:
    """Verify the snapshot directory ``path``: against ``db`` when given (the snapshot
    named by its manifest, with the files in ``path``), else every check that needs no
    database (manifest, its signature, shard digests and Merkle root, Croissant); the
    others are ``skipped`` with the reason."""
    trust = trust or Trust.of(settings)
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise NotFoundError(f"{path}: no manifest.json; is this a snapshot directory?")
    try:
        manifest = json.loads(mpath.read_text("utf-8"))
        sid = str(manifest["snapshot_id"])
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"{mpath}: not a snapshot manifest (no snapshot_id)") from None
    if db is not None:
        return verify_snapshot(
            db, settings, sid, now=now, rescan=rescan, tolerance=tolerance, path=path, trust=trust
        )
    return _verify_without_db(sid, path, manifest, now, trust)


def _verify_without_db(
    sid: str, path: Path, manifest: dict[str, Any], now: datetime, trust: Trust
) -> VerifyReport:
    as_of = _parse_time(manifest.get("as_of"), "as_of", Check("manifest")) or now
    facts = SnapshotFacts(
        snapshot_id=sid,
        status="complete",
        path=path,
        purpose=str(manifest.get("purpose")),
        as_of=as_of,
        built_at=None,
        manifest_sha256=None,
        records=int(manifest.get("record_count", -1)),
    )
    ev = Evidence(facts, now, manifest=manifest, trust=trust)
    report = VerifyReport(sid, path=str(path))
    mc = Check("manifest", detail="self-consistency only: no database to compare with")
    total = sum(int(f.get("rows", 0)) for f in manifest.get("files", []))
    if total != manifest.get("record_count"):
        mc.fail(f"files hold {total} rows, manifest record_count is {manifest.get('record_count')}")
    for key in ("purpose", "as_of", "merkle", "files", "ledger"):
        if key not in manifest:
            mc.fail(f"manifest field '{key}' is missing")
    report.checks.append(mc)
    report.checks.append(check_signature(ev))
    report.checks.append(check_files(ev))
    report.checks.append(check_croissant(ev))
    report.checks.append(check_audit(ev))  # issue 17
    why = "needs the platform database (provenance rows, consent ledger, member directory)"
    for name in ("provenance", "ledger", "log_inclusion", "eligibility", "personal_data"):
        report.checks.append(Check(name).skip(why))
    return report


# -- 3. provenance -------------------------------------------------------------------------


def check_provenance(db: Database, ev: Evidence) -> Check:
    """One provenance row per shard record, naming the shard that holds it."""
    pc = Check("provenance")
    with db.session() as s:
        for r in repo.iter_provenance(s, ev.facts.snapshot_id):
            ev.provenance[r.record_id] = r
    prov, shard_ids = ev.provenance, ev.shard_ids
    missing = sorted(set(shard_ids) - set(prov))
    extra = sorted(set(prov) - set(shard_ids))
    if missing:
        pc.fail(
            f"{len(missing)} shard record(s) have no provenance row, e.g. "
            f"{', '.join(missing[:_SHOW])}"
        )
    if extra:
        pc.fail(
            f"{len(extra)} provenance row(s) match no shard record, e.g. {', '.join(extra[:_SHOW])}"
        )
    wrong_shard = [rid for rid, r in prov.items() if rid in shard_ids and r.shard != shard_ids[rid]]
    if wrong_shard:
        pc.fail(f"{len(wrong_shard)} provenance row(s) name the wrong shard, e.g. {wrong_shard[0]}")
    pc.counts = {"rows": len(prov)}
    return pc


# -- 4. ledger -----------------------------------------------------------------------------


def check_ledger(db: Database, ev: Evidence) -> Check:
    """The consent ledger's chain holds, and the head the manifest pins is a point of it."""
    lc = Check("ledger")
    pinned = ev.manifest.get("ledger", {})
    with db.session() as s:
        lr = ledger.verify(s)
        if not lr.ok:
            lc.fail(f"consent ledger chain broken at seq {lr.first_bad_seq}: {lr.problem}")
        length = int(pinned.get("length", -1))
        if length == 0:
            at_pin: str | None = ledger.GENESIS
        else:
            at_pin = repo.ledger_hash_at(s, length) if length > 0 else None
        if at_pin != pinned.get("head_hash"):
            lc.fail(
                f"the manifest's ledger head (length {length}) is not a point of the "
                "current chain: the hash at that seq differs or it is missing"
            )
    # transparency log (issue 13): a pinned checkpoint must be a point of the current tree
    from optin.services.tlog import check_manifest_pin

    if (why := check_manifest_pin(db, pinned, ev.trust.log_key)) is not None:
        lc.fail(why)
    lc.counts = {"length_now": lr.length, "pinned_length": pinned.get("length")}
    _check_pin_quorum(ev, pinned, lc)
    return lc


def _check_pin_quorum(ev: Evidence, pinned: dict[str, Any], lc: Check) -> None:
    """The pinned checkpoint's cosignatures by the configured witnesses (short of the
    quorum: a note, a failure under ``strict``); no pin at all fails under ``strict``."""
    from optin.tlog.checkpoint import count_cosignatures
    from optin.tlog.note import NoteError

    pin = pinned.get("transparency_log")
    trust = ev.trust
    if not pin:
        if trust.strict:
            lc.fail("the manifest pins no transparency-log checkpoint (--strict)")
        return
    try:
        names = count_cosignatures(str(pin.get("checkpoint", "")), list(trust.witnesses))
    except NoteError:
        names = []
    lc.counts["cosigners"] = len(names)
    if len(names) < trust.quorum:
        msg = (
            f"the pinned checkpoint carries {len(names)} cosignatures of the configured "
            f"witnesses, the quorum is {trust.quorum}"
        )
        if trust.strict:
            lc.fail(msg + " (--strict)")
        else:
            lc.detail = msg


# -- 4b. the events the records rely on are in the pinned tree (issue 13) --------------------


def check_log_inclusion(db: Database, ev: Evidence) -> Check:
    """Every consent event the provenance names (the event that made each author
    eligible: all of them, not a sample) is a leaf of the pinned checkpoint's tree,
    below its size and the pinned ledger length, and its inclusion proof (built from
    the stored subtree hashes) verifies against the pinned root with the verifier
    below, which shares no code with the tree's. Where the member's key still opens
    the salt, the leaf is recomputed from the event row as it reads now, so an event
    edited since (with the chain and head recomputed) fails here; for erased members
    only the leaf's place can be proved."""
    from optin.services.tlog import pinned_leaves
    from optin.tlog.checkpoint import Checkpoint
    from optin.tlog.note import NoteError, parse_note

    ic = Check("log_inclusion")
    pinned = ev.manifest.get("ledger", {}) if ev.manifest else {}
    pin = pinned.get("transparency_log")
    if not pin:
        why = "the manifest pins no checkpoint (built before the transparency log or without it)"
        if ev.trust.strict:
            ic.fail(why + " (--strict)")
            return ic
        return ic.skip(why)
    try:
        cp = Checkpoint.parse_text(parse_note(str(pin["checkpoint"]))[0])
    except (KeyError, NoteError) as e:
        ic.fail(f"the pinned checkpoint is malformed: {e}")
        return ic
    events = sorted({str(r.consent_event_id) for r in ev.provenance.values() if r.consent_event_id})
    length = int(pinned.get("length", cp.size))
    found = _Inclusion()
    for leaf in pinned_leaves(db, cp.size, events):
        found.judge(leaf, cp.size, length, cp.root)
    found.report(ic)
    ic.counts = {
        "events": len(events),
        "proved": found.proved,
        "opened": found.opened,
        "tree_size": cp.size,
    }
    ic.detail = (
        f"all {len(events)} consent events the records rely on, by inclusion proofs against "
        f"the pinned checkpoint (size {cp.size}); {found.opened} recomputed from their rows"
    )
    return ic


@dataclass
class _Inclusion:
    proved: int = 0
    opened: int = 0
    missing: list[str] = field(default_factory=list)
    beyond: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unproved: list[str] = field(default_factory=list)

    def judge(self, leaf: Any, size: int, length: int, root: bytes) -> None:
        eid = leaf.event_id
        if leaf.index is None or leaf.data is None:
            self.missing.append(f"{eid} (no leaf)")
        elif leaf.seq is None:
            self.missing.append(f"{eid} (gone from the ledger)")
        elif leaf.index >= size or leaf.seq > length or leaf.seq != leaf.index + 1:
            self.beyond.append(f"{eid} (leaf {leaf.index}, seq {leaf.seq})")
        elif leaf.changed:
            self.changed.append(eid)
        elif not _inclusion_ok(_leaf_hash(leaf.data), leaf.index, size, leaf.proof, root):
            self.unproved.append(eid)
        else:
            self.proved += 1
            self.opened += 1 if leaf.opened else 0

    def report(self, ic: Check) -> None:
        for what, items in (
            ("have no leaf in the tree or left the ledger", self.missing),
            ("are not below the pinned tree size and ledger length", self.beyond),
            ("no longer match their leaf (the event was edited)", self.changed),
            ("have an inclusion proof that does not verify against the pinned root "
             "(history rewritten)", self.unproved),
        ):  # fmt: skip
            if items:
                ic.fail(
                    f"{len(items)} consent event(s) the records rely on {what}: "
                    f"{', '.join(items[:_SHOW])}"
                )


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _inclusion_ok(leaf: bytes, index: int, size: int, path: Any, root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2, written here again (not the tree's own verifier)."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


# -- 5. eligibility ----------------------------------------------------------------------


@dataclass
class _Findings:
    """What the eligibility check found, record by record."""

    never: list[str] = field(default_factory=list)  # should never have been in
    since: Counter[str] = field(default_factory=Counter)  # ineligible since the build
    stale_members: set[str] = field(default_factory=set)
    trace: list[str] = field(default_factory=list)  # wrong consent event / version
    content_bad: list[str] = field(default_factory=list)
    deleted_since: int = 0


#: (at as-of, at build, now) decisions of one author; None when the author is unknown
_Decisions = tuple[Any, Any, Any] | None


def check_eligibility(db: Database, ev: Evidence) -> Check:
    """Every record's author was eligible at the as-of and build times (from the full
    consent history, through the domain rule), the provenance names the event and policy
    version that made it so, and the content met the selection rule; records whose
    author withdrew or whose content was deleted since make the snapshot stale."""
    ec = Check("eligibility")
    purpose, prov = ev.facts.purpose, ev.provenance
    as_of, built = ev.as_of or ev.facts.as_of, ev.built or ev.now
    ps: PolicySet = policy_set(db)
    authors = sorted({r.author_id for r in prov.values()})
    source = ev.manifest.get("content_source")
    lake = source if isinstance(source, dict) and source.get("kind") == "lake" else None
    with db.session() as s:
        histories = member_histories(s, authors)
        if lake is None:
            contents = repo.content_facts(s, [r.content_id for r in prov.values()])
    if lake is not None:
        got = _lake_facts(lake, {r.content_id for r in prov.values()}, ec)
        if got is None:
            return ec
        contents = got
    decisions = {a: _decide(histories.get(a), purpose, (as_of, built, ev.now), ps) for a in authors}
    pv_t = ps.in_force(as_of)
    purpose_t = pv_t.purposes.get(purpose) if pv_t else None
    found = _Findings()
    for rid, r in prov.items():
        if _judge_author(rid, r, decisions[r.author_id], found):
            _judge_content(rid, r, contents.get(r.content_id), purpose_t, as_of, built, found)
    _report_eligibility(ec, found)
    ec.counts = {
        **ec.counts,
        "records": len(prov),
        "authors": len(authors),
        "no_longer_eligible": sum(found.since.values()),
        "deleted_since": found.deleted_since,
        "never_eligible": len(found.never),
    }
    return ec


_LAKE_FACTS = ("content_id", "author_id", "kind", "visibility", "created_at", "deleted_at")


@dataclass(frozen=True)
class _LakeFact:
    id: str
    author_id: str
    kind: str
    visibility: str
    created_at: datetime
    deleted_at: datetime | None


def _lake_facts(source: dict[str, Any], ids: set[str], ec: Check) -> dict[str, Any] | None:
    """The facts of content ``ids`` as the lake the manifest names holds them now, read
    here with plain ``pyarrow.parquet`` (not the build's dataset reader): every
    ``*.parquet`` file under the recorded root (or matching the recorded glob). A content
    id no file holds any more counts as erased since the build. None (and ``ec`` failed)
    when the lake cannot be read."""
    import glob

    import pyarrow as pa
    import pyarrow.compute as pac

    root = Path(str(source.get("root", "")))
    given = str(source.get("source", ""))
    if any(ch in given for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(given, recursive=True) if Path(p).is_file())
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*.parquet") if not p.name.startswith((".", "_")))
    else:
        files = [root] if root.is_file() else []
    recorded = {str(f.get("path")): f for f in source.get("files", []) if isinstance(f, dict)}
    if not files:
        ec.fail(
            f"the content source {given or root} the manifest names holds no Parquet file: "
            "the records' content cannot be checked"
        )
        return None
    wanted = pa.array(sorted(ids), pa.string())
    out: dict[str, Any] = {}
    now_files: dict[str, int] = {}
    for f in files:
        rel = f.resolve().relative_to(root.resolve()).as_posix() if root.is_dir() else f.name
        now_files[rel] = f.stat().st_size
        try:
            pf = pq.ParquetFile(f)
            for batch in pf.iter_batches(columns=list(_LAKE_FACTS), batch_size=65_536):
                hit = batch.filter(pac.is_in(batch.column("content_id"), wanted))
                for row in hit.to_pylist():
                    out[row["content_id"]] = _LakeFact(
                        row["content_id"],
                        row["author_id"],
                        row["kind"],
                        row["visibility"],
                        row["created_at"],
                        row["deleted_at"],
                    )
        except (OSError, ValueError, KeyError, pa.ArrowException) as e:
            ec.fail(f"content source file {f} cannot be read for the check: {e}")
            return None
    changed = sum(1 for p, f in recorded.items() if now_files.get(p) != f.get("bytes"))
    ec.counts["source_files"] = len(now_files)
    ec.counts["source_files_changed_since_build"] = changed
    ec.counts["source_files_new_since_build"] = len(set(now_files) - set(recorded))
    return out


def _decide(
    history: Any, purpose: str, times: tuple[datetime, datetime, datetime], ps: PolicySet
) -> _Decisions:
    if history is None:
        return None
    d_t, d_b, d_now = (eligibility(history, purpose, t, ps) for t in times)
    return d_t, d_b, d_now


def _judge_author(rid: str, r: Any, decisions: _Decisions, found: _Findings) -> bool:
    """Record what the author's decisions say of record ``rid``; False when the author
    is unknown (nothing more to judge)."""
    if decisions is None:
        found.never.append(f"{rid} (author unknown)")
        return False
    d_t, d_b, d_now = decisions
    if not d_t.eligible:
        found.never.append(f"{rid} (at as-of: {d_t.reason})")
    elif not d_b.eligible:
        found.never.append(f"{rid} (at build time: {d_b.reason})")
    elif not d_now.eligible:
        found.since[str(d_now.reason)] += 1
        found.stale_members.add(r.author_id)
    if d_t.eligible and (
        d_t.consent_event_id != r.consent_event_id or d_t.policy_version != r.policy_version
    ):
        found.trace.append(rid)
    return True


def _judge_content(
    rid: str,
    r: Any,
    c: Any,
    purpose_t: Any,
    as_of: datetime,
    built: datetime,
    found: _Findings,
) -> None:
    if c is None:
        found.deleted_since += 1  # erased since the build
    elif c.author_id != r.author_id:
        found.content_bad.append(f"{rid} (author differs from the content's)")
    elif purpose_t is None or not _allows(purpose_t, c.kind, c.visibility):
        found.content_bad.append(f"{rid} (kind/visibility {c.kind}/{c.visibility} not allowed)")
    elif c.created_at > as_of:
        found.content_bad.append(f"{rid} (created after the as-of time)")
    elif c.deleted_at is not None and c.deleted_at <= built:
        found.content_bad.append(f"{rid} (deleted before the build)")
    elif c.deleted_at is not None:
        found.deleted_since += 1


def _allows(purpose: Any, kind: str, visibility: str) -> bool:
    """The purpose allows ``kind``/``visibility``; a value the platform model does not
    know (a lake may hold any string) is not allowed."""
    try:
        return bool(purpose.allows(kind, visibility))
    except ValueError:
        return False


def _report_eligibility(ec: Check, found: _Findings) -> None:
    if found.never:
        ec.fail(
            f"{len(found.never)} record(s) whose author was not eligible: "
            f"{', '.join(found.never[:_SHOW])}"
        )
    if found.trace:
        ec.fail(
            f"{len(found.trace)} provenance row(s) name a consent event or policy version that "
            f"did not make the record eligible, e.g. {found.trace[0]}"
        )
    if found.content_bad:
        ec.fail(
            f"{len(found.content_bad)} record(s) break the selection rule: "
            f"{', '.join(found.content_bad[:_SHOW])}"
        )
    if (found.since or found.deleted_since) and ec.ok:
        ec.stale = True
    if found.since:
        ec.ok = False
        by_reason = ", ".join(f"{k}: {v}" for k, v in sorted(found.since.items()))
        ec.problems.append(
            f"{sum(found.since.values())} record(s) of {len(found.stale_members)} member(s) "
            f"are no longer eligible since the build ({by_reason})"
            ": snapshot needs rebuild/withdrawal propagation"
        )
    if found.deleted_since:
        ec.ok = False
        ec.problems.append(
            f"{found.deleted_since} record(s) were deleted or erased since the build: "
            "snapshot needs rebuild/withdrawal propagation"
        )


# -- 6. residual personal data ---------------------------------------------------------------


@dataclass
class _Residuals:
    records: int = 0
    by_label: Counter[str] = field(default_factory=Counter)
    first_at: dict[str, str] = field(default_factory=dict)  # label -> where first seen
    independent: Any = None  # optin.privacy.rescan.Rescan
    surrogates: int = 0  # findings skipped as the shape of a surrogate


def check_personal_data(
    db: Database, ev: Evidence, *, rescan: bool = True, tolerance: float = RESIDUAL_TOLERANCE
) -> Check:
    """Rescan the shards' texts with the privacy analyzer: any residual hard label
    (e-mail, card, IBAN, government id) fails, other labels fail above ``tolerance``."""
    rc = Check("personal_data")
    if not rescan:
        rc.detail = "skipped"
        return rc
    config = ev.manifest.get("config", {})
    surrogates = str(config.get("operator", "mask")) == "surrogate"
    found = _residuals(
        db, str(config.get("profile", "default")), ev.shard_files, surrogates=surrogates
    )
    ind = found.independent
    lo, hi = ind.interval()
    rc.counts = {
        "records": found.records,
        "residual_by_label": dict(sorted(found.by_label.items())),
        "independent": {
            "method": "optin.privacy.rescan (token shapes, checksums, directory names)",
            "records_with_residual": ind.with_residual,
            "residual_rate": round(ind.rate, 6),
            "residual_rate_ci95": [round(lo, 6), round(hi, 6)],
            "by_label": dict(sorted(ind.by_label.items())),
            "record_ids": list(ind.record_ids),
            "tolerance": INDEPENDENT_TOLERANCE,
        },
    }
    if surrogates:
        rc.counts["surrogates_skipped"] = found.surrogates
        rc.detail = (
            f"operator 'surrogate': {found.surrogates} finding(s) that are or overlap a "
            "surrogate (reserved ranges, surrogate word lists) not counted as residual"
        )
    if ind.records and lo > INDEPENDENT_TOLERANCE:
        rc.fail(
            f"independent rescan: {ind.with_residual} of {ind.records} records "
            f"({ind.rate:.1%}, 95% CI {lo:.1%}-{hi:.1%}) hold personal data "
            f"({', '.join(f'{k} {v}' for k, v in sorted(ind.by_label.items()))}), above "
            f"{INDEPENDENT_TOLERANCE:.0%} with 95% confidence; first records: "
            f"{', '.join(ind.record_ids[:_SHOW])}"
        )
    hard = {k: v for k, v in found.by_label.items() if k in HARD_LABELS}
    for label, n in sorted(hard.items()):
        rc.fail(f"{n} residual {label} finding(s), first at {found.first_at[label]}")
    soft = sum(v for k, v in found.by_label.items() if k not in HARD_LABELS)
    if found.records and soft / found.records > tolerance:
        rc.fail(
            f"{soft} residual finding(s) in {found.records} records exceed the tolerance "
            f"{tolerance:.1%} (names the detector finds now but did not at build time, or "
            "false positives; --tolerance raises it)"
        )
    return rc


def _residuals(
    db: Database, profile: str, files: list[Path], *, surrogates: bool = False
) -> _Residuals:
    """Findings the analyzer makes in the shards' texts outside the redaction tags; with
    ``surrogates``, findings of the exact shape the surrogate operator gives, or that
    overlap a surrogate word, are not counted, as findings that overlap a tag are not
    (:func:`optin.privacy.anonymize.fakes.looks_fake`, ``mentions_fake``)."""
    from optin.privacy.anonymize.fakes import looks_fake, mentions_fake
    from optin.privacy.detect import Analyzer, Directory, DirectoryEntry
    from optin.services.directory import erased_names

    with db.session() as s:
        entries = [DirectoryEntry(n, h) for n, h in repo.iter_directory_rows(s) if n and h]
    erased = erased_names(db)  # erased members, as keyed hashes
    directory = Directory.from_entries(entries, erased[1] if erased else None)
    analyzer = Analyzer(profile=profile, directory=directory)
    from optin.privacy import rescan

    with db.session() as s:  # the same directory data, read for the independent scanner
        ind_dir = rescan.Directory.build((n, h) for n, h in repo.iter_directory_rows(s))
    found = _Residuals(independent=rescan.Rescan())
    for path in files:
        texts = pq.read_table(path, columns=["record_id", "text"])
        for rid, text in zip(
            texts["record_id"].to_pylist(), texts["text"].to_pylist(), strict=True
        ):
            found.records += 1
            found.independent.add(str(rid), rescan.scan(text or "", ind_dir))
            if not text:
                continue
            tags = [(m.start(), m.end()) for m in _TAG.finditer(text)]
            for f in analyzer.redactable(analyzer.analyze(text)):
                if any(f.start < e and s < f.end for s, e in tags):
                    continue
                value = text[f.start : f.end]
                if surrogates and (looks_fake(value, f.label) or mentions_fake(value)):
                    found.surrogates += 1
                    continue
                found.by_label[str(f.label)] += 1
                found.first_at.setdefault(str(f.label), f"{path.name} record {rid}")
    return found


# -- 7. the leak audit (issue 17) ------------------------------------------------------------
#
# Its own code, not optin.domain.audit's or optin.services.snapshot_audit's: the digest,
# the sample and the Wilson interval are recomputed here.

_AUDIT_FORMAT = "optin-snapshot-audit/1"
_Z95 = 1.959963984540054


def _audit_rank(record_id: str, seed: int) -> bytes:
    import hmac

    return hmac.new(f"optin-audit:{seed}".encode(), record_id.encode("utf-8"), "sha256").digest()


def _wilson95(k: int, n: int) -> tuple[float, float]:
    z2 = _Z95 * _Z95
    p = k / n
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    spread = _Z95 / (1 + z2 / n) * (p * (1 - p) / n + z2 / (4 * n * n)) ** 0.5
    return max(0.0, centre - spread), min(1.0, centre + spread)


def check_audit(ev: Evidence) -> Check:
    """``audit.json``, when there is one: its digest; it audits this manifest; its sample
    is the one its seed draws from the shards' record ids; every review is of a sampled
    record; its result is what the reviews give; the Croissant file quotes it. Without
    one, the Croissant file must say "not audited"."""
    ac = Check("audit")
    base = ev.facts.path
    apath = base / "audit.json"
    quoted = _croissant_audit(base / "croissant.json")
    if not apath.exists():
        ac.detail = "not audited (`optin snapshot audit ID --sample N`)"
        ac.counts = {"audited": False}
        if quoted not in (None, "not audited"):
            ac.fail(f"{base / 'croissant.json'} quotes a leak audit, but there is no audit.json")
        return ac
    try:
        audit = json.loads(apath.read_text("utf-8"))
    except ValueError:
        ac.fail(f"{apath}: not valid JSON")
        return ac
    if not isinstance(audit, dict) or audit.get("format") != _AUDIT_FORMAT:
        ac.fail(f"{apath}: not a snapshot audit ({_AUDIT_FORMAT})")
        return ac
    body = {k: v for k, v in audit.items() if k != "digest"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if hashlib.sha256(blob.encode("utf-8")).hexdigest() != audit.get("digest"):
        ac.fail(f"{apath}: digest does not match its content (edited by hand?)")
    _check_audit_note(ev, apath, audit, ac)
    mpath = base / "manifest.json"
    msha = _sha256_file(mpath) if mpath.exists() else None
    if audit.get("snapshot_id") != ev.manifest.get("snapshot_id") or audit.get(
        "manifest_sha256"
    ) != (ev.facts.manifest_sha256 or msha):
        ac.fail(f"{apath}: audits another snapshot or manifest")
    if audit.get("merkle_root") != ev.manifest.get("merkle", {}).get("root"):
        ac.fail(f"{apath}: merkle_root is not the manifest's")
    try:
        _judge_audit(ev, audit, ac)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        ac.fail(f"{apath}: malformed ({type(e).__name__}: {e})")
        return ac
    result = audit.get("result")
    if result is not None and ac.ok:
        value = quoted.get("@value") if isinstance(quoted, dict) else None
        if not isinstance(value, dict) or value.get("sha256_digest") != audit.get("digest"):
            ac.fail(
                f"{base / 'croissant.json'} does not quote the audit's result; rewrite the "
                "documents with `optin snapshot audit ID`"
            )
        sheet = base / "datasheet.md"
        if not sheet.exists() or str(audit.get("digest")) not in sheet.read_text("utf-8"):
            ac.fail(f"{sheet} does not quote the audit's result")
    elif result is None and quoted not in (None, "not audited"):
        ac.fail(f"{base / 'croissant.json'} quotes a leak audit that has no result")
    return ac


def _check_audit_note(ev: Evidence, apath: Path, audit: dict[str, Any], ac: Check) -> None:
    """``audit.note`` is a note signed by the trusted audit key whose text is
    ``audit.json`` byte for byte (opened with the log's note verifier)."""
    from optin.tlog.note import NoteError, open_note

    npath = apath.with_name("audit.note")
    claimed = audit.get("signed_note")
    ac.counts["signed"] = npath.exists()
    if not npath.exists():
        if claimed:
            ac.fail(f"{npath} is missing, but audit.json says it was signed")
        elif ev.trust.strict:
            ac.fail(f"{apath} is unsigned (--strict)")
        return
    key = ev.trust.audit_key
    if key is None:
        if ev.trust.strict:
            ac.fail("no trusted audit key to check audit.note with (--strict)")
        return
    try:
        text, _ = open_note(npath.read_text("utf-8"), [key])
    except (NoteError, OSError, UnicodeDecodeError) as e:
        ac.fail(f"{npath}: not a note signed by the trusted key {key.name}: {e}")
        return
    if text.encode("utf-8") != apath.read_bytes():
        ac.fail(f"{npath}: the signed text is not {apath} (edited after signing)")


def _croissant_audit(path: Path) -> Any:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return doc.get("optin:leakAudit") if isinstance(doc, dict) else None


def _judge_audit(ev: Evidence, audit: dict[str, Any], ac: Check) -> None:
    sampling = audit["sampling"]
    seed, size = int(sampling["seed"]), int(sampling["size"])
    sample = [str(r) for r in audit["sample"]]
    reviews = audit["reviews"]
    ids = list(ev.shard_ids)
    if ids:
        want = sorted(ids, key=lambda r: _audit_rank(r, seed))[:size]
        if sample != want:
            ac.fail(
                f"the sample is not the one seed {seed} draws from the shards' record ids "
                f"({len(set(sample) - set(want))} record(s) differ)"
            )
        if audit.get("population") != len(ids):
            ac.fail(f"population {audit.get('population')} != {len(ids)} records in the shards")
    stray = sorted(set(reviews) - set(sample))
    if stray:
        ac.fail(f"review of record {stray[0]}, which is not in the sample")
    leaks = 0
    labels: Counter[str] = Counter()
    sources: set[str] = set()
    for rid, r in reviews.items():
        verdict, findings = r["verdict"], r["findings"]
        if verdict not in ("clean", "leak") or (verdict == "leak") != bool(findings):
            ac.fail(f"review of record {rid}: verdict {verdict!r} with {len(findings)} span(s)")
        if r.get("source") not in ("people", "ground_truth") or not r.get("by") or not r.get("at"):
            ac.fail(f"review of record {rid}: no source, reviewer or time")
        leaks += verdict == "leak"
        if verdict == "leak":
            labels.update({str(f.get("label")) for f in findings})
        sources.add(str(r.get("source")))
    n = len(sample)
    result = audit.get("result")
    reviewed = len(set(reviews) & set(sample))
    ac.counts.update({"audited": True, "sample": n, "reviewed": reviewed})
    if reviewed < n:
        ac.detail = f"in progress: {reviewed} of {n} sampled records reviewed"
        if result is not None:
            ac.fail("the audit has a result but not every sampled record is reviewed")
        return
    if result is None:
        ac.fail("every sampled record is reviewed but the audit has no result")
        return
    lo, hi = _wilson95(leaks, n)
    ci = [round(lo, 6), round(hi, 6)]
    got = (result["reviewed"], result["with_personal_data"], result["ci95"])
    if (
        got[0] != n
        or got[1] != leaks
        or any(abs(float(a) - b) > 1e-6 for a, b in zip(got[2], ci, strict=True))
    ):
        ac.fail(f"result {got} is not what the reviews give {(n, leaks, ci)}")
    source = sources.pop() if len(sources) == 1 else "mixed"
    if (
        abs(float(result.get("leak_rate", -1)) - leaks / n) > 1e-6
        or result.get("source") != source
        or result.get("by_label") != dict(sorted(labels.items()))
    ):
        ac.fail("the result's leak rate, source or labels are not what the reviews give")
    ac.counts.update(
        {"with_personal_data": leaks, "leak_rate": round(leaks / n, 6),
         "ci95": ci, "source": result.get("source")}
    )  # fmt: skip
    ac.detail = (
        f"{leaks} of {n} sampled records hold personal data ({leaks / n:.1%}, 95% CI "
        f"{lo:.1%}-{hi:.1%}; {result.get('source')})"
    )
