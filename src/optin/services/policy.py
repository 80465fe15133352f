"""Publish and read policy versions.

Versions are numbered 1, 2, 3 ... and never change once published; a new version is
effective no earlier than the one before it. :func:`policy_set` parses every version
once per process (cached on the versions' identities), so hot paths may call it freely.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from optin.domain.eligibility import PolicySet
from optin.domain.model import PolicyVersion
from optin.domain.policy import default_policy_text, parse_policy
from optin.errors import ConflictError, InputError, NotFoundError
from optin.services.database import DEFAULT_POLICY_EFFECTIVE_AT, Database
from optin.storage.models import PolicyVersionRow

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
        ident = tuple(
            s.execute(
                select(
                    PolicyVersionRow.version,
                    PolicyVersionRow.sha256,
                    PolicyVersionRow.effective_at,
                    PolicyVersionRow.material,
                ).order_by(PolicyVersionRow.version)
            ).all()
        )
        key: tuple[object, ...] = (db.url, *ident)
        with _lock:
            hit = _sets.get(key)
        if hit is not None:
            return hit
        rows = s.scalars(select(PolicyVersionRow).order_by(PolicyVersionRow.version)).all()
        ps = PolicySet(_parse_row(r) for r in rows)
    with _lock:
        if len(_sets) > 64:
            _sets.clear()
        _sets[key] = ps
    return ps


def current_policy(db: Database, at: datetime | None = None) -> PolicyVersion:
    """The version in force at ``at`` (default: now); NotFoundError when none."""
    when = at or datetime.now(UTC)
    pv = policy_set(db).in_force(when)
    if pv is None:
        raise NotFoundError(
            f"no policy version was in force at {when.isoformat()}; "
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
        row = s.get(PolicyVersionRow, version)
        if row is None:
            raise NotFoundError(f"policy version {version} does not exist")
        return row.document


#: How far in the past an effective time may lie and still count as "now" (clock skew).
BACKDATE_TOLERANCE = timedelta(minutes=5)


def publish_policy(
    db: Database,
    text: str,
    *,
    effective_at: datetime | None = None,
    material: set[str] | frozenset[str] | None = None,
    now: datetime | None = None,
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
    published = now or datetime.now(UTC)
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
        if s.get_bind().dialect.name == "postgresql":
            s.execute(select(func.pg_advisory_xact_lock(7_446_570)))  # serialise publishers
        latest = s.scalars(
            select(PolicyVersionRow).order_by(PolicyVersionRow.version.desc()).limit(1)
        ).first()
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
        s.add(
            PolicyVersionRow(
                version=version,
                effective_at=eff.astimezone(UTC),
                published_at=published.astimezone(UTC),
                document=text,
                sha256=pv.sha256,
                material=json.dumps(sorted(pv.material)),
                summary=pv.summary,
            )
        )
        s.flush()
    return pv


def publish_default_policy(db: Database) -> bool:
    """Publish the shipped policy as version 1 if there is no policy yet."""
    with db.session() as s:
        n = s.execute(select(func.count()).select_from(PolicyVersionRow)).scalar_one()
    if n:
        return False
    try:
        publish_policy(
            db,
            default_policy_text(),
            effective_at=DEFAULT_POLICY_EFFECTIVE_AT,
            source="default_policy.toml",
            allow_backdate=True,  # the first version; no decision predates it
        )
    except ConflictError:
        return False
    return True


def purposes_hint(db: Database, at: datetime | None = None) -> str:
    """'valid purposes: a, b' for error messages."""
    try:
        pv = current_policy(db, at)
    except NotFoundError:
        return "no policy is in force"
    return "valid purposes: " + ", ".join(sorted(pv.purposes))


__all__ = [
    "current_policy",
    "get_policy",
    "policy_document",
    "policy_set",
    "publish_default_policy",
    "publish_policy",
    "purposes_hint",
]
