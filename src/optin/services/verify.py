"""``optin snapshot verify``: re-check a snapshot independently of the build code.

Nothing here imports :mod:`optin.pipeline`: the Merkle root, file digests and the
eligibility of every included record are recomputed from first principles (the shards,
the provenance rows, the consent ledger via :func:`optin.domain.eligibility.eligibility`
on each author's full history, and the privacy analyzer), so a bug in the build cannot
hide itself.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from optin.domain.eligibility import PolicySet, eligibility
from optin.errors import ConflictError, IntegrityError, NotFoundError
from optin.services.database import Database
from optin.services.policy import policy_set
from optin.settings import Settings
from optin.storage import ledger
from optin.storage import snapshots as repo
from optin.storage.members import member_histories

#: Residual findings of these labels fail verification outright.
HARD_LABELS = frozenset({"CREDIT_CARD", "IBAN", "EMAIL", "GOV_ID"})
#: Other residual findings fail above this share of records.
RESIDUAL_TOLERANCE = 0.01
_TAG = re.compile(r"\[[A-Z_]+\]|<[A-Z_]+_[0-9a-f]{2,16}>")
_SHOW = 5


@dataclass
class Check:
    name: str
    ok: bool = True
    stale: bool = False
    detail: str = ""
    counts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
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

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def status(self) -> str:
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
            "checks": [c.to_dict() for c in self.checks],
        }

    def raise_for_status(self) -> None:
        if self.status == "pass":
            return
        bad = [c for c in self.checks if not c.ok]
        where = "; ".join(f"{c.name}: {c.problems[0] if c.problems else c.detail}" for c in bad)
        if self.status == "stale":
            raise ConflictError(
                f"snapshot {self.snapshot_id} is no longer valid for use: {where}. The snapshot "
                "needs a rebuild / withdrawal propagation (`optin snapshot build` again)"
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


def verify_snapshot(
    db: Database,
    settings: Settings,
    snapshot_id: str,
    *,
    now: datetime | None = None,
    rescan: bool = True,
    tolerance: float = RESIDUAL_TOLERANCE,
) -> VerifyReport:
    """Verify ``snapshot_id``; never raises for a failed check (see
    :meth:`VerifyReport.raise_for_status`)."""
    now = now or datetime.now(UTC)
    with db.session() as s:
        row = repo.get_snapshot(s, snapshot_id)
        if row is None:
            raise NotFoundError(
                f"snapshot {snapshot_id!r} does not exist; see `optin snapshot list`"
            )
        srow: dict[str, Any] = {
            "status": row.status,
            "path": row.path,
            "purpose": row.purpose,
            "as_of": row.as_of,
            "built_at": row.built_at,
            "manifest_sha256": row.manifest_sha256,
            "records": int(row.record_count),
        }
    report = VerifyReport(snapshot_id)
    base = Path(srow["path"])

    # 1. manifest ----------------------------------------------------------------------
    mc = Check("manifest")
    report.checks.append(mc)
    manifest: dict[str, Any] = {}
    mpath = base / "manifest.json"
    if srow["status"] != "complete":
        mc.fail(f"snapshot status is {srow['status']!r}, not 'complete'")
    if not mpath.exists():
        mc.fail(f"{mpath} is missing")
    else:
        digest = _sha256_file(mpath)
        if digest != srow["manifest_sha256"]:
            mc.fail(
                f"{mpath}: sha256 {digest[:16]}... differs from the digest recorded at "
                f"build time {str(srow['manifest_sha256'])[:16]}... (manifest edited)"
            )
        try:
            manifest = json.loads(mpath.read_text("utf-8"))
        except ValueError as e:
            mc.fail(f"{mpath}: not valid JSON ({e})")
    for key, expect in (
        ("snapshot_id", snapshot_id),
        ("purpose", srow["purpose"]),
        ("record_count", srow["records"]),
    ):
        if manifest and manifest.get(key) != expect:
            mc.fail(
                f"manifest field '{key}' is {manifest.get(key)!r}, the database says {expect!r}"
            )
    as_of = _parse_time(manifest.get("as_of", srow["as_of"].isoformat()), "as_of", mc)
    built = _parse_time(
        manifest.get("built_at", (srow["built_at"] or now).isoformat()), "built_at", mc
    )
    if as_of is not None and as_of != srow["as_of"]:
        mc.fail(
            f"manifest field 'as_of' is {as_of.isoformat()}, the database says "
            f"{srow['as_of'].isoformat()}"
        )
    as_of = srow["as_of"]
    built = built or srow["built_at"] or now

    # 2. files and Merkle root -----------------------------------------------------------
    fc = Check("files")
    report.checks.append(fc)
    shard_ids: dict[str, str] = {}  # record id -> shard path
    listed = {f.get("path"): f for f in manifest.get("files", [])}
    on_disk = (
        {str(p.relative_to(base)) for p in (base / "data").glob("*.parquet")}
        if (base / "data").exists()
        else set()
    )
    for unlisted in sorted(on_disk - set(listed)):
        fc.fail(f"{base / unlisted}: shard not listed in the manifest")
    texts_by_file: list[Path] = []
    for rel, f in sorted(listed.items()):
        path = base / str(rel)
        if not path.exists():
            fc.fail(f"{path}: listed in the manifest but missing")
            continue
        digest = _sha256_file(path)
        if digest != f.get("sha256"):
            fc.fail(
                f"{path}: sha256 {digest[:16]}... != manifest {str(f.get('sha256'))[:16]}..."
                " (shard modified)"
            )
            continue
        try:
            ids = pq.read_table(path, columns=["record_id"])["record_id"].to_pylist()
        except Exception as e:  # damaged file with a matching digest is impossible; be safe
            fc.fail(f"{path}: unreadable ({type(e).__name__})")
            continue
        if len(ids) != f.get("rows"):
            fc.fail(f"{path}: {len(ids)} rows, manifest says {f.get('rows')}")
        for rid in ids:
            if rid in shard_ids:
                fc.fail(f"{path}: record id {rid} also in {shard_ids[rid]}")
            shard_ids[rid] = str(rel)
        texts_by_file.append(path)
    fc.counts = {"files": len(listed), "records": len(shard_ids)}
    root = _merkle(list(shard_ids))
    merkle = manifest.get("merkle", {})
    if root != merkle.get("root"):
        fc.fail(
            f"Merkle root over the shards' record ids {root[:16]}... != manifest "
            f"{str(merkle.get('root'))[:16]}..."
        )
    if len(shard_ids) != manifest.get("record_count"):
        fc.fail(
            f"shards hold {len(shard_ids)} records, manifest record_count is "
            f"{manifest.get('record_count')}"
        )

    # 3. provenance ---------------------------------------------------------------------
    pc = Check("provenance")
    report.checks.append(pc)
    prov: dict[str, Any] = {}
    with db.session() as s:
        for r in repo.iter_provenance(s, snapshot_id):
            prov[r.record_id] = r
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

    # 4. ledger -------------------------------------------------------------------------
    lc = Check("ledger")
    report.checks.append(lc)
    pinned = manifest.get("ledger", {})
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
    lc.counts = {"length_now": lr.length, "pinned_length": pinned.get("length")}

    # 5. eligibility --------------------------------------------------------------------
    ec = Check("eligibility")
    report.checks.append(ec)
    _check_eligibility(db, srow["purpose"], as_of, built, now, prov, ec)

    # 6. residual personal data -----------------------------------------------------------
    rc = Check("personal_data")
    report.checks.append(rc)
    if rescan:
        _rescan(db, manifest.get("config", {}), texts_by_file, rc, tolerance)
    else:
        rc.detail = "skipped"
    return report


def _check_eligibility(
    db: Database,
    purpose: str,
    as_of: datetime,
    built: datetime,
    now: datetime,
    prov: dict[str, Any],
    ec: Check,
) -> None:
    ps: PolicySet = policy_set(db)
    authors = sorted({r.author_id for r in prov.values()})
    with db.session() as s:
        histories = member_histories(s, authors)
        contents = repo.content_facts(s, [r.content_id for r in prov.values()])
    never: list[str] = []  # not eligible at as-of or at build: should never have been in
    since: Counter[str] = Counter()  # became ineligible after the build
    stale_members: set[str] = set()
    trace: list[str] = []
    decisions: dict[str, tuple[Any, Any, Any]] = {}
    for a in authors:
        h = histories.get(a)
        if h is None:
            decisions[a] = (None, None, None)
            continue
        decisions[a] = (
            eligibility(h, purpose, as_of, ps),
            eligibility(h, purpose, built, ps),
            eligibility(h, purpose, now, ps),
        )
    pv_t = ps.in_force(as_of)
    purpose_t = pv_t.purposes.get(purpose) if pv_t else None
    content_bad: list[str] = []
    deleted_since = 0
    for rid, r in prov.items():
        d_t, d_b, d_now = decisions[r.author_id]
        if d_t is None:
            never.append(f"{rid} (author unknown)")
            continue
        if not d_t.eligible:
            never.append(f"{rid} (at as-of: {d_t.reason})")
        elif not d_b.eligible:
            never.append(f"{rid} (at build time: {d_b.reason})")
        elif not d_now.eligible:
            since[str(d_now.reason)] += 1
            stale_members.add(r.author_id)
        if d_t.eligible and (
            d_t.consent_event_id != r.consent_event_id or d_t.policy_version != r.policy_version
        ):
            trace.append(rid)
        c = contents.get(r.content_id)
        if c is None:
            deleted_since += 1  # erased since the build
            continue
        if c.author_id != r.author_id:
            content_bad.append(f"{rid} (author differs from the content's)")
        elif purpose_t is None or not purpose_t.allows(c.kind, c.visibility):
            content_bad.append(f"{rid} (kind/visibility {c.kind}/{c.visibility} not allowed)")
        elif c.created_at > as_of:
            content_bad.append(f"{rid} (created after the as-of time)")
        elif c.deleted_at is not None:
            if c.deleted_at <= built:
                content_bad.append(f"{rid} (deleted before the build)")
            else:
                deleted_since += 1
    if never:
        ec.fail(f"{len(never)} record(s) whose author was not eligible: {', '.join(never[:_SHOW])}")
    if trace:
        ec.fail(
            f"{len(trace)} provenance row(s) name a consent event or policy version that "
            f"did not make the record eligible, e.g. {trace[0]}"
        )
    if content_bad:
        ec.fail(
            f"{len(content_bad)} record(s) break the selection rule: "
            f"{', '.join(content_bad[:_SHOW])}"
        )
    if (since or deleted_since) and ec.ok:
        ec.stale = True
    if since:
        ec.ok = False
        ec.problems.append(
            f"{sum(since.values())} record(s) of {len(stale_members)} member(s) are no longer "
            f"eligible since the build ({', '.join(f'{k}: {v}' for k, v in sorted(since.items()))})"
            ": snapshot needs rebuild/withdrawal propagation"
        )
    if deleted_since:
        ec.ok = False
        ec.problems.append(
            f"{deleted_since} record(s) were deleted or erased since the build: "
            "snapshot needs rebuild/withdrawal propagation"
        )
    ec.counts = {
        "records": len(prov),
        "authors": len(authors),
        "no_longer_eligible": sum(since.values()),
        "deleted_since": deleted_since,
        "never_eligible": len(never),
    }


def _rescan(
    db: Database, config: dict[str, Any], files: list[Path], rc: Check, tolerance: float
) -> None:
    from optin.privacy.detect import Analyzer, Directory, DirectoryEntry

    profile = str(config.get("profile", "default"))
    operator = str(config.get("operator", "mask"))
    with db.session() as s:
        entries = [DirectoryEntry(n, h) for n, h in repo.iter_directory_rows(s) if n and h]
    analyzer = Analyzer(profile=profile, directory=Directory.from_entries(entries))
    residual: Counter[str] = Counter()
    where: dict[str, str] = {}
    records = 0
    for path in files:
        texts = pq.read_table(path, columns=["record_id", "text"])
        for rid, text in zip(
            texts["record_id"].to_pylist(), texts["text"].to_pylist(), strict=True
        ):
            records += 1
            if not text:
                continue
            tags = [(m.start(), m.end()) for m in _TAG.finditer(text)]
            for f in analyzer.redactable(analyzer.analyze(text)):
                if any(f.start < e and s < f.end for s, e in tags):
                    continue
                residual[str(f.label)] += 1
                where.setdefault(str(f.label), f"{path.name} record {rid}")
    rc.counts = {"records": records, "residual_by_label": dict(sorted(residual.items()))}
    if operator == "surrogate":
        rc.detail = "operator 'surrogate' inserts realistic fake values; residuals not judged"
        return
    hard = {k: v for k, v in residual.items() if k in HARD_LABELS}
    for label, n in sorted(hard.items()):
        rc.fail(f"{n} residual {label} finding(s), first at {where[label]}")
    soft = sum(v for k, v in residual.items() if k not in HARD_LABELS)
    if records and soft / records > tolerance:
        rc.fail(
            f"{soft} residual finding(s) in {records} records exceed the tolerance "
            f"{tolerance:.1%} (names the detector finds now but did not at build time, or "
            "false positives; --tolerance raises it)"
        )
