"""Setting up a database: schema to head, ledger head, the shipped default policy.

::

    db = open_database(settings)             # or Database(url)
    published = init_database(db, now=now)   # idempotent; True when policy v1 was published
    # a history that predates now (demo, imports): say so explicitly
    init_database(db, now=now, effective_at=DEFAULT_POLICY_EFFECTIVE_AT, allow_backdate=True)

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

#: An early effective time for version 1, for explicit callers (demo, tests, benches)
#: whose histories predate "now" (they pass it with ``allow_backdate=True``).
DEFAULT_POLICY_EFFECTIVE_AT = datetime(2024, 1, 1, tzinfo=UTC)


def open_database(settings: Settings) -> Database:
    """The database of ``settings`` (nothing connects until first use)."""
    return Database.open(settings)


def publish_default_policy(
    db: Database,
    *,
    now: datetime,
    text: str | None = None,
    effective_at: datetime | None = None,
    allow_backdate: bool = False,
    acknowledge_opt_out: bool = False,
    source: str = "default_policy.toml",
) -> bool:
    """Publish the platform's first policy as version 1 if there is none yet: ``text``
    (default: the shipped policy), effective ``effective_at`` (default ``now``; in the
    past only with ``allow_backdate``, e.g. :data:`DEFAULT_POLICY_EFFECTIVE_AT` for demo
    and imported histories)."""
    with db.session() as s:
        n = policies.count(s)
    if n:
        return False
    try:
        publish_policy(
            db,
            default_policy_text() if text is None else text,
            now=now,
            effective_at=effective_at,
            source=source,
            allow_backdate=allow_backdate,
            acknowledge_opt_out=acknowledge_opt_out,
            expect_version=1,
        )
    except ConflictError:
        with db.session() as s:  # a concurrent init published version 1 first
            if policies.count(s):
                return False
        raise
    return True


def init_database(
    db: Database,
    *,
    now: datetime,
    policy_text: str | None = None,
    effective_at: datetime | None = None,
    allow_backdate: bool = False,
    acknowledge_opt_out: bool = False,
    policy_source: str = "default_policy.toml",
) -> bool:
    """Create the data directory, migrate to head, create the ledger head and publish
    the platform's first policy (``policy_text``, default the shipped one) as version 1
    when none exists, effective ``effective_at`` (default ``now``; never silently in the
    past: a past time needs ``allow_backdate``). Idempotent.

    Returns True when the policy was published by this call.
    """
    db.init()
    published = publish_default_policy(
        db,
        now=now,
        text=policy_text,
        effective_at=effective_at,
        allow_backdate=allow_backdate,
        acknowledge_opt_out=acknowledge_opt_out,
        source=policy_source,
    )
    log.info("database initialised at %r", db)
    return published


__all__ = [
    "DEFAULT_POLICY_EFFECTIVE_AT",
    "Database",
    "init_database",
    "open_database",
    "publish_default_policy",
]
