"""Hypothesis strategies for random member histories and policy sets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from optin.domain import (
    AccountStatus,
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
