"""The web world of tests/web (members with logins and an app), reused here."""

from tests.web.conftest import any_world, password_hashes, world

__all__ = ["any_world", "password_hashes", "world"]
