"""Issue 9 #5 and #3 (write side): member lifecycle events, case-insensitive handles,
events before joining, redundant toggles, backdated live choices.

Table tests for the issue's scenarios, on SQLite and PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from optin.domain.eligibility import Reason, eligibility
from optin.errors import ConflictError, ImportValidationError, InputError
from optin.services.consent import record_choice, record_consent, resolve_member
from optin.services.consent_writer import ConsentWriter
from optin.services.eligibility import decide_all, decide_member
from optin.services.imports import import_file
from optin.services.members import list_members, show_member, update_member
from optin.services.policy import policy_set
from optin.services.receipts import receipt
from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.members import member_history
from tests.factories import add_member

P = "train_own_models"
T0 = datetime(2024, 2, 1, tzinfo=UTC)


def jsonl(tmp_path: Path, name: str, *records: dict[str, object]) -> Path:
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in records))
    return p


def events(db: Database) -> list:
    with db.session() as s:
        return list(ledger.iter_rows(s))


def chain_ok(db: Database) -> bool:
    with db.session() as s:
        return ledger.verify(s).ok


MEMBER = {
    "id": "m03",
    "handle": "priya.raman",
    "display_name": "Priya Raman",
    "birth_date": "1990-05-17",
    "joined_at": "2024-02-01T00:00:00Z",
    "country": "IN",
}


# -- handles ------------------------------------------------------------------------


def test_when_a_handle_differs_only_in_case_then_the_import_is_refused_naming_the_owner(
    db: Database, tmp_path: Path
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    import_file(db, "members", jsonl(tmp_path, "a.jsonl", MEMBER), now=now)
    dup = {**MEMBER, "id": "m14", "handle": "Priya.Raman"}
    with pytest.raises(ConflictError) as info:
        import_file(db, "members", jsonl(tmp_path, "b.jsonl", dup), now=now)
    msg = str(info.value)
    assert "handle 'Priya.Raman' is taken (case-insensitively) by member m03" in msg
    assert "already exists" not in msg
    assert db.table_counts()["members"] == 1


@pytest.mark.parametrize("handle", ["priya.raman", "Priya.Raman", "PRIYA.RAMAN"])
def test_when_a_taken_handle_comes_under_a_new_id_then_the_message_names_the_owner(
    db: Database, tmp_path: Path, handle: str
) -> None:
    """The issue's "duplicate handle under a new id gives a wrong 'already exists'
    message": the answer names the handle, the member who has it and never claims that
    the new id exists."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    import_file(db, "members", jsonl(tmp_path, "a.jsonl", MEMBER), now=now)
    dup = {**MEMBER, "id": "m14", "handle": handle}
    with pytest.raises(ConflictError) as info:
        import_file(db, "members", jsonl(tmp_path, "b.jsonl", dup), now=now)
    msg = str(info.value)
    assert (
        f"b.jsonl:1: field 'handle': handle {handle!r} is taken (case-insensitively) by member m03"
        in msg
    )
    assert ("(as 'priya.raman')" in msg) is (handle != "priya.raman")
    assert "already exists" not in msg and "'m14'" not in msg
    assert db.table_counts()["members"] == 1
    # the same member again (same id, same handle) is an idempotent re-import
    again = import_file(db, "members", jsonl(tmp_path, "c.jsonl", MEMBER), now=now)
    assert (again.inserted, again.skipped) == (0, 1)


@pytest.mark.parametrize(
    ("first", "second"), [("priya.raman", "Priya.Raman"), ("Ada_Lovelace", "ada_LOVELACE")]
)
def test_when_one_file_has_handles_differing_only_in_case_then_it_names_line_and_field(
    db: Database, tmp_path: Path, first: str, second: str
) -> None:
    a = {**MEMBER, "handle": first}
    b = {**MEMBER, "id": "m14", "handle": second}
    with pytest.raises(ImportValidationError) as info:
        import_file(db, "members", jsonl(tmp_path, "m.jsonl", a, b), now=datetime.now(UTC))
    (err,) = info.value.errors
    assert (err.line, err.field) == (2, "handle")
    assert "unique case-insensitively" in str(err) and "first used on line 1" in str(err)
    assert db.table_counts()["members"] == 0


