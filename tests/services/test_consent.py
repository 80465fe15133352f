"""Recording consent and reading it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from optin.domain.eligibility import Reason
from optin.domain.model import ConsentAction
from optin.domain.policy import default_policy_text
from optin.errors import InputError, NotFoundError
from optin.services.consent import (
    consent_history,
    consent_state,
    get_event,
    parse_action,
    record_consent,
)
from optin.services.policy import publish_policy
from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.keys import KeyRing, unseal
from optin.storage.models import ConsentEventRow
from tests.factories import T0, add_member

P = "train_own_models"


def test_when_recorded_then_event_in_ledger_with_policy_version(db: Database) -> None:
    add_member(db, "m1", country="BR")
    ev = record_consent(
        db,
        "m1",
        P,
        "on",
        source="web",
        at=T0 + timedelta(hours=1),
        personal={"ip": "203.0.113.5"},
        now=T0 + timedelta(hours=1),
    )
    assert ev.action is ConsentAction.GRANT and ev.policy_version == 1 and ev.seq == 1
    assert get_event(db, ev.event_id) == ev
    with db.session() as s:
        row = s.get(ConsentEventRow, 1)
        assert row is not None
        fields = unseal(KeyRing(s).key_for_read("m1"), row.event_id, row.personal)
        assert fields == {"country": "BR", "ip": "203.0.113.5"}
        assert ledger.verify(s).ok


def test_when_policy_changes_then_event_records_version_in_force(db: Database) -> None:
    add_member(db, "m1")
    t2 = datetime(2025, 1, 1, tzinfo=UTC)
    publish_policy(db, default_policy_text(), effective_at=t2, material={P}, now=t2)
    before = record_consent(
        db, "m1", P, "grant", source="api", at=t2 - timedelta(days=1), now=t2 - timedelta(days=1)
    )
    after = record_consent(
        db, "m1", P, "grant", source="api", at=t2 + timedelta(days=1), now=t2 + timedelta(days=1)
    )
    assert (before.policy_version, after.policy_version) == (1, 2)


@pytest.mark.parametrize(
    ("member", "purpose", "at", "error", "match"),
    [
        ("ghost", P, None, NotFoundError, "ghost"),
        ("m1", "sell_to_advertisers", None, NotFoundError, "valid purposes: share_with_providers"),
        ("m1", P, datetime(2099, 1, 1, tzinfo=UTC), InputError, "future"),
        ("m1", P, datetime(2020, 1, 1, tzinfo=UTC), NotFoundError, "no policy in force"),
    ],
)
def test_when_invalid_then_clear_error_and_nothing_recorded(
    db: Database, member: str, purpose: str, at: datetime | None, error: type, match: str
) -> None:
    add_member(db, "m1")
    with pytest.raises(error, match=match):
        now = at if at is not None and at.year < 2090 else datetime.now(UTC)  # not backdated
        record_consent(db, member, purpose, "on", source="cli", at=at, now=now)
    with db.session() as s:
        assert ledger.ledger_head(s).seq == 0


def test_when_action_or_source_unknown_then_input_error(db: Database) -> None:
    add_member(db, "m1")
    with pytest.raises(InputError, match="allowed: on, off"):
        record_consent(db, "m1", P, "perhaps", source="cli", now=datetime.now(UTC))
    with pytest.raises(InputError, match="source"):
        record_consent(db, "m1", P, "on", source="carrier-pigeon", now=datetime.now(UTC))


@pytest.mark.parametrize(
    ("text", "action"),
    [("on", "grant"), ("OFF", "withdraw"), ("grant", "grant"), ("withdraw", "withdraw")],
)
def test_parse_action(text: str, action: str) -> None:
    assert parse_action(text) == ConsentAction(action)


def test_when_toggled_then_history_and_state_follow(db: Database) -> None:
    add_member(db, "m1")
    t = T0 + timedelta(days=1)
    # each recorded when made: a decision as of T reads only what was recorded by T
    g = record_consent(db, "m1", P, "on", source="web", at=t, now=t)
    w = record_consent(
        db, "m1", P, "off", source="web", at=t + timedelta(days=1), now=t + timedelta(days=1)
    )
    assert [e.event_id for e in consent_history(db, "m1")] == [g.event_id, w.event_id]
    mid = {s.purpose: s for s in consent_state(db, "m1", t + timedelta(hours=1))}
    assert mid[P].switched_on and mid[P].decision.reason is Reason.ELIGIBLE
    assert mid[P].last_event == g
    assert mid["share_with_providers"].decision.reason is Reason.NO_CONSENT
    late = {s.purpose: s for s in consent_state(db, "m1", t + timedelta(days=2))}
    assert not late[P].switched_on and late[P].decision.reason is Reason.WITHDRAWN
    assert late[P].to_dict()["last_event"]["event_id"] == w.event_id  # type: ignore[index]
    with pytest.raises(NotFoundError):
        consent_history(db, "ghost")
