"""The platform directory built from the members table."""

from __future__ import annotations

from pathlib import Path

import pytest

from optin.services.directory import platform_directory, profile_url
from optin.settings import Settings
from optin.storage.database import Database
from tests.factories import add_member


def test_when_no_database_then_none(tmp_path: Path) -> None:
    assert platform_directory(Settings(home=tmp_path / "nothing")) is None
    assert not (tmp_path / "nothing" / "optin.db").exists()


def test_when_members_then_directory_knows_them(sqlite_db: Database, tmp_path: Path) -> None:
    pytest.importorskip("optin.privacy.detect.directory")
    add_member(sqlite_db, "m1", handle="ana_souza", display_name="Ana Souza")
    add_member(sqlite_db, "m2", handle="kwame.mensah", display_name="Kwame Mensah")
    d = platform_directory(Settings(home=tmp_path, database_url=sqlite_db.url))
    assert d is not None and len(d) == 2
    assert profile_url("ana_souza") == "https://demo.optin.social/in/ana_souza"
