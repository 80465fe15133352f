"""Export members, content and consent events as JSONL that re-imports cleanly.

::

    n = export_file(db, "consents", Path("consents.jsonl"))

The records have exactly the fields :mod:`optin.services.imports` accepts (see
``docs/import-formats.md``), so ``export`` then ``import`` into another database is a
round trip, and re-importing into the same database skips every record as identical.
Rows are streamed in id order (consents in ledger order) and written to a temporary
file that is renamed into place, so a reader never sees half a file. Login data
(password hashes, roles) and the ledger's encrypted personal fields are never exported.

Temporary files are named ``.<name>.<pid>.<random>.tmp`` next to the output. They are
removed on any error, and a leftover of a killed export (its pid no longer running) is
removed when the next export into that directory starts. A full disk (``ENOSPC``,
``EDQUOT``) is a :class:`~optin.errors.DiskFullError`: nothing was written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from optin.errors import InputError
from optin.files import atomic_text, remove_stale_temps
from optin.services.choices import parse_enum
from optin.services.imports import ImportKind, member_records
from optin.storage.database import Database
from optin.storage.db import Session
from optin.storage.repos import exports as repo

_CHUNK = 2000
_Page = Callable[[Session, Any, int], list[dict[str, Any]]]


def _iso(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def iter_members(db: Database) -> Iterator[dict[str, Any]]:
    last: str | None = None
    while True:
        with db.session() as s:
            ids = repo.member_ids_after(s, last, _CHUNK)
            recs = member_records(s, ids) if ids else {}
        if not ids:
            return
        last = ids[-1]
        for mid in ids:
            r = recs[mid]
            out: dict[str, Any] = {
                "id": r["id"],
                "handle": r["handle"],
                "display_name": r["display_name"],
                "email": r["email"],
                "birth_date": _iso(r["birth_date"]),
                "joined_at": _iso(r["joined_at"]),
                "countries": [{"since": _iso(t), "country": c} for t, c in r["countries"]],
                "statuses": [{"since": _iso(t), "status": st} for t, st in r["statuses"]],
            }
            if not out["countries"]:
                del out["countries"]  # a member without any country cannot be re-imported
            if not out["statuses"]:
                del out["statuses"]
            yield {k: v for k, v in out.items() if v is not None}


def _rows(db: Database, page: _Page, key: str) -> Iterator[dict[str, Any]]:
    """Every row ``page`` returns, in ``key`` order, one keyset page of ``_CHUNK`` rows per
    query and session (bounded memory)."""
    last = None
    while True:
        with db.session() as s:
            rows = page(s, last, _CHUNK)
        if not rows:
            return
        for row in rows:
            yield {k: _iso(v) for k, v in row.items()}
        last = rows[-1][key]


def iter_content(db: Database) -> Iterator[dict[str, Any]]:
    for rec in _rows(db, repo.content_after, "id"):
        yield {k: v for k, v in rec.items() if v is not None}


def iter_consents(db: Database) -> Iterator[dict[str, Any]]:
    # ledger order; seq is selected for paging and not exported
    for rec in _rows(db, repo.consents_after, "seq"):
        del rec["seq"]
        yield rec


_ITER = {
    ImportKind.MEMBERS: iter_members,
    ImportKind.CONTENT: iter_content,
    ImportKind.CONSENTS: iter_consents,
}


def export_file(db: Database, kind: ImportKind | str, output: Path) -> int:
    """Write every record of ``kind`` to ``output`` (JSONL, atomically); returns the count."""
    k = parse_enum(kind, ImportKind, field="kind", what="unknown export kind")
    if k not in _ITER:
        raise InputError(
            "cannot export this kind",
            field="kind",
            value=k.value,
            allowed=", ".join(x.value for x in _ITER),
        )
    output = Path(output)
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(
            "the output directory does not exist",
            field="--output",
            value=str(parent),
            allowed="an existing directory",
        )
    remove_stale_temps(output)
    n = 0
    with atomic_text(output, mode=0o600, mkdir=False) as f:
        for rec in _ITER[k](db):
            f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    return n


__all__ = [
    "export_file",
    "iter_consents",
    "iter_content",
    "iter_members",
]
