"""Invariants of point-in-time eligibility, over random histories (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from optin.domain import (
    ConsentAction,
    ConsentEvent,
    MemberHistory,
    Reason,
    decide_bulk,
    eligibility,
    project,
)
from optin.domain.countries import EEA_NON_EU, EU
from optin.domain.eligibility import age_on
from tests.domain.strategies import PURPOSES, histories, policy_sets, times

EXCLUDED = EU | EEA_NON_EU | {"CH", "GB"}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(histories(), min_size=1, max_size=6), policy_sets(), times, st.sampled_from(PURPOSES)
)
def test_bulk_equals_per_member(hs: list[MemberHistory], policies, at, purpose) -> None:
    hs = [replace(h, member_id=f"m{i}") for i, h in enumerate(hs)]
    bulk = list(decide_bulk((project(h, purpose, at) for h in hs), purpose, at, policies))
    single = [eligibility(h, purpose, at, policies) for h in hs]
    assert bulk == single


@settings(max_examples=200, deadline=None)
@given(
    histories(),
    policy_sets(),
    times,
    st.sampled_from(PURPOSES),
    st.sampled_from(list(ConsentAction)),
    st.integers(min_value=1, max_value=400),
)
def test_when_event_after_t_then_decision_at_t_unchanged(h, policies, at, purpose, action, d):
    before = eligibility(h, purpose, at, policies)
    late = ConsentEvent("late", h.member_id, purpose, action, at + timedelta(days=d), 1, seq=10_000)
    after = eligibility(replace(h, events=(*h.events, late)), purpose, at, policies)
    assert before == after


@settings(max_examples=300, deadline=None)
@given(histories(), policy_sets(), times, st.sampled_from(PURPOSES))
def test_excluded_jurisdictions_and_minors_never_eligible(h, policies, at, purpose):
    d = eligibility(h, purpose, at, policies)
    state = project(h, purpose, at)
    if state.country in EXCLUDED:
        assert not d.eligible
        assert d.reason in {
            Reason.EXCLUDED_JURISDICTION,
            Reason.NOT_A_MEMBER,
            Reason.ACCOUNT_CLOSED,
            Reason.ACCOUNT_SUSPENDED,
            Reason.ERASED,
        }
    if state.birth_date is not None and age_on(state.birth_date, at.date()) < 18:
        assert not d.eligible
    if state.birth_date is None:
        assert not d.eligible


@settings(max_examples=200, deadline=None)
@given(
    histories(),
    policy_sets(),
    times,
    st.sampled_from(PURPOSES),
    st.integers(min_value=0, max_value=100),
)
def test_when_withdrawal_follows_grant_then_not_eligible(h, policies, at, purpose, gap):
    grant_at = at - timedelta(days=gap + 1)
    ev_g = ConsentEvent("g", h.member_id, purpose, ConsentAction.GRANT, grant_at, 99, seq=500)
    ev_w = ConsentEvent(
        "w",
        h.member_id,
        purpose,
        ConsentAction.WITHDRAW,
        grant_at + timedelta(days=gap // 2),
        99,
        seq=501,
    )
    w_at = ev_w.at
    # keep the member's other events, except later ones for this purpose (a re-grant after
    # the withdrawal rightly counts)
    others = tuple(e for e in h.events if e.purpose != purpose or e.at < w_at)
    h2 = replace(h, events=(*others, ev_g, ev_w))
    d = eligibility(h2, purpose, at, policies)
    # the latest event for the purpose is the withdrawal
    assert not d.eligible
    assert d.reason is not Reason.ELIGIBLE


@settings(max_examples=200, deadline=None)
@given(histories(), policy_sets(), times, st.sampled_from(PURPOSES))
def test_when_material_change_after_grant_then_grant_no_longer_counts(h, policies, at, purpose):
    d = eligibility(h, purpose, at, policies)
    if d.reason is Reason.ELIGIBLE:
        required = policies.required_version(purpose, at)
        assert d.policy_version is not None
        assert required is None or d.policy_version >= required
    # a grant under version 0 is always stale once any material change for the purpose exists
    required = policies.required_version(purpose, at)
    if required is not None:
        old = ConsentEvent("old", h.member_id, purpose, ConsentAction.GRANT, at, 0, seq=9_999)
        d2 = eligibility(replace(h, events=(*h.events, old)), purpose, at, policies)
        assert d2.reason is not Reason.ELIGIBLE


@settings(max_examples=200, deadline=None)
@given(histories(), policy_sets(), times, times, st.sampled_from(PURPOSES))
def test_member_who_moves_is_judged_by_country_at_t(h, policies, t1, t2, purpose):
    lo, hi = sorted((t1, t2))
    if lo == hi:
        return
    # the member lives in the US from lo and in France (excluded) from hi; no other moves
    h2 = replace(h, countries=((lo, "US"), (hi, "FR")))
    assert project(h2, purpose, hi).country == "FR"
    assert project(h2, purpose, lo).country == "US"
    d_after = eligibility(h2, purpose, hi, policies)
    assert not d_after.eligible
    d_before = eligibility(h2, purpose, lo, policies)
    assert d_before.reason is not Reason.EXCLUDED_JURISDICTION
    # judged by the country at T, whatever came later
    assert eligibility(h, purpose, lo, policies) == eligibility(
        replace(h, countries=(*h.countries, (hi, "FR"))), purpose, lo, policies
    ) or any(c[0] == hi for c in h.countries)
