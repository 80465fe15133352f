"""Member queries (existence, lookup by id or handle, country at a time, full histories
for eligibility) and the member lifecycle writes (dated, recorded country, status and
birth-date changes).

Histories carry each country/status change as ``(since, value, recorded_at)`` and
each birth-date correction with both its times: the domain ignores a change recorded
after the decision time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from optin.domain.model import AccountStatus, BirthDateCorrection, ConsentEvent, MemberHistory
from optin.storage.ledger import is_erasure, row_to_event
from optin.storage.models import (
    ConsentEventRow,
    MemberBirthDateRow,
    MemberCountryRow,
    MemberRow,
    MemberStatusRow,
    fold_handle,
)

_IN_CHUNK = 500


def get_member(session: Session, member_id: str) -> MemberRow | None:
    return session.get(MemberRow, member_id)


def member_id_for(session: Session, ref: str) -> str | None:
    """The id of the member whose id is ``ref``, or whose handle is ``ref`` (``@`` optional)."""
    if session.get(MemberRow, ref) is not None:
        return ref
    handle = ref[1:] if ref.startswith("@") else ref
    return session.scalar(
        select(MemberRow.id).where(MemberRow.handle_folded == fold_handle(handle))
    )


def country_at(session: Session, member_id: str, at: datetime) -> str | None:
    """The member's country at ``at`` (latest ``since`` <= at), or None."""
    return session.execute(
        select(MemberCountryRow.country)
        .where(MemberCountryRow.member_id == member_id, MemberCountryRow.since <= at)
        .order_by(MemberCountryRow.since.desc(), MemberCountryRow.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def member_histories(session: Session, member_ids: Iterable[str]) -> dict[str, MemberHistory]:
    """Histories (countries, statuses, all consent events) of the given members.

    Members that do not exist are absent from the result.
    """
    ids = sorted(set(member_ids))
    out: dict[str, MemberHistory] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = ids[i : i + _IN_CHUNK]
        births = dict(
            session.execute(
                select(MemberRow.id, MemberRow.birth_date).where(MemberRow.id.in_(chunk))
            ).all()
        )
        countries: dict[str, list[tuple[datetime, str, datetime | None]]] = defaultdict(list)
        for mid, since, country, recorded in session.execute(
            select(
                MemberCountryRow.member_id,
                MemberCountryRow.since,
                MemberCountryRow.country,
                MemberCountryRow.recorded_at,
            )
            .where(MemberCountryRow.member_id.in_(chunk))
            .order_by(MemberCountryRow.member_id, MemberCountryRow.since, MemberCountryRow.id)
        ):
            countries[mid].append((since, country, recorded))
        statuses: dict[str, list[tuple[datetime, AccountStatus, datetime | None]]] = defaultdict(
            list
        )
        for mid, since, status, recorded in session.execute(
            select(
                MemberStatusRow.member_id,
                MemberStatusRow.since,
                MemberStatusRow.status,
                MemberStatusRow.recorded_at,
            )
            .where(MemberStatusRow.member_id.in_(chunk))
            .order_by(MemberStatusRow.member_id, MemberStatusRow.since, MemberStatusRow.id)
        ):
            statuses[mid].append((since, AccountStatus(status), recorded))
        fixes: dict[str, list[BirthDateCorrection]] = defaultdict(list)
        for mid, eff, rec, birth, previous in session.execute(
            select(
                MemberBirthDateRow.member_id,
                MemberBirthDateRow.effective_at,
                MemberBirthDateRow.recorded_at,
                MemberBirthDateRow.birth_date,
                MemberBirthDateRow.previous,
            )
            .where(MemberBirthDateRow.member_id.in_(chunk))
            .order_by(MemberBirthDateRow.member_id, MemberBirthDateRow.id)
        ):
            fixes[mid].append(BirthDateCorrection(eff, rec, birth, previous))
        events: dict[str, list[ConsentEvent]] = defaultdict(list)
        for row in session.execute(
            select(
                ConsentEventRow.seq,
                ConsentEventRow.event_id,
                ConsentEventRow.member_id,
                ConsentEventRow.purpose,
                ConsentEventRow.action,
                ConsentEventRow.at,
                ConsentEventRow.recorded_at,
                ConsentEventRow.policy_version,
                ConsentEventRow.source,
            )
            .where(ConsentEventRow.member_id.in_(chunk))
            .order_by(ConsentEventRow.member_id, ConsentEventRow.at, ConsentEventRow.seq)
        ):
            if not is_erasure(row):  # an erasure's ledger entry is not a consent choice
                events[row.member_id].append(row_to_event(row))
        for mid, birth in births.items():
            out[mid] = MemberHistory(
                member_id=mid,
                birth_date=birth,
                countries=tuple(countries.get(mid, ())),
                statuses=tuple(statuses.get(mid, ())),
                events=tuple(events.get(mid, ())),
                birth_corrections=tuple(fixes.get(mid, ())),
            )
    return out


def member_history(session: Session, member_id: str) -> MemberHistory | None:
    return member_histories(session, [member_id]).get(member_id)


def iter_directory_entries(engine: Engine, *, chunk: int = 20_000) -> Iterator[tuple[str, str]]:
    """(display name, handle) of every member not erased, by id, streamed (erased members
    are in the directory as keyed hashes only: :mod:`optin.storage.erasure`)."""
    with engine.connect() as conn:
        result = conn.execute(
            select(MemberRow.display_name, MemberRow.handle)
            .where(MemberRow.erased_at.is_(None))
            .order_by(MemberRow.id)
            .execution_options(yield_per=chunk)
        )
        for row in result:
            yield row[0], row[1]


def member_by_handle(session: Session, handle: str) -> MemberRow | None:
    """The member whose handle equals ``handle`` case-insensitively."""
    return session.scalar(select(MemberRow).where(MemberRow.handle_folded == fold_handle(handle)))


def handle_owners(session: Session, handles: Iterable[str]) -> dict[str, tuple[str, str]]:
    """For each folded handle among ``handles`` that is taken: (member id, stored handle)."""
    folded = sorted({fold_handle(h) for h in handles})
    out: dict[str, tuple[str, str]] = {}
    for i in range(0, len(folded), _IN_CHUNK):
        for mid, handle, f in session.execute(
            select(MemberRow.id, MemberRow.handle, MemberRow.handle_folded).where(
                MemberRow.handle_folded.in_(folded[i : i + _IN_CHUNK])
            )
        ):
            out[f] = (mid, handle)
    return out


def joined_times(session: Session, member_ids: Iterable[str]) -> dict[str, datetime]:
    """``joined_at`` of each existing member among ``member_ids``."""
    ids = sorted(set(member_ids))
    out: dict[str, datetime] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        for mid, joined in session.execute(
            select(MemberRow.id, MemberRow.joined_at).where(
                MemberRow.id.in_(ids[i : i + _IN_CHUNK])
            )
        ):
            out[mid] = joined
    return out


# --------------------------------------------------------------------- lifecycle writes


@dataclass(frozen=True, slots=True)
class MemberChange:
    """One dated, recorded change of a member: ``kind`` is country, status or birth_date."""

    member_id: str
    kind: str
    value: str | None
    effective_at: datetime
    recorded_at: datetime
    source: str | None


def add_country(
    session: Session,
    member_id: str,
    country: str,
    *,
    since: datetime,
    recorded_at: datetime,
    source: str,
) -> None:
    session.add(
        MemberCountryRow(
            member_id=member_id,
            since=since,
            country=country,
            recorded_at=recorded_at,
            source=source,
        )
    )
    session.flush()


def add_status(
    session: Session,
    member_id: str,
    status: str,
    *,
    since: datetime,
    recorded_at: datetime,
    source: str,
) -> None:
    session.add(
        MemberStatusRow(
            member_id=member_id,
            since=since,
            status=status,
            recorded_at=recorded_at,
            source=source,
        )
    )
    session.flush()


def correct_birth_date(
    session: Session,
    member_id: str,
    birth_date: date | None,
    *,
    effective_at: datetime,
    recorded_at: datetime,
    source: str,
) -> None:
    """Record a birth-date correction and make it the member's current birth date."""
    previous = session.scalar(select(MemberRow.birth_date).where(MemberRow.id == member_id))
    session.add(
        MemberBirthDateRow(
            member_id=member_id,
            birth_date=birth_date,
            previous=previous,
            effective_at=effective_at,
            recorded_at=recorded_at,
            source=source,
        )
    )
    session.execute(
        update(MemberRow).where(MemberRow.id == member_id).values(birth_date=birth_date)
    )
    session.flush()


def member_changes(session: Session, member_id: str) -> list[MemberChange]:
    """Every dated change of the member (countries, statuses, birth dates), by
    (effective time, recorded time)."""
    out: list[MemberChange] = []
    for since, country, rec, src in session.execute(
        select(
            MemberCountryRow.since,
            MemberCountryRow.country,
            MemberCountryRow.recorded_at,
            MemberCountryRow.source,
        ).where(MemberCountryRow.member_id == member_id)
    ):
        out.append(MemberChange(member_id, "country", country, since, rec, src))
    for since, status, rec, src in session.execute(
        select(
            MemberStatusRow.since,
            MemberStatusRow.status,
            MemberStatusRow.recorded_at,
            MemberStatusRow.source,
        ).where(MemberStatusRow.member_id == member_id)
    ):
        out.append(MemberChange(member_id, "status", status, since, rec, src))
    for at, birth, rec, src in session.execute(
        select(
            MemberBirthDateRow.effective_at,
            MemberBirthDateRow.birth_date,
            MemberBirthDateRow.recorded_at,
            MemberBirthDateRow.source,
        ).where(MemberBirthDateRow.member_id == member_id)
    ):
        out.append(
            MemberChange(
                member_id, "birth_date", birth.isoformat() if birth else None, at, rec, src
            )
        )
    out.sort(key=lambda c: (c.effective_at, c.recorded_at, c.kind))
    return out


def has_change(
    session: Session, member_id: str, kind: str, value: str | None, at: datetime
) -> bool:
    """Whether the member already has this exact change (same kind, value and time)."""
    if kind == "country":
        q = select(func.count()).where(
            MemberCountryRow.member_id == member_id,
            MemberCountryRow.country == value,
            MemberCountryRow.since == at,
        )
    elif kind == "status":
        q = select(func.count()).where(
            MemberStatusRow.member_id == member_id,
            MemberStatusRow.status == value,
            MemberStatusRow.since == at,
        )
    else:
        q = select(func.count()).where(
            MemberBirthDateRow.member_id == member_id,
            MemberBirthDateRow.birth_date == (date.fromisoformat(value) if value else None),
            MemberBirthDateRow.effective_at == at,
        )
    return bool(session.scalar(q))


def list_member_rows(session: Session, *, limit: int, after: str | None = None) -> list[MemberRow]:
    """Members by id (keyset paging)."""
    q = select(MemberRow).order_by(MemberRow.id).limit(limit)
    if after is not None:
        q = q.where(MemberRow.id > after)
    return list(session.scalars(q))
