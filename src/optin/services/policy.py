"""Publish and read policy versions.

Versions are numbered 1, 2, 3 ... and never change once published; a new version is
effective no earlier than the one before it. :func:`policy_set` parses every version
once per process (cached on the versions' identities), so hot paths may call it freely.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from optin.domain.changes import (
    PolicyChange,
    changes_for_country,
    check_publish,
    describe_change,
    policy_changes,
    policy_text_diff,
    publish_requirements,
    regime_table,
    schedule_in_force,
)
from optin.domain.eligibility import PolicySet
from optin.domain.model import PolicyVersion, Regime
from optin.domain.policy import parse_policy
from optin.errors import ConflictError, InputError, NotFoundError
from optin.services.policy_rules import parse_version, require_purpose
from optin.storage.database import Database
from optin.storage.db import Session
from optin.storage.models import PolicyVersionRow
from optin.storage.repos import policies

_lock = threading.Lock()
_sets: dict[tuple[object, ...], PolicySet] = {}


def _parse_row(row: PolicyVersionRow) -> PolicyVersion:
    return parse_version(
        row.version, row.sha256, row.effective_at, row.material, row.in_force_at, row.document
    )


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


def _check_times(now: datetime, eff: datetime, allow_backdate: bool) -> None:
    if now.tzinfo is None:
        raise InputError("time must be timezone-aware", field="now", value=str(now))
    if eff.tzinfo is None:
        raise InputError("time must be timezone-aware", field="effective_at", value=str(eff))
    if not allow_backdate and eff < now - BACKDATE_TOLERANCE:
        raise ConflictError(
            f"effective_at {eff.isoformat()} is in the past; a policy version takes effect "
            "now or later, because a backdated version would change decisions already made. "
            "To record a historical version on purpose, allow backdating "
            "(`optin policy publish --allow-backdate`)"
        )


def _scheduled(
    previous: PolicyVersion | None,
    pv: PolicyVersion,
    ps: PolicySet,
    *,
    acknowledged: bool,
    source: str,
) -> datetime | None:
    """Check what publishing ``pv`` after ``previous`` requires (material purposes, the
    opt-out acknowledgement) and return its ``in_force_at`` (None: when effective)."""
    req = publish_requirements(policy_changes(previous, pv), notice_days=pv.notice_days, new=pv)
    check_publish(req, material=pv.material, acknowledged=acknowledged, source=source)
    pending = [v for v in ps.versions if v.in_force_from > pv.effective_at]
    return schedule_in_force(pv.effective_at, req, pending=pending)


def publish_policy(
    db: Database,
    text: str,
    *,
    now: datetime,
    effective_at: datetime | None = None,
    material: set[str] | frozenset[str] | None = None,
    source: str = "policy.toml",
    allow_backdate: bool = False,
    acknowledge_opt_out: bool = False,
    expect_version: int | None = None,
) -> PolicyVersion:
    """Validate and publish ``text`` as the next version.

    ``material`` names the purposes whose change invalidates earlier grants (None: use
    the ``material = true`` keys in the document). ``effective_at`` defaults to ``now``
    and must not be before the latest version's. A version never takes effect in the
    past (that would rewrite decisions already made) unless ``allow_backdate`` is set,
    for recording a platform's historical policies.

    Opt-out is never silent (:mod:`optin.domain.changes`): a purpose that becomes
    opt-out somewhere, uses more content or gains a recipient must be marked material
    (ConfigError otherwise); a version that includes members by default who were not
    before needs ``acknowledge_opt_out`` and is in force only after its notice period
    (``notice_days`` of the policy): the returned version's ``in_force_at``.

    ``expect_version``: publish only as this version number (ConflictError otherwise;
    ``init`` uses 1 so that two concurrent inits publish once).
    """
    eff = effective_at or now
    _check_times(now, eff, allow_backdate)
    mat = frozenset(material) if material is not None else None
    # validate before taking any lock; the version number is checked again below
    parse_policy(text, version=0, effective_at=eff, material=mat, source=source)
    with db.session() as s:
        policies.lock_publishers(s)
        latest = policies.latest(s)
        version = (latest.version + 1) if latest else 1
        if expect_version is not None and version != expect_version:
            raise ConflictError(
                f"policy version {version - 1} is already published; expected to publish "
                f"version {expect_version}"
            )
        if latest is not None and eff < latest.effective_at:
            raise ConflictError(
                f"effective_at {eff.isoformat()} is before version {latest.version}'s "
                f"effective time {latest.effective_at.isoformat()}; a new version must take "
                "effect at or after the latest one"
            )
        ps = PolicySet(_parse_row(r) for r in policies.all_versions(s))
        previous = ps.by_version(latest.version) if latest is not None else None
        pv = parse_policy(text, version=version, effective_at=eff, material=mat, source=source)
        in_force = _scheduled(previous, pv, ps, acknowledged=acknowledge_opt_out, source=source)
        pv = parse_policy(
            text,
            version=version,
            effective_at=eff,
            material=mat,
            source=source,
            in_force_at=in_force,
        )
        policies.add_version(
            s,
            version=version,
            effective_at=eff,
            published_at=now,
            document=text,
            sha256=pv.sha256,
            material=sorted(pv.material),
            summary=pv.summary,
            in_force_at=in_force,
        )
    if pv.material:
        _propagate_material(db, sorted(pv.material), now)
    return pv


def regimes(pv: PolicyVersion) -> dict[str, object]:
    """Every regime of ``pv`` with the countries listed under it, and the default
    (which applies to every country not listed): ``{"default": "opt_in", "excluded":
    [...], "opt_in": [...], "opt_out": [...]}``."""
    table = regime_table(pv)
    return {
        "default": str(pv.jurisdictions.default_regime),
        **{str(r): list(table[r]) for r in Regime},
    }


def policy_diff(db: Database, version: int, against: int | None = None) -> dict[str, Any]:
    """What ``version`` changes against ``against`` (default: the version before it):
    the typed changes (``changes``: dicts, ``sentences``: plain text) and the unified
    diff of the two documents (``text_diff``; against nothing for version 1)."""
    new = get_policy(db, version)
    base = against if against is not None else version - 1
    old = get_policy(db, base) if base >= 1 else None
    changes = policy_changes(old, new)
    old_text = policy_document(db, old.version) if old is not None else ""
    in_force = new.in_force_from
    return {
        "version": new.version,
        "against": old.version if old is not None else None,
        "in_force_at": in_force,
        "changes": [c.to_dict() for c in changes],
        "sentences": [describe_change(c, in_force_at=in_force) for c in changes],
        "text_diff": policy_text_diff(
            old_text,
            policy_document(db, new.version),
            old_label=f"v{old.version}" if old is not None else "(none)",
            new_label=f"v{new.version}",
        ),
    }


def _previous(ps: PolicySet, pv: PolicyVersion) -> PolicyVersion | None:
    older = [v for v in ps.versions if v.version < pv.version]
    return max(older, key=lambda v: v.version) if older else None


def _material_sentence(pv: PolicyVersion, pid: str) -> str:
    title = pv.purposes[pid].title if pid in pv.purposes else pid
    return (
        f"From {pv.in_force_from.date().isoformat()}, a consent given under an earlier "
        f"version for '{title}' no longer counts, because its terms change materially."
    )


def pending_notices(ps: PolicySet, country: str | None, at: datetime) -> list[dict[str, object]]:
    """The versions in their notice period at ``at`` that change something for a member
    living in ``country``: ``{"version", "in_force_at", "changes", "sentences"}`` each,
    the sentences saying exactly what changes and from when (for the banner): the
    changes that concern the country, then the purposes whose earlier consents stop
    counting (material)."""
    out: list[dict[str, object]] = []
    for pv in ps.pending(at):
        mine: list[PolicyChange] = changes_for_country(
            policy_changes(_previous(ps, pv), pv), country, pv
        )
        sentences = [describe_change(c, in_force_at=pv.in_force_from) for c in mine]
        sentences += [_material_sentence(pv, pid) for pid in sorted(pv.material)]
        if not sentences:
            continue
        out.append(
            {
                "version": pv.version,
                "in_force_at": pv.in_force_from,
                "changes": [c.to_dict() for c in mine],
                "sentences": sentences,
            }
        )
    return out


def policies_pending(db: Database, at: datetime) -> list[PolicyVersion]:
    """The versions published by ``at`` that are not yet in force (notice period)."""
    return list(policy_set(db).pending(at))


def version_changes(
    ps: PolicySet, version: int, *, purposes: frozenset[str] | set[str] | None = None
) -> list[str]:
    """Plain sentences for what ``version`` changed against the version before it (only
    for ``purposes`` when given): the re-consent banner says what changed, e.g. the
    added provider, not only that something did."""
    pv = ps.by_version(version)
    if pv is None:
        return []
    return [
        describe_change(c, in_force_at=pv.in_force_from)
        for c in policy_changes(_previous(ps, pv), pv)
        if purposes is None or c.purpose in purposes
    ]


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
    "pending_notices",
    "policies_pending",
    "policy_diff",
    "policy_document",
    "policy_set",
    "policy_set_in",
    "publish_policy",
    "regimes",
    "require_purpose",
    "version_changes",
    "version_listing",
]
