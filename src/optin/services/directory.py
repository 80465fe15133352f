"""The platform directory (members' names, handles, profile URLs) for PII detection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.db import DatabaseError
from optin.storage.members import iter_directory_entries

if TYPE_CHECKING:
    from optin.privacy.detect import Directory

PROFILE_URL = "https://demo.optin.social/in/{handle}"


def profile_url(handle: str) -> str:
    return PROFILE_URL.format(handle=handle)


def _entries(db: Database) -> Iterator[tuple[str, str]]:
    return iter_directory_entries(db.engine)


def directory_from_db(db: Database) -> Directory:
    from optin.privacy.detect import Directory, DirectoryEntry  # lazy: privacy is optional here

    return Directory.from_entries(
        DirectoryEntry(display_name=name, handle=handle, profile_url=profile_url(handle))
        for name, handle in _entries(db)
    )


def platform_directory(settings: Settings) -> Directory | None:
    """The directory built from the members table, or None when there is no database."""
    db = Database.open(settings)
    try:
        if not db.is_initialized():
            return None
        return directory_from_db(db)
    except (DatabaseError, OSError):  # refused connection, unreadable file: no directory
        return None
    finally:
        db.dispose()
