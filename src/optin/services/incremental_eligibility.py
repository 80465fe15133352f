"""Eligibility of an incremental build (``snapshot build --since``): a full build's
decisions, deciding again only the members whose decision can differ from the parent's.

A decision as of T (:mod:`optin.domain.eligibility`) depends only on the member's rows
effective *and* recorded by T (consent events for the purpose, dated country and status
changes, birth-date corrections), the member's birth date (their age on T's date), and
the policy versions in force by T. The ledger and the member histories are append-only
with ``recorded_at`` the time of writing (imports record at import time; a member import
writes history only for new members; erasure records an ``erased`` status). So between
the parent's times (as-of A1, build N1) and this build's (A2 >= A1, N2 >= N1) a member's
decision at A2 equals theirs at A1 (and at N2 theirs at N1) unless:

- one of their rows has an effective or recorded time in (A1, A2] or (N1, N2];
- they are new (not in the parent's eligibility file);
- they have a birth-date correction (any: these are rare), or their age on A2's date
  differs from that on A1's (or on N2's from N1's): a birthday in between;

and the policy versions in force by N2 are the parent's by N1 (none came into force
since, none changed), the same version is in force at A2 as at A1, and the rules are
this release's. When one of those does not hold, or the parent keeps no eligibility
file, every member is decided (the full build's path), and the manifest says why.

Members decided from the parent keep the parent's reasons; an eligible one's proof
(consent event, policy version) is resolved when it is needed: from the parent's
provenance for the authors of reused records, else decided again (the authors of new
records). ``snapshot verify`` does not rely on any of this: it re-decides every
record's author from the full history.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import optin
from optin.domain.eligibility import PolicySet, Reason
from optin.pipeline import incremental as inc
from optin.services.policy import policy_set
from optin.services.snapshots import (
    _Eligibility,
    _eligibility,
    history_watermarks,
    snapshot_key,
)
from optin.settings import Settings
from optin.storage import history
from optin.storage.database import Database

#: the eligibility rules a kept file was decided under (a release may change them)
RULES = f"optin {optin.__version__} / eligibility 1"
#: the per-snapshot key use of the eligibility file's member keys
MEMBER_KEY = "member-key"


def policy_fingerprint(ps: PolicySet, at: datetime) -> str:
    """SHA-256 over the policy versions in force by ``at`` (number, document hash, start,
    material purposes): the only versions a decision at or before ``at`` reads."""
    rows = [
        [v.version, v.sha256, v.in_force_from.isoformat(), sorted(v.material)]
        for v in ps.versions
        if v.in_force_from <= at
    ]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def _in_force(ps: PolicySet, at: datetime) -> int | None:
    v = ps.in_force(at)
    return v.version if v is not None else None


def eligibility_meta(
    db: Database, elig: _Eligibility, purpose: str, as_of: datetime, now: datetime
) -> dict[str, Any]:
    """The ``eligibility`` entry of ``meta.json`` for a build decided at (as_of, now)."""
    ps = policy_set(db)
    return {
        "purpose": purpose,
        "as_of": as_of.isoformat(),
        "built_at": now.isoformat(),
        "policies": policy_fingerprint(ps, now),
        "policy_at_as_of": _in_force(ps, as_of),
        "rules": RULES,
        "digest": elig.digest,
        "members": len(elig.proofs) + len(elig.reasons),
        "watermarks": dict(elig.watermarks),
    }


def keep_eligibility(
    db: Database,
    settings: Settings,
    snapshot: Path,
    key_of: str,
    elig: _Eligibility,
    purpose: str,
    as_of: datetime,
    now: datetime,
) -> dict[str, Any]:
    """Write the eligibility file beside a build's shards; its meta entry."""
    import pyarrow as pa

    members = sorted([*elig.proofs, *elig.reasons])
    keys = inc.member_keys(members, snapshot_key(settings, key_of, MEMBER_KEY))
    table = pa.table(
        [
            pa.array(keys, pa.binary(16)),
            pa.array([elig.reason_at_as_of(m) for m in members], pa.string()),
            pa.array([elig.reasons.get(m, "") for m in members], pa.string()),
        ],
        schema=inc.ELIGIBILITY_SCHEMA,
    )
    inc.write_eligibility(snapshot, table)
    return eligibility_meta(db, elig, purpose, as_of, now)


