"""``optin snapshot audit``: a measured leak rate for a snapshot.

A reproducible random sample of the snapshot's kept records (:mod:`optin.domain.audit`)
is reviewed, by people (the admin review page, or a reviewed JSONL file imported whole)
or, on the demo platform, from the generator's ground truth; once every sampled record
is reviewed, the leak rate (records with personal data left / records reviewed) and its
95% Wilson interval are the audit's result.

Where it is kept: ``audit.json`` in the snapshot's directory (the manifest is signed at
build time, so it cannot carry a later figure). The file names the snapshot, the SHA-256
of the manifest it audits and its Merkle root, the sampling method, seed and size, the
sampled record ids, every review (verdict, the spans left as offsets and labels: never
the text, who and when, from which source) and the result; ``digest`` is the SHA-256 of
the rest of the file in canonical JSON. ``optin snapshot verify`` checks it with code of
its own (the digest, the binding to the manifest, the sample redrawn from the shards'
record ids, the result recomputed, the documents quoting it). Every change is one
read-modify-write under a lock file, written by the atomic writer; when the result
changes, ``croissant.json`` and ``datasheet.md`` are rewritten to quote it (until then
they say "not audited").

The reviewers' copy of the sample, ``data/audit-sample.jsonl`` (record id, redacted text,
verdict, findings), holds the records' texts, so it lives under ``data/`` beside the
shards and goes when they go (retirement, erasure).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from optin.domain.audit import INTERVAL_METHOD, SAMPLING_METHOD, draw_sample, wilson
from optin.errors import (
    ConflictError,
    ImportValidationError,
    InputError,
    IntegrityError,
    NotFoundError,
)
from optin.files import atomic_text, atomic_write_bytes, create_secret_file
from optin.services.policy import policy_set
from optin.settings import Settings
from optin.storage import snapshots as repo
from optin.storage.database import Database
from optin.tlog.note import Signer, Verifier, generate_signer_key, sign_note

FILE = "audit.json"
NOTE_FILE = "audit.note"
AUDIT_KEY_FILE = "audit.key"
SAMPLE_FILE = "data/audit-sample.jsonl"
LOCK_FILE = ".audit.lock"
FORMAT = "optin-snapshot-audit/1"
VERDICTS = ("clean", "leak")
#: what a reviewer can say remains (the redacted kinds; LOCATION: a street address)
LABELS = (
    "PERSON",
    "HANDLE",
    "EMAIL",
    "PHONE",
    "URL",
    "IP_ADDRESS",
    "CREDIT_CARD",
    "IBAN",
    "GOV_ID",
    "LOCATION",
    "OTHER",
)
SOURCES = ("people", "ground_truth")
_LINE_FIELDS = ("record_id", "text", "verdict", "findings", "reviewer")
_MAX_ERRORS = 50
_NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")


# -- the platform's audit key -----------------------------------------------------------
#
# audit.json is a signed note (c2sp.org/signed-note) under a key of its own, named
# ``<host of the log origin>/audits`` in ``keys/audit.key`` (0600): a key signs one kind
# of note. It is made when the platform signs its manifests (``optin log keygen``); an
# installation without those keys writes audit.json with its digest only.


def audit_key_path(settings: Settings) -> Path:
    return settings.keys_dir / AUDIT_KEY_FILE


def audit_signer(settings: Settings) -> Signer | None:
    """The audit key (created on first use where the platform has a manifest key);
    None where the platform signs nothing."""
    from optin.services import tlog

    path = audit_key_path(settings)
    if not path.exists():
        if tlog.manifest_signer(settings) is None:
            return None
        name = settings.log_origin.split("/", 1)[0] + "/audits"
        signer = generate_signer_key(name, os.urandom(32))
        create_secret_file(path, (signer.skey + "\n").encode("ascii"))
    return tlog.read_signer(path)


def trusted_audit_key(settings: Settings) -> Verifier | None:
    """The public half of this installation's audit key, or None."""
    from optin.services import tlog

    path = audit_key_path(settings)
    return tlog.read_signer(path).verifier if path.exists() else None


# -- the file ------------------------------------------------------------------------------


