"""Data-subject requests: the queue, its state machine and what completing does.

::

    r = open_request(db, "m1", "access", channel="web", actor="member:m1", now=now)
    verify(db, r.id, method="passport seen at the desk", actor="admin:m9", now=now)
    complete(db, home, r.id, actor="admin:m9", now=now)   # builds the access package

* **Opening** (:func:`open_request`): by the member on the web (their logged-in session
  is the identity check), by an admin on their behalf (``identity_method`` says how the
  identity was checked; required), through the API (scope ``dsr:write``) or the CLI.
  The deadline follows the rule of the policy in force at receipt for the member's
  country then (:mod:`optin.domain.dsr`). A request of the same kind while one is open
  for the member is **linked** to the first (``duplicate_of``) and follows it: it is
  never run twice.
* **Transitions** (:func:`verify`, :func:`start`, :func:`complete`, :func:`refuse`,
  :func:`extend`): each checked by :func:`optin.domain.dsr.check_transition` under a
  row lock and recorded as a dated row with who did it, the reason and, for an
  extension, the notice shown to the member. Linked requests move with their first.
* **Completing**: ``access`` builds the package (:mod:`optin.services.access_package`);
  ``objection`` withdraws every purpose of the policy in force through
  :func:`optin.services.consent.record_consent` with source ``objection`` (so
  propagation runs); ``erasure`` calls the erasure engine (:func:`_run_erasure`). An
  objection that is verified when opened is completed at once: optin stops every
  training use on objection, there is nothing to weigh.
* **Downloads**: a completed access request's package can be fetched by its member
  through a single-use link valid :data:`LINK_TTL` (the token is stored hashed); the
  file is removed :data:`PACKAGE_TTL` after it was built (:func:`sweep`, run on every
  access, by ``optin dsr sweep`` and periodically inside ``optin serve``).

Nothing here stores or logs personal data: reasons and identity methods are the
operator's words about the request, shown as given.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from optin.domain.dsr import (
    FALLBACK_RULE,
    OPEN_STATES,
    DeadlineRule,
    DsrKind,
    DsrState,
    RequestFacts,
    check_transition,
    days_left,
    deadline,
    parse_kind,
    urgency,
)
from optin.domain.model import ConsentSource
from optin.errors import ConflictError, InputError, NotFoundError
from optin.services.policy import policy_set
from optin.storage import dsr as repo
from optin.storage.database import Database
from optin.storage.db import Session
from optin.storage.members import country_at, get_member, member_id_for

log = logging.getLogger(__name__)

#: How long a download link works (it works once).
LINK_TTL = timedelta(minutes=15)
#: How long an expired link's record is kept (so using it says "expired", not "invalid").
LINK_KEEP = timedelta(days=1)
#: How long an access package is kept on disk after it was built.
PACKAGE_TTL = timedelta(days=7)
#: A file in the packages directory that no request names is removed once this old.
ORPHAN_GRACE = timedelta(hours=1)
#: Where access packages are written, under the data directory.
PACKAGES_DIR = Path("dsr") / "access"
#: Channels a request can come through.
CHANNELS = ("web", "admin", "api", "cli")
#: The identity check recorded for a request opened in the member's own web session.
WEB_IDENTITY = "logged-in web session (password)"
_MAX_TEXT = 500


@dataclass(frozen=True, slots=True)
class DsrEvent:
    at: datetime
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None
    notice: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "from_state": self.from_state,
            "to_state": self.to_state,
            "actor": self.actor,
            "reason": self.reason,
            "notice": self.notice,
        }


@dataclass(frozen=True, slots=True)
class DsrRequest:
    """A request as the CLI, the pages and the API show it (days left as of ``now``)."""

    id: str
    member_id: str
    kind: str
    state: str
    channel: str
    opened_by: str
    received_at: datetime
    rule: str
    timezone: str
    country: str | None
    first_due_at: datetime
    due_at: datetime
    #: the last day of the period in the rule's zone (``due_at`` is the end of it)
    last_day: date
    extended: bool
    days_left: int
    urgency: str
    identity_method: str | None
    verified_at: datetime | None
    duplicate_of: str | None
    closed_at: datetime | None
    reason: str | None
    package_expires_at: datetime | None
    package_available: bool
    linked: tuple[str, ...] = ()
    #: what the operator must act on after this call (e.g. an erasure whose compaction
    #: is incomplete); also in the history's reason. Empty when read back later.
    warnings: tuple[str, ...] = ()
    history: tuple[DsrEvent, ...] = ()
    notices: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "id": self.id,
            "member_id": self.member_id,
            "kind": self.kind,
            "state": self.state,
            "channel": self.channel,
            "opened_by": self.opened_by,
            "received_at": self.received_at.isoformat(),
            "rule": self.rule,
            "timezone": self.timezone,
            "country": self.country,
            "first_due_at": self.first_due_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "last_day": self.last_day.isoformat(),
            "extended": self.extended,
            "days_left": self.days_left,
            "urgency": self.urgency,
            "identity_method": self.identity_method,
            "verified_at": iso(self.verified_at),
            "duplicate_of": self.duplicate_of,
            "linked": list(self.linked),
            "closed_at": iso(self.closed_at),
            "reason": self.reason,
            "package_available": self.package_available,
            "package_expires_at": iso(self.package_expires_at),
            "history": [e.to_dict() for e in self.history],
            "notices": list(self.notices),
            "warnings": list(self.warnings),
        }


def _view(
    row: Any, now: datetime, events: Sequence[Any] = (), linked: Sequence[str] = ()
) -> DsrRequest:
    due = row.extended_due_at or row.due_at
    state = DsrState(row.state)
    left = days_left(due, now, row.timezone)
    hist = tuple(
        DsrEvent(e.at, e.from_state, e.to_state, e.actor, e.reason, e.notice) for e in events
    )
    return DsrRequest(
        id=row.id,
        member_id=row.member_id,
        kind=row.kind,
        state=row.state,
        channel=row.channel,
        opened_by=row.opened_by,
        received_at=row.received_at,
        rule=row.rule,
        timezone=row.timezone,
        country=row.country,
        first_due_at=row.due_at,
        due_at=due,
        last_day=(due.astimezone(ZoneInfo(row.timezone)) - timedelta(microseconds=1)).date(),
        extended=row.extended_due_at is not None,
        days_left=left,
        urgency=urgency(state, left).value,
        identity_method=row.identity_method,
        verified_at=row.verified_at,
        duplicate_of=row.duplicate_of,
        closed_at=row.closed_at,
        reason=row.reason,
        package_expires_at=row.package_expires_at,
        package_available=_package_live(row, now),
        linked=tuple(linked),
        history=hist,
        notices=tuple(e.notice for e in hist if e.notice),
    )


def _package_live(row: Any, now: datetime) -> bool:
    return bool(
        row.package_path
        and row.package_removed_at is None
        and row.package_expires_at is not None
        and row.package_expires_at > now
    )


def _text(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    v = " ".join(value.split())
    if len(v) > _MAX_TEXT:
        raise InputError(
            f"{what} is too long", field=what, allowed=f"at most {_MAX_TEXT} characters"
        )
    return v or None


def _not_found(request_id: str) -> NotFoundError:
    return NotFoundError(
        f"data-subject request {request_id!r} does not exist; `optin dsr list` lists them"
    )


# -- opening ---------------------------------------------------------------------------


def rule_at(db: Database, country: str | None, at: datetime) -> DeadlineRule:
    """The deadline rule for a member in ``country`` under the policy in force at ``at``."""
    ps = policy_set(db)
    pv = ps.in_force(at) or ps.latest()
    return pv.dsr.rule_for(country) if pv is not None else FALLBACK_RULE


def _rule_of(db: Database, row: Any) -> DeadlineRule:
    ps = policy_set(db)
    pv = ps.in_force(row.received_at) or ps.latest()
    rule = pv.dsr.by_id(row.rule) if pv is not None else None
    return rule or FALLBACK_RULE


def _check_open(
    channel: str, identity_method: str | None, received_at: datetime | None, now: datetime
) -> tuple[str | None, datetime]:
    if channel not in CHANNELS:
        raise InputError(
            "unknown channel", field="channel", value=channel, allowed=", ".join(CHANNELS)
        )
    method = _text(identity_method, "identity_method")
    if channel == "web":
        if received_at is not None:
            raise InputError("a request opened on the web is received now", field="received_at")
        method = WEB_IDENTITY
    if channel == "admin" and method is None:
        raise InputError(
            "an admin opening a request for a member must record how the member's identity "
            "was verified",
            field="identity_method",
            allowed="a short description, e.g. 'video call, ID document seen' (no numbers)",
        )
    when = received_at or now
    if when.tzinfo is None:
        raise InputError("time must be timezone-aware (UTC)", field="received_at", value=str(when))
    if when > now + timedelta(seconds=5):
        raise InputError(
            "a request cannot be received in the future",
            field="received_at",
            value=when.isoformat(),
            allowed=f"at or before {now.isoformat()}",
        )
    return method, when


def open_request(
    db: Database,
    member_ref: str,
    kind: DsrKind | str,
    *,
    channel: str,
    actor: str,
    now: datetime,
    identity_method: str | None = None,
    received_at: datetime | None = None,
    home: Path | None = None,
) -> DsrRequest:
    """Record a new request (see the module docstring). ``received_at`` (default ``now``)
    is when the platform received it (an admin recording a letter); it sets the
    deadline. ``home`` is needed only for an objection completed at once."""
    k = kind if isinstance(kind, DsrKind) else parse_kind(kind)
    method, when = _check_open(channel, identity_method, received_at, now)
    with db.session() as s:
        mid = member_id_for(s, member_ref)
        member = get_member(s, mid) if mid is not None else None
        if mid is None or member is None:
            raise NotFoundError(
                f"member {member_ref!r} does not exist; `optin member list` lists members"
            )
        if when < member.joined_at:
            raise InputError(
                "a request cannot be received before the member joined",
                field="received_at",
                value=when.isoformat(),
                allowed=f"at or after {member.joined_at.isoformat()}",
            )
        country = country_at(s, mid, when)
    rule = rule_at(db, country, when)
    due = deadline(rule, when)
    with db.session() as s:
        repo.lock_member(s, mid)
        first = repo.first_open(s, mid, k.value, [st.value for st in OPEN_STATES])
        rid = f"dsr_{uuid.uuid4().hex[:20]}"
        row = repo.add_request(
            s,
            id=rid,
            member_id=mid,
            kind=k.value,
            state=DsrState.RECEIVED.value,
            channel=channel,
            opened_by=actor,
            received_at=when,
            rule=rule.id,
            timezone=rule.timezone,
            country=country,
            due_at=due,
            duplicate_of=first.id if first is not None else None,
        )
        repo.add_event(
            s,
            request_id=rid,
            at=now,
            from_state=None,
            to_state="received",
            actor=actor,
            reason=f"linked to {first.id}, opened earlier; it follows that request"
            if first is not None
            else None,
            notice=None,
        )
        if first is not None:
            _follow(s, row, first, now, actor)
        elif method is not None:
            _move(s, row, DsrState.VERIFIED, now=now, actor=actor, reason=f"identity: {method}")
            row.identity_method = method
            row.verified_at = now
    log.info("data-subject request %s (%s) opened via %s", rid, k.value, channel)
    view = show_request(db, rid, now)
    if (
        k is DsrKind.OBJECTION
        and view.state == DsrState.VERIFIED.value
        and view.duplicate_of is None
    ):
        return complete(db, home, rid, actor=actor, now=now)
    return view


def _follow(s: Session, row: Any, first: Any, now: datetime, actor: str) -> None:
    """A linked request takes its first's state and deadline."""
    row.due_at = first.extended_due_at or first.due_at
    if first.state != row.state:
        _move(s, row, DsrState(first.state), now=now, actor=actor, reason=f"follows {first.id}")
    row.identity_method = first.identity_method
    row.verified_at = first.verified_at


