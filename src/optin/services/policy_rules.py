"""Policy versions from their stored fields, and the one unknown-purpose rule: the part
of :mod:`optin.services.policy` that imports no storage, shared with the read-only
SQLite path (:mod:`optin.services.quick`)."""

from __future__ import annotations

import json
import threading
from datetime import datetime

from optin.domain.eligibility import PolicySet
from optin.domain.model import PolicyVersion, Purpose
from optin.domain.policy import parse_policy
from optin.errors import NotFoundError

_lock = threading.Lock()
_parsed: dict[tuple[int, str, datetime, str | None, datetime | None], PolicyVersion] = {}


def parse_version(
    version: int,
    sha256: str,
    effective_at: datetime,
    material: str | None,
    in_force_at: datetime | None,
    document: str,
) -> PolicyVersion:
    """A stored policy version (its row's fields) parsed, once per process (cached on
    the version's identity)."""
    key = (version, sha256, effective_at, material, in_force_at)
    with _lock:
        hit = _parsed.get(key)
    if hit is not None:
        return hit
    pv = parse_policy(
        document,
        version=version,
        effective_at=effective_at,
        material=frozenset(json.loads(material or "[]")),
        source=f"policy version {version}",
        in_force_at=in_force_at,
    )
    with _lock:
        _parsed[key] = pv
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


__all__ = ["parse_version", "require_purpose"]