@dataclass
class Delta:
    """An incremental build's eligibility and how it was reached."""

    eligibility: _Eligibility
    members: int
    decided: int  # members decided by this build (all of them when ``why_all``)
    why_all: str | None = None

    def to_manifest(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "decided": self.decided,
            "from_parent": self.members - self.decided,
            "decided_all_because": self.why_all,
        }


def _why_all(
    meta: dict[str, Any] | None, ps: PolicySet, purpose: str, as_of: datetime, now: datetime
) -> str | None:
    """Why every member must be decided again, or None."""
    if not meta or not isinstance(meta.get("watermarks"), dict):
        return "the parent keeps no eligibility file"
    if meta.get("rules") != RULES or meta.get("purpose") != purpose:
        return "the parent was decided under other rules"
    a1 = datetime.fromisoformat(str(meta["as_of"]))
    n1 = datetime.fromisoformat(str(meta["built_at"]))
    if as_of < a1 or now < n1:
        return "the as-of or build time is before the parent's"
    if policy_fingerprint(ps, now) != meta.get("policies"):
        return "a policy version was published, changed or came into force since the parent"
    if _in_force(ps, as_of) != meta.get("policy_at_as_of"):
        return "another policy version is in force at the as-of time than at the parent's"
    return None


def changed_members(
    db: Database,
    purpose: str,
    windows: Iterable[tuple[datetime, datetime]],
    marks: dict[str, int],
) -> set[str]:
    """Members with a row written after the parent's ``marks`` or effective or recorded
    in one of the ``(lo, hi]`` windows, and every member with a birth-date correction
    (:func:`optin.storage.history.changed_members`)."""
    with db.session() as s:
        return history.changed_members(s, purpose, windows, marks)


def _age_changed(members: list[tuple[str, Any]], pairs: list[tuple[date, date]]) -> set[str]:
    """Members whose age differs between the two dates of a pair. ``age_on(birth, b) -
    age_on(birth, a)`` depends on the birth date only through its (month, day), so it
    is worked out once per (month, day); a birth date is a :class:`date` or ISO text."""
    memo: dict[tuple[int, int], bool] = {}
    out: set[str] = set()
    for mid, birth in members:
        if birth is None:
            continue
        md = (
            (birth.month, birth.day)
            if isinstance(birth, date)
            else (int(birth[5:7]), int(birth[8:10]))
        )
        hit = memo.get(md)
        if hit is None:
            hit = memo[md] = any(
                (b.year - a.year) - ((b.month, b.day) < md) + ((a.month, a.day) < md) != 0
                for a, b in pairs
            )
        if hit:
            out.add(mid)
    return out


