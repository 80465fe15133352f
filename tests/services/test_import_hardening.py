"""Hostile import files get a clear error naming file, line and field (exit 65), never an
internal error, on both backends; nothing is written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from optin.cli.main import run
from optin.errors import ImportValidationError, InputError
from optin.services import imports
from optin.services.imports import import_file, records
from optin.settings import Settings
from optin.storage.database import Database
from tests.factories import add_member

MEMBER = {
    "id": "m1",
    "handle": "ada",
    "display_name": "Ada",
    "joined_at": "2024-02-01T00:00:00Z",
    "country": "US",
}
LINE = json.dumps(MEMBER)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _with(**raw: str) -> str:
    """MEMBER as a JSON line whose given fields hold raw JSON text."""
    extra = ", ".join(f'"{k}": {v}' for k, v in raw.items())
    return LINE[:-1] + ", " + extra + "}\n"


#: name -> (file text, line, field, words in the message)
JSONL_CASES: dict[str, tuple[str, int, str | None, str]] = {
    "duplicate_key": (LINE[:-1] + ', "country": "IN"}\n', 1, "country", "duplicate key"),
    "nested_duplicate": (
        _with(countries='[{"since": "2024-02-01T00:00:00Z", "country": "US", "country": "IN"}]'),
        1,
        "countries",
        "duplicate key 'country'",
    ),
    "lone_surrogate": (LINE.replace('"Ada"', '"A\\ud800"') + "\n", 1, "display_name", "surrogate"),
    "surrogate_key": (_with(**{"x\\udc00": '"1"'}), 1, "x\\udc00", "surrogate"),
    "long_integer": (_with(birth_date="9" * 5000), 1, "birth_date", "5000 digits"),
    "deep_100k": (_with(statuses="[" * 100_000 + "]" * 100_000), 1, "statuses", "nested"),
    "deep_20": (_with(statuses="[" * 20 + "]" * 20), 1, "statuses", "nested deeper than 16"),
    "nul": ("\n" + LINE.replace('"Ada"', '"A\\u0000da"') + "\n", 2, "display_name", "NUL"),
    "nan": (_with(birth_date="NaN"), 1, None, "NaN"),
    "time_before_year_1": (
        LINE.replace("2024-02-01T00:00:00Z", "0001-01-01T00:00:00+01:00") + "\n",
        1,
        "joined_at",
        "out of range",
    ),
    "time_after_9999": (
        LINE.replace("2024-02-01T00:00:00Z", "9999-12-31T23:59:59-14:00") + "\n",
        1,
        "joined_at",
        "out of range",
    ),
}


def _refused(db: Database, kind: str, path: Path) -> ImportValidationError:
    with pytest.raises(ImportValidationError) as info:
        import_file(db, kind, path, now=NOW)
    return info.value


def _count(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


@pytest.mark.parametrize("case", sorted(JSONL_CASES))
def test_when_jsonl_is_hostile_then_line_and_field_are_named(db, tmp_path, case) -> None:
    text, line, field, words = JSONL_CASES[case]
    path = tmp_path / f"{case}.jsonl"
    path.write_text(text, encoding="utf-8")
    err = _refused(db, "members", path)
    first = err.errors[0]
    assert first.file == str(path) and first.line == line, str(err)
    assert first.field == field, str(err)
    assert words in str(first), str(err)
    assert _count(db, "members") == 0


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        (
            "members",
            "id,handle,display_name,joined_at,country\nm1,ada,A\x00da,2024-02-01T00:00:00Z,US\n",
        ),
        (
            "content",
            "id,author_id,kind,visibility,text,language,created_at\n"
            "c1,m1,post,public,hello\x00world,en,2024-03-01T00:00:00Z\n",
        ),
        (
            "consents",
            "event_id,member_id,purpose,action,at\ne1,m1,train\x00,grant,2024-03-01T00:00:00Z\n",
        ),
    ],
)
def test_when_csv_has_nul_then_refused_on_every_backend(db, tmp_path, kind, body) -> None:
    if kind != "members":
        add_member(db, "m1")
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(body.encode("utf-8"))
    err = _refused(db, kind, path)
    nul = [e for e in err.errors if "NUL" in str(e)]
    assert nul and nul[0].line == 2 and nul[0].field is not None, str(err)


def test_when_300_records_are_invalid_then_the_count_says_300(sqlite_db, tmp_path) -> None:
    bad = [dict(MEMBER, id=f"m{i}", handle=f"h{i}", country="XX") for i in range(300)]
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in bad), encoding="utf-8")
    err = _refused(sqlite_db, "members", path)
    assert err.invalid_records == 300 and err.total_errors == 300
    assert str(err).startswith("300 invalid record(s) (300 errors; the first 200 are listed)")
    assert len([e for e in err.errors if e.line is not None]) == imports.MAX_ERRORS


def test_when_a_record_has_two_errors_then_it_counts_once(sqlite_db, tmp_path) -> None:
    path = tmp_path / "two.jsonl"
    path.write_text(json.dumps(dict(MEMBER, country="XX", handle="@@")) + "\n", "utf-8")
    err = _refused(sqlite_db, "members", path)
    assert err.invalid_records == 1 and len(err.errors) == 2
    assert str(err).startswith("1 invalid record(s); nothing was imported")


def test_when_policy_version_is_out_of_range_then_input_error(db, tmp_path) -> None:
    add_member(db, "m1")
    rec = {
        "event_id": "e1",
        "member_id": "m1",
        "purpose": "train_own_models",
        "action": "grant",
        "at": "2024-03-01T00:00:00Z",
        "policy_version": 10**17,
    }
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(rec) + "\n", "utf-8")
    err = _refused(db, "consents", path)
    assert err.errors[0].field == "policy_version" and "out of range" in str(err)


def test_when_a_line_or_the_file_is_too_long_then_the_limit_is_named(
    sqlite_db, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(records, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "long.jsonl"
    path.write_text(LINE + "\n" + "x" * 5000 + "\n", "utf-8")
    with pytest.raises(InputError, match="line is longer than the limit") as info:
        import_file(sqlite_db, "members", path, now=NOW)
    assert info.value.line == 2
    monkeypatch.setattr(records, "MAX_LINE_BYTES", 8 << 20)
    monkeypatch.setattr(records, "MAX_FILE_BYTES", 3 << 20)
    path.write_text((LINE + "\n") * 40_000, "utf-8")
    with pytest.raises(InputError, match="larger than the limit of 3 MiB"):
        import_file(sqlite_db, "members", path, now=NOW)


def test_when_the_cli_imports_dev_zero_or_hostile_json_then_exit_65(
    db_settings: Settings, monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.setenv("OPTIN_DATABASE_URL", db_settings.db_url)
    home = ["--home", str(db_settings.home)]
    rc = run([*home, "import", "members", "/dev/zero", "--format", "jsonl"])
    err = capsys.readouterr().err
    assert rc == 65 and "/dev/zero:1" in err and "8 MiB" in err, err
    for case in ("long_integer", "deep_100k", "lone_surrogate", "nul", "duplicate_key"):
        path = tmp_path / f"{case}.jsonl"
        path.write_text(JSONL_CASES[case][0], encoding="utf-8")
        rc = run([*home, "import", "members", str(path)])
        err = capsys.readouterr().err
        assert rc == 65, (case, err)
        assert "internal error" not in err and f"{case}.jsonl:" in err, (case, err)