def canonical_digest(audit: dict[str, Any]) -> str:
    """SHA-256 of ``audit`` without its ``digest``, as canonical JSON (sorted keys, no
    spaces, UTF-8)."""
    body = {k: v for k, v in audit.items() if k != "digest"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def read_audit(directory: Path) -> dict[str, Any] | None:
    """The audit kept in the snapshot ``directory`` (None when it was never audited);
    a file that does not parse or whose digest is wrong is an :class:`IntegrityError`."""
    path = Path(directory) / FILE
    try:
        text = path.read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        audit = json.loads(text)
    except ValueError as e:
        raise IntegrityError(f"{path}: not valid JSON ({e.__class__.__name__})") from None
    if not isinstance(audit, dict) or audit.get("format") != FORMAT:
        raise IntegrityError(f"{path}: not an optin snapshot audit ({FORMAT})")
    if audit.get("digest") != canonical_digest(audit):
        raise IntegrityError(f"{path}: digest does not match the content (edited by hand?)")
    return audit


def peek(directory: Path) -> dict[str, Any]:
    """Where the audit in ``directory`` stands, read-only, never raising (for pages):
    ``state`` is ``none``, ``in_progress``, ``complete`` or ``damaged``."""
    try:
        audit = read_audit(directory)
    except IntegrityError as e:
        return {"state": "damaged", "problem": str(e)}
    if audit is None:
        return {"state": "none"}
    return {
        "state": "complete" if audit.get("result") else "in_progress",
        "sample": len(audit["sample"]),
        "reviewed": len(audit["reviews"]),
        "result": audit.get("result"),
    }


def summary(audit: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the datasheet and Croissant quote: the result, where it came from and how it
    was measured, and the audit file's digest (None while no result exists)."""
    if not audit or not audit.get("result"):
        return None
    r = audit["result"]
    return {
        "file": FILE,
        "sha256_digest": audit["digest"],
        "records_reviewed": r["reviewed"],
        "records_with_personal_data": r["with_personal_data"],
        "leak_rate": r["leak_rate"],
        "ci95": r["ci95"],
        "interval": INTERVAL_METHOD,
        "source": r["source"],
        "by_label": r["by_label"],
        "population": audit["population"],
        "sample_size": audit["sampling"]["size"],
        "seed": audit["sampling"]["seed"],
        "sampling": audit["sampling"]["method"],
        "completed_at": r["at"],
    }


@dataclass(frozen=True)
class AuditStatus:
    """Where an audit stands, for every adapter."""

    snapshot_id: str
    path: Path
    sample: int
    reviewed: int
    seed: int
    population: int
    result: dict[str, Any] | None
    sample_file: Path

    @property
    def complete(self) -> bool:
        return self.result is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "audit_file": str(self.path / FILE),
            "sample_file": str(self.sample_file),
            "population": self.population,
            "sample": self.sample,
            "seed": self.seed,
            "reviewed": self.reviewed,
            "complete": self.complete,
            "result": self.result,
        }


def _status(snap: _Snap, audit: dict[str, Any], sample_file: Path | None = None) -> AuditStatus:
    return AuditStatus(
        snapshot_id=snap.id,
        path=snap.dir,
        sample=len(audit["sample"]),
        reviewed=len(audit["reviews"]),
        seed=int(audit["sampling"]["seed"]),
        population=int(audit["population"]),
        result=audit.get("result"),
        sample_file=sample_file or snap.dir / SAMPLE_FILE,
    )


# -- the snapshot ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snap:
    id: str
    dir: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    as_of: datetime
    settings: Settings


def _open(db: Database, settings: Settings, snapshot_id: str) -> _Snap:
    from optin.services.snapshots import resolve_snapshot_id, snapshot_dir

    sid = resolve_snapshot_id(db, snapshot_id)
    with db.session() as s:
        row = repo.get_snapshot(s, sid)
        if row is None:
            raise NotFoundError(f"snapshot {sid!r} does not exist; see `optin snapshot list`")
        if row.retired_at is not None:
            raise ConflictError(f"snapshot {sid} is retired (its shards are deleted)")
        if row.status != "complete":
            raise ConflictError(f"snapshot {sid} is {row.status!r}; only a complete one is audited")
        directory = snapshot_dir(settings.home, row.path)
        recorded, as_of = row.manifest_sha256, row.as_of
    mpath = directory / "manifest.json"
    try:
        raw = mpath.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"{mpath} is missing") from None
    digest = hashlib.sha256(raw).hexdigest()
    if recorded and digest != recorded:
        raise IntegrityError(
            f"{mpath}: sha256 differs from the one recorded at build time; "
            "run `optin snapshot verify` before auditing"
        )
    return _Snap(sid, directory, json.loads(raw), digest, as_of, settings)


