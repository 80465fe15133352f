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
