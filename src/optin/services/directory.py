"""The platform directory (members' names, handles, profile URLs) for PII detection.

Erased members stay in it as keyed hashes (``members.erasure_marker``, written by
:mod:`optin.services.erasure`): the key is the platform's **directory key**, kept in the
key store beside the member keys (reserved id :data:`DIRECTORY_KEY_ID`, wrapped by the
master key, never in the database), so a copy of the database cannot test guesses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from optin.errors import ConfigError
from optin.settings import Settings
from optin.storage import erasure as erasure_repo
from optin.storage.database import Database
from optin.storage.db import DatabaseError
from optin.storage.members import iter_directory_entries

if TYPE_CHECKING:
    from optin.privacy.detect import Directory, ErasedNames

PROFILE_URL = "https://demo.optin.social/in/{handle}"
#: The key store entry of the directory key: not a member id (member ids start with a
#: letter or digit).
DIRECTORY_KEY_ID = "_optin.directory-key"


def profile_url(handle: str) -> str:
    return PROFILE_URL.format(handle=handle)


def _entries(db: Database) -> Iterator[tuple[str, str]]:
    return iter_directory_entries(db.engine)


def directory_key(db: Database, *, now: datetime) -> bytes:
    """The platform's directory key (created on first use, at ``now``)."""
    key = db.keystore.create(DIRECTORY_KEY_ID, now)
    if key is None:  # pragma: no cover - nothing ever destroys it
        raise ConfigError("the directory key was destroyed; erased members cannot be matched")
    return key


def erasure_markers(db: Database) -> list[dict[str, object]]:
    """The erased members' directory markers (keyed hashes only)."""
    with db.session() as s:
        return [json.loads(m) for m in erasure_repo.iter_markers(s)]


def erased_names(db: Database) -> tuple[bytes, ErasedNames] | None:
    """The directory key and the erased members as keyed hashes (None: nobody erased)."""
    from optin.privacy.detect import ErasedNames

    markers = erasure_markers(db)
    if not markers:
        return None
    key = db.keystore.get([DIRECTORY_KEY_ID]).get(DIRECTORY_KEY_ID)
    if key is None:
        raise ConfigError(
            "erased members are listed in the directory as keyed hashes, but the directory "
            f"key ({DIRECTORY_KEY_ID!r}) is missing from the key store "
            "($OPTIN_HOME/keys): restore keys/ from the backup"
        )
    return key, ErasedNames(key, markers)


def directory_from_db(db: Database) -> Directory:
    from optin.privacy.detect import Directory, DirectoryEntry  # lazy: privacy is optional here

    erased = erased_names(db)
    return Directory.from_entries(
        (
            DirectoryEntry(display_name=name, handle=handle, profile_url=profile_url(handle))
            for name, handle in _entries(db)
        ),
        erased[1] if erased else None,
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


__all__ = [
    "DIRECTORY_KEY_ID",
    "PROFILE_URL",
    "directory_from_db",
    "directory_key",
    "erased_names",
    "erasure_markers",
    "platform_directory",
    "profile_url",
]
