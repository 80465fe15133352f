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
from optin.services.database import Database
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
from optin.services.imports.store import (
    existing_ids,
    member_records,
    write_consents,
    write_content,
    write_members,
)
from optin.services.policy import policy_set
from optin.storage.models import MemberRow

# ----------------------------------------------------------------------------- import


def import_file(
    db: Database,
    kind: ImportKind | str,
    path: Path,
    *,
    fmt: str | None = None,
    now: datetime | None = None,
    name: str | None = None,
) -> ImportResult:
    """Validate and import ``path``; see the module docstring for the rules.

    ``name`` is how the file is named in messages (default: the path as given).
    """
    try:
        k = ImportKind(kind)
    except ValueError:
        raise InputError(
            "unknown import kind",
            field="kind",
            value=kind,
            allowed=", ".join(x.value for x in ImportKind),
        ) from None
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
    now: datetime | None = None,
    name: str = "<input>",
) -> ImportResult:
    when = (now or datetime.now(UTC)).astimezone(UTC)
    errs = Errors(name)
    fields = FIELDS[kind]
    id_field = ID_FIELD[kind]
    ps = policy_set(db)
    records: list[tuple[int, dict[str, Any]]] = []
    try:
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
        if kind is ImportKind.MEMBERS:
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
        else:
            ref = "author_id" if kind is ImportKind.CONTENT else "member_id"
            with db.session() as s:
                exist = existing_ids(s, MemberRow.id, (r[ref] for _, r in records))
            for no, rec in records:
                if rec[ref] not in exist:
                    what = "author" if kind is ImportKind.CONTENT else "member"
                    errs.add(
                        f"{what} not found",
                        line=no,
                        fld=ref,
                        value=rec[ref],
                        allowed="the id of a member in the database (import members first)",
                    )
    except TooMany:  # pragma: no cover - Errors counts past the cap instead
        pass
    errs.raise_if_any()

    with db.session() as s:
        if kind is ImportKind.MEMBERS:
            inserted, skipped = write_members(s, records, name)
            head = None
        elif kind is ImportKind.CONTENT:
            inserted, skipped = write_content(s, records, name)
            head = None
        else:
            inserted, skipped, head = write_consents(s, records, name, when)
    return ImportResult(kind.value, name, len(records), inserted, skipped, head)


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
