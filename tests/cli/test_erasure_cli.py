"""`optin dsr erase` (needs --yes), `optin dsr erasure-record`, `optin dsr compact`."""

from __future__ import annotations

import json

from tests.cli.test_core import cli  # noqa: F401  (fixture)
from tests.factories import add_member


def test_dsr_erase_needs_yes_then_erases_and_records(cli, db_settings) -> None:  # noqa: F811
    from optin.storage.database import Database

    db = Database(db_settings.db_url, home=db_settings.home)
    try:
        add_member(db, "m05", handle="ada.l", display_name="Ada Lovelace", email="ada@example.org")
    finally:
        db.dispose()
    rc, _, err = cli("dsr", "erase", "@ada.l")
    assert rc == 65 and "--yes" in err and "Traceback" not in err
    rc, out, err = cli("dsr", "erase", "@Ada.L", "--yes", "--request", "R-9", "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["member_id"] == "m05" and report["request_id"] == "R-9"
    assert "Ada" not in out and "ada@example.org" not in out
    rc, _, err = cli("dsr", "erase", "@ada.l", "--yes")
    assert rc == 66  # the handle is gone with the erasure
    rc, out, err = cli("dsr", "erasure-record", "m05", "--json")
    assert rc == 0, err
    places = {(r["place"], r["what"]) for r in json.loads(out)}
    assert ("members", "email") in places and ("keystore", "member_key") in places
    rc, out, err = cli("dsr", "compact", "--json")
    assert rc == 0 and json.loads(out)["complete"] is True, err


def _holder(db_settings):  # type: ignore[no-untyped-def]
    """A session holding a snapshot older than the erasure (see
    tests/services/test_dsr_erasure.py): PostgreSQL REPEATABLE READ, SQLite a reader."""
    from sqlalchemy import create_engine

    engine = create_engine(db_settings.db_url)
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ")
        conn.exec_driver_sql("SELECT 1")
    else:
        conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql("SELECT count(*) FROM policy_versions")
    return engine, conn


def test_incomplete_compaction_is_an_error_line_and_exit_75(
    cli,  # noqa: F811
    db_settings,
    monkeypatch,
) -> None:
    from optin.storage import erasure as erasure_repo
    from optin.storage.database import Database

    monkeypatch.setattr(erasure_repo, "COMPACT_WAIT_SECONDS", 0.3)
    db = Database(db_settings.db_url, home=db_settings.home)
    try:
        add_member(db, "m05", handle="ada.l", display_name="Ada Lovelace", email="ada@example.org")
        add_member(db, "m06", handle="bo.b", display_name="Bo Brandt")
    finally:
        db.dispose()
    engine, conn = _holder(db_settings)
    try:
        rc, out, err = cli("dsr", "erase", "m05", "--yes", "--json")
        assert rc == 75 and "Traceback" not in err, err
        assert "the erasure is done and recorded, but compaction incomplete" in err
        assert "optin dsr compact" in err
        report = json.loads(out)
        assert report["compaction"]["complete"] is False and report["compaction"]["problem"]
        rc, out, err = cli("dsr", "open", "m06", "erasure", "--verified-by", "letter", "--json")
        assert rc == 0, err
        request_id = json.loads(out)["id"]
        rc, out, err = cli("dsr", "complete", request_id)
        assert rc == 75 and "the request is completed, but compaction incomplete" in err
        rc, out, err = cli("dsr", "show", request_id, "--json")
        assert rc == 0 and "compaction incomplete" in out  # the history says it too
        rc, out, err = cli("dsr", "compact")
        assert rc == 75 and "complete: False" in out and "compaction incomplete" in err
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()
    rc, out, err = cli("dsr", "erasure-record", "m05", "--json")
    assert rc == 0 and "compaction_incomplete" in {r["action"] for r in json.loads(out)}
    if db_settings.db_url.startswith("sqlite"):  # on PostgreSQL other workers may hold one
        rc, out, err = cli("dsr", "compact")
        assert rc == 0 and "complete: True" in out, err


def test_dsr_complete_several_erasure_requests_in_one_pass(cli, db_settings) -> None:  # noqa: F811
    from optin.storage.database import Database

    db = Database(db_settings.db_url, home=db_settings.home)
    try:
        add_member(db, "m05", handle="ada.l", display_name="Ada Lovelace")
        add_member(db, "m06", handle="bo.b", display_name="Bo Brandt")
    finally:
        db.dispose()
    ids = []
    for m in ("m05", "m06"):
        rc, out, err = cli("dsr", "open", m, "erasure", "--verified-by", "letter", "--json")
        assert rc == 0, err
        ids.append(json.loads(out)["id"])
    rc, out, err = cli("dsr", "complete", *ids, "--json")
    assert rc in (0, 75) and "Traceback" not in err, err  # 75: see the test above
    done = json.loads(out)
    assert [r["id"] for r in done] == ids and {r["state"] for r in done} == {"completed"}
    rc, out, err = cli("dsr", "complete", "dsr_nope", ids[0])
    assert rc == 66 and "does not exist" in err
