"""Publish and read policy versions.

Versions are numbered 1, 2, 3 ... and never change once published; a new version is
effective no earlier than the one before it. :func:`policy_set` parses every version
once per process (cached on the versions' identities), so hot paths may call it freely.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

from optin.domain.eligibility import PolicySet
from optin.domain.model import PolicyVersion, Purpose
from optin.domain.policy import parse_policy
from optin.errors import ConflictError, InputError, NotFoundError
from optin.storage.database import Database
from optin.storage.db import Session
from optin.storage.models import PolicyVersionRow
from optin.storage.repos import policies

_lock = threading.Lock()
_parsed: dict[tuple[int, str, datetime, str], PolicyVersion] = {}
_sets: dict[tuple[object, ...], PolicySet] = {}


def _parse_row(row: PolicyVersionRow) -> PolicyVersion:
    key = (row.version, row.sha256, row.effective_at, row.material)
    with _lock:
        hit = _parsed.get(key)
    if hit is not None:
        return hit
    material = frozenset(json.loads(row.material or "[]"))
    pv = parse_policy(
        row.document,
        version=row.version,
        effective_at=row.effective_at,
        material=material,
        source=f"policy version {row.version}",
    )
    with _lock:
        _parsed[key] = pv
    return pv


def policy_set(db: Database) -> PolicySet:
    """All published versions as a :class:`PolicySet` (cached per process)."""
    with db.session() as s:
        return policy_set_in(s, db.url)


def policy_set_in(session: Session, url: str) -> PolicySet:
    """:func:`policy_set` inside the caller's open session (``url`` keys the cache)."""
    key: tuple[object, ...] = (url, *policies.identities(session))
    with _lock:
        hit = _sets.get(key)
    if hit is not None:
        return hit
    ps = PolicySet(_parse_row(r) for r in policies.all_versions(session))
    with _lock:
        if len(_sets) > 64:
            _sets.clear()
        _sets[key] = ps
    return ps


def current_policy(db: Database, at: datetime) -> PolicyVersion:
    """The version in force at ``at``; NotFoundError when none."""
    pv = policy_set(db).in_force(at)
    if pv is None:
        raise NotFoundError(
            f"no policy version was in force at {at.isoformat()}; "
            "publish one with `optin policy publish FILE`"
        )
    return pv


def require_purpose(
    ps: PolicySet, purpose: str, at: datetime, *, any_version: bool = False
) -> Purpose | None:
    """The one check for a purpose id: it must be defined by the version in force at
    ``at`` (or, with ``any_version``, by some published version: eligibility may be asked
    about a purpose a later version dropped). Anything else is a :class:`NotFoundError`
    (CLI exit 66, HTTP 404) naming the purpose and the valid ones.

    Returns the purpose as the version in force at ``at`` defines it (None when only an
    other version defines it).
    """
    pv = ps.in_force(at)
    if pv is not None and purpose in pv.purposes:
        return pv.purposes[purpose]
    if any_version and any(purpose in v.purposes for v in ps.versions):
        return None
    shown = pv or (ps.latest() if any_version else None)
    valid = ", ".join(sorted(shown.purposes)) if shown else "none (no policy in force)"
    raise NotFoundError(f"unknown purpose {purpose!r} at {at.isoformat()}; valid purposes: {valid}")


def get_policy(db: Database, version: int) -> PolicyVersion:
    pv = policy_set(db).by_version(version)
    if pv is None:
        versions = [v.version for v in policy_set(db).versions]
        raise NotFoundError(
            f"policy version {version} does not exist; published versions: {versions or 'none'}"
        )
    return pv


def policy_document(db: Database, version: int) -> str:
    """The TOML text of a published version."""
    with db.session() as s:
        row = policies.get_version(s, version)
        if row is None:
            raise NotFoundError(f"policy version {version} does not exist")
        return row.document


#: How far in the past an effective time may lie and still count as "now" (clock skew).
BACKDATE_TOLERANCE = timedelta(minutes=5)


def publish_policy(
    db: Database,
    text: str,
    *,
    now: datetime,
    effective_at: datetime | None = None,
    material: set[str] | frozenset[str] | None = None,
    source: str = "policy.toml",
    allow_backdate: bool = False,
) -> PolicyVersion:
    """Validate and publish ``text`` as the next version.

    ``material`` names the purposes whose change invalidates earlier grants (None: use
    the ``material = true`` keys in the document). ``effective_at`` defaults to ``now``
    and must not be before the latest version's. A version never takes effect in the
    past (that would rewrite decisions already made) unless ``allow_backdate`` is set,
    for recording a platform's historical policies.
    """
    published = now
    if published.tzinfo is None:
        raise InputError("time must be timezone-aware", field="now", value=str(published))
    eff = effective_at or published
    if eff.tzinfo is None:
        raise InputError("time must be timezone-aware", field="effective_at", value=str(eff))
    if not allow_backdate and eff < published - BACKDATE_TOLERANCE:
        raise ConflictError(
            f"effective_at {eff.isoformat()} is in the past; a policy version takes effect "
            "now or later, because a backdated version would change decisions already made. "
            "To record a historical version on purpose, allow backdating "
            "(`optin policy publish --allow-backdate`)"
        )
    # validate before taking any lock; the version number is checked again below
    parse_policy(
        text,
        version=0,
        effective_at=eff,
        material=frozenset(material) if material is not None else None,
        source=source,
    )
    with db.session() as s:
        policies.lock_publishers(s)
        latest = policies.latest(s)
        version = (latest.version + 1) if latest else 1
        if latest is not None and eff < latest.effective_at:
            raise ConflictError(
                f"effective_at {eff.isoformat()} is before version {latest.version}'s "
                f"effective time {latest.effective_at.isoformat()}; a new version must take "
                "effect at or after the latest one"
            )
        pv = parse_policy(
            text,
            version=version,
            effective_at=eff,
            material=frozenset(material) if material is not None else None,
            source=source,
        )
        policies.add_version(
            s,
            version=version,
            effective_at=eff,
            published_at=published,
            document=text,
            sha256=pv.sha256,
            material=sorted(pv.material),
            summary=pv.summary,
        )
    if pv.material:
        _propagate_material(db, sorted(pv.material), now)
    return pv


def _propagate_material(db: Database, purposes: list[str], now: datetime) -> None:
    """A material change of ``purposes``: re-judge the records of every live snapshot of
    them at ``now`` (a version that takes effect later is picked up by the next
    propagation of each member, or by ``optin lineage refresh``)."""
    from optin.services.propagation import propagate
    from optin.storage import lineage

    with db.session() as s:
        members = lineage.live_snapshot_authors(s, purposes)
    propagate(db, member_ids=members, reason="policy_change", now=now)


def version_listing(db: Database) -> list[dict[str, object]]:
    """Every published version, newest first (version, times, material, summary, sha256)."""
    with db.session() as s:
        return policies.version_listing(s)


__all__ = [
    "current_policy",
    "get_policy",
    "policy_document",
    "policy_set",
    "policy_set_in",
    "publish_policy",
    "require_purpose",
    "version_listing",
]
