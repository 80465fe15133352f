"""`optin apikey` and `optin user` (``optin serve`` itself runs in the browser tests)."""

from __future__ import annotations

import json

import pytest

from optin.cli.main import run
from optin.settings import Settings
from optin.storage.database import Database
from tests.factories import add_member


@pytest.fixture()
def cli(sqlite_db: Database, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys):  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path / "home", database_url=sqlite_db.url)
    monkeypatch.setenv("OPTIN_DATABASE_URL", settings.db_url)
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = run(["--home", str(settings.home), *args])
        out, err = capsys.readouterr()
        return rc, out, " ".join(err.split())

    return invoke


def test_apikey_create_list_revoke(cli) -> None:  # type: ignore[no-untyped-def]
    rc, out, _ = cli(
        "apikey",
        "create",
        "settings-app",
        "--scope",
        "consents:write",
        "--scope",
        "receipts:read",
        "--json",
    )
    assert rc == 0
    key = json.loads(out)
    assert key["key"].startswith(f"optin_{key['id']}_")
    assert key["scopes"] == ["consents:write", "receipts:read"]
    rc, out, _ = cli("apikey", "list", "--json")
    listed = json.loads(out)
    assert [k["id"] for k in listed] == [key["id"]] and key["key"] not in out
    assert cli("apikey", "revoke", key["id"])[0] == 0
    assert json.loads(cli("apikey", "list", "--json")[1])[0]["revoked_at"]


def test_apikey_with_unknown_scope_fails_with_the_allowed_list(cli) -> None:  # type: ignore[no-untyped-def]
    rc, _, err = cli("apikey", "create", "x", "--scope", "everything")
    assert rc == 65 and "allowed: consents:write" in err


def test_user_set_password_and_role(cli, sqlite_db: Database) -> None:  # type: ignore[no-untyped-def]
    add_member(sqlite_db, "m1", handle="ada")
    assert cli("user", "set-password", "ada", "--password", "long-enough-1")[0] == 0
    assert cli("user", "set-role", "@ada", "admin")[0] == 0
    rc, _, err = cli("user", "set-password", "nobody", "--password", "long-enough-1")
    assert rc == 66 and "nobody" in err