def _move(
    s: Session,
    row: Any,
    target: DsrState,
    *,
    now: datetime,
    actor: str,
    reason: str | None = None,
    notice: str | None = None,
) -> None:
    repo.add_event(
        s,
        request_id=row.id,
        at=now,
        from_state=row.state,
        to_state=target.value,
        actor=actor,
        reason=reason,
        notice=notice,
    )
    row.state = target.value
    if target in (DsrState.COMPLETED, DsrState.REFUSED):
        row.closed_at = now


# -- transitions -----------------------------------------------------------------------


def _facts(row: Any) -> RequestFacts:
    return RequestFacts(
        state=DsrState(row.state),
        verified=row.verified_at is not None,
        extended=row.extended_due_at is not None,
        due_at=row.due_at,
        linked=row.duplicate_of is not None,
    )


def _transition(
    db: Database,
    request_id: str,
    target: DsrState,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    apply: Any = None,
) -> None:
    """Check and record one transition (and carry linked requests along)."""
    with db.session() as s:
        row = repo.get_request(s, request_id, lock=True)
        if row is None:
            raise _not_found(request_id)
        check_transition(_facts(row), target, now=now, reason=reason)
        notice = apply(row) if apply is not None else None
        _move(s, row, target, now=now, actor=actor, reason=reason, notice=notice)
        for linked in repo.linked_requests(s, request_id):
            if linked.state not in (DsrState.COMPLETED.value, DsrState.REFUSED.value):
                _follow(s, linked, row, now, actor)
                if notice is not None:
                    repo.add_event(
                        s,
                        request_id=linked.id,
                        at=now,
                        from_state=linked.state,
                        to_state=linked.state,
                        actor=actor,
                        reason=f"follows {row.id}",
                        notice=notice,
                    )
    log.info("data-subject request %s: %s", request_id, target.value)


