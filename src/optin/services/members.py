"""Member lifecycle: dated, recorded changes of a member's country, account status and
birth date, and reading members back.

::

    update_member(db, "m1", country="US", effective_at=t, now=now, source="cli")

Every change carries the time it takes effect (``effective_at``, which may lie in the
past: a move last week recorded today) and the time the platform recorded it (``now``).
Eligibility as of T uses only changes recorded by T, so recording a move today never
changes a decision made, or that could have been made, at an earlier T. A status
``closed`` or ``suspended`` makes the member ineligible from its effective time (for
decisions as of times after it was recorded).

A birth-date correction is kept, with both times and the previous value, in
``member_birth_dates``; a decision as of T uses the birth date known at T (the latest
correction recorded by T), so a correction recorded today changes no earlier decision.

Every recorded change then calls withdrawal propagation
(:func:`optin.services.propagation.propagate`), like a consent change: snapshots
holding records of the member that are no longer eligible at ``now`` are marked stale
with the reason of the change (:func:`change_reason`: ``account_closed``,
``account_suspended``, ``country_excluded``, ``country_changed``,
``birth_date_corrected``, ``account_reactivated``), and their provider exports get
deletion notices.

Rules: the member exists; ``effective_at`` is UTC-aware, not in the future and not
before the member joined; a country is an ISO 3166-1 alpha-2 code; a status is
``active``, ``suspended`` or ``closed`` (erasure has its own command); a birth date is
not in the future. A change identical to one already recorded (same kind, value and
effective time) is skipped, so re-running an update or an import is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from optin.domain.countries import is_country
from optin.domain.eligibility import project
from optin.domain.model import (
    IMPORT_SYSTEM_HINT,
    AccountStatus,
    ConsentSource,
    PolicyVersion,
    Regime,
    canonical_source,
)
from optin.errors import InputError, NotFoundError
from optin.services.policy import policy_set
from optin.services.propagation import MEMBER_REASONS, propagate
from optin.storage import members as repo
from optin.storage.database import Database
from optin.storage.db import Session

#: Tolerated clock skew for "not in the future".
FUTURE_SKEW = timedelta(seconds=5)
#: Statuses a lifecycle update may set (``erased`` comes only from erasure).
UPDATABLE_STATUSES = (AccountStatus.ACTIVE, AccountStatus.SUSPENDED, AccountStatus.CLOSED)


@dataclass(frozen=True, slots=True)
class Change:
    """One requested change: ``kind`` is ``country``, ``status`` or ``birth_date``."""

    kind: str
    value: str | None
    recorded: bool = True  # False: identical to one already recorded (skipped)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "value": self.value, "recorded": self.recorded}


@dataclass(frozen=True, slots=True)
class MemberUpdate:
    member_id: str
    effective_at: datetime
    recorded_at: datetime
    source: str
    changes: tuple[Change, ...] = field(default_factory=tuple)
    #: the propagation reason (None: nothing was recorded, nothing propagated)
    reason: str | None = None
    #: records of live snapshots this change made ineligible (see :mod:`propagation`)
    stale_records: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "member_id": self.member_id,
            "effective_at": self.effective_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "source": self.source,
            "changes": [c.to_dict() for c in self.changes],
            "propagation_reason": self.reason,
            "stale_records": self.stale_records,
        }


def member_not_found(ref: str) -> NotFoundError:
    return NotFoundError(
        f"member {ref!r} does not exist; `optin member list` lists members (by id or @handle)"
    )


def resolve(db: Database, ref: str) -> str:
    """A member id from an id or a handle (``@Ada`` finds ``ada``: handles are
    case-insensitive); NotFoundError otherwise."""
    with db.session() as s:
        mid = repo.member_id_for(s, ref)
    if mid is None:
        raise member_not_found(ref)
    return mid


def check_source(source: ConsentSource | str) -> str:
    try:
        return canonical_source(source)
    except ValueError:
        raise InputError(
            "unknown source",
            field="source",
            value=str(source),
            allowed=", ".join(s.value for s in ConsentSource) + f", {IMPORT_SYSTEM_HINT}",
        ) from None


def parse_changes(
    country: str | None, status: str | None, birth_date: date | str | None, now: datetime
) -> list[tuple[str, str | None]]:
    """(kind, value) of each requested change, validated."""
    out: list[tuple[str, str | None]] = []
    if country is not None:
        if not is_country(country):
            raise InputError(
                "not an ISO 3166-1 alpha-2 country code",
                field="country",
                value=country,
                allowed="two upper-case letters, e.g. US, DE, IN",
            )
        out.append(("country", country))
    if status is not None:
        if status not in {s.value for s in UPDATABLE_STATUSES}:
            raise InputError(
                "unknown status",
                field="status",
                value=status,
                allowed=", ".join(s.value for s in UPDATABLE_STATUSES),
            )
        out.append(("status", status))
    if birth_date is not None:
        out.append(("birth_date", _birth(birth_date, now).isoformat()))
    if not out:
        raise InputError("nothing to change", allowed="one or more of country, status, birth_date")
    return out


def _birth(value: date | str, now: datetime) -> date:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise InputError(
                "not a valid date", field="birth_date", value=value, allowed="YYYY-MM-DD"
            ) from None
    if value > now.date():
        raise InputError(
            "birth date is in the future",
            field="birth_date",
            value=value.isoformat(),
            allowed=f"at or before {now.date().isoformat()}",
        )
    return value


def check_time(effective_at: datetime, joined_at: datetime, now: datetime, member_id: str) -> None:
    """``effective_at`` aware, not in the future, not before the member joined."""
    if effective_at.tzinfo is None:
        raise InputError(
            "time must be timezone-aware (UTC)", field="effective_at", value=str(effective_at)
        )
    if effective_at > now + FUTURE_SKEW:
        raise InputError(
            "a member change cannot be in the future",
            field="effective_at",
            value=effective_at.isoformat(),
            allowed=f"at or before {now.isoformat()}",
        )
    if effective_at < joined_at:
        raise InputError(
            f"the change is dated before member {member_id!r} joined",
            field="effective_at",
            value=effective_at.isoformat(),
            allowed=f"at or after joined_at ({joined_at.isoformat()})",
        )


def apply_changes(
    s: Session,
    member_id: str,
    changes: list[tuple[str, str | None]],
    *,
    effective_at: datetime,
    now: datetime,
    source: str,
) -> tuple[Change, ...]:
    """Write the changes (in the caller's transaction), skipping identical ones."""
    done: list[Change] = []
    for kind, value in changes:
        if repo.has_change(s, member_id, kind, value, effective_at):
            done.append(Change(kind, value, recorded=False))
            continue
        kw: dict[str, Any] = {"recorded_at": now, "source": source}
        if kind == "country":
            assert value is not None
            repo.add_country(s, member_id, value, since=effective_at, **kw)
        elif kind == "status":
            assert value is not None
            repo.add_status(s, member_id, value, since=effective_at, **kw)
        else:
            birth = date.fromisoformat(value) if value else None
            repo.correct_birth_date(s, member_id, birth, effective_at=effective_at, **kw)
        done.append(Change(kind, value))
    return tuple(done)


_STATUS_REASONS = {
    AccountStatus.CLOSED.value: "account_closed",
    AccountStatus.SUSPENDED.value: "account_suspended",
}


def change_reason(changes: Iterable[Change], policy: PolicyVersion | None) -> str | None:
    """The propagation reason of the recorded ``changes`` (the most severe, in the order
    of :data:`~optin.services.propagation.MEMBER_REASONS`), or None when none was
    recorded. A move is ``country_excluded`` when the new country is excluded under
    ``policy`` (the version in force now), else ``country_changed``."""
    found: set[str] = set()
    for c in changes:
        if not c.recorded:
            continue
        if c.kind == "status":
            found.add(_STATUS_REASONS.get(str(c.value), "account_reactivated"))
        elif c.kind == "country":
            excluded = (
                policy is not None
                and c.value is not None
                and policy.jurisdictions.regime(c.value) is Regime.EXCLUDED
            )
            found.add("country_excluded" if excluded else "country_changed")
        else:
            found.add("birth_date_corrected")
    return next((r for r in MEMBER_REASONS if r in found), None)


def propagate_changes(db: Database, reasons: Mapping[str, str], now: datetime) -> int:
    """Withdrawal propagation for members whose lifecycle changed (member id -> reason,
    see :func:`change_reason`), one call per reason; the number of records of live
    snapshots newly found ineligible."""
    by_reason: dict[str, list[str]] = {}
    for mid, reason in reasons.items():
        by_reason.setdefault(reason, []).append(mid)
    n = 0
    for reason in sorted(by_reason, key=MEMBER_REASONS.index):
        report = propagate(db, member_ids=by_reason[reason], reason=reason, now=now)
        n += sum(s.new_records for s in report.snapshots)
    return n


def update_member(
    db: Database,
    member_id: str,
    *,
    country: str | None = None,
    status: str | None = None,
    birth_date: date | str | None = None,
    effective_at: datetime | None = None,
    now: datetime,
    source: ConsentSource | str,
) -> MemberUpdate:
    """Record dated changes of a member (see the module docstring for the rules).

    ``effective_at`` defaults to ``now``; the changes are recorded at ``now``."""
    when = effective_at or now
    src = check_source(source)
    changes = parse_changes(country, status, birth_date, now)
    with db.session() as s:
        m = repo.get_member(s, member_id)
        if m is None:
            raise member_not_found(member_id)
        check_time(when, m.joined_at, now, member_id)
        done = apply_changes(s, member_id, changes, effective_at=when, now=now, source=src)
    reason = change_reason(done, policy_set(db).in_force(now))
    stale = propagate_changes(db, {member_id: reason}, now) if reason is not None else 0
    return MemberUpdate(member_id, when, now, src, done, reason, stale)


def _current(history: Any, now: datetime) -> tuple[str | None, str | None]:
    """The latest known country and status at ``now``."""
    st = project(history, "", now)
    return st.country, str(st.status) if st.status is not None else None


def show_member(db: Database, member_id: str, now: datetime) -> dict[str, Any]:
    """The member, their current country and status, and every dated change."""
    with db.session() as s:
        m = repo.get_member(s, member_id)
        if m is None:
            raise member_not_found(member_id)
        history = repo.member_history(s, member_id)
        changes = repo.member_changes(s, member_id)
    country, status = _current(history, now)
    return {
        "id": m.id,
        "handle": m.handle,
        "display_name": m.display_name,
        "birth_date": m.birth_date.isoformat() if m.birth_date else None,
        "joined_at": m.joined_at.isoformat(),
        "country": country,
        "status": status,
        "changes": [
            {
                "kind": c.kind,
                "value": c.value,
                "effective_at": c.effective_at.isoformat(),
                "recorded_at": c.recorded_at.isoformat(),
                "source": c.source,
            }
            for c in changes
        ],
    }


def list_members(
    db: Database, now: datetime, *, limit: int = 1000, after: str | None = None
) -> list[dict[str, Any]]:
    """Members by id (at most ``limit``, after id ``after``) with their current country
    and status."""
    with db.session() as s:
        rows = repo.list_member_rows(s, limit=limit, after=after)
        histories = repo.member_histories(s, [r.id for r in rows])
    out = []
    for r in rows:
        country, status = _current(histories[r.id], now)
        out.append(
            {
                "id": r.id,
                "handle": r.handle,
                "display_name": r.display_name,
                "joined_at": r.joined_at.isoformat(),
                "country": country,
                "status": status,
            }
        )
    return out


__all__ = [
    "UPDATABLE_STATUSES",
    "Change",
    "MemberUpdate",
    "apply_changes",
    "change_reason",
    "check_source",
    "check_time",
    "list_members",
    "member_not_found",
    "parse_changes",
    "propagate_changes",
    "resolve",
    "show_member",
    "update_member",
]
