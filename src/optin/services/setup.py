"""Setting up a database: schema to head, ledger head, the shipped default policy.

::

    db = open_database(settings)             # or Database(url)
    published = init_database(db, now=now)   # idempotent; True when policy v1 was published

Adapters (web, CLI) name the handle's type as ``optin.services.setup.Database``: the class
lives in :mod:`optin.storage.database`, which they do not import.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from optin.domain.policy import default_policy_text
from optin.errors import ConflictError
from optin.services.policy import publish_policy
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.repos import policies

log = logging.getLogger(__name__)

#: Effective time of the shipped default policy (version 1), early enough that demo
#: and imported histories can predate "now".
DEFAULT_POLICY_EFFECTIVE_AT = datetime(2024, 1, 1, tzinfo=UTC)


def open_database(settings: Settings) -> Database:
    """The database of ``settings`` (nothing connects until first use)."""
    return Database.open(settings)


def publish_default_policy(db: Database, *, now: datetime) -> bool:
    """Publish the shipped policy as version 1 (published ``now``) if there is none yet."""
    with db.session() as s:
        n = policies.count(s)
    if n:
        return False
    try:
        publish_policy(
            db,
            default_policy_text(),
            now=now,
            effective_at=DEFAULT_POLICY_EFFECTIVE_AT,
            source="default_policy.toml",
            allow_backdate=True,  # the first version; no decision predates it
        )
    except ConflictError:
        return False
    return True


def init_database(db: Database, *, now: datetime) -> bool:
    """Create the data directory, migrate to head, create the ledger head and publish
    the shipped default policy as version 1 when none exists. Idempotent.

    Returns True when the default policy was published by this call.
    """
    db.init()
    published = publish_default_policy(db, now=now)
    log.info("database initialised at %r", db)
    return published


__all__ = [
    "DEFAULT_POLICY_EFFECTIVE_AT",
    "Database",
    "init_database",
    "open_database",
    "publish_default_policy",
]