def verify(db: Database, request_id: str, *, method: str, actor: str, now: datetime) -> DsrRequest:
    """Record how the member's identity was verified (required text)."""
    m = _text(method, "method")
    if m is None:
        raise InputError(
            "say how the member's identity was verified",
            field="method",
            allowed="a short description, e.g. 'reply from the account's e-mail address'",
        )

    def apply(row: Any) -> None:
        row.identity_method = m
        row.verified_at = now

    _transition(
        db,
        request_id,
        DsrState.VERIFIED,
        actor=actor,
        now=now,
        reason=f"identity: {m}",
        apply=apply,
    )
    return show_request(db, request_id, now)


def start(db: Database, request_id: str, *, actor: str, now: datetime) -> DsrRequest:
    """Mark a verified request as being worked on."""
    _transition(db, request_id, DsrState.IN_PROGRESS, actor=actor, now=now)
    return show_request(db, request_id, now)


def refuse(db: Database, request_id: str, *, reason: str, actor: str, now: datetime) -> DsrRequest:
    """Refuse a request, with the reason the member will see."""
    r = _text(reason, "reason")

    def apply(row: Any) -> None:
        row.reason = r

    _transition(db, request_id, DsrState.REFUSED, actor=actor, now=now, reason=r, apply=apply)
    return show_request(db, request_id, now)


