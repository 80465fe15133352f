"""Web fixtures: a small world of members with logins, an app and API keys.

``world``: alice and bob (US adults), eve (Germany: excluded), kid (US minor) and an
admin, all with the password ``PASSWORDS[handle]``; the shipped default policy.
``client_for(handle)`` returns a logged-in TestClient; ``api_key(*scopes)`` a key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from optin.services import web_auth
from optin.services.web_auth import LoginRateLimiter
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import MemberRow
from optin.web import create_app
from tests.factories import MINOR, add_member

PASSWORDS = {
    "alice": "alice-password-1",
    "bob": "bob-password-1",
    "eve": "eve-password-1",
    "kid": "kid-password-1",
    "admin": "admin-password-1",
}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def password_hashes() -> dict[str, str]:
    return {h: web_auth.hash_password(p) for h, p in PASSWORDS.items()}


@dataclass
class World:
    db: Database
    settings: Settings
    app: FastAPI
    ids: dict[str, str] = field(default_factory=dict)

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def login(self, handle: str, password: str | None = None) -> TestClient:
        c = self.client()
        r = c.post(
            "/login",
            data={
                "handle": handle,
                "password": password or PASSWORDS[handle],
                "csrf_token": login_token(c),
            },
        )
        assert r.status_code == 303, r.text
        return c

    def api_key(self, *scopes: str) -> str:
        with self.db.session() as s:
            return web_auth.create_api_key(s, "test", list(scopes), now=datetime.now(UTC)).token


def login_token(c: TestClient) -> str:
    r = c.get("/login")
    m = CSRF_RE.search(r.text)
    assert m, r.text
    return m.group(1)


def csrf_of(c: TestClient, path: str = "/settings/data-privacy/generative-ai") -> str:
    r = c.get(path)
    m = CSRF_RE.search(r.text)
    assert m, r.text
    return m.group(1)


def make_world(db: Database, tmp_path: Path, password_hashes: dict[str, str]) -> World:
    add_member(db, "m-alice", handle="alice", country="US")
    add_member(db, "m-bob", handle="bob", country="US")
    add_member(db, "m-eve", handle="eve", country="DE")
    add_member(db, "m-kid", handle="kid", country="US", birth_date=MINOR)
    add_member(db, "m-admin", handle="admin", country="US")
    with db.session() as s:
        for handle, h in password_hashes.items():
            s.execute(
                update(MemberRow)
                .where(MemberRow.handle == handle)
                .values(password_hash=h, role="admin" if handle == "admin" else "member")
            )
    settings = Settings(home=tmp_path / "home", database_url=db.url)
    app = create_app(settings, db=db, limiter=LoginRateLimiter())
    return World(db, settings, app, {h: f"m-{h}" for h in PASSWORDS})


@pytest.fixture()
def world(sqlite_db: Database, tmp_path: Path, password_hashes: dict[str, str]) -> World:
    """The world on SQLite."""
    return make_world(sqlite_db, tmp_path, password_hashes)


@pytest.fixture()
def any_world(db: Database, tmp_path: Path, password_hashes: dict[str, str]) -> World:
    """The world on SQLite and again on PostgreSQL."""
    return make_world(db, tmp_path, password_hashes)


ClientFor = Callable[[str], TestClient]
