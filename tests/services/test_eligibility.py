"""Eligibility services: per member, and bulk == per member on random histories."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from optin.domain.eligibility import Reason, eligibility
from optin.domain.policy import default_policy_text
from optin.errors import NotFoundError
from optin.services.consent import record_consent
from optin.services.eligibility import decide_all, decide_member
from optin.services.policy import policy_set, publish_policy
from optin.storage import ledger
from optin.storage import members as members_repo
from optin.storage.database import Database
from optin.storage.members import member_histories
from tests.factories import MINOR, T0, add_member, add_members

#: the append time passed to the ledger (time is a parameter in storage)
NOW = T0 + timedelta(days=400)

P = "train_own_models"
Q = "share_with_providers"


def test_when_granted_then_eligible_with_justifying_event(db: Database) -> None:
    add_member(db, "m1")
    ev = record_consent(
        db, "m1", P, "on", source="web", at=T0 + timedelta(days=1), now=T0 + timedelta(days=1)
    )
    d = decide_member(db, "m1", P, T0 + timedelta(days=2))
    assert d.eligible and d.reason is Reason.ELIGIBLE
    assert d.consent_event_id == ev.event_id and d.policy_version == 1
    before = decide_member(db, "m1", P, T0 + timedelta(hours=12))
    assert before.reason is Reason.NO_CONSENT


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"country": "DE"}, Reason.EXCLUDED_JURISDICTION),
        ({"birth_date": MINOR}, Reason.MINOR),
        ({"birth_date": None}, Reason.UNKNOWN_AGE),
        ({"country": None}, Reason.UNKNOWN_JURISDICTION),
        ({"statuses": [(T0, "active"), (T0 + timedelta(days=1), "closed")]}, Reason.ACCOUNT_CLOSED),
    ],
)
def test_when_blocked_then_not_eligible_even_with_grant(
    db: Database, spec: dict, reason: Reason
) -> None:
    add_members(db, [{"id": "m1", **spec}])
    record_consent(
        db, "m1", P, "on", source="web", at=T0 + timedelta(hours=1), now=T0 + timedelta(hours=1)
    )
    at = T0 + timedelta(days=2)
    assert decide_member(db, "m1", P, at).reason is reason
    assert [d.reason for d in decide_all(db, P, at)] == [reason]


def test_when_unknown_member_or_purpose_then_not_found(db: Database) -> None:
    add_member(db, "m1")
    with pytest.raises(NotFoundError, match="ghost"):
        decide_member(db, "ghost", P, T0)
    with pytest.raises(NotFoundError, match="valid purposes"):
        decide_member(db, "m1", "nope", T0)
    with pytest.raises(NotFoundError, match="valid purposes"):
        list(decide_all(db, "nope", T0))


def test_when_member_ids_given_then_decide_all_limits_to_them(db: Database) -> None:
    add_members(db, [{"id": f"m{i}"} for i in range(5)])
    got = [d.member_id for d in decide_all(db, P, T0, member_ids=["m3", "m1", "ghost"])]
    assert got == ["m1", "m3"]
    assert list(decide_all(db, P, T0, member_ids=[])) == []


# -- bulk == per member on random histories --------------------------------------------

START = datetime(2024, 1, 1, tzinfo=UTC)
COUNTRIES = ["US", "BR", "IN", "DE", "FR", "GB", "JP", "NG", "ZZ"]  # ZZ: not a country


def _t(rng: random.Random) -> datetime:
    # coarse times so that ties (equal times) happen often
    return START + timedelta(days=rng.randrange(0, 600), hours=rng.choice([0, 12]))


def late_member_changes(
    db: Database, rng: random.Random, ids: list[str], late_at: datetime
) -> None:
    """Member changes the platform records at or after ``late_at`` (moves, status
    changes, birth-date corrections), claiming any time: unknown to decisions before
    they are recorded."""
    with db.session() as s:
        for _ in range(len(ids)):
            who, since = rng.choice(ids), _t(rng)
            recorded = rng.choice([late_at, late_at + timedelta(days=20)])
            kind = rng.choice(["country", "status", "birth"])
            if kind == "country":
                members_repo.add_country(
                    s,
                    who,
                    rng.choice(COUNTRIES[:-1]),
                    since=since,
                    recorded_at=recorded,
                    source="cli",
                )
            elif kind == "status":
                members_repo.add_status(
                    s,
                    who,
                    rng.choice(["active", "suspended", "closed"]),
                    since=since,
                    recorded_at=recorded,
                    source="cli",
                )
            else:
                members_repo.correct_birth_date(
                    s,
                    who,
                    rng.choice([date(1980, 1, 1), date(2006, 6, 15), date(2012, 3, 3)]),
                    effective_at=since,
                    recorded_at=recorded,
                    source="cli",
                )


def _random_world(
    db: Database, rng: random.Random, n: int, *, late_members: bool = True
) -> tuple[list[str], list[datetime]]:
    mid = START + timedelta(days=300)
    publish_policy(db, default_policy_text(), effective_at=mid, material={P}, now=mid)
    specs = []
    for i in range(n):
        countries = [(_t(rng), rng.choice(COUNTRIES)) for _ in range(rng.randrange(0, 3))]
        statuses = [
            (_t(rng), rng.choice(["active", "active", "suspended", "closed"]))
            for _ in range(rng.randrange(0, 3))
        ]
        birth = rng.choice([date(1980, 1, 1), date(2006, 6, 15), date(2012, 3, 3), None])
        specs.append(
            {"id": f"m{i:03d}", "countries": countries, "statuses": statuses, "birth_date": birth}
        )
    # one certain minor and one certain adult in an opt-in country
    specs.append(
        {
            "id": "m900",
            "countries": [(START, "US")],
            "statuses": [(START, "active")],
            "birth_date": date(2012, 3, 3),
        }
    )
    specs.append(
        {
            "id": "m901",
            "countries": [(START, "US")],
            "statuses": [(START, "active")],
            "birth_date": date(1970, 3, 3),
        }
    )
    ids = add_members(db, specs)
    # an adult whose only grant predates the material change -> STALE_POLICY after it
    drafts = [
        ledger.EventDraft(
            member_id="m901",
            purpose=P,
            action="grant",
            at=START + timedelta(days=10),
            policy_version=1,
            source="import",
        ),
        ledger.EventDraft(
            member_id="m901",
            purpose=Q,
            action="withdraw",
            at=START + timedelta(days=20),
            policy_version=1,
            source="import",
        ),
    ]
    for _ in range(n * 4):
        at = _t(rng)
        drafts.append(
            ledger.EventDraft(
                member_id=rng.choice(ids[:n]),
                purpose=rng.choice([P, Q]),
                action=rng.choice(["grant", "grant", "withdraw"]),
                at=at,
                policy_version=1 if at < mid else 2,
                source="import",
            )
        )
    with db.session() as s:
        ledger.append_many(s, drafts, now=NOW)
    # events the ledger learns of later, claiming any time: unknown to decisions before
    late_at = NOW + timedelta(days=100)
    late = [
        ledger.EventDraft(
            member_id=rng.choice(ids[:n]),
            purpose=rng.choice([P, Q]),
            action=rng.choice(["grant", "withdraw"]),
            at=_t(rng),
            policy_version=2,
            source="cli",
        )
        for _ in range(n)
    ]
    with db.session() as s:
        ledger.append_many(s, late, now=late_at)
    if late_members:
        late_member_changes(db, rng, ids[:n], late_at)
    probes = [START - timedelta(days=1), mid, mid - timedelta(microseconds=1)]
    probes += [_t(rng) for _ in range(4)]
    probes += [d.at for d in drafts[:3]]  # exactly at an event's time
    probes += [NOW, late_at - timedelta(microseconds=1), late_at]  # either side of the late ones
    probes += [
        late_at + timedelta(days=20) - timedelta(microseconds=1),
        late_at + timedelta(days=21),
    ]
    return ids, probes


@pytest.mark.parametrize("seed", [1, 2])
def test_when_random_histories_then_bulk_equals_per_member(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    n = 40
    ids, probes = _random_world(db, rng, n)
    ps = policy_set(db)
    with db.session() as s:
        histories = member_histories(s, ids)
    reasons = set()
    for at in probes:
        for purpose in (P, Q):
            bulk = list(decide_all(db, purpose, at))
            assert [d.member_id for d in bulk] == sorted(histories)
            for d in bulk:
                expected = eligibility(histories[d.member_id], purpose, at, ps)
                assert d == expected, (d.member_id, purpose, at)
                reasons.add(d.reason)
    # the random world exercises most reasons
    assert {
        Reason.ELIGIBLE,
        Reason.WITHDRAWN,
        Reason.NO_CONSENT,
        Reason.MINOR,
        Reason.EXCLUDED_JURISDICTION,
        Reason.STALE_POLICY,
    } <= reasons
    # decide_member (its own loading path) agrees too
    at = probes[-1]
    for d in decide_all(db, P, at):
        assert decide_member(db, d.member_id, P, at) == d


def test_when_member_changes_are_recorded_later_then_bulk_decisions_before_are_unchanged(
    db: Database,
) -> None:
    """Storage's bulk projection (the snapshot builder's path) ignores member changes
    recorded after T, like the per-member path: decisions at every T before the late
    changes are recorded are the same before and after they are written."""
    rng = random.Random(5)
    ids, probes = _random_world(db, rng, 30, late_members=False)
    late_at = NOW + timedelta(days=100)
    early = [t for t in probes if t < late_at]
    after = late_at + timedelta(days=21)
    before = {(t, p): list(decide_all(db, p, t)) for t in [*early, after] for p in (P, Q)}
    late_member_changes(db, rng, ids[:30], late_at)
    with db.session() as s:
        histories = member_histories(s, ids)
    ps = policy_set(db)
    changed = 0
    for (t, p), decisions in before.items():
        now_bulk = list(decide_all(db, p, t))
        assert now_bulk == [eligibility(histories[d.member_id], p, t, ps) for d in now_bulk]
        if t < late_at:
            assert now_bulk == decisions, (p, t)
        else:  # once recorded they count (identically in bulk and per member)
            changed += sum(a != b for a, b in zip(now_bulk, decisions, strict=True))
    assert changed  # the late changes do matter from their recording on


def test_when_random_histories_then_storage_projection_equals_domain_project(
    db: Database,
) -> None:
    from optin.domain.eligibility import project
    from optin.storage.projection import iter_member_states

    rng = random.Random(3)
    ids, probes = _random_world(db, rng, 30)
    with db.session() as s:
        histories = member_histories(s, ids)
    for at in probes:
        for purpose in (P, Q):
            states = list(iter_member_states(db.engine, purpose, at))
            assert [st.member_id for st in states] == sorted(ids)
            for st in states:
                assert st == project(histories[st.member_id], purpose, at)