def test_when_a_handle_is_written_twice_by_case_then_the_database_refuses_it(
    db: Database,
) -> None:
    add_member(db, "m03", handle="priya.raman")
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        add_member(db, "m14", handle="Priya.Raman")


def test_when_looked_up_by_handle_then_case_does_not_matter(db: Database) -> None:
    add_member(db, "m03", handle="priya.raman")
    assert resolve_member(db, "@Priya.Raman") == "m03"
    assert resolve_member(db, "PRIYA.RAMAN") == "m03"


# -- events before joining --------------------------------------------------------------


def test_when_a_consent_is_dated_before_joining_then_it_is_refused(db: Database) -> None:
    now = datetime.now(UTC)
    add_member(db, "m1", joined_at=now - timedelta(seconds=30))
    with pytest.raises(InputError, match="before member 'm1' joined"):
        record_consent(db, "m1", P, "on", source="cli", at=now - timedelta(minutes=1), now=now)
    assert events(db) == []


@pytest.mark.parametrize(
    ("kind", "record", "fld"),
    [
        (
            "consents",
            {
                "event_id": "e1",
                "member_id": "m1",
                "purpose": P,
                "action": "grant",
                "at": "2024-01-15T00:00:00Z",
                "source": "import:legacy-system",
            },
            "at",
        ),
        (
            "content",
            {
                "id": "c1",
                "author_id": "m1",
                "kind": "post",
                "visibility": "public",
                "text": "hello",
                "language": "en",
                "created_at": "2024-01-15T00:00:00Z",
            },
            "created_at",
        ),
        (
            "member-events",
            {"member_id": "m1", "effective_at": "2024-01-15T00:00:00Z", "country": "DE"},
            "effective_at",
        ),
    ],
)
def test_when_an_imported_record_is_dated_before_joining_then_the_file_is_refused(
    db: Database, tmp_path: Path, kind: str, record: dict[str, object], fld: str
) -> None:
    add_member(db, "m1", joined_at=T0)
    before = db.table_counts()
    with pytest.raises(ImportValidationError) as info:
        import_file(db, kind, jsonl(tmp_path, "x.jsonl", record), now=datetime.now(UTC))
    (err,) = info.value.errors
    assert err.line == 1 and err.field == fld and "joined" in str(err)
    assert db.table_counts() == before


def test_when_a_member_change_is_dated_before_joining_then_it_is_refused(db: Database) -> None:
    add_member(db, "m1", joined_at=T0)
    with pytest.raises(InputError, match="before member 'm1' joined"):
        update_member(
            db,
            "m1",
            country="DE",
            effective_at=T0 - timedelta(days=1),
            now=datetime.now(UTC),
            source="cli",
        )


# -- redundant toggles ------------------------------------------------------------------


def test_when_an_off_purpose_is_switched_off_again_then_nothing_is_appended(db: Database) -> None:
    add_member(db, "m1")
    now = datetime.now(UTC)
    first = record_choice(db, "m1", P, "off", source="web", now=now)
    again = record_choice(db, "m1", P, "off", source="cli", now=now + timedelta(seconds=1))
    assert first.recorded and first.note is None
    assert not again.recorded and again.note == "already off"
    assert again.event.event_id == first.event.event_id
    assert len(events(db)) == 1
    on = record_choice(db, "m1", P, "on", source="web", now=now + timedelta(seconds=2))
    on2 = record_choice(db, "m1", P, "on", source="api", now=now + timedelta(seconds=3))
    assert on.recorded and (on2.recorded, on2.note) == (False, "already on")
    assert len(events(db)) == 2 and chain_ok(db)


def test_when_a_void_grant_is_switched_on_again_then_a_new_grant_is_recorded(
    db: Database,
) -> None:
    now = datetime.now(UTC)
    # 17 when she switched on, 18 today: the grant given as a minor is void, not "on"
    born = date(now.year - 18, now.month, now.day) - timedelta(days=1)
    add_member(db, "m1", birth_date=born, joined_at=T0)
    g = record_consent(db, "m1", P, "on", source="web", now=now - timedelta(days=30))
    assert decide_member(db, "m1", P, now).reason is Reason.GRANT_GIVEN_AS_MINOR
    again = record_choice(db, "m1", P, "on", source="web", now=now)
    assert again.recorded and again.event.event_id != g.event_id
    assert decide_member(db, "m1", P, now + timedelta(seconds=1)).reason is Reason.ELIGIBLE


