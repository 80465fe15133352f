"""Import members, content and consent events from JSONL or CSV, all or nothing.

::

    result = import_file(db, "members", Path("members.jsonl"))

Rules (the record schemas are in ``docs/import-formats.md``):

* **Strict validation, every error reported.** Each problem becomes an
  :class:`~optin.errors.InputError` naming the file, line, field, bad value and what is
  allowed; up to :data:`MAX_ERRORS` are collected and raised together as one
  :class:`~optin.errors.ImportValidationError`. Unknown fields are errors (typos would
  otherwise vanish silently).
* **All or nothing.** Validation runs before anything is written; the writes happen in
  one transaction, so an error of any kind leaves the database unchanged.
* **Idempotent.** Records carry external ids (members ``id``, content ``id``, consent
  events ``event_id``). A record whose id exists with identical content is skipped; one
  whose content differs is a :class:`~optin.errors.ConflictError` naming the line.
* **Times** are ISO 8601 *with* a UTC offset (``2025-03-01T12:00:00Z``). Naive times are
  rejected rather than guessed. No time may lie in the future.
* Consent events are appended through the hash-chained ledger
  (:func:`optin.storage.ledger.append_many`), in time order.
* Files are read as bytes and decoded line by line, so invalid UTF-8 is reported with
  its line number. Files and lines are bounded (:data:`~.records.MAX_FILE_BYTES`,
  :data:`~.records.MAX_LINE_BYTES`); JSON is strict (no duplicate keys, no NUL or lone
  surrogates, bounded integers and nesting): see :mod:`optin.services.imports.records`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optin.errors import InputError
from optin.services.choices import parse_enum
from optin.services.imports.fields import (
    FIELDS,
    ID_FIELD,
    check_consent,
    check_content,
    check_member,
    parse_record,
)
from optin.services.imports.records import (
    MAX_ERRORS,
    Errors,
    ImportFormat,
    ImportKind,
    ImportResult,
    TooMany,
    detect_format,
    read_csv,
    read_jsonl,
    read_limited,
)
from optin.services.policy import policy_set
from optin.storage.database import Database
from optin.storage.repos.imports import (
    existing_member_ids,
    member_records,
    write_consents,
    write_content,
    write_members,
)

# ----------------------------------------------------------------------------- import


def import_file(
    db: Database,
    kind: ImportKind | str,
    path: Path,
    *,
    now: datetime,
    fmt: str | None = None,
    name: str | None = None,
) -> ImportResult:
    """Validate and import ``path``; see the module docstring for the rules.

    ``name`` is how the file is named in messages (default: the path as given).
    """
    k = parse_enum(kind, ImportKind, field="kind", what="unknown import kind")
    label = name or str(path)
    form = detect_format(path, fmt)
    try:
        with path.open("rb") as f:
            data = read_limited(f, label)
    except OSError as e:
        raise InputError(f"cannot read the file: {e.strerror}", file=label) from None
    return import_bytes(db, k, data, fmt=form, now=now, name=label)


def import_bytes(
    db: Database,
    kind: ImportKind,
    data: bytes,
    *,
    fmt: ImportFormat,
    now: datetime,
    name: str = "<input>",
) -> ImportResult:
    when = now.astimezone(UTC)
    errs = Errors(name)
    records: list[tuple[int, dict[str, Any]]] = []
    try:
        _parse_all(db, kind, data, fmt, when, errs, records)
        if kind is ImportKind.MEMBERS:
            _check_handles(records, errs)
        else:
            _check_members_exist(db, kind, records, errs)
    except TooMany:  # pragma: no cover - Errors counts past the cap instead
        pass
    errs.raise_if_any()

    head = None
    with db.session() as s:
        if kind is ImportKind.MEMBERS:
            inserted, skipped = write_members(s, records, name)
        elif kind is ImportKind.CONTENT:
            inserted, skipped = write_content(s, records, name)
        else:
            inserted, skipped, head = write_consents(s, records, name, when)
    if kind is ImportKind.CONSENTS and inserted:
        from optin.services.propagation import propagate

        propagate(
            db, member_ids={r["member_id"] for _, r in records}, reason="withdrawal", now=when
        )
    return ImportResult(kind.value, name, len(records), inserted, skipped, head)


def _parse_all(
    db: Database,
    kind: ImportKind,
    data: bytes,
    fmt: ImportFormat,
    when: datetime,
    errs: Errors,
    records: list[tuple[int, dict[str, Any]]],
) -> None:
    """Parse and check every record into ``records`` (errors go to ``errs``)."""
    fields = FIELDS[kind]
    id_field = ID_FIELD[kind]
    ps = policy_set(db)
    raws = (
        read_jsonl(data, errs)
        if fmt is ImportFormat.JSONL
        else read_csv(data, errs, [f.name for f in fields])
    )
    seen: dict[str, int] = {}
    for no, raw in raws:
        rec = parse_record(no, raw, fields, when, errs)
        if rec is None:
            continue
        rid = rec[id_field]
        if rid in seen:
            errs.add(
                f"duplicate id (first used on line {seen[rid]})",
                line=no,
                fld=id_field,
                value=rid,
                allowed="each id once per file",
            )
            continue
        seen[rid] = no
        if kind is ImportKind.MEMBERS:
            check_member(no, rec, errs, when)
        elif kind is ImportKind.CONTENT:
            check_content(no, rec, errs)
        else:
            check_consent(no, rec, errs, ps)
        records.append((no, rec))


def _check_handles(records: list[tuple[int, dict[str, Any]]], errs: Errors) -> None:
    handles: dict[str, int] = {}
    for no, rec in records:
        h = rec["handle"].lower()
        if h in handles:
            errs.add(
                f"duplicate handle (first used on line {handles[h]})",
                line=no,
                fld="handle",
                value=rec["handle"],
                allowed="each handle once",
            )
        handles.setdefault(h, no)


def _check_members_exist(
    db: Database, kind: ImportKind, records: list[tuple[int, dict[str, Any]]], errs: Errors
) -> None:
    ref = "author_id" if kind is ImportKind.CONTENT else "member_id"
    with db.session() as s:
        exist = existing_member_ids(s, (r[ref] for _, r in records))
    what = "author" if kind is ImportKind.CONTENT else "member"
    for no, rec in records:
        if rec[ref] not in exist:
            errs.add(
                f"{what} not found",
                line=no,
                fld=ref,
                value=rec[ref],
                allowed="the id of a member in the database (import members first)",
            )


__all__ = [
    "MAX_ERRORS",
    "ImportFormat",
    "ImportKind",
    "ImportResult",
    "detect_format",
    "import_bytes",
    "import_file",
    "member_records",
]
