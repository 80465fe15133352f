"""Writing validated import records: compare with existing ones (idempotency,
conflicts), insert members and content with Core bulk inserts, append consent events to
the ledger. Kinds are named as the importer names them: ``members``, ``content``,
``consents``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from optin.domain.model import AccountStatus, ConsentSource
from optin.errors import ConflictError
from optin.storage import ledger
from optin.storage.members import handle_owners
from optin.storage.models import (
    ConsentEventRow,
    ContentRow,
    MemberCountryRow,
    MemberRow,
    MemberStatusRow,
    fold_handle,
)

_IN_CHUNK = 500


def _t(model: type[Any]) -> Table:
    """The Core table of an ORM model (typed for mypy)."""
    return cast(Table, model.__table__)


# ------------------------------------------------------------------- existing records


def chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(ids), _IN_CHUNK):
        yield ids[i : i + _IN_CHUNK]


def existing_ids(s: Session, column: Any, ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(sorted(set(ids))):
        found.update(s.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def existing_member_ids(s: Session, ids: Iterable[str]) -> set[str]:
    """The ids among ``ids`` that are members."""
    return existing_ids(s, MemberRow.id, ids)


def existing_content_ids(s: Session, ids: Iterable[str]) -> set[str]:
    """The content ids among ``ids`` already in the database."""
    return existing_ids(s, ContentRow.id, ids)


def existing_event_ids(s: Session, ids: Iterable[str]) -> set[str]:
    """The event ids among ``ids`` already in the ledger."""
    return existing_ids(s, ConsentEventRow.event_id, ids)


def member_records(s: Session, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Members as import-shaped records (parsed values), keyed by id."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        for m in s.execute(select(MemberRow).where(MemberRow.id.in_(chunk))).scalars():
            out[m.id] = {
                "id": m.id,
                "handle": m.handle,
                "display_name": m.display_name,
                "email": m.email,
                "birth_date": m.birth_date,
                "joined_at": m.joined_at,
                "countries": [],
                "statuses": [],
            }
        for mid, since, country in s.execute(
            select(MemberCountryRow.member_id, MemberCountryRow.since, MemberCountryRow.country)
            .where(MemberCountryRow.member_id.in_(chunk))
            .order_by(MemberCountryRow.member_id, MemberCountryRow.since, MemberCountryRow.id)
        ):
            out[mid]["countries"].append((since, country))
        for mid, since, status in s.execute(
            select(MemberStatusRow.member_id, MemberStatusRow.since, MemberStatusRow.status)
            .where(MemberStatusRow.member_id.in_(chunk))
            .order_by(MemberStatusRow.member_id, MemberStatusRow.since, MemberStatusRow.id)
        ):
            out[mid]["statuses"].append((since, status))
    return out


def _normal_member(r: dict[str, Any]) -> dict[str, Any]:
    countries = r.get("countries") or [(r["joined_at"], r["country"])]
    statuses = r.get("statuses") or [(r["joined_at"], AccountStatus.ACTIVE.value)]
    return {
        "id": r["id"],
        "handle": r["handle"],
        "display_name": r["display_name"],
        "email": r.get("email"),
        "birth_date": r.get("birth_date"),
        "joined_at": r["joined_at"],
        "countries": sorted(countries),
        "statuses": sorted(statuses),
    }


_CONTENT_COLS = (
    "id",
    "author_id",
    "kind",
    "visibility",
    "text",
    "language",
    "created_at",
    "edited_at",
    "deleted_at",
)
_CONSENT_KEYS = ("member_id", "purpose", "action", "at", "policy_version")


def _conflict(
    kind: str,
    file: str,
    lines: list[tuple[int, str, str]],
    handles: list[tuple[int, str, tuple[str, str]]] | None = None,
) -> ConflictError:
    items = [
        (no, f"{file}:{no}: {kind} {rid!r} already exists with a different '{fld}'")
        for no, rid, fld in lines
    ] + [
        (
            no,
            f"{file}:{no}: field 'handle': handle {handle!r} is taken (case-insensitively) "
            f"by member {owner[0]}" + (f" (as {owner[1]!r})" if owner[1] != handle else ""),
        )
        for no, handle, owner in handles or ()
    ]
    items.sort()
    shown = "\n".join(f"  {text}" for _, text in items[:20])
    more = f"\n  ... and {len(items) - 20} more" if len(items) > 20 else ""
    return ConflictError(
        f"{len(items)} record(s) conflict with existing ones; nothing was imported "
        f"(an id may be re-imported only with identical content; handles are unique "
        f"case-insensitively):\n{shown}{more}"
    )


def _first_diff(a: dict[str, Any], b: dict[str, Any], keys: Iterable[str]) -> str | None:
    for k in keys:
        if a.get(k) != b.get(k):
            return k
    return None


def write_members(
    s: Session, records: list[tuple[int, dict[str, Any]]], name: str
) -> tuple[int, int]:
    new = [(no, _normal_member(r)) for no, r in records]
    existing = member_records(s, [r["id"] for _, r in new])
    conflicts: list[tuple[int, str, str]] = []
    fresh: list[tuple[int, dict[str, Any]]] = []
    for no, r in new:
        old = existing.get(r["id"])
        if old is None:
            fresh.append((no, r))
            continue
        diff = _first_diff(r, old, r.keys())
        if diff is not None:
            conflicts.append((no, r["id"], diff))
    taken = handle_owners(s, (r["handle"] for _, r in fresh))
    handle_clashes = [
        (no, r["handle"], taken[fold_handle(r["handle"])])
        for no, r in fresh
        if fold_handle(r["handle"]) in taken
    ]
    if conflicts or handle_clashes:
        raise _conflict("members", name, conflicts, handle_clashes)
    rows = [
        {
            "id": r["id"],
            "handle": r["handle"],
            "display_name": r["display_name"],
            "email": r["email"],
            "birth_date": r["birth_date"],
            "joined_at": r["joined_at"],
            "handle_folded": fold_handle(r["handle"]),
            "role": "member",
            "password_hash": None,
            "erased_at": None,
        }
        for _, r in fresh
    ]
    for i in range(0, len(rows), 5000):
        s.execute(_t(MemberRow).insert(), rows[i : i + 5000])
    # a member import loads the platform's own records: each change counts as recorded
    # when it took effect, but never before the account existed (as migration 0010)
    hist_c = [
        {
            "member_id": r["id"],
            "since": t,
            "country": c,
            "recorded_at": max(t, r["joined_at"]),
            "source": None,
        }
        for _, r in fresh
        for t, c in r["countries"]
    ]
    hist_s = [
        {
            "member_id": r["id"],
            "since": t,
            "status": st,
            "recorded_at": max(t, r["joined_at"]),
            "source": None,
        }
        for _, r in fresh
        for t, st in r["statuses"]
    ]
    for table, rows_ in ((_t(MemberCountryRow), hist_c), (_t(MemberStatusRow), hist_s)):
        for i in range(0, len(rows_), 5000):
            s.execute(table.insert(), rows_[i : i + 5000])
    return len(fresh), len(new) - len(fresh)


def write_content(
    s: Session, records: list[tuple[int, dict[str, Any]]], name: str
) -> tuple[int, int]:
    ids = [r["id"] for _, r in records]
    existing: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        for row in s.execute(select(ContentRow).where(ContentRow.id.in_(chunk))).scalars():
            existing[row.id] = {c: getattr(row, c) for c in _CONTENT_COLS}
    conflicts: list[tuple[int, str, str]] = []
    rows: list[dict[str, Any]] = []
    for no, r in records:
        full = {c: r.get(c) for c in _CONTENT_COLS}
        old = existing.get(r["id"])
        if old is None:
            rows.append(full)
            continue
        diff = _first_diff(full, old, _CONTENT_COLS)
        if diff is not None:
            conflicts.append((no, r["id"], diff))
    if conflicts:
        raise _conflict("content", name, conflicts)
    for i in range(0, len(rows), 5000):
        s.execute(_t(ContentRow).insert(), rows[i : i + 5000])
    return len(rows), len(records) - len(rows)


def ledger_is_empty(s: Session) -> bool:
    return ledger.ledger_head(s).seq == 0


def write_consents(
    s: Session,
    records: list[tuple[int, dict[str, Any]]],
    name: str,
    now: datetime,
    *,
    restore: bool = False,
) -> tuple[int, int, str]:
    """Append the new events. An import records them now (``recorded_at`` = ``now``,
    whatever the file says); a restore (into an empty ledger) keeps the file's
    ``recorded_at`` and source, so the restored ledger is the exported one."""
    ids = [r["event_id"] for _, r in records]
    existing: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        for row in s.execute(
            select(ConsentEventRow).where(ConsentEventRow.event_id.in_(chunk))
        ).scalars():
            existing[row.event_id] = {
                "member_id": row.member_id,
                "purpose": row.purpose,
                "action": row.action,
                "at": row.at,
                "policy_version": row.policy_version,
                "source": row.source,
            }
    conflicts: list[tuple[int, str, str]] = []
    fresh: list[dict[str, Any]] = []
    for no, r in records:
        old = existing.get(r["event_id"])
        if old is None:
            fresh.append(r)
            continue
        keys = (*_CONSENT_KEYS, "source") if "source" in r else _CONSENT_KEYS
        diff = _first_diff(r, old, keys)
        if diff is not None:
            conflicts.append((no, r["event_id"], diff))
    if conflicts:
        raise _conflict("consents", name, conflicts)
    if not restore:  # a restore keeps the exported ledger order
        fresh.sort(key=lambda r: r["at"])
    drafts = [
        ledger.EventDraft(
            member_id=r["member_id"],
            purpose=r["purpose"],
            action=r["action"],
            at=r["at"],
            policy_version=r["policy_version"],
            source=r.get("source", ConsentSource.IMPORT.value),
            event_id=r["event_id"],
            recorded_at=r.get("recorded_at", now) if restore else now,
        )
        for r in fresh
    ]
    head = ledger.append_many(s, drafts, now=now, historical=restore)
    return len(fresh), len(records) - len(fresh), head.hash