@pytest.mark.parametrize("via", ["record_consent", "group commit"])
def test_when_32_identical_switch_ons_race_then_exactly_one_grant(db: Database, via: str) -> None:
    add_member(db, "m1")
    writer = ConsentWriter(db, clock=lambda: datetime.now(UTC))
    errors: list[BaseException] = []
    start = threading.Barrier(32)

    def one() -> None:
        start.wait()
        try:
            if via == "record_consent":
                record_consent(db, "m1", P, "on", source="web", now=datetime.now(UTC))
            else:
                writer.record("m1", P, "on", source="web", now=datetime.now(UTC))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    rows = events(db)
    assert [r.action for r in rows] == ["grant"]
    assert chain_ok(db)


# -- backdated events -------------------------------------------------------------------


def test_when_a_web_grant_is_backdated_then_it_is_refused(db: Database) -> None:
    add_member(db, "m09", joined_at=T0)
    with pytest.raises(InputError, match="backdated events come only from `optin import"):
        record_consent(
            db,
            "m09",
            P,
            "on",
            source="web",
            at=datetime(2024, 5, 1, tzinfo=UTC),
            now=datetime.now(UTC),
        )
    assert events(db) == []


def test_when_the_same_grant_is_imported_from_a_legacy_system_then_it_is_recorded_now(
    db: Database, tmp_path: Path
) -> None:
    add_member(db, "m09", joined_at=T0)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    rec = {
        "event_id": "legacy-1",
        "member_id": "m09",
        "purpose": P,
        "action": "grant",
        "at": "2024-05-01T00:00:00Z",
        "source": "import:legacy-system",
    }
    r = import_file(db, "consents", jsonl(tmp_path, "e.jsonl", rec), now=now)
    assert r.inserted == 1
    (row,) = events(db)
    assert row.source == "import:legacy-system" and row.recorded_at == now
    assert row.at == datetime(2024, 5, 1, tzinfo=UTC)
    # the history with the ledger's recorded times (the read side passes them on): a
    # decision that could have been made at 2025-01-01 is unchanged, and from the
    # import on the grant counts
    with db.session() as s:
        history = member_history(s, "m09")
    assert history is not None
    history = replace(
        history, events=[replace(e, recorded_at=row.recorded_at) for e in history.events]
    )
    ps = policy_set(db)
    assert eligibility(history, P, datetime(2025, 1, 1, tzinfo=UTC), ps).reason is (
        Reason.NO_CONSENT
    )
    assert eligibility(history, P, now + timedelta(days=1), ps).reason is Reason.ELIGIBLE
    # the receipt shows both times and the true source
    ev = receipt(db, row.event_id)["event"]
    assert (ev["effective_at"], ev["recorded_at"], ev["source"]) == (
        "2024-05-01T00:00:00.000000+00:00",
        "2026-06-01T00:00:00.000000+00:00",
        "import:legacy-system",
    )


@pytest.mark.parametrize(
    ("extra", "fld", "match"),
    [
        ({}, "source", "declare its source"),
        ({"source": "web"}, "source", "cannot be imported as new"),
        ({"source": "import"}, "source", "cannot be imported as new"),
        (
            {"source": "import:legacy-system", "recorded_at": "2024-05-01T00:00:00Z"},
            "recorded_at",
            "recorded at the time of the import",
        ),
    ],
)
def test_when_an_import_does_not_declare_its_system_then_it_is_refused(
    db: Database, tmp_path: Path, extra: dict[str, str], fld: str, match: str
) -> None:
    add_member(db, "m09", joined_at=T0)
    rec = {
        "event_id": "legacy-1",
        "member_id": "m09",
        "purpose": P,
        "action": "grant",
        "at": "2024-05-01T00:00:00Z",
        **extra,
    }
    with pytest.raises(ImportValidationError) as info:
        import_file(db, "consents", jsonl(tmp_path, "e.jsonl", rec), now=datetime.now(UTC))
    (err,) = info.value.errors
    assert err.field == fld and match in str(err)
    assert events(db) == []


