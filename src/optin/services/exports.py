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
import os
import re
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from optin.errors import DiskFullError, InputError
from optin.services.database import Database
from optin.services.imports import ImportKind, member_records
from optin.storage.models import ConsentEventRow, ContentRow, MemberRow

_CHUNK = 2000
#: A legacy temp file (no pid in its name) older than this is a leftover.
_LEGACY_STALE_S = 600.0


def _iso(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def _keyset(db: Database, column: Any, chunk: int) -> Iterator[list[Any]]:
    """Primary keys in order, ``chunk`` at a time (keyset pagination: bounded memory)."""
    last = None
    while True:
        with db.session() as s:
            q = select(column).order_by(column).limit(chunk)
            if last is not None:
                q = q.where(column > last)
            keys = list(s.execute(q).scalars())
        if not keys:
            return
        yield keys
        last = keys[-1]


def iter_members(db: Database) -> Iterator[dict[str, Any]]:
    for ids in _keyset(db, MemberRow.id, _CHUNK):
        with db.session() as s:
            recs = member_records(s, ids)
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


def _rows(db: Database, key: Any, cols: tuple[Any, ...]) -> Iterator[dict[str, Any]]:
    """``cols`` of every row in ``key`` order as export records, one keyset page of
    ``_CHUNK`` rows per query (bounded memory, one query per page)."""
    last = None
    pos = cols.index(key)
    while True:
        q = select(*cols).order_by(key).limit(_CHUNK)
        if last is not None:
            q = q.where(key > last)
        with db.session() as s:
            rows = s.execute(q).all()
        if not rows:
            return
        for row in rows:
            yield {c.key: _iso(v) for c, v in zip(cols, row, strict=True)}
        last = rows[-1][pos]


def iter_content(db: Database) -> Iterator[dict[str, Any]]:
    cols = (
        ContentRow.id,
        ContentRow.author_id,
        ContentRow.kind,
        ContentRow.visibility,
        ContentRow.text,
        ContentRow.language,
        ContentRow.created_at,
        ContentRow.edited_at,
        ContentRow.deleted_at,
    )
    for rec in _rows(db, ContentRow.id, cols):
        yield {k: v for k, v in rec.items() if v is not None}


def iter_consents(db: Database) -> Iterator[dict[str, Any]]:
    cols = (
        ConsentEventRow.event_id,
        ConsentEventRow.member_id,
        ConsentEventRow.purpose,
        ConsentEventRow.action,
        ConsentEventRow.at,
        ConsentEventRow.policy_version,
        ConsentEventRow.source,
        ConsentEventRow.recorded_at,
    )
    # ledger order; seq is selected for paging and not exported
    for rec in _rows(db, ConsentEventRow.seq, (*cols, ConsentEventRow.seq)):
        del rec["seq"]
        yield rec


_ITER = {
    ImportKind.MEMBERS: iter_members,
    ImportKind.CONTENT: iter_content,
    ImportKind.CONSENTS: iter_consents,
}


def export_file(db: Database, kind: ImportKind | str, output: Path) -> int:
    """Write every record of ``kind`` to ``output`` (JSONL, atomically); returns the count."""
    try:
        k = ImportKind(kind)
    except ValueError:
        raise InputError(
            "unknown export kind",
            field="kind",
            value=kind,
            allowed=", ".join(x.value for x in ImportKind),
        ) from None
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
    fd, tmp = _open_temp(output)
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            for rec in _ITER[k](db):
                f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
                n += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, output)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and DiskFullError.matches(e):
            raise DiskFullError(f"the {k.value} export", path=str(output)) from e
        raise
    return n


# ----------------------------------------------------------------------- temp files


def _temp_pattern(target: Path) -> re.Pattern[str]:
    """Names of optin's temp files for ``target``: ``.<name>.<pid>.<random>.tmp`` (and
    the legacy ``.<name>.<random>.tmp``, where the pid group is empty)."""
    return re.compile(rf"\.{re.escape(target.name)}\.(?:(\d+)\.)?[a-z0-9_]{{8}}\.tmp")


def _open_temp(target: Path) -> tuple[int, str]:
    """A new temp file next to ``target`` (fd, path), its name tagged with our pid."""
    parent = target.parent if str(target.parent) else Path(".")
    return tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=parent)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(target: Path, *, now: float | None = None) -> int:
    """Remove leftover temp files of ``target`` whose writer is gone (its pid is not
    running; a legacy name without pid: older than 10 minutes). Only names matching
    optin's own pattern are touched; returns how many were removed."""
    parent = target.parent if str(target.parent) else Path(".")
    pattern = _temp_pattern(target)
    when = time.time() if now is None else now
    removed = 0
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return 0
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = m.group(1)
        try:
            if pid is None:
                stale = when - entry.stat().st_mtime > _LEGACY_STALE_S
            else:
                stale = int(pid) != os.getpid() and not _alive(int(pid))
            if stale:
                os.unlink(entry.path)
                removed += 1
        except (OSError, ValueError, OverflowError):
            continue  # vanished meanwhile, or not ours to remove
    return removed


__all__ = [
    "export_file",
    "iter_consents",
    "iter_content",
    "iter_members",
    "remove_stale_temps",
]