def extend(db: Database, request_id: str, *, reason: str, actor: str, now: datetime) -> DsrRequest:
    """Use the rule's one extension: a new deadline, the reason, and a notice to the
    member (shown on their requests page). Only before the first deadline."""
    r = _text(reason, "reason")
    with db.session() as s:
        row0 = repo.get_request(s, request_id)
        if row0 is None:
            raise _not_found(request_id)
    rule = _rule_of(db, row0)
    if rule.extension == 0:
        raise ConflictError(f"the deadline rule {rule.id!r} allows no extension")
    new_due = deadline(rule, row0.received_at, extended=True)

    def apply(row: Any) -> str:
        row.extended_due_at = new_due
        row.reason = r
        zone = ZoneInfo(row.timezone)
        last = (new_due.astimezone(zone) - timedelta(microseconds=1)).date()
        return (
            f"We need more time to answer your {row.kind} request received on "
            f"{row.received_at.astimezone(zone).date().isoformat()}. The new deadline is "
            f"the end of {last.isoformat()} ({row.timezone} time; {rule.title}). "
            f"Reason: {r}"
        )

    _transition(db, request_id, DsrState.EXTENDED, actor=actor, now=now, reason=r, apply=apply)
    return show_request(db, request_id, now)


def complete(
    db: Database, home: Path | None, request_id: str, *, actor: str, now: datetime
) -> DsrRequest:
    """Do what the request asks and mark it completed: ``access`` builds the package
    under ``home``, ``objection`` withdraws every purpose (source ``objection``),
    ``erasure`` runs the erasure engine. A failure leaves the request in progress."""
    with db.session() as s:
        row = repo.get_request(s, request_id)
        if row is None:
            raise _not_found(request_id)
        kind, mid = DsrKind(row.kind), row.member_id
        check_transition(_facts(row), DsrState.COMPLETED, now=now)
        state = DsrState(row.state)
    if kind is DsrKind.ERASURE:
        _erasure_engine()  # refuse before any state changes when it is missing
    if kind is DsrKind.ACCESS and home is None:
        raise InputError("an access package needs the data directory (home)", field="home")
    if state is not DsrState.IN_PROGRESS:
        _transition(db, request_id, DsrState.IN_PROGRESS, actor=actor, now=now)
    result: dict[str, Any] = {}
    warnings: tuple[str, ...] = ()
    if kind is DsrKind.ACCESS:
        assert home is not None
        result = _build_access(db, home, request_id, mid, now)
    elif kind is DsrKind.OBJECTION:
        result = {"reason": _object(db, mid, now)}
    else:
        said, problem = _run_erasure(db, home, request_id, mid, actor=actor, now=now)
        result = {"reason": f"{said}; {problem}" if problem else said}
        warnings = (problem,) if problem else ()

    def apply(row: Any) -> None:
        for key in ("package_path", "package_sha256", "package_expires_at"):
            if key in result:
                setattr(row, key, result[key])

    _transition(
        db,
        request_id,
        DsrState.COMPLETED,
        actor=actor,
        now=now,
        reason=result.get("reason"),
        apply=apply,
    )
    view = show_request(db, request_id, now)
    return replace(view, warnings=warnings) if warnings else view