def test_when_restoring_into_a_ledger_with_events_then_it_is_refused(
    db: Database, tmp_path: Path
) -> None:
    add_member(db, "m1")
    record_consent(db, "m1", P, "on", source="web", now=datetime.now(UTC))
    rec = {
        "event_id": "x",
        "member_id": "m1",
        "purpose": P,
        "action": "withdraw",
        "at": "2024-05-01T00:00:00Z",
    }
    with pytest.raises(InputError, match="empty ledger"):
        import_file(
            db, "consents", jsonl(tmp_path, "e.jsonl", rec), now=datetime.now(UTC), restore=True
        )


# -- lifecycle ------------------------------------------------------------------------


def test_when_a_move_is_recorded_today_then_an_earlier_decision_is_unchanged(
    db: Database,
) -> None:
    add_member(db, "m1", country="DE", joined_at=T0)
    t = datetime(2025, 1, 1, tzinfo=UTC)
    before = decide_member(db, "m1", P, t)
    assert before.reason is Reason.EXCLUDED_JURISDICTION
    now = datetime(2026, 6, 1, tzinfo=UTC)
    update_member(
        db,
        "m1",
        country="US",
        effective_at=datetime(2024, 6, 1, tzinfo=UTC),
        now=now,
        source="cli",
    )
    assert decide_member(db, "m1", P, t) == before
    after = decide_member(db, "m1", P, now + timedelta(seconds=1))
    assert after.reason is Reason.NO_CONSENT and after.country == "US"
    info = show_member(db, "m1", now + timedelta(seconds=1))
    assert info["country"] == "US"
    move = [c for c in info["changes"] if c["value"] == "US"]
    assert move[0]["recorded_at"] == now.isoformat() and move[0]["source"] == "cli"


def test_when_an_account_is_closed_then_it_is_ineligible_from_then_but_not_before_recording(
    db: Database,
) -> None:
    add_member(db, "m1", joined_at=T0)
    record_consent(db, "m1", P, "on", source="web", now=T0 + timedelta(days=1))
    closed_at = datetime(2025, 6, 1, tzinfo=UTC)
    recorded = datetime(2026, 1, 1, tzinfo=UTC)
    r = update_member(db, "m1", status="closed", effective_at=closed_at, now=recorded, source="cli")
    assert [c.recorded for c in r.changes] == [True]
    between = closed_at + timedelta(days=30)
    assert decide_member(db, "m1", P, between).reason is Reason.ELIGIBLE  # not known yet
    assert decide_member(db, "m1", P, recorded).reason is Reason.ACCOUNT_CLOSED
    assert decide_member(db, "m1", P, closed_at - timedelta(days=1)).eligible
    # the same update again is a no-op
    again = update_member(
        db, "m1", status="closed", effective_at=closed_at, now=recorded, source="cli"
    )
    assert [c.recorded for c in again.changes] == [False]
    assert [m["status"] for m in list_members(db, recorded)] == ["closed"]


def test_when_a_birth_date_is_corrected_then_it_is_the_current_value_and_kept(
    db: Database,
) -> None:
    add_member(db, "m1", birth_date=date(2015, 5, 17), joined_at=T0)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert decide_member(db, "m1", P, now).reason is Reason.MINOR
    update_member(db, "m1", birth_date="1990-05-17", now=now, source="cli")
    info = show_member(db, "m1", now)
    assert info["birth_date"] == "1990-05-17"
    assert [c["kind"] for c in info["changes"]].count("birth_date") == 1
    assert decide_member(db, "m1", P, now).reason is Reason.NO_CONSENT


