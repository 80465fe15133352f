"""Test data factories (one module, shared by every area).

``add_member`` inserts a member with a country and an account status history;
``add_members`` does it in bulk. Times default to :data:`T0` (2024-02-01 UTC, after the
default policy's effective time 2024-01-01).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from optin.storage.database import Database
from optin.storage.models import MemberCountryRow, MemberRow, MemberStatusRow

T0 = datetime(2024, 2, 1, tzinfo=UTC)
ADULT = date(1990, 5, 17)
MINOR = date(2015, 5, 17)


def add_member(
    db: Database,
    member_id: str = "m1",
    *,
    country: str | None = "US",
    countries: Sequence[tuple[datetime, str]] | None = None,
    birth_date: date | None = ADULT,
    joined_at: datetime = T0,
    statuses: Sequence[tuple[datetime, str]] | None = None,
    handle: str | None = None,
    display_name: str | None = None,
    email: str | None = None,
) -> str:
    """Insert one member. ``countries``/``statuses`` override the single country/active."""
    add_members(
        db,
        [
            dict(
                id=member_id,
                country=country,
                countries=countries,
                birth_date=birth_date,
                joined_at=joined_at,
                statuses=statuses,
                handle=handle,
                display_name=display_name,
                email=email,
            )
        ],
    )
    return member_id


def add_members(db: Database, specs: Iterable[dict[str, Any]]) -> list[str]:
    """Insert many members; each spec takes the keyword arguments of :func:`add_member`."""
    members, countries, statuses = [], [], []
    ids = []
    for spec in specs:
        mid = spec["id"]
        ids.append(mid)
        joined = spec.get("joined_at") or T0
        members.append(
            {
                "id": mid,
                "handle": spec.get("handle") or f"h-{mid}",
                "display_name": spec.get("display_name") or f"Member {mid}",
                "email": spec.get("email"),
                "birth_date": spec.get("birth_date", ADULT),
                "joined_at": joined,
                "role": "member",
                "password_hash": None,
                "erased_at": None,
            }
        )
        cs = spec.get("countries")
        if cs is None:
            c = spec.get("country", "US")
            cs = [(joined, c)] if c is not None else []
        countries.extend({"member_id": mid, "since": t, "country": c} for t, c in cs)
        ss = spec.get("statuses")
        if ss is None:
            ss = [(joined, "active")]
        statuses.extend({"member_id": mid, "since": t, "status": s} for t, s in ss)
    with db.session() as s:
        if members:
            s.execute(MemberRow.__table__.insert(), members)
        if countries:
            s.execute(MemberCountryRow.__table__.insert(), countries)
        if statuses:
            s.execute(MemberStatusRow.__table__.insert(), statuses)
    return ids


def add_content(
    db: Database,
    author_id: str,
    content_id: str,
    text: str,
    *,
    kind: str = "post",
    visibility: str = "public",
    created_at: datetime = T0,
    deleted_at: datetime | None = None,
) -> str:
    """Insert one content item."""
    from optin.storage.models import ContentRow

    with db.session() as s:
        s.add(
            ContentRow(
                id=content_id,
                author_id=author_id,
                kind=kind,
                visibility=visibility,
                text=text,
                language="en",
                created_at=created_at,
                deleted_at=deleted_at,
            )
        )
    return content_id
