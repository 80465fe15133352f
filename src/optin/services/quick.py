"""A read-only fast path for ``optin consent show`` and ``optin eligibility`` on the
embedded SQLite database: stdlib ``sqlite3`` (:mod:`optin.storage.sqlite_read`) instead
of SQLAlchemy, so the command neither imports nor configures the ORM (start-up, issue 16).

It loads the same rows into the same domain objects and decides with the same functions
as the full path (:func:`optin.services.consent.consent_state`,
:func:`optin.services.eligibility.decide_member`): the eligibility rules live in
:mod:`optin.domain.eligibility` alone. It raises only the errors of those functions'
own checks in their order (an unknown member, an unknown purpose: the same functions
build the messages); for anything else (PostgreSQL or another ``OPTIN_DATABASE_URL``, no
database file, a schema not at the head migration, a value not in the form the ORM
writes, any unexpected error) it returns None and the caller takes the full path, which
gives every other error message. ``tests/services/test_quick.py`` holds its output equal
to the full path's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from optin.domain.eligibility import Decision, PolicySet, eligibility
from optin.domain.model import MemberHistory
from optin.errors import NotFoundError
from optin.services.consent_view import PurposeState, member_not_found, state_from_history
from optin.services.policy_rules import parse_version, require_purpose
from optin.storage import sqlite_read

#: Characters that SQLAlchemy's URL parser reads specially in ``sqlite:///PATH``
#: (a query, an escape): with one in the path, only the full path opens the same file.
_URL_SPECIAL = frozenset("?%#")
T = TypeVar("T")


class HomeSettings(Protocol):
    @property
    def home(self) -> Path: ...
    @property
    def database_url(self) -> str | None: ...


def sqlite_file(settings: HomeSettings) -> Path | None:
    """The embedded database file of ``settings`` (as ``Settings.db_url`` names it), or
    None where the fast path does not apply (a database URL is configured)."""
    if settings.database_url:
        return None
    path = (settings.home / "optin.db").resolve()
    return None if _URL_SPECIAL.intersection(str(path)) else path


def _policy_set(conn: sqlite3.Connection) -> PolicySet:
    return PolicySet(parse_version(*row) for row in sqlite_read.policy_rows(conn))


def _resolve(conn: sqlite3.Connection, ref: str) -> str:
    member_id = sqlite_read.member_id_for(conn, ref)
    if member_id is None:
        raise member_not_found(ref)
    return member_id


def _read(
    settings: HomeSettings,
    ref: str,
    answer: Callable[[str, PolicySet, MemberHistory], T],
    check: Callable[[PolicySet], object] | None = None,
) -> T | None:
    """``answer(member id, policies, history)`` from one read of the database, after
    ``check(policies)``; None: take the full path."""
    path = sqlite_file(settings)
    if path is None:
        return None
    try:
        with sqlite_read.snapshot(path) as conn:
            member_id = _resolve(conn, ref)
            ps = _policy_set(conn)
            if check is not None:
                check(ps)
            history = sqlite_read.member_history(conn, member_id)
        if history is None:
            raise member_not_found(member_id)
        return answer(member_id, ps, history)
    except NotFoundError:
        raise
    except Exception:  # anything unexpected: the full path decides (and explains)
        return None


def consent_state(
    settings: HomeSettings, ref: str, at: datetime
) -> tuple[str, list[PurposeState]] | None:
    """``(member id, states)`` as ``resolve_member`` then ``consent_state`` give them;
    None: take the full path."""
    return _read(settings, ref, lambda mid, ps, h: (mid, state_from_history(h, ps, at)))


def decide_member(
    settings: HomeSettings, ref: str, purpose: str, at: datetime
) -> tuple[str, Decision] | None:
    """``(member id, decision)`` as ``resolve_member`` then ``decide_member`` give them;
    None: take the full path."""
    return _read(
        settings,
        ref,
        lambda mid, ps, h: (mid, eligibility(h, purpose, at, ps)),
        lambda ps: require_purpose(ps, purpose, at, any_version=True),
    )


__all__ = ["HomeSettings", "consent_state", "decide_member", "sqlite_file"]
