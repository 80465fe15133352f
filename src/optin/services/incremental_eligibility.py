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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import optin
from optin.domain.eligibility import PolicySet, Reason
from optin.errors import IntegrityError
from optin.pipeline import incremental as inc
from optin.pipeline.executors import Executor
from optin.services.policy import policy_set
from optin.services.snapshot_partitions import (
    PartitionedEligibility,
    keep_eligibility_partitioned,
)
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
    db: Database,
    elig: _Eligibility | PartitionedEligibility,
    purpose: str,
    as_of: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The ``eligibility`` entry of ``meta.json`` for a build decided at (as_of, now)."""
    ps = policy_set(db)
    members = (
        elig.members
        if isinstance(elig, PartitionedEligibility)
        else len(elig.proofs) + len(elig.reasons)
    )
    return {
        "purpose": purpose,
        "as_of": as_of.isoformat(),
        "built_at": now.isoformat(),
        "policies": policy_fingerprint(ps, now),
        "policy_at_as_of": _in_force(ps, as_of),
        "rules": RULES,
        "digest": elig.digest,
        "members": members,
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
    rows: pa.Table | None = None,
) -> dict[str, Any]:
    """Write the eligibility file beside a build's shards; its meta entry. ``rows``: the
    file's rows when already known (:attr:`Delta.table`), else keyed from ``elig``."""
    if rows is None:
        members = sorted([*elig.proofs, *elig.reasons])
        keys = inc.member_keys(members, snapshot_key(settings, key_of, MEMBER_KEY))
        rows = pa.table(
            [
                pa.array(keys, pa.binary(16)),
                pa.array([elig.reason_at_as_of(m) for m in members], pa.string()),
                pa.array([elig.reasons.get(m, "") for m in members], pa.string()),
            ],
            schema=inc.ELIGIBILITY_SCHEMA,
        )
    if rows.num_rows != len(elig.proofs) + len(elig.reasons):
        raise IntegrityError(
            f"eligibility file of {rows.num_rows} rows for "
            f"{len(elig.proofs) + len(elig.reasons)} members decided"
        )
    inc.write_eligibility(snapshot, rows)
    return eligibility_meta(db, elig, purpose, as_of, now)