def complete_erasures(
    db: Database, home: Path, request_ids: Sequence[str], *, actor: str, now: datetime
) -> list[DsrRequest]:
    """Complete several verified erasure requests in one erasure pass
    (:func:`optin.services.erasure.erase_members`: one scan of the other members' texts,
    one derivation per snapshot, one compaction), each request recorded on its member's
    erasure records. Every request is checked before anything changes (all must be
    erasure requests that may be completed now, one per member); the views come back
    in the order given, each with the compaction warning when there is one."""
    from optin.settings import Settings

    ids = list(dict.fromkeys(request_ids))
    if not ids:
        return []
    members: dict[str, str] = {}
    states: dict[str, DsrState] = {}
    with db.session() as s:
        for rid in ids:
            row = repo.get_request(s, rid)
            if row is None:
                raise _not_found(rid)
            if row.kind != DsrKind.ERASURE.value:
                raise InputError(
                    f"request {rid} is an {row.kind} request; only erasure requests are "
                    "completed together",
                    field="request_id",
                    value=rid,
                    allowed="ids of erasure requests",
                )
            check_transition(_facts(row), DsrState.COMPLETED, now=now)
            if row.member_id in members.values():
                raise InputError(
                    f"request {rid} is for the same member as another one given",
                    field="request_id",
                    value=rid,
                    allowed="one request per member",
                )
            members[rid], states[rid] = row.member_id, DsrState(row.state)
    erase_members = _erasure_engine(batch=True)
    for rid in ids:
        if states[rid] is not DsrState.IN_PROGRESS:
            _transition(db, rid, DsrState.IN_PROGRESS, actor=actor, now=now)
        remove_member_packages(db, home, members[rid], now=now)
    settings = Settings(home=home, database_url=db.url)
    reports = erase_members(
        db,
        settings,
        list(members.values()),
        now=now,
        request_ids={mid: rid for rid, mid in members.items()},
        actor=actor,
    )
    by_member = {r.member_id: r for r in reports}
    out: list[DsrRequest] = []
    for rid in ids:
        mid = members[rid]
        rep = by_member[mid]
        said = f"erased: erasure {rep.erasure_id} (see optin dsr erasure-record {mid})"
        problem = rep.compaction.problem if rep.compaction is not None else None
        _transition(
            db,
            rid,
            DsrState.COMPLETED,
            actor=actor,
            now=now,
            reason=f"{said}; {problem}" if problem else said,
        )
        view = show_request(db, rid, now)
        out.append(replace(view, warnings=(problem,)) if problem else view)
    return out


