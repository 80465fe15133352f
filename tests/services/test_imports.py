"""Imports: every bad-input case is reported precisely and imports nothing; re-imports
are idempotent; conflicts name the line; export -> import is a round trip.

Runs on SQLite and PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from optin.errors import ConflictError, ImportValidationError, InputError
from optin.services import imports
from optin.services.exports import export_file
from optin.services.imports import import_file
from optin.services.setup import DEFAULT_POLICY_EFFECTIVE_AT, init_database
from optin.storage import ledger
from optin.storage.database import Database
from tests.factories import add_member

NOW = datetime(2026, 6, 1, tzinfo=UTC)
T = "2025-03-01T12:00:00Z"

MEMBER = {
    "id": "m1",
    "handle": "ada",
    "display_name": "Ada Moreno",
    "email": "ada@example.com",
    "birth_date": "1990-05-17",
    "joined_at": "2024-02-01T00:00:00Z",
    "country": "US",
}
CONTENT = {
    "id": "c1",
    "author_id": "m1",
    "kind": "post",
    "visibility": "public",
    "text": "Hello network",
    "language": "en",
    "created_at": T,
}
CONSENT = {
    "event_id": "e1",
    "member_id": "m1",
    "purpose": "train_own_models",
    "action": "grant",
    "at": T,
    "source": "import:legacy-system",
}

TABLES = ("members", "member_countries", "member_statuses", "content_items", "consent_events")


def counts(db: Database) -> dict[str, int]:
    c = db.table_counts()
    return {t: c[t] for t in TABLES}


def jsonl(*records: object) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records
    )


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return p


def run(db: Database, kind: str, path: Path, *, restore: bool = False) -> imports.ImportResult:
    return import_file(db, kind, path, now=NOW, restore=restore)


def expect_errors(db: Database, kind: str, path: Path) -> list[InputError]:
    before = counts(db)
    with pytest.raises(ImportValidationError) as info:
        run(db, kind, path)
    assert counts(db) == before, "a rejected import must write nothing"
    assert path.name in str(info.value)
    assert "nothing was imported" in str(info.value)
    return info.value.errors


def only(errors: list[InputError], line: int, field: str | None) -> InputError:
    hits = [e for e in errors if e.line == line and e.field == field]
    assert hits, f"no error for line {line} field {field}: {[str(e) for e in errors]}"
    return hits[0]


def with_(base: dict[str, object], **changes: object) -> dict[str, object]:
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not DROP}


DROP = object()


# -- happy paths ----------------------------------------------------------------------


def test_when_members_jsonl_is_valid_then_all_are_imported_with_histories(db, tmp_path):
    moved = with_(
        MEMBER,
        id="m2",
        handle="bo",
        country=DROP,
        countries=[
            {"since": "2024-02-01T00:00:00Z", "country": "DE"},
            {"since": "2025-01-01T00:00:00+01:00", "country": "US"},
        ],
        statuses=[
            {"since": "2024-02-01T00:00:00Z", "status": "active"},
            {"since": "2025-06-01T00:00:00Z", "status": "closed"},
        ],
    )
    r = run(db, "members", write(tmp_path, "m.jsonl", jsonl(MEMBER, moved)))
    assert (r.inserted, r.skipped) == (2, 0)
    c = counts(db)
    assert c["members"] == 2 and c["member_countries"] == 3 and c["member_statuses"] == 3


def test_when_members_csv_has_history_columns_then_they_are_parsed(db, tmp_path):
    csv = (
        "id,handle,display_name,birth_date,joined_at,countries\n"
        'm1,ada,"Moreno, Ada",1990-05-17,2024-02-01T00:00:00Z,'
        "2024-02-01T00:00:00Z=US;2025-01-01T00:00:00Z=GB\n"
    )
    r = run(db, "members", write(tmp_path, "m.csv", csv))
    assert r.inserted == 1
    assert counts(db)["member_countries"] == 2


def test_when_the_same_records_are_imported_twice_then_the_second_run_skips_them(db, tmp_path):
    m = write(tmp_path, "m.jsonl", jsonl(MEMBER))
    c = write(tmp_path, "c.jsonl", jsonl(CONTENT))
    e = write(tmp_path, "e.jsonl", jsonl(CONSENT))
    for path, kind in ((m, "members"), (c, "content"), (e, "consents")):
        assert run(db, kind, path).inserted == 1
    before = counts(db)
    for path, kind in ((m, "members"), (c, "content"), (e, "consents")):
        r = run(db, kind, path)
        assert (r.inserted, r.skipped) == (0, 1)
    assert counts(db) == before


def test_when_consents_are_imported_then_they_go_through_the_hash_chained_ledger(db, tmp_path):
    add_member(db, "m1")
    later = with_(
        CONSENT,
        event_id="e2",
        action="withdraw",
        at="2025-04-01T00:00:00Z",
        source="import:other-system",
        policy_version=1,
    )
    r = run(db, "consents", write(tmp_path, "e.jsonl", jsonl(later, CONSENT)))
    assert r.inserted == 2
    with db.session() as s:
        report = ledger.verify(s)
        assert report.ok and report.length == 2 and report.head_hash == r.ledger_head
        rows = list(ledger.iter_rows(s))
    assert [row.event_id for row in rows] == ["e1", "e2"], "appended in time order"
    assert rows[0].source == "import:legacy-system" and rows[1].source == "import:other-system"
    assert rows[0].recorded_at == rows[1].recorded_at == NOW, "recorded at the import's time"
    assert rows[0].policy_version == 1


def test_when_an_id_exists_with_different_content_then_conflict_names_the_line(db, tmp_path):
    run(db, "members", write(tmp_path, "m.jsonl", jsonl(MEMBER)))
    other = with_(MEMBER, id="m9", handle="zed")
    changed = with_(MEMBER, display_name="Ada M.")
    path = write(tmp_path, "m2.jsonl", jsonl(other, changed))
    before = counts(db)
    with pytest.raises(ConflictError) as info:
        run(db, "members", path)
    assert "m2.jsonl:2" in str(info.value) and "display_name" in str(info.value)
    assert counts(db) == before, "the valid record on line 1 was not imported either"


def test_when_a_new_member_takes_an_existing_handle_then_conflict(db, tmp_path):
    run(db, "members", write(tmp_path, "m.jsonl", jsonl(MEMBER)))
    with pytest.raises(ConflictError, match=r"x\.jsonl:1.*handle"):
        run(db, "members", write(tmp_path, "x.jsonl", jsonl(with_(MEMBER, id="m2"))))


def test_when_a_consent_event_id_is_reused_differently_then_conflict(db, tmp_path):
    add_member(db, "m1")
    run(db, "consents", write(tmp_path, "e.jsonl", jsonl(CONSENT)))
    with pytest.raises(ConflictError, match=r"f\.jsonl:1.*'action'"):
        run(db, "consents", write(tmp_path, "f.jsonl", jsonl(with_(CONSENT, action="withdraw"))))
    with db.session() as s:
        assert ledger.verify(s).length == 1


# -- bad input: members ---------------------------------------------------------------

MEMBER_CASES = {
    "malformed_json": (b'{"id": "m1", "handle": ', 1, None, "malformed JSON"),
    "not_an_object": (b"[1, 2]", 1, None, "JSON object"),
    "wrong_type": (jsonl(with_(MEMBER, display_name=5)), 1, "display_name", "string"),
    "unknown_country": (jsonl(with_(MEMBER, country="XX")), 1, "country", "ISO 3166"),
    "lowercase_country": (jsonl(with_(MEMBER, country="us")), 1, "country", "ISO 3166"),
    "unknown_field": (jsonl(with_(MEMBER, nmae="x")), 1, "nmae", "unknown field"),
    "missing_field": (jsonl(with_(MEMBER, handle=DROP)), 1, "handle", "missing"),
    "naive_time": (
        jsonl(with_(MEMBER, joined_at="2024-02-01T00:00:00")),
        1,
        "joined_at",
        "no UTC offset",
    ),
    "future_time": (
        jsonl(with_(MEMBER, joined_at="2030-01-01T00:00:00Z")),
        1,
        "joined_at",
        "future",
    ),
    "bad_date": (jsonl(with_(MEMBER, birth_date="17/05/1990")), 1, "birth_date", "date"),
    "future_birth": (jsonl(with_(MEMBER, birth_date="2027-01-01")), 1, "birth_date", "future"),
    "bad_status": (
        jsonl(
            with_(
                MEMBER,
                country=DROP,
                countries=[{"since": "2024-02-01T00:00:00Z", "country": "US"}],
                statuses=[{"since": "2024-02-01T00:00:00Z", "status": "zombie"}],
            )
        ),
        1,
        "statuses",
        "unknown",
    ),
    "no_country": (jsonl(with_(MEMBER, country=DROP)), 1, "country", "missing"),
    "history_after_join": (
        jsonl(
            with_(
                MEMBER, country=DROP, countries=[{"since": "2024-03-01T00:00:00Z", "country": "US"}]
            )
        ),
        1,
        "countries",
        "after",
    ),
    "invalid_utf8": (jsonl(MEMBER) + b'{"id": "m2\xff"}\n', 2, None, "UTF-8"),
    "duplicate_id": (jsonl(MEMBER, with_(MEMBER, handle="b")), 2, "id", "duplicate id"),
    "duplicate_handle": (jsonl(MEMBER, with_(MEMBER, id="m2")), 2, "handle", "duplicate"),
    "bad_handle": (jsonl(with_(MEMBER, handle="@ada")), 1, "handle", "format"),
    "empty_name": (jsonl(with_(MEMBER, display_name="  ")), 1, "display_name", "empty"),
}


def test_when_a_member_record_is_bad_then_the_error_is_precise_and_nothing_imported(db, tmp_path):
    # one database for the whole table (fixtures on PostgreSQL cost more than the checks)
    good = with_(MEMBER, id="ok1", handle="ok1")  # first: it must not be imported either
    for case, (data, line, field, text) in sorted(MEMBER_CASES.items()):
        path = write(tmp_path, f"members-{case}.jsonl", jsonl(good) + data)
        err = only(expect_errors(db, "members", path), line + 1, field)
        assert text.lower() in str(err).lower(), case
        assert f"members-{case}.jsonl:{line + 1}" in str(err), case


def test_when_a_value_is_bad_then_the_message_names_value_and_allowed(sqlite_db, tmp_path):
    path = write(tmp_path, "m.jsonl", jsonl(with_(MEMBER, country="XX")))
    err = only(expect_errors(sqlite_db, "members", path), 1, "country")
    assert "'XX'" in str(err) and "allowed:" in str(err)
    assert err.value == "XX" and err.file == str(path)


def test_when_many_records_are_bad_then_all_errors_are_reported_up_to_the_cap(sqlite_db, tmp_path):
    bad = [with_(MEMBER, id=f"m{i}", handle=f"h{i}", country="XX") for i in range(5)]
    errors = expect_errors(sqlite_db, "members", write(tmp_path, "m.jsonl", jsonl(*bad)))
    assert [e.line for e in errors] == [1, 2, 3, 4, 5]
    many = [with_(MEMBER, id=f"m{i}", handle=f"h{i}", country="XX") for i in range(500)]
    errors = expect_errors(sqlite_db, "members", write(tmp_path, "n.jsonl", jsonl(*many)))
    assert len(errors) == imports.MAX_ERRORS + 1
    assert "stopped after" in str(errors[-1])


def test_when_a_csv_is_malformed_then_the_line_is_named(sqlite_db, tmp_path):
    header = "id,handle,display_name,joined_at,country\n"
    cases = {
        "fields.csv": (header + "m1,ada,Ada,2024-02-01T00:00:00Z,US,extra\n", 2, "expected 5"),
        "quote.csv": (header + 'm1,ada,"Ada,2024-02-01T00:00:00Z,US\n', 2, "malformed CSV"),
        "column.csv": ("id,handel,display_name,joined_at,country\n", 1, "unknown column"),
        "empty.csv": ("", 1, "empty"),
    }
    for name, (text, line, msg) in cases.items():
        errors = expect_errors(sqlite_db, "members", write(tmp_path, name, text))
        assert any(e.line == line and msg in str(e) for e in errors), (name, errors)


def test_when_a_csv_line_is_not_utf8_then_its_line_is_reported(sqlite_db, tmp_path):
    data = (
        b"id,handle,display_name,joined_at,country\n"
        b"m1,ada,Ada,2024-02-01T00:00:00Z,US\n"
        b"m2,bo,B\xe9atrice,2024-02-01T00:00:00Z,FR\n"
    )
    errors = expect_errors(sqlite_db, "members", write(tmp_path, "m.csv", data))
    assert any(e.line == 3 and "UTF-8" in str(e) for e in errors)


def test_when_the_extension_is_unknown_then_format_must_be_given(sqlite_db, tmp_path):
    path = write(tmp_path, "m.txt", jsonl(MEMBER))
    with pytest.raises(InputError, match="--format"):
        run(sqlite_db, "members", path)
    assert import_file(sqlite_db, "members", path, fmt="jsonl", now=NOW).inserted == 1
    with pytest.raises(InputError, match="allowed: jsonl, csv"):
        import_file(sqlite_db, "members", path, fmt="xml", now=NOW)


# -- bad input: content ---------------------------------------------------------------

CONTENT_CASES = {
    "author_not_found": (with_(CONTENT, author_id="ghost"), "author_id", "not found"),
    "unknown_kind": (with_(CONTENT, kind="story"), "kind", "post, article"),
    "unknown_visibility": (with_(CONTENT, visibility="friends"), "visibility", "public"),
    "text_wrong_type": (with_(CONTENT, text=["a"]), "text", "string"),
    "edited_before_created": (
        with_(CONTENT, edited_at="2025-01-01T00:00:00Z"),
        "edited_at",
        "before created_at",
    ),
    "future_created": (with_(CONTENT, created_at="2026-07-01T00:00:00Z"), "created_at", "future"),
    "bad_language": (with_(CONTENT, language="English"), "language", "BCP 47"),
    "missing_text": (with_(CONTENT, text=DROP), "text", "missing"),
}


def test_when_a_content_record_is_bad_then_nothing_is_imported(db, tmp_path):
    add_member(db, "m1")
    ok = with_(CONTENT, id="c0")
    for case, (rec, field, text) in sorted(CONTENT_CASES.items()):
        path = write(tmp_path, f"content-{case}.jsonl", jsonl(ok, rec))
        err = only(expect_errors(db, "content", path), 2, field)
        assert text.lower() in str(err).lower(), case


def test_when_content_ids_repeat_in_a_file_then_the_second_is_named(db, tmp_path):
    add_member(db, "m1")
    path = write(tmp_path, "c.jsonl", jsonl(CONTENT, CONTENT))
    err = only(expect_errors(db, "content", path), 2, "id")
    assert "first used on line 1" in str(err)


def test_when_content_csv_is_valid_then_it_is_imported(db, tmp_path):
    add_member(db, "m1")
    csv = (
        "id,author_id,kind,visibility,text,language,created_at,edited_at\n"
        'c1,m1,post,public,"Hello, ""world""\nsecond line",en,' + T + ",\n"
    )
    assert run(db, "content", write(tmp_path, "c.csv", csv)).inserted == 1
    with db.session() as s:
        from optin.storage.models import ContentRow

        row = s.get(ContentRow, "c1")
        assert row is not None and row.text == 'Hello, "world"\nsecond line'
        assert row.edited_at is None


# -- bad input: consents --------------------------------------------------------------

CONSENT_CASES = {
    "unknown_purpose": (with_(CONSENT, purpose="sell_data"), "purpose", "train_own_models"),
    "bad_action": (with_(CONSENT, action="maybe"), "action", "grant, withdraw"),
    "member_not_found": (with_(CONSENT, member_id="ghost"), "member_id", "not found"),
    "future_event": (with_(CONSENT, at="2026-06-02T00:00:00Z"), "at", "future"),
    "before_any_policy": (with_(CONSENT, at="2023-06-01T00:00:00Z"), "at", "no policy"),
    "wrong_policy_version": (with_(CONSENT, policy_version=3), "policy_version", "allowed: 1"),
    "version_wrong_type": (with_(CONSENT, policy_version="two"), "policy_version", "integer"),
    "version_bool": (with_(CONSENT, policy_version=True), "policy_version", "integer"),
    "bad_source": (with_(CONSENT, source="fax"), "source", "web"),
    "naive_time": (with_(CONSENT, at="2025-03-01 12:00:00"), "at", "no UTC offset"),
    "not_a_time": (with_(CONSENT, at="yesterday"), "at", "ISO 8601"),
    "bad_event_id": (with_(CONSENT, event_id="x" * 40), "event_id", "too long"),
}


def test_when_a_consent_record_is_bad_then_the_ledger_is_untouched(db, tmp_path):
    add_member(db, "m1")
    ok = with_(CONSENT, event_id="e0")
    for case, (rec, field, text) in sorted(CONSENT_CASES.items()):
        path = write(tmp_path, f"consents-{case}.jsonl", jsonl(ok, rec))
        err = only(expect_errors(db, "consents", path), 2, field)
        assert text.lower() in str(err).lower(), case
    with db.session() as s:
        assert ledger.verify(s).length == 0


def test_when_event_ids_repeat_then_the_duplicate_line_is_named(db, tmp_path):
    add_member(db, "m1")
    dup = with_(CONSENT, action="withdraw")
    only(
        expect_errors(db, "consents", write(tmp_path, "e.jsonl", jsonl(CONSENT, dup))),
        2,
        "event_id",
    )


def test_when_consents_csv_is_valid_then_policy_version_is_filled_in(db, tmp_path):
    add_member(db, "m1")
    csv = (
        "event_id,member_id,purpose,action,at,source\n"
        f"e1,m1,share_with_providers,grant,{T},import:legacy-system\n"
    )
    r = run(db, "consents", write(tmp_path, "e.csv", csv))
    assert r.inserted == 1
    with db.session() as s:
        (row,) = list(ledger.iter_rows(s))
        assert row.policy_version == 1 and row.purpose == "share_with_providers"


# -- export / round trip --------------------------------------------------------------


def test_when_exported_then_reimport_is_identical_and_a_fresh_db_gets_the_same_ledger(db, tmp_path):
    moved = with_(
        MEMBER,
        id="m2",
        handle="bo",
        email=DROP,
        birth_date=DROP,
        country=DROP,
        countries=[
            {"since": "2024-02-01T00:00:00Z", "country": "DE"},
            {"since": "2025-01-01T00:00:00Z", "country": "US"},
        ],
    )
    run(db, "members", write(tmp_path, "m.jsonl", jsonl(MEMBER, moved)))
    run(
        db,
        "content",
        write(
            tmp_path,
            "c.jsonl",
            jsonl(
                CONTENT,
                with_(
                    CONTENT,
                    id="c2",
                    author_id="m2",
                    text="Zoë 東京 ✓",
                    deleted_at="2025-05-01T00:00:00Z",
                ),
            ),
        ),
    )
    run(
        db,
        "consents",
        write(
            tmp_path,
            "e.jsonl",
            jsonl(CONSENT, with_(CONSENT, event_id="e2", member_id="m2", action="withdraw")),
        ),
    )
    out = tmp_path / "out"
    out.mkdir()
    for kind in ("members", "content", "consents"):
        assert export_file(db, kind, out / f"{kind}.jsonl") == 2
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temp files left"
    before = counts(db)
    for kind in ("members", "content", "consents"):
        r = run(db, kind, out / f"{kind}.jsonl")
        assert (r.inserted, r.skipped) == (0, 2)
    assert counts(db) == before

    fresh = Database(f"sqlite:///{tmp_path / 'fresh' / 'optin.db'}", home=tmp_path / "fresh")
    init_database(
        fresh, now=datetime.now(UTC), effective_at=DEFAULT_POLICY_EFFECTIVE_AT, allow_backdate=True
    )
    try:
        for kind in ("members", "content", "consents"):  # consents: a restore
            path = out / f"{kind}.jsonl"
            assert run(fresh, kind, path, restore=kind == "consents").inserted == 2
        out2 = tmp_path / "out2"
        out2.mkdir()
        for kind in ("members", "content", "consents"):
            export_file(fresh, kind, out2 / f"{kind}.jsonl")
            assert (out2 / f"{kind}.jsonl").read_bytes() == (out / f"{kind}.jsonl").read_bytes()
        with db.session() as s1, fresh.session() as s2:
            assert ledger.ledger_head(s1) == ledger.ledger_head(s2)
    finally:
        fresh.dispose()


def test_when_the_output_directory_is_missing_then_export_says_so(sqlite_db, tmp_path):
    with pytest.raises(InputError, match="output directory"):
        export_file(sqlite_db, "members", tmp_path / "nope" / "m.jsonl")