def test_when_a_member_who_switched_on_in_de_moves_to_the_us_then_the_grant_stays_void(
    db: Database,
) -> None:
    """The issue's scenario 2 through the lifecycle surface: a grant given while living
    in DE (excluded) does not revive after `optin member update --country US`; the
    member is asked again, and switching on again counts."""
    add_member(db, "m05", country="DE", joined_at=T0)
    given = datetime(2025, 1, 10, tzinfo=UTC)
    g = record_consent(db, "m05", P, "on", source="web", now=given)
    moved = datetime(2025, 3, 1, tzinfo=UTC)
    r = update_member(db, "m05", country="US", effective_at=moved, now=moved, source="cli")
    assert r.reason == "country_changed"
    at = datetime(2025, 4, 1, tzinfo=UTC)
    d = decide_member(db, "m05", P, at)
    assert (d.eligible, d.reason, d.consent_event_id) == (
        False,
        Reason.GRANT_GIVEN_WHILE_EXCLUDED,
        g.event_id,
    )
    assert [x.reason for x in decide_all(db, P, at)] == [Reason.GRANT_GIVEN_WHILE_EXCLUDED]
    again = record_choice(db, "m05", P, "on", source="web", now=at)
    assert again.recorded  # the void grant was not "on": a new grant is recorded
    later = at + timedelta(seconds=1)
    assert decide_member(db, "m05", P, later).reason is Reason.ELIGIBLE
    assert [x.reason for x in decide_all(db, P, later)] == [Reason.ELIGIBLE]


def test_when_a_birth_date_correction_makes_a_minor_then_only_later_decisions_change(
    db: Database,
) -> None:
    add_member(db, "m1", birth_date=date(1990, 5, 17), joined_at=T0)
    given = datetime(2025, 1, 1, tzinfo=UTC)
    record_consent(db, "m1", P, "on", source="web", now=given)
    fixed = datetime(2025, 6, 1, tzinfo=UTC)
    r = update_member(
        db, "m1", birth_date="2012-05-17", effective_at=given, now=fixed, source="cli"
    )
    assert r.reason == "birth_date_corrected"
    between = datetime(2025, 3, 1, tzinfo=UTC)  # after the grant, before the correction
    for at, reason in ((between, Reason.ELIGIBLE), (fixed, Reason.MINOR)):
        assert decide_member(db, "m1", P, at).reason is reason
        assert [x.reason for x in decide_all(db, P, at)] == [reason]
    assert show_member(db, "m1", fixed)["birth_date"] == "2012-05-17"


@pytest.mark.parametrize(
    ("kw", "fld"),
    [
        ({"country": "XX"}, "country"),
        ({"status": "erased"}, "status"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({}, None),
    ],
)
def test_when_a_member_change_is_invalid_then_it_says_which_field(
    db: Database, kw: dict[str, str], fld: str | None
) -> None:
    add_member(db, "m1")
    with pytest.raises(InputError) as info:
        update_member(db, "m1", now=datetime.now(UTC), source="cli", **kw)  # type: ignore[arg-type]
    assert info.value.field == fld


def test_when_member_events_are_imported_then_all_or_nothing_and_idempotent(
    db: Database, tmp_path: Path
) -> None:
    add_member(db, "m1", joined_at=T0)
    add_member(db, "m2", joined_at=T0)
    good = [
        {"member_id": "m1", "effective_at": "2025-01-01T00:00:00Z", "country": "DE"},
        {"member_id": "m2", "effective_at": "2025-02-01T00:00:00Z", "status": "suspended"},
    ]
    bad = [*good, {"member_id": "m2", "effective_at": "2025-03-01T00:00:00Z", "status": "gone"}]
    before = db.table_counts()
    with pytest.raises(ImportValidationError) as info:
        import_file(db, "member-events", jsonl(tmp_path, "bad.jsonl", *bad), now=datetime.now(UTC))
    (err,) = info.value.errors
    assert (err.file, err.line, err.field) == (str(tmp_path / "bad.jsonl"), 3, "status")
    assert db.table_counts() == before
    path = jsonl(tmp_path, "good.jsonl", *good)
    r = import_file(db, "member-events", path, now=datetime.now(UTC))
    assert (r.inserted, r.skipped) == (2, 0)
    r = import_file(db, "member-events", path, now=datetime.now(UTC))
    assert (r.inserted, r.skipped) == (0, 2)
    csv = tmp_path / "e.csv"
    csv.write_text("member_id,effective_at,birth_date\nm1,2025-04-01T00:00:00Z,1991-01-02\n")
    assert import_file(db, "member-events", csv, now=datetime.now(UTC)).inserted == 1
    assert show_member(db, "m1", datetime.now(UTC))["birth_date"] == "1991-01-02"
