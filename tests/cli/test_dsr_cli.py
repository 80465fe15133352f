"""`optin dsr list|show|open|verify|complete|refuse|extend|sweep` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from tests.cli.test_core import cli  # noqa: F401  (fixture)
from tests.factories import add_content, add_member


def _setup(db_settings) -> None:  # type: ignore[no-untyped-def]
    from optin.storage.database import Database

    db = Database(db_settings.db_url, home=db_settings.home)
    try:
        add_member(db, "m07", handle="Nia", country="DE")
        add_content(db, "m07", "n1", "Nia's note on harbour cranes")
    finally:
        db.dispose()


def test_dsr_cli_flow(cli, db_settings) -> None:  # noqa: F811
    _setup(db_settings)
    rc, out, err = cli("dsr", "open", "@nia", "access", "--json", "--by", "ops")
    assert rc == 0, err
    r = json.loads(out)
    assert r["state"] == "received" and r["rule"] == "gdpr" and r["opened_by"] == "cli:ops"
    rid = r["id"]
    rc, _, err = cli("dsr", "complete", rid)
    assert rc == 75 and "verified" in err and "Traceback" not in err
    rc, out, err = cli("dsr", "verify", rid, "--method", "signed letter", "--json")
    assert rc == 0 and json.loads(out)["state"] == "verified", err
    rc, out, err = cli("dsr", "extend", rid, "--reason", "archive restore", "--json")
    assert rc == 0 and json.loads(out)["extended"] is True, err
    rc, out, err = cli("dsr", "complete", rid, "--json")
    assert rc == 0, err
    done = json.loads(out)
    assert done["state"] == "completed" and done["package_available"] is True
    assert list((db_settings.home / "dsr" / "access").glob("*.zip"))
    rc, out, _ = cli("dsr", "list", "--json")
    assert rc == 0 and json.loads(out) == []  # open only
    rc, out, _ = cli("dsr", "list", "--all", "--json")
    assert [x["id"] for x in json.loads(out)] == [rid]
    rc, out, _ = cli("dsr", "list", "--all")  # the table (its width follows the terminal)
    assert rc == 0 and "1 request(s)" in out
    rc, out, _ = cli("dsr", "show", rid)
    assert rc == 0 and "history" in out and "archive" in out
    rc, out, _ = cli("dsr", "show", rid, "--json")
    assert [e["to_state"] for e in json.loads(out)["history"]] == [
        "received",
        "verified",
        "extended",
        "in_progress",
        "completed",
    ]
    rc, _, err = cli("dsr", "refuse", rid, "--reason", "x")
    assert rc == 75 and "already completed" in err
    rc, out, _ = cli("dsr", "open", "m07", "objection", "--verified-by", "signed letter", "--json")
    assert rc == 0 and json.loads(out)["state"] == "completed"
    rc, out, _ = cli("dsr", "open", "m07", "erasure", "--json")
    er = json.loads(out)["id"]
    rc, out, _ = cli("dsr", "list", "--json")
    assert rc == 0 and [(x["id"], x["urgency"]) for x in json.loads(out)] == [(er, "ok")]
    rc, _, err = cli("dsr", "refuse", er, "--reason", " ")
    assert rc == 65 and "reason is required" in err
    rc, out, _ = cli("dsr", "sweep", "--json")
    assert rc == 0 and json.loads(out)["packages_removed"] == 0
    rc, _, err = cli("dsr", "show", "dsr_nope")
    assert rc == 66 and "dsr list" in err
    rc, _, err = cli("dsr", "open", "m07", "rectify")
    assert rc == 65 and "allowed: access, erasure, objection" in err