def _build_access(
    db: Database, home: Path, request_id: str, member_id: str, now: datetime
) -> dict[str, Any]:
    from optin.services.access_package import build_package

    path, digest = build_package(db, home / PACKAGES_DIR, member_id, request_id=request_id, now=now)
    return {
        "package_path": path.relative_to(home).as_posix(),
        "package_sha256": digest,
        "package_expires_at": now + PACKAGE_TTL,
        "reason": f"access package built (sha256 {digest[:16]}...), kept until "
        f"{(now + PACKAGE_TTL).isoformat()}",
    }


def _object(db: Database, member_id: str, now: datetime) -> str:
    """Withdraw every purpose of the policy in force, with source ``objection``."""
    from optin.services.consent import record_choice

    ps = policy_set(db)
    pv = ps.in_force(now) or ps.latest()
    done: list[str] = []
    for pid in sorted(pv.purposes if pv else ()):
        rec = record_choice(db, member_id, pid, "withdraw", source=ConsentSource.OBJECTION, now=now)
        state = "withdrawn" if rec.recorded else "already off"
        done.append(f"{pid}: {state} (event {rec.event.event_id})")
    return "objection recorded: " + "; ".join(done)


def _erasure_engine(*, batch: bool = False) -> Any:
    """The erasure engine's entry point (``erase_members`` when ``batch``), or a clear
    refusal when this build lacks it."""
    try:
        from optin.services.erasure import erase_member, erase_members
    except ImportError:
        raise ConflictError(
            "erasure engine not installed: this build of optin has no "
            "optin.services.erasure; the request stays as it is (verified), nothing was "
            "erased"
        ) from None
    return erase_members if batch else erase_member


def _run_erasure(
    db: Database, home: Path | None, request_id: str, member_id: str, *, actor: str, now: datetime
) -> tuple[str, str | None]:
    """The one place the request flow calls the erasure engine: first the member's
    access packages and links go (this module's files), then
    ``optin.services.erasure.erase_member`` does the rest. Returns what to record and,
    when the database compaction is incomplete, what the operator must do."""
    from optin.settings import Settings

    erase_member = _erasure_engine()
    if home is None:
        raise InputError("an erasure needs the data directory (home)", field="home")
    remove_member_packages(db, home, member_id, now=now)
    settings = Settings(home=home, database_url=db.url)
    report = erase_member(db, settings, member_id, now=now, request_id=request_id, actor=actor)
    said = f"erased: erasure {report.erasure_id} (see optin dsr erasure-record {member_id})"
    return said, report.compaction.problem if report.compaction is not None else None


# -- reading ---------------------------------------------------------------------------


