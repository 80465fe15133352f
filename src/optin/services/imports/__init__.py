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

from optin.domain.model import IMPORT_SYSTEM_HINT, is_import_source
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
from optin.services.imports.member_events import import_member_events
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
from optin.storage.members import joined_times
from optin.storage.repos.imports import (
    existing_content_ids,
    existing_event_ids,
    ledger_is_empty,
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
    restore: bool = False,
) -> ImportResult:
    """Validate and import ``path``; see the module docstring for the rules.

    ``name`` is how the file is named in messages (default: the path as given).
    ``restore`` (consents only): load an export into an empty ledger as it was.
    """
    k = parse_enum(kind, ImportKind, field="kind", what="unknown import kind")
    if restore and k is not ImportKind.CONSENTS:
        raise InputError(
            "--restore applies to consent events only", field="--restore", value=k.value
        )
    label = name or str(path)
    form = detect_format(path, fmt)
    try:
        with path.open("rb") as f:
            data = read_limited(f, label)
    except OSError as e:
        raise InputError(f"cannot read the file: {e.strerror}", file=label) from None
    if k is ImportKind.MEMBER_EVENTS:
        return import_member_events(db, data, fmt=form, now=now, name=label)
    return import_bytes(db, k, data, fmt=form, now=now, name=label, restore=restore)


def import_bytes(
    db: Database,
    kind: ImportKind,
    data: bytes,
    *,
    fmt: ImportFormat,
    now: datetime,
    name: str = "<input>",
    restore: bool = False,
) -> ImportResult:
    if kind is ImportKind.MEMBER_EVENTS:
        return import_member_events(db, data, fmt=fmt, now=now, name=name)
    when = now.astimezone(UTC)
    if restore:
        _require_empty_ledger(db)
    errs = Errors(name)
    records: list[tuple[int, dict[str, Any]]] = []
    try:
        _parse_all(db, kind, data, fmt, when, errs, records)
        if kind is ImportKind.MEMBERS:
            _check_handles(records, errs)
        else:
            _check_members_exist(db, kind, records, errs)
        if kind is ImportKind.CONSENTS and not restore:
            _check_declared_sources(db, records, errs)
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
            inserted, skipped, head = write_consents(s, records, name, when, restore=restore)
    if kind is ImportKind.CONSENTS and inserted:
        from optin.services.propagation import propagate

        propagate(
            db, member_ids={r["member_id"] for _, r in records}, reason="withdrawal", now=when
        )
    return ImportResult(kind.value, name, len(records), inserted, skipped, head)


def _require_empty_ledger(db: Database) -> None:
    with db.session() as s:
        empty = ledger_is_empty(s)
    if not empty:
        raise InputError(
            "a restore loads an export into an empty ledger, but this ledger already has events",
            field="--restore",
            allowed="a freshly initialised database (or import without --restore, with "
            "a declared import:<system> source per record)",
        )


def _check_declared_sources(
    db: Database, records: list[tuple[int, dict[str, Any]]], errs: Errors
) -> None:
    """A new event of a (non-restore) import declares where it comes from
    (``import:<system>``) and carries no ``recorded_at``: the ledger records it now.
    Records already in the ledger are compared (and skipped) as before."""
    with db.session() as s:
        known = existing_event_ids(s, (r["event_id"] for _, r in records))
    for no, rec in records:
        if rec["event_id"] in known:
            continue
        src = rec.get("source")
        if src is None or not is_import_source(src):
            errs.add(
                "an imported consent event must declare its source system; backdated "
                "events come only from an import with a declared source"
                if src is None
                else f"a {src} event cannot be imported as new: backdated events come "
                "only with a declared import source",
                line=no,
                fld="source",
                value=src,
                allowed=f"{IMPORT_SYSTEM_HINT} (to restore an export into an empty "
                "database: `optin import consents --restore`)",
            )
        if "recorded_at" in rec:
            errs.add(
                "an import is recorded at the time of the import; the recorded time of a "
                "new event cannot be imported",
                line=no,
                fld="recorded_at",
                value=rec["recorded_at"].isoformat(),
                allowed="leave it out (only `optin import consents --restore` into an "
                "empty database keeps it)",
            )


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
        h = rec["handle"].casefold()  # as the database folds it (the unique index)
        if h in handles:
            errs.add(
                f"duplicate handle (handles are unique case-insensitively; first used on "
                f"line {handles[h]})",
                line=no,
                fld="handle",
                value=rec["handle"],
                allowed="each handle once, ignoring case",
            )
        handles.setdefault(h, no)


def _check_members_exist(
    db: Database, kind: ImportKind, records: list[tuple[int, dict[str, Any]]], errs: Errors
) -> None:
    """The member exists, and a new record is not dated before they joined (one already
    in the database is compared, and skipped when identical, as before)."""
    ref = "author_id" if kind is ImportKind.CONTENT else "member_id"
    time_field = "created_at" if kind is ImportKind.CONTENT else "at"
    with db.session() as s:
        joined = joined_times(s, (r[ref] for _, r in records))
        known = (
            existing_content_ids(s, (r["id"] for _, r in records))
            if kind is ImportKind.CONTENT
            else existing_event_ids(s, (r["event_id"] for _, r in records))
        )
    rid = "id" if kind is ImportKind.CONTENT else "event_id"
    what = "author" if kind is ImportKind.CONTENT else "member"
    for no, rec in records:
        if rec[ref] not in joined:
            errs.add(
                f"{what} not found",
                line=no,
                fld=ref,
                value=rec[ref],
                allowed="the id of a member in the database (import members first)",
            )
            continue
        t, j = rec.get(time_field), joined[rec[ref]]
        if t is not None and t < j and rec[rid] not in known:
            errs.add(
                f"dated before {what} {rec[ref]!r} joined",
                line=no,
                fld=time_field,
                value=t.isoformat(),
                allowed=f"at or after joined_at ({j.isoformat()})",
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
