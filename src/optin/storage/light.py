"""Storage helpers that import no SQLAlchemy, shared by the ORM path and the read-only
SQLite path (:mod:`optin.storage.sqlite_read`): the handle fold, ledger rows as domain
events, and the head migration read from the migration files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from optin.domain.model import ERASURE_ACTION, ConsentAction, ConsentEvent, ConsentSource

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_REVISION = re.compile(r"""^(down_)?revision\s*(?::[^=]+)?=\s*(?:["'](\w+)["']|None)""", re.M)


def fold_handle(handle: str) -> str:
    """The case-folded form of a handle: what uniqueness is judged on."""
    return handle.casefold()


def is_erasure(row: Any) -> bool:
    """Whether a ledger row records an erasure (not a consent choice; see
    :func:`optin.storage.ledger.append.append_erasure`)."""
    return bool(row.action == ERASURE_ACTION)


def row_to_event(row: Any) -> ConsentEvent:
    """A consent choice row as a domain event (never an erasure row: check
    :func:`is_erasure` first)."""
    return ConsentEvent(
        event_id=row.event_id,
        member_id=row.member_id,
        purpose=row.purpose,
        action=ConsentAction(row.action),
        at=row.at,
        policy_version=int(row.policy_version),
        source=ConsentSource(row.source),
        seq=int(row.seq),
        recorded_at=row.recorded_at,
    )


def head_from_files(versions: Path = MIGRATIONS / "versions") -> str | None:
    """The newest migration from the migration files' ``revision`` and ``down_revision``
    lines; None where those lines do not give exactly one head (Alembic decides then)."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for f in versions.glob("[0-9]*.py"):
        found = dict.fromkeys(("revision", "down_revision"))
        for m in _REVISION.finditer(f.read_text("utf-8")):
            found["down_revision" if m[1] else "revision"] = m[2]
        if found["revision"] is None:
            return None
        revisions.add(found["revision"])
        if found["down_revision"]:
            downs.add(found["down_revision"])
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


__all__ = ["MIGRATIONS", "fold_handle", "head_from_files", "is_erasure", "row_to_event"]