def show_request(db: Database, request_id: str, now: datetime) -> DsrRequest:
    with db.session() as s:
        row = repo.get_request(s, request_id)
        if row is None:
            raise _not_found(request_id)
        events = repo.events_of(s, [request_id])
        linked = [r.id for r in repo.linked_requests(s, request_id)]
        return _view(row, now, events, linked)


def list_requests(
    db: Database,
    now: datetime,
    *,
    open_only: bool = False,
    state: str | None = None,
    kind: str | None = None,
    member_ref: str | None = None,
    limit: int = 1000,
) -> list[DsrRequest]:
    """Requests, soonest deadline first; filters by state (or open only), kind, member."""
    states: list[str] | None = None
    if state is not None:
        try:
            states = [DsrState(state).value]
        except ValueError:
            raise InputError(
                "unknown state",
                field="state",
                value=state,
                allowed=", ".join(s.value for s in DsrState),
            ) from None
    elif open_only:
        states = [s.value for s in OPEN_STATES]
    k = parse_kind(kind).value if kind is not None else None
    with db.session() as s:
        mid = None
        if member_ref is not None:
            mid = member_id_for(s, member_ref) or member_ref
        rows = repo.list_requests(s, states=states, kind=k, member_id=mid, limit=limit)
        events = repo.events_of(s, [r.id for r in rows])
    by_req: dict[str, list[Any]] = {}
    for e in events:
        by_req.setdefault(e.request_id, []).append(e)
    linked: dict[str, list[str]] = {}
    for r in rows:
        if r.duplicate_of:
            linked.setdefault(r.duplicate_of, []).append(r.id)
    return [_view(r, now, by_req.get(r.id, ()), linked.get(r.id, ())) for r in rows]


def member_requests(db: Database, member_id: str, now: datetime) -> list[DsrRequest]:
    """The member's own requests, newest first."""
    out = list_requests(db, now, member_ref=member_id)
    return sorted(out, key=lambda r: (r.received_at, r.id), reverse=True)


def own_request(db: Database, member_id: str, request_id: str, now: datetime) -> DsrRequest:
    """One of the member's own requests; anyone else's is 'not found'."""
    with db.session() as s:
        row = repo.get_request(s, request_id)
        owner = row.member_id if row is not None else None
    if owner != member_id:
        raise NotFoundError("no such request among your requests")
    return show_request(db, request_id, now)


# -- download links and the sweep ------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_download_link(
    db: Database, home: Path, member_id: str, request_id: str, *, now: datetime
) -> str:
    """A new single-use token for the member's own completed access package (valid
    :data:`LINK_TTL`); only its hash is stored."""
    sweep(db, home, now=now)
    with db.session() as s:
        row = repo.get_request(s, request_id)
        if row is None or row.member_id != member_id:
            raise NotFoundError("no such request among your requests")
        if row.kind != DsrKind.ACCESS.value or row.state != DsrState.COMPLETED.value:
            raise ConflictError("only a completed access request has a package to download")
        if not _package_live(row, now):
            raise ConflictError(
                "this request's package has expired and was removed; open a new access "
                "request to get a fresh copy"
            )
        token = secrets.token_urlsafe(32)
        repo.add_download(
            s,
            token_hash=_hash(token),
            request_id=request_id,
            member_id=member_id,
            created_at=now,
            expires_at=now + LINK_TTL,
        )
    return token


@dataclass(frozen=True, slots=True)
class Download:
    path: Path
    filename: str
    sha256: str


def take_download(
    db: Database, home: Path, member_id: str, token: str, *, now: datetime
) -> Download:
    """Consume a download link: the member's own, unexpired, unused link gives the
    package file once. Anyone else's link is 'not found' (and stays unused)."""
    sweep(db, home, now=now)
    h = _hash(token)
    with db.session() as s:
        link = repo.get_download(s, h)
        if link is None or link.member_id != member_id:
            raise NotFoundError(
                "this download link is not valid; get a new one from your requests page"
            )
        if link.used_at is not None:
            raise ConflictError(
                "this download link was already used; get a new one from your requests page"
            )
        if link.expires_at <= now:
            raise ConflictError(
                "this download link has expired; get a new one from your requests page"
            )
        row = repo.get_request(s, link.request_id)
        if row is None or not _package_live(row, now):
            raise ConflictError(
                "this package has expired and was removed; open a new access request"
            )
        if not repo.use_download(s, h, member_id, now):
            raise ConflictError(
                "this download link was already used; get a new one from your requests page"
            )
        path = home / str(row.package_path)
        digest = row.package_sha256 or ""
    if not path.is_file():
        raise NotFoundError("the package file is missing; open a new access request")
    return Download(path, path.name, digest)


