"""Keyset pages for exports: bounded memory, one query per page, in key order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from optin.domain.model import ERASURE_ACTION
from optin.storage.models import ConsentEventRow, ContentRow, MemberRow

_CONTENT = (
    ContentRow.id,
    ContentRow.author_id,
    ContentRow.kind,
    ContentRow.visibility,
    ContentRow.text,
    ContentRow.language,
    ContentRow.created_at,
    ContentRow.edited_at,
    ContentRow.deleted_at,
)
# seq is selected for paging; the exporter drops it
_CONSENTS = (
    ConsentEventRow.event_id,
    ConsentEventRow.member_id,
    ConsentEventRow.purpose,
    ConsentEventRow.action,
    ConsentEventRow.at,
    ConsentEventRow.policy_version,
    ConsentEventRow.source,
    ConsentEventRow.recorded_at,
    ConsentEventRow.seq,
)


def member_ids_after(session: Session, last: str | None, limit: int) -> list[str]:
    """Up to ``limit`` member ids greater than ``last`` (all from the start when None)."""
    q = select(MemberRow.id).order_by(MemberRow.id).limit(limit)
    if last is not None:
        q = q.where(MemberRow.id > last)
    return list(session.execute(q).scalars())


def _page(
    session: Session, key: Any, cols: tuple[Any, ...], last: Any, limit: int, *where: Any
) -> list[dict[str, Any]]:
    q = select(*cols).where(*where).order_by(key).limit(limit)
    if last is not None:
        q = q.where(key > last)
    return [{c.key: v for c, v in zip(cols, row, strict=True)} for row in session.execute(q).all()]


def content_after(session: Session, last: str | None, limit: int) -> list[dict[str, Any]]:
    """Content rows (export columns) with id greater than ``last``, by id."""
    return _page(session, ContentRow.id, _CONTENT, last, limit)


def consents_after(session: Session, last_seq: int | None, limit: int) -> list[dict[str, Any]]:
    """Consent events (export columns plus ``seq``) after ``last_seq``, in ledger order
    (erasure entries are not consent events: an import could not take them)."""
    return _page(
        session,
        ConsentEventRow.seq,
        _CONSENTS,
        last_seq,
        limit,
        ConsentEventRow.action != ERASURE_ACTION,
    )
