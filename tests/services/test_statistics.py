"""``consent_statistics`` is the one consent-statistics computation: it agrees with the
decisions of ``decide_all`` and feeds the summary and the dashboard figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from optin.domain.model import AccountStatus
from optin.services.consent import record_consent
from optin.services.dashboard import dashboard_figures
from optin.services.eligibility import decide_all
from optin.services.statistics import consent_rate, consent_statistics
from optin.services.summary import platform_summary
from optin.storage.database import Database
from tests.factories import MINOR, T0, add_member

P = "train_own_models"


def test_statistics_agree_with_decisions_summary_and_dashboard(db: Database) -> None:
    add_member(db, "m1", country="US")
    add_member(db, "m2", country="BR")
    add_member(db, "m3", country="DE")
    add_member(db, "m4", country="US", birth_date=MINOR)
    add_member(
        db,
        "m5",
        country="US",
        statuses=[(T0, "active"), (T0 + timedelta(days=3), AccountStatus.CLOSED.value)],
    )
    add_member(db, "m6", country=None)
    now = datetime.now(UTC)
    for m in ("m1", "m2", "m5"):
        record_consent(db, m, P, "on", source="cli", now=T0 + timedelta(days=1))

    stats = consent_statistics(db, now=now)
    st = stats.purposes[P]
    decisions = list(decide_all(db, P, now))
    assert st.members == len(decisions) == 6
    assert st.eligible == sum(d.eligible for d in decisions)
    assert st.consent_rate == consent_rate(decisions)
    assert st.switched_on == 3
    assert sum(st.reasons.values()) == 6
    assert sum(c["members"] for c in st.by_regime.values()) == 6
    assert sum(stats.members_by_regime.values()) == 6

    summary = platform_summary(db, now=now)
    ps = next(p for p in summary.purposes if p.purpose == P)
    assert (ps.eligible, ps.switched_on, ps.reasons, ps.by_regime) == (
        st.eligible,
        st.switched_on,
        st.reasons,
        st.by_regime,
    )
    figures = dashboard_figures(db, now=now)
    assert figures.eligible_now[P] == st.eligible
    assert figures.rate_over_time[P][-1] == st.consent_rate
    assert figures.reasons_now[P] == st.reasons


def test_staff_accounts_are_not_members_and_consent_is_switched_on(db: Database) -> None:
    """The admin account is not counted (no 'unknown' regime row for it); the consent
    series is the switched-on share, the eligibility series the eligible share, each of
    the members who can choose, counted here from the choices recorded."""
    from sqlalchemy import update

    from optin.storage.models import MemberRow

    for m in ("m1", "m2", "m3", "m4"):
        add_member(db, m, country="US")
    add_member(db, "staff", country=None)
    with db.session() as s:
        s.execute(update(MemberRow).where(MemberRow.id == "staff").values(role="admin"))
        s.commit()
    record_consent(db, "m1", P, "on", source="cli", now=T0 + timedelta(days=1))
    record_consent(db, "m2", P, "on", source="cli", now=T0 + timedelta(days=1))
    record_consent(db, "m2", P, "off", source="cli", now=T0 + timedelta(days=2))
    now = datetime.now(UTC)
    stats = consent_statistics(db, now=now)
    st = stats.purposes[P]
    assert st.members == 4 and "unknown" not in st.by_regime
    assert stats.members_by_regime == {"opt_in": 4}
    assert platform_summary(db, now=now).members == 4
    figures = dashboard_figures(db, now=now)
    assert figures.members == 4
    # m1 on; m2 switched off again; m3, m4 never chose: 1 of 4 switched on
    assert figures.consent_over_time[P][-1] == 1 / 4 == st.switched_on_rate
    assert figures.rate_over_time[P][-1] == st.consent_rate
