"""Web sessions and API keys (the login and role columns of members live here too)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from optin.storage.members import member_by_handle
from optin.storage.models import ApiKeyRow, MemberRow, WebSessionRow

__all__ = [
    "add_api_key",
    "add_session",
    "get_api_key",
    "list_api_keys",
    "member_by_handle",
    "revoke_member_sessions",
    "revoke_session",
    "session_with_member",
]


def add_session(
    session: Session,
    *,
    id_hash: str,
    member_id: str,
    csrf_token: str,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    session.add(
        WebSessionRow(
            id_hash=id_hash,
            member_id=member_id,
            csrf_token=csrf_token,
            created_at=created_at,
            expires_at=expires_at,
            revoked=False,
        )
    )


def session_with_member(session: Session, id_hash: str) -> tuple[WebSessionRow, MemberRow] | None:
    row = session.execute(
        select(WebSessionRow, MemberRow)
        .join(MemberRow, MemberRow.id == WebSessionRow.member_id)
        .where(WebSessionRow.id_hash == id_hash)
    ).first()
    return None if row is None else (row[0], row[1])


def revoke_session(session: Session, id_hash: str) -> None:
    session.execute(
        update(WebSessionRow).where(WebSessionRow.id_hash == id_hash).values(revoked=True)
    )


def add_api_key(
    session: Session, *, key_id: str, name: str, key_hash: str, scopes: str, created_at: datetime
) -> None:
    session.add(
        ApiKeyRow(
            id=key_id,
            name=name,
            key_hash=key_hash,
            scopes=scopes,
            created_at=created_at,
            revoked_at=None,
        )
    )


def get_api_key(session: Session, key_id: str) -> ApiKeyRow | None:
    return session.get(ApiKeyRow, key_id)


def list_api_keys(session: Session) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))


def revoke_member_sessions(session: Session, member_id: str) -> None:
    """Revoke every web session of ``member_id`` (after a password change)."""
    session.execute(
        update(WebSessionRow).where(WebSessionRow.member_id == member_id).values(revoked=True)
    )
