"""Member queries: existence, country at a time, full histories for eligibility."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from optin.domain.model import AccountStatus, ConsentEvent, MemberHistory
from optin.storage.ledger import row_to_event
from optin.storage.models import ConsentEventRow, MemberCountryRow, MemberRow, MemberStatusRow

_IN_CHUNK = 500


def get_member(session: Session, member_id: str) -> MemberRow | None:
    return session.get(MemberRow, member_id)


def member_id_for(session: Session, ref: str) -> str | None:
    """The id of the member whose id is ``ref``, or whose handle is ``ref`` (``@`` optional)."""
    if session.get(MemberRow, ref) is not None:
        return ref
    handle = ref[1:] if ref.startswith("@") else ref
    return session.scalar(select(MemberRow.id).where(MemberRow.handle == handle))


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
        countries: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for mid, since, country in session.execute(
            select(MemberCountryRow.member_id, MemberCountryRow.since, MemberCountryRow.country)
            .where(MemberCountryRow.member_id.in_(chunk))
            .order_by(MemberCountryRow.member_id, MemberCountryRow.since, MemberCountryRow.id)
        ):
            countries[mid].append((since, country))
        statuses: dict[str, list[tuple[datetime, AccountStatus]]] = defaultdict(list)
        for mid, since, status in session.execute(
            select(MemberStatusRow.member_id, MemberStatusRow.since, MemberStatusRow.status)
            .where(MemberStatusRow.member_id.in_(chunk))
            .order_by(MemberStatusRow.member_id, MemberStatusRow.since, MemberStatusRow.id)
        ):
            statuses[mid].append((since, AccountStatus(status)))
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
            events[row.member_id].append(row_to_event(row))
        for mid, birth in births.items():
            out[mid] = MemberHistory(
                member_id=mid,
                birth_date=birth,
                countries=tuple(countries.get(mid, ())),
                statuses=tuple(statuses.get(mid, ())),
                events=tuple(events.get(mid, ())),
            )
    return out


def member_history(session: Session, member_id: str) -> MemberHistory | None:
    return member_histories(session, [member_id]).get(member_id)


def iter_directory_entries(engine: Engine, *, chunk: int = 20_000) -> Iterator[tuple[str, str]]:
    """(display name, handle) of every member, by id, streamed."""
    with engine.connect() as conn:
        result = conn.execute(
            select(MemberRow.display_name, MemberRow.handle)
            .order_by(MemberRow.id)
            .execution_options(yield_per=chunk)
        )
        for row in result:
            yield row[0], row[1]


def member_by_handle(session: Session, handle: str) -> MemberRow | None:
    return session.scalar(select(MemberRow).where(MemberRow.handle == handle))
