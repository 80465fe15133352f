"""Issue 9 #5: `optin member`, `optin import member-events`, `optin consent set` rules."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_core import cli  # noqa: F401  (fixture)
from tests.factories import add_member


def test_member_update_list_show_by_handle_any_case(cli, db_settings) -> None:  # noqa: F811
    from optin.storage.database import Database

    db = Database(db_settings.db_url, home=db_settings.home)
    try:
        add_member(db, "m03", handle="priya.raman", country="IN")
    finally:
        db.dispose()
    rc, out, err = cli("member", "update", "@Priya.Raman", "--country", "DE", "--json")
    assert rc == 0, err
    assert json.loads(out)["changes"] == [{"kind": "country", "value": "DE", "recorded": True}]
    rc, out, err = cli("member", "update", "m03", "--status", "suspended")
    assert rc == 0 and "status suspended" in out
    rc, out, _ = cli("member", "list", "--json")
    assert [(m["id"], m["country"], m["status"]) for m in json.loads(out)] == [
        ("m03", "DE", "suspended")
    ]
    rc, out, _ = cli("member", "show", "@PRIYA.RAMAN")
    assert rc == 0 and "m03" in out and "suspended" in out
    rc, out, _ = cli("consent", "show", "@Priya.Raman", "--json")
    assert rc == 0 and json.loads(out)["member_id"] == "m03"
    rc, _, err = cli("member", "update", "m03", "--effective-at", "2020-01-01", "--country", "US")
    assert rc == 65 and "joined" in err and "Traceback" not in err
    rc, _, err = cli("member", "show", "@nobody")
    assert rc == 66


def test_consent_set_backdated_web_is_refused_and_redundant_is_already_off(
    cli,  # noqa: F811
    db_settings,
) -> None:
    from optin.storage.database import Database

    db = Database(db_settings.db_url, home=db_settings.home)
    try:
        add_member(db, "m09")
    finally:
        db.dispose()
    rc, _, err = cli(
        "consent",
        "set",
        "m09",
        "train_own_models",
        "on",
        "--at",
        "2024-05-01T00:00:00Z",
        "--source",
        "web",
    )
    assert rc == 65 and "backdated events come only from `optin import consents`" in err
    rc, out, err = cli("consent", "set", "m09", "train_own_models", "off")
    assert rc == 0 and "switched" in out
    rc, out, err = cli("consent", "set", "m09", "train_own_models", "off")
    assert rc == 0 and "already off" in out
    rc, out, err = cli("consent", "set", "m09", "train_own_models", "off", "--json")
    assert json.loads(out)["recorded"] is False


def test_import_member_events_names_file_line_field(cli, db_settings, tmp_path: Path) -> None:  # noqa: F811
    from optin.storage.database import Database

    db = Database(db_settings.db_url, home=db_settings.home)
    try:
        add_member(db, "m1")
    finally:
        db.dispose()
    bad = tmp_path / "ev.jsonl"
    bad.write_text('{"member_id": "m1", "effective_at": "2025-01-01T00:00:00Z", "country": "XX"}\n')
    rc, _, err = cli("import", "member-events", str(bad))
    assert rc == 65 and "ev.jsonl:1" in err and "'country'" in err
    good = tmp_path / "ok.csv"
    good.write_text("member_id,effective_at,status\nm1,2025-01-01T00:00:00Z,closed\n")
    rc, out, err = cli("import", "member-events", str(good), "--json")
    assert rc == 0, err
    assert json.loads(out)["inserted"] == 1
