"""Capacity rules (void grants), bitemporal decisions and the notice period: properties
over random histories with moves, birthdays and regime changes, and the issue's cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optin.domain import (
    AccountStatus,
    BirthDateCorrection,
    ConsentAction,
    ConsentEvent,
    MemberHistory,
    PolicySet,
    Reason,
    Regime,
    check_publish,
    decide_bulk,
    default_policy_text,
    eligibility,
    grant_void_reason,
    parse_policy,
    policy_changes,
    project,
    publish_requirements,
    schedule_in_force,
)
from optin.domain.eligibility import age_on, birth_date_at
from optin.errors import ConfigError
from tests.domain.strategies import (
    PURPOSES,
    bitemporal_histories,
    later_times,
    regime_policy_sets,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
POLICY = default_policy_text()
BR_OPT_OUT = POLICY.replace("opt_out = []", 'opt_out = ["BR"]')


def one_policy(text: str = POLICY) -> PolicySet:
    return PolicySet([parse_policy(text, version=1, effective_at=T0)])


def grant(i: int, purpose: str, at: datetime, **kw: object) -> ConsentEvent:
    return ConsentEvent(f"e{i}", "m", purpose, ConsentAction.GRANT, at, 1, seq=i, **kw)  # type: ignore[arg-type]


def history(
    countries: tuple[tuple[datetime, str], ...],
    birth: date | None,
    events: tuple[ConsentEvent, ...],
    joined: datetime = datetime(2024, 1, 2, tzinfo=UTC),
) -> MemberHistory:
    return MemberHistory("m", birth, countries, ((joined, AccountStatus.ACTIVE),), events)


def _grant_had_capacity(h: MemberHistory, event_id: str, at: datetime, ps: PolicySet) -> bool:
    """Independent restatement of the capacity rule for the justifying grant: where the
    member lived when giving it (as the ledger knew at ``at``) was not excluded, and they
    were of age there, both under the policy in force when it was given."""
    ev = next(e for e in h.events if e.event_id == event_id)
    then = ps.in_force(ev.at) or ps.in_force(at)
    assert then is not None
    known = [
        (c[0], c[1])
        for c in h.countries
        if c[0] <= ev.at and (len(c) < 3 or c[2] is None or c[2] <= at)  # type: ignore[misc]
    ]
    country = max(known, key=lambda c: c[0])[1] if known else None
    rules = then.jurisdictions
    if country is not None and rules.regime(country) is Regime.EXCLUDED:
        return False
    birth = birth_date_at(h, at)  # as the ledger knew it at ``at``
    assert birth is not None
    minimum = rules.min_age(country) if country else rules.minimum_age
    return age_on(birth, ev.at.date()) >= minimum


# -- properties ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(bitemporal_histories(), regime_policy_sets(), later_times, st.sampled_from(PURPOSES))
def test_no_grant_given_as_minor_or_while_excluded_makes_a_member_eligible(
    h, policies, at, purpose
) -> None:
    d = eligibility(h, purpose, at, policies)
    if d.reason is Reason.ELIGIBLE:
        assert d.consent_event_id is not None
        ev = next(e for e in h.events if e.event_id == d.consent_event_id)
        assert ev.action is ConsentAction.GRANT and ev.at <= at and ev.known_from <= at
        assert _grant_had_capacity(h, d.consent_event_id, at, policies)
    if d.eligible:
        assert d.reason in {Reason.ELIGIBLE, Reason.ELIGIBLE_OPT_OUT_DEFAULT}
    if d.reason in (Reason.GRANT_GIVEN_AS_MINOR, Reason.GRANT_GIVEN_WHILE_EXCLUDED):
        assert not d.eligible and d.consent_event_id is not None


@settings(max_examples=300, deadline=None)
@given(
    bitemporal_histories(),
    regime_policy_sets(),
    later_times,
    st.sampled_from(PURPOSES),
    st.sampled_from(list(ConsentAction)),
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=1, max_value=500),
)
def test_when_any_event_recorded_later_then_decision_at_earlier_t_unchanged(
    h, policies, at, purpose, action, offset, delay
) -> None:
    """The appended event may claim any effective time (backdated or not); it is
    recorded after T, so no decision at T changes."""
    before = eligibility(h, purpose, at, policies)
    late = ConsentEvent(
        "late",
        h.member_id,
        purpose,
        action,
        at + timedelta(days=offset),
        1,
        seq=10_000,
        recorded_at=at + timedelta(days=delay),
    )
    after = eligibility(replace(h, events=(*h.events, late)), purpose, at, policies)
    assert before == after


@settings(max_examples=200, deadline=None)
@given(
    bitemporal_histories(),
    regime_policy_sets(),
    later_times,
    st.sampled_from(PURPOSES),
    st.sampled_from(("US", "DE", "BR", "IN")),
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=1, max_value=500),
)
def test_when_a_move_is_recorded_later_then_decision_at_earlier_t_unchanged(
    h, policies, at, purpose, country, offset, delay
) -> None:
    before = eligibility(h, purpose, at, policies)
    move = (at + timedelta(days=offset), country, at + timedelta(days=delay))
    after = eligibility(replace(h, countries=(*h.countries, move)), purpose, at, policies)
    assert before == after


@settings(max_examples=200, deadline=None)
@given(
    bitemporal_histories(),
    regime_policy_sets(),
    later_times,
    st.sampled_from(PURPOSES),
    st.sampled_from(list(AccountStatus)),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2015, 1, 1)),
    st.integers(min_value=-1000, max_value=0),
    st.integers(min_value=1, max_value=500),
)
def test_when_a_status_change_or_birth_correction_is_recorded_later_then_decision_unchanged(
    h, policies, at, purpose, status, birth, offset, delay
) -> None:
    """A suspension/closure/reactivation or a birth-date correction (say, one that makes
    the member a minor) recorded after T, whatever time it claims, changes no decision
    at T; once recorded, it is known."""
    before = eligibility(h, purpose, at, policies)
    eff, rec = at + timedelta(days=offset), at + timedelta(days=delay)
    with_status = replace(h, statuses=(*h.statuses, (eff, status, rec)))
    fix = BirthDateCorrection(eff, rec, birth, h.birth_date)
    with_birth = replace(h, birth_date=birth, birth_corrections=(*h.birth_corrections, fix))
    assert eligibility(with_status, purpose, at, policies) == before
    assert eligibility(with_birth, purpose, at, policies) == before
    assert birth_date_at(with_birth, at) == birth_date_at(h, at)
    assert birth_date_at(with_birth, rec) == birth


@settings(max_examples=200, deadline=None)
@given(
    st.lists(bitemporal_histories(), min_size=1, max_size=6),
    regime_policy_sets(),
    later_times,
    st.sampled_from(PURPOSES),
)
def test_bulk_equals_per_member_with_capacity_and_recorded_times(
    hs: list[MemberHistory], policies, at, purpose
) -> None:
    hs = [replace(h, member_id=f"m{i}") for i, h in enumerate(hs)]
    bulk = list(decide_bulk((project(h, purpose, at) for h in hs), purpose, at, policies))
    assert bulk == [eligibility(h, purpose, at, policies) for h in hs]


@settings(max_examples=200, deadline=None)
@given(bitemporal_histories(), regime_policy_sets(), later_times, st.sampled_from(PURPOSES))
def test_nothing_is_opt_out_default_before_the_version_is_in_force(
    h, policies, at, purpose
) -> None:
    d = eligibility(h, purpose, at, policies)
    if d.reason is Reason.ELIGIBLE_OPT_OUT_DEFAULT:
        pol = policies.in_force(at)
        assert pol is not None and pol.in_force_from <= at
        assert d.country is not None and pol.jurisdictions.regime(d.country) is Regime.OPT_OUT


@settings(max_examples=200, deadline=None)
@given(bitemporal_histories(), regime_policy_sets(), later_times, st.sampled_from(PURPOSES))
def test_grant_void_reason_agrees_with_the_decision(h, policies, at, purpose) -> None:
    d = eligibility(h, purpose, at, policies)
    s = project(h, purpose, at)
    if d.reason in (Reason.GRANT_GIVEN_AS_MINOR, Reason.GRANT_GIVEN_WHILE_EXCLUDED):
        assert s.last_at is not None
        assert grant_void_reason(s.birth_date, s.last_country, s.last_at, policies, at) is d.reason
    if d.reason is Reason.ELIGIBLE:
        assert s.last_at is not None
        assert grant_void_reason(s.birth_date, s.last_country, s.last_at, policies, at) is None


# -- the cases ----------------------------------------------------------------


def test_grant_given_at_17_never_counts_not_even_after_the_18th_birthday() -> None:
    h = history(
        ((datetime(2024, 1, 2, tzinfo=UTC), "US"),),
        date(2007, 3, 15),
        (grant(1, "train_own_models", datetime(2024, 6, 1, tzinfo=UTC)),),
    )
    ps = one_policy()
    at17 = eligibility(h, "train_own_models", datetime(2025, 3, 14, tzinfo=UTC), ps)
    assert at17.reason is Reason.MINOR
    for at in (datetime(2025, 3, 15, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)):
        d = eligibility(h, "train_own_models", at, ps)
        assert (d.eligible, d.reason, d.consent_event_id) == (
            False,
            Reason.GRANT_GIVEN_AS_MINOR,
            "e1",
        )
        assert "minimum age" in d.explanation and "again" in d.explanation
    # switching on again as an adult counts
    again = grant(2, "train_own_models", datetime(2025, 4, 1, tzinfo=UTC))
    d = eligibility(
        replace(h, events=(*h.events, again)),
        "train_own_models",
        datetime(2026, 1, 1, tzinfo=UTC),
        ps,
    )
    assert (d.eligible, d.reason, d.consent_event_id) == (True, Reason.ELIGIBLE, "e2")


def test_grant_given_while_in_de_does_not_revive_after_moving_to_the_us() -> None:
    moved = datetime(2025, 2, 1, tzinfo=UTC)
    h = history(
        ((datetime(2024, 1, 2, tzinfo=UTC), "DE"), (moved, "US")),
        date(1990, 5, 5),
        (grant(1, "train_own_models", datetime(2024, 6, 1, tzinfo=UTC)),),
    )
    ps = one_policy()
    in_de = eligibility(h, "train_own_models", datetime(2024, 12, 1, tzinfo=UTC), ps)
    assert in_de.reason is Reason.EXCLUDED_JURISDICTION
    d = eligibility(h, "train_own_models", datetime(2025, 6, 1, tzinfo=UTC), ps)
    assert (d.eligible, d.reason, d.consent_event_id, d.country) == (
        False,
        Reason.GRANT_GIVEN_WHILE_EXCLUDED,
        "e1",
        "US",
    )
    # asked again after the move: counts
    again = grant(2, "train_own_models", datetime(2025, 3, 1, tzinfo=UTC))
    d2 = eligibility(
        replace(h, events=(*h.events, again)),
        "train_own_models",
        datetime(2025, 6, 1, tzinfo=UTC),
        ps,
    )
    assert (d2.eligible, d2.reason, d2.consent_event_id) == (True, Reason.ELIGIBLE, "e2")


def test_when_capacity_rules_are_switched_off_then_old_behaviour() -> None:
    text = POLICY.replace(
        "void_grants_given_as_minor = true", "void_grants_given_as_minor = false"
    ).replace("void_grants_given_while_excluded = true", "void_grants_given_while_excluded = false")
    ps = one_policy(text)
    assert not ps.versions[0].capacity.void_grants_given_as_minor
    minor = history(
        ((datetime(2024, 1, 2, tzinfo=UTC), "US"),),
        date(2007, 3, 15),
        (grant(1, "train_own_models", datetime(2024, 6, 1, tzinfo=UTC)),),
    )
    d = eligibility(minor, "train_own_models", datetime(2025, 3, 15, tzinfo=UTC), ps)
    assert d.reason is Reason.ELIGIBLE


def test_backdated_grant_recorded_later_changes_no_decision_before_it_was_recorded() -> None:
    """`consent set m09 train_own_models on --at 2024-05-01` run on 2025-06-01."""
    h = history(((datetime(2024, 1, 2, tzinfo=UTC), "US"),), date(1990, 5, 5), ())
    ps = one_policy()
    t = datetime(2025, 1, 1, tzinfo=UTC)
    assert eligibility(h, "train_own_models", t, ps).reason is Reason.NO_CONSENT
    recorded = datetime(2025, 6, 1, tzinfo=UTC)
    backdated = grant(1, "train_own_models", datetime(2024, 5, 1, tzinfo=UTC), recorded_at=recorded)
    h2 = replace(h, events=(backdated,))
    assert eligibility(h2, "train_own_models", t, ps).reason is Reason.NO_CONSENT
    assert eligibility(h2, "train_own_models", recorded - timedelta(seconds=1), ps).reason is (
        Reason.NO_CONSENT
    )
    # from the moment it was recorded, it is known (with its claimed time)
    d = eligibility(h2, "train_own_models", recorded, ps)
    assert (d.reason, d.consent_event_id) == (Reason.ELIGIBLE, "e1")


def test_old_rows_without_recorded_at_count_from_their_own_time() -> None:
    ev = grant(1, "train_own_models", datetime(2024, 5, 1, tzinfo=UTC))
    assert ev.recorded_at is None and ev.known_from == ev.at
    h = history(((datetime(2024, 1, 2, tzinfo=UTC), "US"),), date(1990, 5, 5), (ev,))
    d = eligibility(h, "train_own_models", datetime(2024, 5, 1, tzinfo=UTC), one_policy())
    assert d.reason is Reason.ELIGIBLE


def _br_publish() -> tuple[PolicySet, datetime, datetime]:
    published = datetime(2026, 12, 6, tzinfo=UTC)
    v1 = parse_policy(POLICY, version=1, effective_at=T0)
    draft = parse_policy(BR_OPT_OUT, version=2, effective_at=published)
    changes = policy_changes(v1, draft)
    req = publish_requirements(changes, notice_days=draft.notice_days, new=draft)
    assert req.material == {"train_own_models", "share_with_providers"}
    assert req.opt_out_acknowledgement
    assert req.notice == timedelta(days=30)
    # without the flag, or without marking the purposes material: refused
    with pytest.raises(ConfigError, match="--i-understand-opt-out"):
        check_publish(req, material=req.material, acknowledged=False)
    with pytest.raises(ConfigError, match="share_with_providers"):
        check_publish(req, material=frozenset({"train_own_models"}), acknowledged=True)
    check_publish(req, material=req.material, acknowledged=True)
    in_force = schedule_in_force(published, req)
    assert in_force == datetime(2027, 1, 5, tzinfo=UTC)
    v2 = parse_policy(
        BR_OPT_OUT,
        version=2,
        effective_at=published,
        material=req.material,
        in_force_at=in_force,
    )
    return PolicySet([v1, v2]), published, in_force


def test_br_opt_out_publish_requires_material_flag_and_notice_and_waits_for_it() -> None:
    ps, published, in_force = _br_publish()
    assert in_force is not None
    h = history(((datetime(2024, 1, 2, tzinfo=UTC), "BR"),), date(1990, 5, 5), ())
    for purpose in PURPOSES:
        for at in (published, published + timedelta(days=10), in_force - timedelta(seconds=1)):
            d = eligibility(h, purpose, at, ps)
            assert (d.eligible, d.reason, d.policy_version) == (False, Reason.NO_CONSENT, 1)
        assert ps.pending(published)[0].version == 2
        d = eligibility(h, purpose, in_force, ps)
        assert (d.eligible, d.reason) == (True, Reason.ELIGIBLE_OPT_OUT_DEFAULT)
    assert ps.pending(in_force) == ()


def test_a_later_publish_cannot_cut_a_pending_notice_short() -> None:
    ps, published, in_force = _br_publish()
    assert in_force is not None
    later = published + timedelta(days=3)
    v3 = parse_policy(BR_OPT_OUT, version=3, effective_at=later)
    changes = policy_changes(ps.latest(), v3)  # against the last published: no change
    req = publish_requirements(changes, notice_days=v3.notice_days, new=v3)
    assert not req.opt_out_acknowledgement
    assert schedule_in_force(later, req, pending=ps.pending(later)) == in_force
