"""Issue 9, read side: the issue's scenarios end to end through services and the CLI.

Capacity (a grant given as a minor, a grant given while excluded), bitemporal decisions
(nothing recorded after T changes a decision at T, per member and in bulk), and opt-out
that is never silent (the flag, material purposes, the notice period, ``policy show``).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.cli.main import run
from optin.domain.eligibility import Reason
from optin.domain.policy import default_policy_text
from optin.errors import ConfigError, ConflictError
from optin.services.consent import record_consent
from optin.services.eligibility import decide_all, decide_member
from optin.services.members import update_member
from optin.services.policy import (
    pending_notices,
    policy_diff,
    policy_set,
    publish_policy,
    regimes,
)
from optin.services.setup import init_database
from optin.settings import Settings
from optin.storage import ledger
from optin.storage.database import Database
from tests.factories import T0, add_member

P = "train_own_models"
Q = "share_with_providers"

BR_OPT_OUT = default_policy_text().replace("opt_out = []", 'opt_out = ["BR"]')


def _record(db: Database, member: str, purpose: str, switch: str, at: datetime) -> str:
    """A choice recorded when it is made (recorded_at == at)."""
    return record_consent(db, member, purpose, switch, source="web", at=at, now=at).event_id


# -- capacity ------------------------------------------------------------------------------


def test_when_grant_given_as_minor_then_not_eligible_after_the_birthday(db: Database) -> None:
    add_member(db, "m09", birth_date=date(2007, 3, 15), joined_at=T0)
    ev = _record(db, "m09", P, "on", datetime(2024, 6, 1, tzinfo=UTC))  # aged 17
    at = datetime(2025, 6, 1, tzinfo=UTC)  # 18 since 2025-03-15
    d = decide_member(db, "m09", P, at)
    assert (d.eligible, d.reason, d.consent_event_id) == (False, Reason.GRANT_GIVEN_AS_MINOR, ev)
    assert [x.reason for x in decide_all(db, P, at)] == [Reason.GRANT_GIVEN_AS_MINOR]
    # switching on again at majority counts
    _record(db, "m09", P, "on", datetime(2025, 7, 1, tzinfo=UTC))
    later = datetime(2025, 8, 1, tzinfo=UTC)
    assert decide_member(db, "m09", P, later).reason is Reason.ELIGIBLE
    assert [x.reason for x in decide_all(db, P, later)] == [Reason.ELIGIBLE]


def test_when_grant_given_in_de_then_void_after_move_to_us(db: Database) -> None:
    moved = T0 + timedelta(days=100)
    add_member(db, "m1", countries=[(T0, "DE"), (moved, "US")])
    ev = _record(db, "m1", P, "on", T0 + timedelta(days=10))
    at = T0 + timedelta(days=200)
    d = decide_member(db, "m1", P, at)
    assert (d.reason, d.consent_event_id) == (Reason.GRANT_GIVEN_WHILE_EXCLUDED, ev)
    assert [x.reason for x in decide_all(db, P, at)] == [Reason.GRANT_GIVEN_WHILE_EXCLUDED]


# -- bitemporal ------------------------------------------------------------------------------


def test_when_event_recorded_after_t_then_decision_at_t_unchanged(db: Database) -> None:
    add_member(db, "m1")
    t = T0 + timedelta(days=30)
    before = decide_member(db, "m1", P, t)
    assert before.reason is Reason.NO_CONSENT
    # recorded later, claiming a time before T (a backdated grant: only a declared
    # historical import may carry one; the ledger records it at the import's time)
    from optin.storage import ledger

    with db.session() as s:
        ledger.append(
            s,
            ledger.EventDraft(
                member_id="m1",
                purpose=P,
                action="grant",
                at=T0 + timedelta(days=1),
                policy_version=1,
                source="import:legacy-system",
            ),
            now=t + timedelta(days=1),
        )
    assert decide_member(db, "m1", P, t) == before
    assert list(decide_all(db, P, t)) == [before]
    # known from its recording on
    later = t + timedelta(days=2)
    assert decide_member(db, "m1", P, later).reason is Reason.ELIGIBLE
    assert [d.reason for d in decide_all(db, P, later)] == [Reason.ELIGIBLE]


_counter = iter(range(10**9))

_offsets = st.integers(min_value=0, max_value=200)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(
        st.tuples(_offsets, st.sampled_from([P, Q]), st.sampled_from(["grant", "withdraw"])),
        max_size=5,
    ),
    t_offset=_offsets,
    late=st.tuples(
        st.integers(min_value=-250, max_value=250),
        st.integers(min_value=1, max_value=100),
        st.sampled_from([P, Q]),
        st.sampled_from(["grant", "withdraw"]),
    ),
    born=st.sampled_from([date(1990, 1, 1), date(2006, 3, 1), None]),
    moves=st.lists(st.tuples(_offsets, st.sampled_from(["US", "DE", "BR", "IN"])), max_size=2),
    changes=st.lists(
        st.tuples(
            st.sampled_from(["country", "status", "birth_date"]),
            st.integers(min_value=0, max_value=400),  # claimed (effective) day
            st.integers(min_value=1, max_value=100),  # recorded this many days after T
            st.sampled_from(["US", "DE", "BR"]),
            st.sampled_from(["suspended", "closed", "active"]),
            st.sampled_from([date(1990, 1, 1), date(2015, 1, 1), date(2006, 3, 1)]),
        ),
        max_size=3,
    ),
)
def test_when_any_later_append_then_every_decision_at_t_unchanged(
    db: Database,
    history: list[tuple[int, str, str]],
    t_offset: int,
    late: tuple[int, int, str, str],
    born: date | None,
    moves: list[tuple[int, str]],
    changes: list[tuple[str, int, int, str, str, date]],
) -> None:
    """For any history and any later append (a consent event, a move, a status change,
    a birth-date correction: recorded after T, claiming any time), every decision at T
    is unchanged, per member and in bulk; afterwards bulk still equals per member."""
    mid = f"p{next(_counter):06d}"
    day = timedelta(days=1)
    countries = [(T0, "US"), *((T0 + o * day, c) for o, c in moves)]
    add_member(db, mid, countries=countries, birth_date=born)
    t = T0 + t_offset * day
    drafts = [
        ledger.EventDraft(
            member_id=mid, purpose=p, action=a, at=T0 + o * day, policy_version=1, source="web"
        )
        for o, p, a in history
    ]
    with db.session() as s:  # each recorded when it claims, before T or not
        for d in drafts:
            ledger.append(s, d, now=max(d.at, T0))

    def decisions() -> list[object]:
        return [decide_member(db, mid, p, t) for p in (P, Q)] + [
            x for p in (P, Q) for x in decide_all(db, p, t, member_ids=[mid])
        ]

    before = decisions()
    assert before[:2] == before[2:]  # bulk == per member
    claim, after_days, purpose, action = late
    recorded = t + after_days * day
    with db.session() as s:
        ledger.append(
            s,
            ledger.EventDraft(
                member_id=mid,
                purpose=purpose,
                action=action,
                at=t + claim * day,
                policy_version=1,
                source="cli",
            ),
            now=recorded,
        )
    assert decisions() == before
    last = recorded
    for kind, eff_days, rec_days, country, status, birth in changes:
        rec = t + rec_days * day
        value: dict[str, object] = {
            "country": {"country": country},
            "status": {"status": status},
            "birth_date": {"birth_date": birth},
        }[kind]
        update_member(
            db,
            mid,
            effective_at=min(T0 + eff_days * day, rec),
            now=rec,
            source="cli",
            **value,  # type: ignore[arg-type]
        )
        last = max(last, rec)
        assert decisions() == before
    # once everything is recorded: bulk == per member
    probe = last + day
    assert [decide_member(db, mid, p, probe) for p in (P, Q)] == [
        x for p in (P, Q) for x in decide_all(db, p, probe, member_ids=[mid])
    ]


# -- opt-out is never silent ----------------------------------------------------------------


def test_when_opt_out_published_without_flag_then_refused_naming_flag_and_purposes(
    db: Database,
) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ConfigError) as e:
        publish_policy(db, BR_OPT_OUT, now=now, material={P, Q})
    msg = str(e.value)
    assert "--i-understand-opt-out" in msg and P in msg and Q in msg
    with pytest.raises(ConfigError) as e2:  # and the purposes must be material
        publish_policy(db, BR_OPT_OUT, now=now, acknowledge_opt_out=True)
    assert "material" in str(e2.value) and P in str(e2.value) and Q in str(e2.value)
    assert len(policy_set(db)) == 1


def test_when_opt_out_published_with_flag_then_pending_for_30_days(db: Database) -> None:
    add_member(db, "br1", country="BR")
    add_member(db, "us1", country="US")
    now = datetime.now(UTC)
    pv = publish_policy(db, BR_OPT_OUT, now=now, material={P, Q}, acknowledge_opt_out=True)
    assert pv.in_force_at == now + timedelta(days=30)
    ps = policy_set(db)
    assert ps.in_force(now + timedelta(days=29)).version == 1
    assert ps.pending(now) == (pv,)
    for at in (now, now + timedelta(days=29, hours=23)):
        for purpose in (P, Q):
            reasons = {d.reason for d in decide_all(db, purpose, at)}
            assert Reason.ELIGIBLE_OPT_OUT_DEFAULT not in reasons
            assert decide_member(db, "br1", purpose, at).reason is Reason.NO_CONSENT
    after = now + timedelta(days=30, seconds=1)
    for purpose in (P, Q):
        assert decide_member(db, "br1", purpose, after).reason is Reason.ELIGIBLE_OPT_OUT_DEFAULT
        got = {d.member_id: d.reason for d in decide_all(db, purpose, after)}
        assert got == {"br1": Reason.ELIGIBLE_OPT_OUT_DEFAULT, "us1": Reason.NO_CONSENT}
    # the notice, for a member in BR only, says what changes and from when
    notices = pending_notices(ps, "BR", now + timedelta(days=1))
    assert [n["version"] for n in notices] == [2]
    day = pv.in_force_from.date().isoformat()
    assert any(
        s.startswith(f"From {day}") and "Brazil" in s and "included by default" in s
        for s in notices[0]["sentences"]  # type: ignore[attr-defined]
    )
    # a member in the US: no regime change, but earlier consents stop counting (material)
    (us,) = pending_notices(ps, "US", now + timedelta(days=1))
    assert us["changes"] == []
    assert all("no longer counts" in s and "included by default" not in s for s in us["sentences"])  # type: ignore[attr-defined]
    assert regimes(pv)["opt_out"] == ["BR"]
    diff = policy_diff(db, 2)
    assert diff["against"] == 1 and '+opt_out = ["BR"]' in diff["text_diff"]
    assert {c["country"] for c in diff["changes"]} == {"BR"}


def test_when_later_publish_then_notice_not_cut_short(db: Database) -> None:
    now = datetime.now(UTC)
    v2 = publish_policy(db, BR_OPT_OUT, now=now, material={P, Q}, acknowledge_opt_out=True)
    v3 = publish_policy(db, BR_OPT_OUT + "\n# wording\n", now=now + timedelta(days=1))
    assert v3.in_force_from >= v2.in_force_from


# -- init ------------------------------------------------------------------------------------


def test_when_init_without_effective_at_then_first_policy_effective_now(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a' / 'optin.db'}", home=tmp_path / "a")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    try:
        assert init_database(db, now=now) is True
        assert policy_set(db).versions[0].effective_at == now
    finally:
        db.dispose()
    db2 = Database(f"sqlite:///{tmp_path / 'b' / 'optin.db'}", home=tmp_path / "b")
    try:
        with pytest.raises(ConflictError, match="allow-backdate"):
            init_database(db2, now=now, effective_at=now - timedelta(days=10))
        assert len(policy_set(db2)) == 0
        assert init_database(
            db2, now=now, effective_at=now - timedelta(days=10), allow_backdate=True
        )
    finally:
        db2.dispose()


# -- CLI -------------------------------------------------------------------------------------


@pytest.fixture()
def cli(db_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("OPTIN_DATABASE_URL", db_settings.db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = run(["--home", str(db_settings.home), *args])
        out, err = capsys.readouterr()
        return rc, out, " ".join(err.split())

    return invoke


def test_cli_opt_out_publish_needs_the_flag_and_show_lists_every_regime(
    cli, tmp_path: Path
) -> None:
    f = tmp_path / "br.toml"
    f.write_text(BR_OPT_OUT, encoding="utf-8")
    rc, _, err = cli("policy", "publish", str(f), "--material", P, "--material", Q)
    assert rc != 0 and "--i-understand-opt-out" in err and P in err and Q in err
    rc, _, err = cli("policy", "publish", str(f), "--i-understand-opt-out")
    assert rc != 0 and "material" in err
    rc, out, err = cli(
        "policy", "publish", str(f), "--material", P, "--material", Q,
        "--i-understand-opt-out", "--json",
    )  # fmt: skip
    assert rc == 0, err
    data = json.loads(out)
    eff = datetime.fromisoformat(data["effective_at"].replace("Z", "+00:00"))
    force = datetime.fromisoformat(data["in_force_at"].replace("Z", "+00:00"))
    assert force - eff == timedelta(days=30)
    rc, out, _ = cli("policy", "show", "--json")
    jur = json.loads(out)["jurisdictions"]
    assert jur["opt_out"] == ["BR"] and "DE" in jur["excluded"] and jur["default"] == "opt_in"
    rc, out, _ = cli("policy", "show")
    assert rc == 0 and "opt_out: BR" in out and "excluded: AT" in out
    rc, out, _ = cli("policy", "show", "--diff")
    assert rc == 0 and "Brazil" in out and '+opt_out = ["BR"]' in out
    rc, out, _ = cli("policy", "diff", "1", "2", "--json")
    assert rc == 0 and json.loads(out)["against"] == 1


def test_cli_init_refuses_a_past_effective_time_without_allow_backdate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPTIN_DATABASE_URL", raising=False)
    home = tmp_path / "fresh"
    f = tmp_path / "mine.toml"
    f.write_text(default_policy_text().replace("Initial policy", "Our policy"), encoding="utf-8")
    rc = run(["--home", str(home), "init", "--policy", str(f), "--effective-at", "2024-01-01"])
    assert rc == 75 and "--allow-backdate" in " ".join(capsys.readouterr().err.split())
    rc = run(["--home", str(home), "init", "--policy", str(f), "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["policy_published"] is True
    assert run(["--home", str(home), "policy", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["summary"].startswith("Our policy")
    eff = datetime.fromisoformat(shown["effective_at"].replace("Z", "+00:00"))
    assert abs(eff - datetime.now(UTC)) < timedelta(minutes=5)
