"""Policy version rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from optin.storage.models import PolicyVersionRow

#: A policy set's identity: (version, sha256, effective_at, material, in_force_at) per
#: version.
Identity = tuple[tuple[Any, ...], ...]


def identities(session: Session) -> Identity:
    """(version, sha256, effective_at, material, in_force_at) of every version, in version order."""
    return tuple(
        tuple(r)
        for r in session.execute(
            select(
                PolicyVersionRow.version,
                PolicyVersionRow.sha256,
                PolicyVersionRow.effective_at,
                PolicyVersionRow.material,
                PolicyVersionRow.in_force_at,
            ).order_by(PolicyVersionRow.version)
        ).all()
    )


def all_versions(session: Session, *, newest_first: bool = False) -> Sequence[PolicyVersionRow]:
    order = PolicyVersionRow.version.desc() if newest_first else PolicyVersionRow.version
    return session.scalars(select(PolicyVersionRow).order_by(order)).all()


def get_version(session: Session, version: int) -> PolicyVersionRow | None:
    return session.get(PolicyVersionRow, version)


def count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(PolicyVersionRow)).scalar_one())


def lock_publishers(session: Session) -> None:
    """Serialise publishers for the rest of the transaction (PostgreSQL advisory lock;
    SQLite's single writer already serialises them)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(7_446_570)))


def latest(session: Session) -> PolicyVersionRow | None:
    return session.scalars(
        select(PolicyVersionRow).order_by(PolicyVersionRow.version.desc()).limit(1)
    ).first()


def add_version(
    session: Session,
    *,
    version: int,
    effective_at: datetime,
    published_at: datetime,
    document: str,
    sha256: str,
    material: Sequence[str],
    summary: str,
    in_force_at: datetime | None = None,
) -> None:
    session.add(
        PolicyVersionRow(
            version=version,
            effective_at=effective_at.astimezone(UTC),
            published_at=published_at.astimezone(UTC),
            document=document,
            sha256=sha256,
            material=json.dumps(sorted(material)),
            summary=summary,
            in_force_at=in_force_at.astimezone(UTC) if in_force_at is not None else None,
        )
    )
    session.flush()


def version_listing(session: Session) -> list[dict[str, Any]]:
    """Every version newest first, as the admin policy page lists them."""
    return [
        {
            "version": v.version,
            "effective_at": v.effective_at,
            "published_at": v.published_at,
            "in_force_at": v.in_force_at or v.effective_at,
            "material": json.loads(v.material or "[]"),
            "summary": v.summary,
            "sha256": v.sha256,
        }
        for v in all_versions(session, newest_first=True)
    ]