def _record_ids(snap: _Snap) -> list[str]:
    ids: list[str] = []
    for f in snap.manifest.get("files", []):
        t = pq.read_table(snap.dir / str(f["path"]), columns=["record_id"])
        ids.extend(str(x) for x in t["record_id"].to_pylist())
    return ids


def _texts(snap: _Snap, wanted: set[str]) -> dict[str, str]:
    """The redacted texts of the ``wanted`` record ids, read from the shards."""
    out: dict[str, str] = {}
    if not wanted:
        return out
    for f in snap.manifest.get("files", []):
        t = pq.read_table(
            snap.dir / str(f["path"]),
            columns=["record_id", "text"],
            filters=[("record_id", "in", sorted(wanted))],
        )
        for rid, text in zip(t["record_id"].to_pylist(), t["text"].to_pylist(), strict=True):
            if rid in wanted:
                out[str(rid)] = text or ""
    return out


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One writer at a time per snapshot directory (CLI and web workers alike)."""
    with (directory / LOCK_FILE).open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _result(audit: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The leak rate once every sampled record is reviewed (else None)."""
    reviews = audit["reviews"]
    sample = audit["sample"]
    if not sample or len(reviews) < len(sample):
        return None
    n = len(sample)
    leaks = [rid for rid in sample if reviews[rid]["verdict"] == "leak"]
    by_label: Counter[str] = Counter()
    for rid in leaks:
        by_label.update({f["label"] for f in reviews[rid]["findings"]})
    sources = sorted({reviews[rid]["source"] for rid in sample})
    lo, hi = wilson(len(leaks), n)
    return {
        "reviewed": n,
        "with_personal_data": len(leaks),
        "leak_rate": round(len(leaks) / n, 6),
        "ci95": [round(lo, 6), round(hi, 6)],
        "interval": INTERVAL_METHOD,
        "by_label": dict(sorted(by_label.items())),
        "source": sources[0] if len(sources) == 1 else "mixed",
        "reviewers": sorted({reviews[rid]["by"] for rid in sample}),
        "at": now.isoformat(),
    }