def keep_eligibility_on_workers(
    db: Database,
    settings: Settings,
    executor: Executor,
    snapshot: Path,
    work: Path,
    key_of: str,
    elig: PartitionedEligibility,
    purpose: str,
    as_of: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The eligibility file of a build that planned on the workers (keyed there, one
    member partition at a time); its meta entry."""
    keep_eligibility_partitioned(
        executor, elig, snapshot_key(settings, key_of, MEMBER_KEY), snapshot, work
    )
    return eligibility_meta(db, elig, purpose, as_of, now)


@dataclass
class Delta:
    """An incremental build's eligibility and how it was reached."""

    eligibility: _Eligibility
    members: int
    decided: int  # members decided by this build (all of them when ``why_all``)
    why_all: str | None = None
    #: the rows of this build's eligibility file when decided from the parent's (the
    #: parent's rows of the members kept, the fresh decisions), else None
    table: pa.Table | None = None

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


def _birthdays_between(pairs: list[tuple[date, date]]) -> list[tuple[int, int]]:
    """The (month, day) birthdays on which a member's age differs between the two dates
    of a pair. ``age_on(birth, b) - age_on(birth, a)`` depends on the birth date only
    through its (month, day), so each of the 366 is worked out once; the members born on
    them are selected by the database (``storage.history.members_born_on``)."""
    out = []
    for md in ((m, d) for m in range(1, 13) for d in range(1, 32)):
        try:
            date(2000, *md)  # a leap year: 29 February is a birthday
        except ValueError:
            continue
        if any(
            (b.year - a.year) - ((b.month, b.day) < md) + ((a.month, a.day) < md) != 0
            for a, b in pairs
        ):
            out.append(md)
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
    changed = changed_members(db, purpose, [(a1, as_of), (n1, now)], meta["watermarks"])
    birthdays = _birthdays_between([(a1.date(), as_of.date()), (n1.date(), now.date())])
    with db.session() as s:
        changed |= history.members_born_on(s, birthdays)
        ids = history.member_ids(s)
    # every member's key, found among the parent's keys by Arrow (no per-member dict)
    keys = pa.array(inc.member_keys(ids, snapshot_key(settings, key_of, MEMBER_KEY)), pa.binary(16))
    p_keys = table["member_key"].combine_chunks()
    j = pc.index_in(keys, value_set=p_keys)  # the member's parent row, null: new
    ids_arr = pa.array(ids, pa.string())
    fresh_mask = pc.or_(
        pc.is_null(j), pc.is_in(ids_arr, value_set=pa.array(sorted(changed), pa.string()))
    )
    fresh_ids = ids_arr.filter(fresh_mask).to_pylist()
    fresh = _eligibility(db, purpose, as_of, now, member_ids=fresh_ids)

    # the others: the parent's decisions, taken column-wise
    keep = pc.invert(fresh_mask)
    kj = j.filter(keep)
    k_ids = ids_arr.filter(keep)
    k_as_of = table["reason_as_of"].combine_chunks().take(kj)
    k_reason = table["reason"].combine_chunks().take(kj)
    by_reason: Counter[str] = Counter(fresh.authors_at_as_of)
    for r in pc.value_counts(k_as_of).to_pylist():
        by_reason[r["values"]] += r["counts"]
    opt_out = set(fresh.opt_out_at_as_of)
    opt_out.update(
        k_ids.filter(pc.equal(k_as_of, str(Reason.ELIGIBLE_OPT_OUT_DEFAULT))).to_pylist()
    )
    why = pc.not_equal(k_reason, "")
    reasons = dict(fresh.reasons)
    reasons.update(
        zip(k_ids.filter(why).to_pylist(), k_reason.filter(why).to_pylist(), strict=True)
    )
    unresolved = set(k_ids.filter(pc.invert(why)).to_pylist())
    proofs = dict(fresh.proofs)
    proofs.update(dict.fromkeys(unresolved, (None, None)))  # resolved when needed
    # the digest names the parent's decisions and every change to them (deterministic
    # for the same data and times, so a killed build resumes under the same id)
    h = hashlib.sha256(f"since\x1f{meta['digest']}\n".encode())
    fresh_set = set(fresh_ids)
    for m in sorted(fresh_set):
        ev, pv = fresh.proofs.get(m, (None, None))
        h.update(f"{m}\x1f{fresh.reason_at_as_of(m)}\x1f{fresh.reasons.get(m, '')}".encode())
        h.update(f"\x1f{ev}\x1f{pv}\n".encode())
    matched = np.zeros(len(p_keys), dtype=bool)
    matched[pc.drop_null(j).to_numpy(zero_copy_only=False)] = True
    gone = np.flatnonzero(~matched)
    for g in gone.tolist():  # members no longer in the table (in the parent's row order)
        h.update(b"gone\x1f" + p_keys[g].as_py().hex().encode() + b"\n")
    elig = _Eligibility(proofs, reasons, by_reason, h.hexdigest(), opt_out, unresolved, marks)
    # this build's eligibility file: the parent's rows of the members it kept, the fresh
    # members' decisions (keep_eligibility's rows, without keying every member again)
    fk = keys.filter(fresh_mask)
    kept_file = pa.concat_tables(
        [
            pa.table([keys.filter(keep), k_as_of, k_reason], schema=inc.ELIGIBILITY_SCHEMA),
            pa.table(
                [
                    fk,
                    pa.array([fresh.reason_at_as_of(m) for m in fresh_ids], pa.string()),
                    pa.array([fresh.reasons.get(m, "") for m in fresh_ids], pa.string()),
                ],
                schema=inc.ELIGIBILITY_SCHEMA,
            ),
        ]
    )
    return Delta(elig, len(ids), len(fresh_ids), table=kept_file)


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
    "keep_eligibility_on_workers",
    "policy_fingerprint",
    "resolve_proofs",
]
