"""Hypothesis strategies for random member histories and policy sets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from optin.domain import (
    AccountStatus,
    BirthDateCorrection,
    ConsentAction,
    ConsentEvent,
    MemberHistory,
    PolicySet,
    default_policy_text,
    parse_policy,
)

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
PURPOSES = ("train_own_models", "share_with_providers")
COUNTRIES = ("US", "CA", "IN", "BR", "FR", "DE", "GB", "CH", "JP", "NG", "XX")


def at_offset(days: int) -> datetime:
    return EPOCH + timedelta(days=days)


times = st.integers(min_value=0, max_value=1000).map(at_offset)
#: decision times mostly after members joined (bitemporal_histories join by day 200)
later_times = st.integers(min_value=100, max_value=1100).map(at_offset)


@st.composite
def policy_sets(draw: st.DrawFn) -> PolicySet:
    text = default_policy_text()
    n = draw(st.integers(min_value=1, max_value=4))
    versions = []
    day = 0
    for v in range(1, n + 1):
        material = (
            frozenset()
            if v == 1
            else frozenset(draw(st.sets(st.sampled_from(PURPOSES), max_size=2)))
        )
        versions.append(
            parse_policy(text, version=v, effective_at=at_offset(day), material=material)
        )
        day += draw(st.integers(min_value=1, max_value=300))
    return PolicySet(versions)


@st.composite
def histories(draw: st.DrawFn, member_id: str = "m1") -> MemberHistory:
    birth = draw(
        st.one_of(st.none(), st.dates(min_value=date(1950, 1, 1), max_value=date(2012, 1, 1)))
    )
    joined = draw(times)
    statuses = [(joined, AccountStatus.ACTIVE)]
    if draw(st.booleans()):
        statuses.append((draw(times), draw(st.sampled_from(list(AccountStatus)))))
    countries = [(joined, draw(st.sampled_from(COUNTRIES)))]
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        countries.append((draw(times), draw(st.sampled_from(COUNTRIES))))
    events = []
    for i in range(draw(st.integers(min_value=0, max_value=8))):
        events.append(
            ConsentEvent(
                event_id=f"{member_id}-e{i}",
                member_id=member_id,
                purpose=draw(st.sampled_from(PURPOSES)),
                action=draw(st.sampled_from(list(ConsentAction))),
                at=draw(times),
                policy_version=draw(st.integers(min_value=1, max_value=4)),
                seq=i + 1,
            )
        )
    if not draw(st.booleans()):
        countries = [] if draw(st.booleans()) else countries
    return MemberHistory(member_id, birth, tuple(countries), tuple(statuses), tuple(events))


_TEXT = default_policy_text()
REGIME_TEXTS = (
    _TEXT,
    _TEXT.replace("opt_out = []", 'opt_out = ["BR", "US"]'),
    _TEXT.replace('"DE", ', "").replace("opt_in = []", 'opt_in = ["DE"]'),
    _TEXT.replace('"DE", ', "").replace("opt_out = []", 'opt_out = ["DE", "IN"]'),
    _TEXT.replace("excluded = [", 'excluded = ["US", "BR", ', 1),
    _TEXT.replace("minimum_age = 18", "minimum_age = 16"),
)


@st.composite
def regime_policy_sets(draw: st.DrawFn) -> PolicySet:
    """Versions whose regimes and minimum ages change, some with a notice period."""
    n = draw(st.integers(min_value=1, max_value=4))
    versions = []
    day = 0
    for v in range(1, n + 1):
        material = (
            frozenset()
            if v == 1
            else frozenset(draw(st.sets(st.sampled_from(PURPOSES), max_size=2)))
        )
        notice = draw(st.sampled_from((0, 0, 30)))
        versions.append(
            parse_policy(
                draw(st.sampled_from(REGIME_TEXTS)),
                version=v,
                effective_at=at_offset(day),
                material=material,
                in_force_at=at_offset(day + notice) if notice else None,
            )
        )
        day += draw(st.integers(min_value=1, max_value=300)) + notice
    return PolicySet(versions)


recorded_delays = st.one_of(
    st.none(), st.integers(min_value=0, max_value=400).map(lambda d: timedelta(days=d))
)


@st.composite
def bitemporal_histories(draw: st.DrawFn, member_id: str = "m1") -> MemberHistory:
    """Histories with moves and status changes (some recorded later), birthdays around
    the minimum age, birth-date corrections (recorded after the time they claim) and
    backdated consent events (recorded after the time they claim)."""
    birth = draw(
        st.one_of(
            st.none(),
            st.dates(min_value=date(1950, 1, 1), max_value=date(2012, 1, 1)),
            st.dates(min_value=date(2005, 1, 1), max_value=date(2009, 12, 31)),
        )
    )
    joined = draw(st.integers(min_value=0, max_value=200).map(at_offset))
    statuses: list[tuple[datetime, AccountStatus] | tuple[datetime, AccountStatus, datetime]] = [
        (joined, AccountStatus.ACTIVE)
    ]
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        statuses.append((draw(times), draw(st.sampled_from(list(AccountStatus)))))
    if draw(st.integers(min_value=0, max_value=3)) == 0:  # a status change recorded later
        since = draw(times)
        late = since + draw(st.integers(min_value=0, max_value=400).map(lambda d: timedelta(d)))
        statuses.append((since, draw(st.sampled_from(list(AccountStatus))), late))
    corrections = []
    current = birth
    for _ in range(draw(st.integers(min_value=0, max_value=2))):  # birth-date corrections
        eff = draw(times)
        rec = eff + draw(st.integers(min_value=0, max_value=400).map(lambda d: timedelta(d)))
        fixed = draw(
            st.one_of(
                st.dates(min_value=date(1950, 1, 1), max_value=date(2012, 1, 1)),
                st.dates(min_value=date(2005, 1, 1), max_value=date(2009, 12, 31)),
            )
        )
        corrections.append(BirthDateCorrection(eff, rec, fixed, current))
        current = fixed
    countries: list[tuple[datetime, str] | tuple[datetime, str, datetime | None]] = [
        (joined, draw(st.sampled_from(COUNTRIES)))
    ]
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        since = draw(times)
        delay = draw(recorded_delays)
        country = draw(st.sampled_from(COUNTRIES))
        countries.append((since, country) if delay is None else (since, country, since + delay))
    events = []
    for i in range(draw(st.integers(min_value=0, max_value=8))):
        at = draw(times)
        delay = draw(recorded_delays)
        events.append(
            ConsentEvent(
                event_id=f"{member_id}-e{i}",
                member_id=member_id,
                purpose=draw(st.sampled_from(PURPOSES)),
                action=draw(st.sampled_from(list(ConsentAction))),
                at=at,
                policy_version=draw(st.integers(min_value=1, max_value=4)),
                seq=i + 1,
                recorded_at=None if delay is None else at + delay,
            )
        )
    return MemberHistory(
        member_id,
        current,
        tuple(countries),
        tuple(statuses),
        tuple(events),
        tuple(corrections),
    )