def incremental_eligibility(
    db: Database,
    settings: Settings,
    parent_path: Path,
    key_of: str,
    meta: dict[str, Any] | None,
    purpose: str,
    as_of: datetime,
    now: datetime,
) -> Delta:
    """The build's eligibility at (as_of, now), from the parent's file where it holds."""
    ps = policy_set(db)
    marks = history_watermarks(db)  # before anything is read or decided
    why = _why_all(meta, ps, purpose, as_of, now)
    table = None
    if why is None and meta is not None:
        table = inc.read_eligibility(parent_path, int(meta["members"]))
        if table is None:
            why = "the parent keeps no eligibility file"
    if why is not None or table is None or meta is None:
        elig = _eligibility(db, purpose, as_of, now)
        elig.watermarks = marks
        n = len(elig.proofs) + len(elig.reasons)
        return Delta(elig, n, n, why)

    a1 = datetime.fromisoformat(str(meta["as_of"]))
    n1 = datetime.fromisoformat(str(meta["built_at"]))
    with db.session() as s:  # raw values: ISO text on SQLite, dates on PostgreSQL
        members = history.member_birth_dates(s)
    changed = changed_members(db, purpose, [(a1, as_of), (n1, now)], meta["watermarks"])
    changed |= _age_changed(members, [(a1.date(), as_of.date()), (n1.date(), now.date())])
    ids = [m for m, _ in members]
    keys = inc.member_keys(ids, snapshot_key(settings, key_of, MEMBER_KEY))
    p_keys = table["member_key"].to_pylist()
    where = {k: j for j, k in enumerate(p_keys)}
    p_as_of = table["reason_as_of"].to_pylist()
    p_reason = table["reason"].to_pylist()
    fresh_ids = [m for m, k in zip(ids, keys, strict=True) if m in changed or k not in where]

    fresh = _eligibility(db, purpose, as_of, now, member_ids=fresh_ids)
    proofs = dict(fresh.proofs)
    reasons = dict(fresh.reasons)
    opt_out = set(fresh.opt_out_at_as_of)
    by_reason: Counter[str] = Counter(fresh.authors_at_as_of)
    unresolved: set[str] = set()
    fresh_set = set(fresh_ids)
    used: set[int] = set()
    opt_out_reason = str(Reason.ELIGIBLE_OPT_OUT_DEFAULT)
    for m, k in zip(ids, keys, strict=True):
        j = where.get(k)
        if j is not None:
            used.add(j)
        if m in fresh_set or j is None:
            continue
        ra, r = p_as_of[j], p_reason[j]
        by_reason[ra] += 1
        if ra == opt_out_reason:
            opt_out.add(m)
        if r:
            reasons[m] = r
        else:
            proofs[m] = (None, None)  # resolved when needed (IncrementalBuild)
            unresolved.add(m)
    # the digest names the parent's decisions and every change to them (deterministic
    # for the same data and times, so a killed build resumes under the same id)
    h = hashlib.sha256(f"since\x1f{meta['digest']}\n".encode())
    for m in sorted(fresh_set):
        ev, pv = fresh.proofs.get(m, (None, None))
        h.update(f"{m}\x1f{fresh.reason_at_as_of(m)}\x1f{fresh.reasons.get(m, '')}".encode())
        h.update(f"\x1f{ev}\x1f{pv}\n".encode())
    for j in sorted(set(range(len(p_keys))) - used):  # members no longer in the table
        h.update(b"gone\x1f" + p_keys[j].hex().encode() + b"\n")
    elig = _Eligibility(proofs, reasons, by_reason, h.hexdigest(), opt_out, unresolved, marks)
    return Delta(elig, len(ids), len(fresh_ids))


def resolve_proofs(
    db: Database,
    elig: _Eligibility,
    authors: Iterable[str],
    purpose: str,
    as_of: datetime,
    now: datetime,
) -> None:
    """Decide again the unresolved eligible ``authors`` (authors of new records) and set
    their proofs; IntegrityError when one is not eligible after all."""
    from optin.errors import IntegrityError

    want = sorted(set(authors) & elig.unresolved)
    if not want:
        return
    again = _eligibility(db, purpose, as_of, now, member_ids=want)
    missing = [m for m in want if m not in again.proofs]
    if missing:
        raise IntegrityError(
            f"{len(missing)} author(s) of new records: eligible by the parent's eligibility "
            "file, not by a fresh decision; rebuild without --since"
        )
    for m in want:
        elig.proofs[m] = again.proofs[m]
        elig.unresolved.discard(m)


__all__ = [
    "Delta",
    "changed_members",
    "eligibility_meta",
    "incremental_eligibility",
    "keep_eligibility",
    "policy_fingerprint",
    "resolve_proofs",
]
