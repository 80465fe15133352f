"""SQL for the login rate limit (table ``login_failures``): one row per failed login,
deleted once it is older than the limit's window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from optin.storage.models import LoginFailureRow


def record_failure(
    session: Session, key_hash: str, at: datetime, *, expired_before: datetime
) -> None:
    """Add one failure for ``key_hash`` and drop every failure older than ``expired_before``
    (all keys: the table never holds more than one window of failures)."""
    session.execute(delete(LoginFailureRow).where(LoginFailureRow.at <= expired_before))
    session.add(LoginFailureRow(key_hash=key_hash, at=at))


def recent_failures(session: Session, key_hash: str, since: datetime, limit: int) -> list[datetime]:
    """The newest ``limit`` failure times of ``key_hash`` after ``since``, newest first."""
    return list(
        session.scalars(
            select(LoginFailureRow.at)
            .where(LoginFailureRow.key_hash == key_hash, LoginFailureRow.at > since)
            .order_by(LoginFailureRow.at.desc())
            .limit(limit)
        )
    )


def clear_failures(session: Session, key_hash: str) -> None:
    session.execute(delete(LoginFailureRow).where(LoginFailureRow.key_hash == key_hash))


def count_failures(session: Session) -> int:
    """Rows held (for tests and the operator)."""
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(LoginFailureRow)) or 0)