def _save(
    db: Database, snap: _Snap, audit: dict[str, Any], now: datetime, *, replaced: bool = False
) -> None:
    """Recompute the result, write ``audit.json``, and the documents when it changed
    (``replaced``: a new audit replaced an old one, whose result the documents quote)."""
    before = audit.get("result")
    audit["result"] = _result(audit, now)
    if before and audit["result"]:
        same = all(before.get(k) == audit["result"].get(k) for k in audit["result"] if k != "at")
        if same:
            audit["result"]["at"] = before["at"]  # nothing measured changed
    signer = audit_signer(snap.settings)
    if signer is not None:
        audit["signed_note"] = {
            "file": NOTE_FILE,
            "format": "c2sp.org/signed-note; the note's text is audit.json, byte for byte",
            "key": signer.verifier.vkey,
        }
    else:
        audit.pop("signed_note", None)
    audit["digest"] = canonical_digest(audit)
    text = json.dumps(audit, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_bytes(snap.dir / FILE, text.encode("utf-8"))
    if signer is not None:
        atomic_write_bytes(snap.dir / NOTE_FILE, sign_note(text, signer).encode("utf-8"))
    else:
        (snap.dir / NOTE_FILE).unlink(missing_ok=True)
    if replaced or before != audit["result"]:
        _rewrite_documents(db, snap, audit)


def _rewrite_documents(db: Database, snap: _Snap, audit: dict[str, Any] | None) -> None:
    """``croissant.json`` and ``datasheet.md`` again, quoting the audit's result."""
    from optin.pipeline.documents import write_documents as write

    pv = policy_set(db).in_force(snap.as_of)
    if pv is None:  # pragma: no cover - the snapshot was built under it
        raise IntegrityError(f"no policy in force at {snap.as_of.isoformat()}")
    write(snap.dir, snap.manifest, pv, audit=summary(audit))


def _update(
    db: Database, snap: _Snap, now: datetime, change: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    with _locked(snap.dir):
        audit = read_audit(snap.dir)
        if audit is None:
            raise NotFoundError(
                f"snapshot {snap.id} has no audit yet; draw a sample first: "
                f"`optin snapshot audit {snap.id} --sample N`"
            )
        _check_binding(snap, audit)
        change(audit)
        _save(db, snap, audit, now)
        return audit


def _check_binding(snap: _Snap, audit: dict[str, Any]) -> None:
    if audit.get("snapshot_id") != snap.id or audit.get("manifest_sha256") != snap.manifest_sha256:
        raise IntegrityError(
            f"{snap.dir / FILE}: audits another snapshot or another manifest than "
            f"{snap.id}'s; remove it and draw a new sample"
        )


# -- start -----------------------------------------------------------------------------------


def start_audit(
    db: Database,
    settings: Settings,
    snapshot_id: str,
    *,
    size: int,
    seed: int = 0,
    by: str,
    now: datetime,
    replace: bool = False,
    out: Path | None = None,
) -> AuditStatus:
    """Draw the sample of ``size`` records (all of them in a smaller snapshot) and write
    ``audit.json`` and the reviewers' JSONL (``out``, default ``data/audit-sample.jsonl``).
    The same size and seed again keeps the reviews made so far; another sample while
    reviews exist needs ``replace``."""
    if size < 1:
        raise InputError("the sample must hold at least one record", field="--sample", value=size)
    snap = _open(db, settings, snapshot_id)
    with _locked(snap.dir):
        old = read_audit(snap.dir)
        if old is not None:
            _check_binding(snap, old)
        if (
            old is not None
            and old["sampling"]["size"] == size
            and old["sampling"]["seed"] == seed
            and not replace
        ):
            audit = old
        else:
            if old is not None and old["reviews"] and not replace:
                raise ConflictError(
                    f"snapshot {snap.id} has an audit of {old['sampling']['size']} records "
                    f"(seed {old['sampling']['seed']}, {len(old['reviews'])} reviewed); "
                    "give the same --sample and --seed to continue it, or --replace to "
                    "discard its reviews and draw a new sample"
                )
            ids = _record_ids(snap)
            audit = {
                "format": FORMAT,
                "snapshot_id": snap.id,
                "manifest_sha256": snap.manifest_sha256,
                "merkle_root": snap.manifest.get("merkle", {}).get("root"),
                "population": len(ids),
                "sampling": {"method": SAMPLING_METHOD, "seed": seed, "size": size},
                "sample": draw_sample(ids, size, seed),
                "created_at": now.isoformat(),
                "created_by": by,
                "reviews": {},
                "result": None,
            }
            _save(db, snap, audit, now, replaced=bool(old and old.get("result")))
        target = out or snap.dir / SAMPLE_FILE
        _write_sample(snap, audit, target)
    return _status(snap, audit, target)


def _write_sample(snap: _Snap, audit: dict[str, Any], target: Path) -> None:
    texts = _texts(snap, set(audit["sample"]))
    with atomic_text(target, mode=0o600) as f:
        for rid in audit["sample"]:
            r = audit["reviews"].get(rid) or {}
            line = {
                "record_id": rid,
                "text": texts.get(rid, ""),
                "verdict": r.get("verdict"),
                "findings": r.get("findings", []),
                "reviewer": r.get("by"),
            }
            f.write(json.dumps(line, ensure_ascii=False) + "\n")


def audit_status(db: Database, settings: Settings, snapshot_id: str) -> AuditStatus | None:
    """The audit of the snapshot (None when it has none). When the documents do not quote
    the result yet (a crash between writes), they are rewritten."""
    snap = _open(db, settings, snapshot_id)
    audit = read_audit(snap.dir)
    if audit is None:
        return None
    _check_binding(snap, audit)
    if not _documents_current(snap.dir, audit):
        with _locked(snap.dir):
            _rewrite_documents(db, snap, audit)
    return _status(snap, audit)


def _documents_current(directory: Path, audit: dict[str, Any]) -> bool:
    try:
        doc = json.loads((directory / "croissant.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    quoted = doc.get("optin:leakAudit") if isinstance(doc, dict) else None
    want = summary(audit)
    if want is None:
        return quoted == "not audited"
    return isinstance(quoted, dict) and quoted.get("@value") == want


@dataclass(frozen=True)
class AuditItem:
    """One sampled record as the review page shows it."""

    record_id: str
    text: str
    review: dict[str, Any] | None

    def marked(self) -> list[tuple[str, str]]:
        """The marked spans as (characters, label)."""
        if not self.review:
            return []
        return [(self.text[f["start"] : f["end"]], f["label"]) for f in self.review["findings"]]


def audit_view(
    db: Database, settings: Settings, snapshot_id: str
) -> tuple[AuditStatus | None, list[AuditItem]]:
    """The audit's status and its sampled records with their texts and reviews, in
    sample order (none when the snapshot has no audit)."""
    status = audit_status(db, settings, snapshot_id)
    if status is None:
        return None, []
    snap = _open(db, settings, snapshot_id)
    audit = read_audit(snap.dir) or {}
    texts = _texts(snap, set(audit.get("sample", [])))
    items = [
        AuditItem(rid, texts.get(rid, ""), audit["reviews"].get(rid)) for rid in audit["sample"]
    ]
    return status, items


# -- reviews -------------------------------------------------------------------------------


def _review(
    verdict: str, findings: list[dict[str, Any]], by: str, source: str, now: datetime
) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "findings": sorted(findings, key=lambda f: (f["start"], f["end"], f["label"])),
        "by": by,
        "at": now.isoformat(),
        "source": source,
    }


def _reviewer(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise InputError(
            "not a reviewer name",
            field=what,
            allowed="1 to 100 printable characters, e.g. admin:alice",
        )
    return value


def review_record(
    db: Database,
    settings: Settings,
    snapshot_id: str,
    record_id: str,
    *,
    verdict: str,
    span: str = "",
    label: str = "",
    by: str,
    now: datetime,
) -> AuditStatus:
    """One reviewer's mark on one sampled record (the review page): ``clean`` (no
    personal data left; replaces any spans marked before), or ``leak`` with the exact
    characters ``span`` that remain and their ``label`` (added to the record's spans)."""
    if verdict not in VERDICTS:
        raise InputError("unknown verdict", field="verdict", value=verdict, allowed="clean, leak")
    snap = _open(db, settings, snapshot_id)
    finding: dict[str, Any] | None = None
    if verdict == "leak":
        if label not in LABELS:
            raise InputError("unknown label", field="label", value=label, allowed=", ".join(LABELS))
        if not span.strip():
            raise InputError(
                "mark the characters that remain (select them in the record, or copy them "
                "into the field)",
                field="span",
            )
        text = _texts(snap, {record_id}).get(record_id)
        at = -1 if text is None else text.find(span)
        if at < 0:
            raise InputError(
                f"the marked characters do not occur in record {record_id}; copy them "
                "exactly as shown",
                field="span",
            )
        finding = {"start": at, "end": at + len(span), "label": label}

    def change(audit: dict[str, Any]) -> None:
        if record_id not in set(audit["sample"]):
            raise NotFoundError(f"record {record_id} is not in the audit's sample")
        old = audit["reviews"].get(record_id)
        spans: list[dict[str, Any]] = []
        if finding is not None:
            spans = list(old["findings"]) if old and old["verdict"] == "leak" else []
            if finding not in spans:
                spans.append(finding)
        audit["reviews"][record_id] = _review(verdict, spans, by, "people", now)

    audit = _update(db, snap, now, change)
    return _status(snap, audit)


def import_reviews(
    db: Database, settings: Settings, snapshot_id: str, path: Path, *, by: str, now: datetime
) -> tuple[AuditStatus, int]:
    """Import a reviewed sample JSONL whole (every line checked first; any error and
    nothing is saved). A line with ``verdict`` null and no findings is not reviewed yet
    and is skipped. Returns the status and the number of reviews imported."""
    snap = _open(db, settings, snapshot_id)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    current = read_audit(snap.dir)
    if current is None:
        raise NotFoundError(
            f"snapshot {snap.id} has no audit yet; draw a sample first: "
            f"`optin snapshot audit {snap.id} --sample N`"
        )
    texts = _texts(snap, set(current["sample"]))
    parsed, errors = _parse_reviews(raw, str(path), texts, by)
    if errors:
        raise ImportValidationError(errors[:_MAX_ERRORS], file=str(path), total_errors=len(errors))

    def change(audit: dict[str, Any]) -> None:
        if audit["sample"] != current["sample"]:
            raise ConflictError("the audit's sample changed while the file was read; import again")
        for rid, (verdict, findings, who) in parsed.items():
            audit["reviews"][rid] = _review(verdict, findings, who, "people", now)

    audit = _update(db, snap, now, change)
    return _status(snap, audit), len(parsed)


_Parsed = tuple[str, list[dict[str, Any]], str]


def _parse_reviews(
    raw: bytes, file: str, texts: dict[str, str], by: str
) -> tuple[dict[str, _Parsed], list[InputError]]:
    """Every reviewed line of a reviewers' JSONL, and every error (file, line, field)."""
    errors: list[InputError] = []
    out: dict[str, _Parsed] = {}
    seen: dict[str, int] = {}
    try:
        lines = raw.decode("utf-8").split("\n")
    except UnicodeDecodeError as e:
        return {}, [InputError(f"not UTF-8 (byte {e.start})", file=file)]
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        before = len(errors)

        def err(msg: str, field: str | None = None, allowed: str | None = None) -> None:
            errors.append(InputError(msg, file=file, line=no, field=field, allowed=allowed))  # noqa: B023

        try:
            obj = json.loads(line)
        except ValueError as e:
            err(f"not valid JSON ({e.__class__.__name__} at column {getattr(e, 'colno', '?')})")
            continue
        if not isinstance(obj, dict):
            err("not a JSON object")
            continue
        rid = obj.get("record_id")
        if not isinstance(rid, str) or rid not in texts:
            err("not a record of the audit's sample", field="record_id")
            continue
        if rid in seen:
            err(f"record reviewed twice (first on line {seen[rid]})", field="record_id")
            continue
        seen[rid] = no
        got = _parse_line(obj, texts[rid], by, err)
        if got is not None and len(errors) == before:
            out[rid] = got
    return out, errors


def _parse_line(
    obj: dict[str, Any], text: str, by: str, err: Callable[..., None]
) -> _Parsed | None:
    """One line's review (None: not reviewed yet, or an error was reported)."""
    unknown = sorted(set(obj) - set(_LINE_FIELDS))
    if unknown:
        err("unknown field", field=unknown[0], allowed=", ".join(_LINE_FIELDS))
    if "text" in obj and obj["text"] != text:
        err("differs from the snapshot's record (leave the text as exported)", field="text")
    verdict, findings = obj.get("verdict"), obj.get("findings", [])
    if not isinstance(findings, list):
        err("not a list", field="findings", allowed='[{"start": 0, "end": 4, "label": ...}]')
        return None
    spans = [s for i, f in enumerate(findings) for s in _span(f, i, text, err)]
    problem = {
        None: ("findings given but no verdict", "verdict", '"leak" with findings, "clean" without')
        if findings
        else None,
        "clean": ("verdict 'clean' with findings", "findings", "[] for clean")
        if findings
        else None,
        "leak": (
            "verdict 'leak' needs at least one finding",
            "findings",
            '[{"start": ..., "end": ..., "label": ...}]',
        )
        if not findings
        else None,
    }
    if verdict not in problem:
        err("unknown verdict", field="verdict", allowed="clean, leak, or null (not reviewed)")
        return None
    if problem[verdict] is not None:
        msg, field, allowed = problem[verdict]  # type: ignore[misc]
        err(msg, field=field, allowed=allowed)
        return None
    if verdict is None:
        return None  # not reviewed yet
    who = by
    if obj.get("reviewer") is not None:
        try:
            who = _reviewer(obj["reviewer"], "reviewer")
        except InputError as e:
            err(e.reason, field="reviewer", allowed=e.allowed)
            return None
    return (verdict, spans, who) if len(spans) == len(findings) else None


def _span(f: Any, i: int, text: str, err: Callable[..., None]) -> list[dict[str, Any]]:
    where = f"findings[{i}]"
    if not isinstance(f, dict):
        err("not an object", field=where, allowed='{"start": 0, "end": 4, "label": "PERSON"}')
        return []
    bad = sorted(set(f) - {"start", "end", "label", "text"})
    if bad:
        err("unknown field", field=f"{where}.{bad[0]}", allowed="start, end, label, text")
        return []
    start, end, label = f.get("start"), f.get("end"), f.get("label")
    for name, v in (("start", start), ("end", end)):
        if not isinstance(v, int) or isinstance(v, bool):
            err("not an integer", field=f"{where}.{name}", allowed="a character offset")
            return []
    assert isinstance(start, int) and isinstance(end, int)
    if not 0 <= start < end <= len(text):
        err(
            f"span [{start}, {end}) is outside the text",
            field=f"{where}.end" if end > len(text) else f"{where}.start",
            allowed=f"0 <= start < end <= {len(text)} (character offsets in the text)",
        )
        return []
    if label not in LABELS:
        err("unknown label", field=f"{where}.label", allowed=", ".join(LABELS))
        return []
    if "text" in f and f["text"] != text[start:end]:
        err(
            "does not match the characters at start..end",
            field=f"{where}.text",
            allowed="the exact characters text[start:end], or leave it out",
        )
        return []
    return [{"start": start, "end": end, "label": label}]


# -- ground truth (the demo platform) -----------------------------------------------------


def ground_truth_path(settings: Settings) -> Path:
    return settings.home / "demo" / "ground_truth.jsonl"


def mark_from_ground_truth(
    db: Database, settings: Settings, snapshot_id: str, *, now: datetime, path: Path | None = None
) -> AuditStatus:
    """Review every sampled record from the demo's ground truth (the personal data the
    generator planted): a record leaks when a planted span is left, whole or in part
    (:func:`ground_truth_findings`)."""
    gt = path or ground_truth_path(settings)
    snap = _open(db, settings, snapshot_id)
    current = read_audit(snap.dir)
    if current is None:
        raise NotFoundError(f"snapshot {snap.id} has no audit yet; draw a sample first")
    sample = set(current["sample"])
    with db.session() as s:
        content = {r.record_id: r.content_id for r in repo.iter_provenance(s, snap.id)}
    wanted = {content[r]: r for r in sample if r in content}
    missing = sorted(sample - set(content))
    if missing:
        raise IntegrityError(f"record {missing[0]} of the sample has no provenance row")
    truth = _read_truth(gt, set(wanted))
    absent = sorted(set(wanted) - set(truth))
    if absent:
        raise InputError(
            f"{len(absent)} sampled record(s) have no ground-truth line (first: record "
            f"{wanted[absent[0]]}); is this the demo platform's ground truth?",
            file=str(gt),
        )
    texts = _texts(snap, sample)
    excused: frozenset[str] = frozenset()
    if snap.manifest.get("config", {}).get("operator") == "surrogate":
        from optin.privacy.anonymize.fakes import surrogate_words

        excused = surrogate_words()
    who = "ground-truth:" + ("demo/ground_truth.jsonl" if path is None else Path(path).name)
    marks: dict[str, tuple[str, list[dict[str, Any]], str]] = {}
    counts: Counter[str] = Counter()
    for cid, rid in wanted.items():
        original, spans = truth[cid]
        found, kinds = ground_truth_findings(original, spans, texts.get(rid, ""), excused)
        counts.update(kinds)
        marks[rid] = ("leak" if found else "clean", found, who)

    def change(audit: dict[str, Any]) -> None:
        if set(audit["sample"]) != sample:
            raise ConflictError("the audit's sample changed meanwhile; run it again")
        for rid, (verdict, findings, by) in marks.items():
            audit["reviews"][rid] = _review(verdict, findings, by, "ground_truth", now)
        audit["ground_truth"] = {
            "file_sha256": hashlib.sha256(gt.read_bytes()).hexdigest(),
            "records_verbatim": counts["verbatim"],
            "records_partial_only": counts["partial"],
            "rule": GROUND_TRUTH_RULE,
        }

    audit = _update(db, snap, now, change)
    return _status(snap, audit)


GROUND_TRUTH_RULE = (
    "a record leaks when a planted span occurs verbatim in the redacted text, or when a "
    "word of a planted span (3+ characters, 2+ for CJK) occurs in the redacted text more "
    "often than in the original text outside the planted spans; the city of a planted "
    "street address is not counted (cities are kept by policy), its postal code is; words "
    "that say nothing of a person are not counted either: the structure of e-mails and URLs "
    "(com, org, net, www, http, https, dot, ...), generic mailbox names (info, hello, ...) "
    "and street type words (Street, Avenue, ...), which surrogate values also contain, "
    "numbers of fewer than 4 digits (area codes, address octets) and, in a snapshot made "
    "with surrogates, the words of the surrogate lists (a fake name can share a word with "
    "a planted one; a planted span left whole is still counted)"
)

#: planted words that identify nobody (see :data:`GROUND_TRUTH_RULE`)
_STRUCTURAL = frozenset(
    [
        "com",
        "org",
        "net",
        "edu",
        "gov",
        "info",
        "biz",
        "www",
        "http",
        "https",
        "html",
        "htm",
        "php",
        "dot",
        "mail",
        "email",
        "gmail",
        "hey",
        "hello",
        "hi",
        "contact",
        "team",
        "office",
        "support",
        "jobs",
        "careers",
        "admin",
        "news",
        "press",
        "Street",
        "St",
        "Avenue",
        "Ave",
        "Road",
        "Rd",
        "Boulevard",
        "Blvd",
        "Lane",
        "Ln",
        "Drive",
        "Dr",
        "Court",
        "Ct",
        "Way",
        "Place",
        "Pl",
        "Suite",
        "Apt",
        "Unit",
    ]
)


def _read_truth(path: Path, wanted: set[str]) -> dict[str, tuple[str, list[tuple[int, int, str]]]]:
    out: dict[str, tuple[str, list[tuple[int, int, str]]]] = {}
    try:
        f = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(
            f"{path}: no ground truth (it exists on the demo platform, `optin demo`)"
        ) from None
    with f:
        for no, line in enumerate(f, 1):
            try:
                obj = json.loads(line)
                cid = obj["id"]
                if cid not in wanted:
                    continue
                spans = [(int(s["start"]), int(s["end"]), str(s["label"])) for s in obj["spans"]]
                out[cid] = (str(obj["text"]), spans)
            except (ValueError, KeyError, TypeError):
                raise InputError(
                    "not a ground-truth line",
                    file=str(path),
                    line=no,
                    allowed='{"id", "text", "spans"}',
                ) from None
    return out


_WORD = re.compile(r"\w+")


@functools.cache
def _city_words() -> frozenset[str]:
    """The words of the demo platform's city names (kept by policy: not a leak when the
    rest of a planted address is masked), and 2-3 letter region codes."""
    from optin.demo.countries import BY_CODE

    return frozenset(w for c in BY_CODE.values() for city in c.cities for w in _WORD.findall(city))


def _cjk(s: str) -> bool:
    return any(
        "\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af"
        for c in s
    )


def _occurrences(text: str, piece: str) -> list[int]:
    """Start offsets of ``piece`` in ``text``, as a whole word unless it is CJK."""
    if _cjk(piece):
        return [m.start() for m in re.finditer(re.escape(piece), text)]
    return [m.start() for m in re.finditer(rf"(?<!\w){re.escape(piece)}(?!\w)", text)]


def ground_truth_findings(
    original: str,
    spans: list[tuple[int, int, str]],
    redacted: str,
    excused: frozenset[str] = frozenset(),
) -> tuple[list[dict[str, Any]], list[str]]:
    """The planted spans left in ``redacted`` (as findings on it) and, once per record,
    ``verbatim`` or ``partial`` (only parts of spans left). See :data:`GROUND_TRUTH_RULE`."""
    outside = list(original)
    for a, b, _ in spans:
        outside[a:b] = " " * (b - a)
    rest = "".join(outside)
    found: dict[tuple[int, int], str] = {}
    verbatim = False
    for a, b, label in spans:
        value = original[a:b]
        hits = _occurrences(redacted, value) if value.strip() else []
        if len(hits) > len(_occurrences(rest, value)):
            verbatim = True
            found.setdefault((hits[0], hits[0] + len(value)), label)
            continue
        for word in set(_WORD.findall(value)):
            if len(word) < (2 if _cjk(word) else 3) or word in _STRUCTURAL or word in excused:
                continue
            if word.isdigit() and len(word) < 4:
                continue  # an area code or an address octet alone identifies nobody
            if label == "LOCATION" and (
                word in _city_words() or (len(word) <= 3 and word.isalpha() and word.isupper())
            ):
                continue
            hits = _occurrences(redacted, word)
            if len(hits) > len(_occurrences(rest, word)):
                found.setdefault((hits[0], hits[0] + len(word)), label)
    findings = [{"start": a, "end": b, "label": lab} for (a, b), lab in sorted(found.items())]
    kinds = ["verbatim"] if verbatim else (["partial"] if findings else [])
    return findings, kinds


__all__ = [
    "FILE",
    "FORMAT",
    "LABELS",
    "NOTE_FILE",
    "SAMPLE_FILE",
    "AuditItem",
    "AuditStatus",
    "audit_key_path",
    "audit_signer",
    "audit_status",
    "audit_view",
    "canonical_digest",
    "ground_truth_findings",
    "ground_truth_path",
    "import_reviews",
    "mark_from_ground_truth",
    "peek",
    "read_audit",
    "review_record",
    "start_audit",
    "summary",
    "trusted_audit_key",
]