@dataclass(frozen=True, slots=True)
class SweepResult:
    packages_removed: int
    links_removed: int
    orphans_removed: int

    def to_dict(self) -> dict[str, int]:
        return {
            "packages_removed": self.packages_removed,
            "links_removed": self.links_removed,
            "orphans_removed": self.orphans_removed,
        }


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def sweep(db: Database, home: Path, *, now: datetime) -> SweepResult:
    """Remove expired access packages (file, then the record that it exists) and links
    expired more than :data:`LINK_KEEP` ago; remove files in the packages directory that
    no live request names (a crash between writing and recording), once
    :data:`ORPHAN_GRACE` old."""
    with db.session() as s:
        expired = repo.expired_packages(s, now)
        for row in expired:
            _unlink(home / str(row.package_path))
            row.package_removed_at = now
        links = repo.delete_downloads(
            s, before=now - LINK_KEEP, request_ids=[r.id for r in expired]
        )
        live = {home / p for p in repo.all_package_paths(s)}
    orphans = 0
    pdir = home / PACKAGES_DIR
    if pdir.is_dir():
        for f in pdir.iterdir():
            if not f.is_file() or f in live or not f.name.endswith((".zip", ".tmp")):
                continue
            if f.stat().st_mtime > now.timestamp() - ORPHAN_GRACE.total_seconds():
                continue  # maybe a build that has not recorded its file yet
            _unlink(f)
            orphans += 1
    if expired or links or orphans:
        log.info(
            "dsr sweep: %d packages, %d links, %d orphans removed", len(expired), links, orphans
        )
    return SweepResult(len(expired), links, orphans)


def remove_member_packages(db: Database, home: Path, member_id: str, *, now: datetime) -> int:
    """Remove every access package of the member now (for erasure: overwritten, then
    unlinked) and their links."""
    from optin.files import shred

    with db.session() as s:
        rows = repo.member_packages(s, member_id)
        for row in rows:
            p = home / str(row.package_path)
            if p.is_file():
                shred(p)
            row.package_removed_at = now
        repo.delete_downloads(s, request_ids=[r.id for r in rows])
    return len(rows)


class SweepWorker:
    """Runs :func:`sweep` every ``interval`` seconds in a background thread (started and
    stopped by ``optin serve``'s app lifespan)."""

    def __init__(
        self, db: Database, home: Path, *, clock: Callable[[], datetime], interval: float = 600.0
    ) -> None:
        self.db, self.home, self.clock, self.interval = db, home, clock, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sweep(self.db, self.home, now=self.clock())
            except Exception as e:  # keep sweeping; the next round retries
                log.warning("dsr sweep failed: %s", type(e).__name__)
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="optin-dsr-sweep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


__all__ = [
    "CHANNELS",
    "LINK_KEEP",
    "LINK_TTL",
    "ORPHAN_GRACE",
    "PACKAGES_DIR",
    "PACKAGE_TTL",
    "WEB_IDENTITY",
    "Download",
    "DsrEvent",
    "DsrRequest",
    "SweepResult",
    "SweepWorker",
    "complete",
    "complete_erasures",
    "create_download_link",
    "extend",
    "list_requests",
    "member_requests",
    "open_request",
    "own_request",
    "refuse",
    "remove_member_packages",
    "rule_at",
    "show_request",
    "start",
    "sweep",
    "take_download",
    "verify",
]
