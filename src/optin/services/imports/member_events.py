"""``optin import member-events FILE``: dated member changes (moves, status changes,
birth-date corrections) from JSONL or CSV, all or nothing.

Each record names a member (``member_id``), the time the change took effect
(``effective_at``) and one or more of ``country``, ``status``, ``birth_date`` (and
optionally ``source``, ``import:<system>``; default ``import``). Every change is
recorded at the time of the import, so it never alters a decision as of an earlier time.
The rules are those of :func:`optin.services.members.update_member`; every problem is
reported with file, line and field before anything is written, and a change identical
to one already recorded is skipped (a re-import is a no-op). After the import, withdrawal
propagation runs for the members changed (as :func:`~optin.services.members.update_member`
does), each with the reason of their most severe change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from optin.domain.model import IMPORT_SYSTEM_HINT, AccountStatus, ConsentSource
from optin.errors import InputError
from optin.services.imports.fields import (
    _ID,
    _ID_HINT,
    Field,
    _Bad,
    _country,
    _date,
    _text,
    _time,
    parse_record,
)
from optin.services.imports.records import (
    Errors,
    ImportFormat,
    ImportResult,
    read_csv,
    read_jsonl,
)
from optin.services.members import (
    UPDATABLE_STATUSES,
    Change,
    apply_changes,
    change_reason,
    check_source,
    propagate_changes,
)
from optin.services.policy import policy_set
from optin.storage.database import Database
from optin.storage.members import joined_times

KIND = "member-events"


def _status(v: Any) -> str:
    allowed = ", ".join(s.value for s in UPDATABLE_STATUSES)
    if not isinstance(v, str) or v not in {s.value for s in UPDATABLE_STATUSES}:
        raise _Bad("unknown status" if isinstance(v, str) else "must be a string", allowed)
    return AccountStatus(v).value


def _source(v: Any) -> str:
    allowed = ", ".join(s.value for s in ConsentSource) + f", {IMPORT_SYSTEM_HINT}"
    if not isinstance(v, str):
        raise _Bad("must be a string", allowed)
    try:
        return check_source(v)
    except InputError:
        raise _Bad("unknown source", allowed) from None


MEMBER_EVENT_FIELDS: tuple[Field, ...] = (
    Field("member_id", _text(64, _ID, _ID_HINT)),
    Field("effective_at", _time, future_check=True),
    Field("country", _country, required=False),
    Field("status", _status, required=False),
    Field("birth_date", _date, required=False),
    Field("source", _source, required=False),
)
_CHANGES = ("country", "status", "birth_date")


def _check(
    no: int,
    rec: dict[str, Any],
    joined: dict[str, datetime],
    seen: dict[tuple[str, str, datetime], int],
    now: datetime,
    errs: Errors,
) -> None:
    if not any(k in rec for k in _CHANGES):
        errs.add("nothing to change", line=no, allowed="one or more of " + ", ".join(_CHANGES))
    mid, at = rec["member_id"], rec["effective_at"]
    if mid not in joined:
        errs.add(
            "member not found",
            line=no,
            fld="member_id",
            value=mid,
            allowed="the id of a member in the database (import members first)",
        )
    elif at < joined[mid]:
        errs.add(
            f"dated before member {mid!r} joined",
            line=no,
            fld="effective_at",
            value=at.isoformat(),
            allowed=f"at or after joined_at ({joined[mid].isoformat()})",
        )
    birth = rec.get("birth_date")
    if birth is not None and birth > now.date():
        errs.add(
            "birth date is in the future",
            line=no,
            fld="birth_date",
            value=birth.isoformat(),
            allowed=f"at or before {now.date().isoformat()}",
        )
    for k in _CHANGES:
        if k in rec:
            first = seen.setdefault((mid, k, at), no)
            if first != no:
                errs.add(
                    f"a second '{k}' change of this member at the same time (first on line "
                    f"{first})",
                    line=no,
                    fld=k,
                    allowed="one change of each kind per member and time",
                )


def import_member_events(
    db: Database, data: bytes, *, fmt: ImportFormat, now: datetime, name: str = "<input>"
) -> ImportResult:
    when = now.astimezone(UTC)
    errs = Errors(name)
    fields = MEMBER_EVENT_FIELDS
    raws = (
        read_jsonl(data, errs)
        if fmt is ImportFormat.JSONL
        else read_csv(data, errs, [f.name for f in fields])
    )
    records = [(no, rec) for no, raw in raws if (rec := parse_record(no, raw, fields, when, errs))]
    with db.session() as s:
        joined = joined_times(s, (r["member_id"] for _, r in records))
    seen: dict[tuple[str, str, datetime], int] = {}
    for no, rec in records:
        _check(no, rec, joined, seen, when, errs)
    errs.raise_if_any()
    inserted = skipped = 0
    done_by_member: dict[str, list[Change]] = {}
    with db.session() as s:
        for _, rec in sorted(records, key=lambda x: (x[1]["effective_at"], x[0])):
            changes = [
                (k, rec[k].isoformat() if k == "birth_date" else rec[k])
                for k in _CHANGES
                if k in rec
            ]
            done = apply_changes(
                s,
                rec["member_id"],
                changes,
                effective_at=rec["effective_at"],
                now=when,
                source=rec.get("source", ConsentSource.IMPORT.value),
            )
            inserted += sum(c.recorded for c in done)
            skipped += sum(not c.recorded for c in done)
            done_by_member.setdefault(rec["member_id"], []).extend(done)
    # after the commit, as a consent import: snapshots holding these members' records
    # that are no longer eligible are marked stale, with the reason of the change
    policy = policy_set(db).in_force(when)
    reasons = {
        mid: reason
        for mid, done in done_by_member.items()
        if (reason := change_reason(done, policy)) is not None
    }
    propagate_changes(db, reasons, when)
    return ImportResult(KIND, name, len(records), inserted, skipped)


__all__ = ["MEMBER_EVENT_FIELDS", "import_member_events"]
