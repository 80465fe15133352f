"""Bulk writes for ``optin demo``: plain rows inserted in chunks through SQLAlchemy Core
(no ORM objects, so 100k members and 1M posts stay fast)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from optin.storage.models import ContentRow, MemberCountryRow, MemberRow, MemberStatusRow

CHUNK = 5000

Row = Mapping[str, Any]


def _t(model: type[Any]) -> Table:
    """The Core table of an ORM model (typed for mypy)."""
    return cast(Table, model.__table__)


MEMBERS = _t(MemberRow)
MEMBER_COUNTRIES = _t(MemberCountryRow)
MEMBER_STATUSES = _t(MemberStatusRow)
CONTENT = _t(ContentRow)


def member_count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(MemberRow)).scalar_one())


def insert_rows(session: Session, table: Table, rows: Iterable[Row], *, chunk: int = CHUNK) -> None:
    """Insert ``rows`` into ``table``, ``chunk`` rows per statement."""
    buf: list[Row] = []
    for r in rows:
        buf.append(r)
        if len(buf) >= chunk:
            session.execute(table.insert(), buf)
            buf = []
    if buf:
        session.execute(table.insert(), buf)


def set_password_hash(session: Session, member_id: str, password_hash: str) -> None:
    session.execute(
        MEMBERS.update().where(MemberRow.id == member_id).values(password_hash=password_hash)
    )
