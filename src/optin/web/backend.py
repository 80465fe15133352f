"""The web layer's one door to the services: every call the routes make goes through
here, so route modules stay thin and a service signature change is fixed in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi.concurrency import run_in_threadpool

from optin.domain.eligibility import Decision, PolicySet
from optin.domain.model import PolicyVersion
from optin.errors import NotFoundError
from optin.services import consent, eligibility, members, policy, receipts, signals, snapshot_audit
from optin.services.consent_writer import ConsentWriter, prepare
from optin.services.setup import Database
from optin.settings import Settings
from optin.web.pages import HistoryEvent, as_history_event

log = logging.getLogger(__name__)


def policies(db: Database) -> PolicySet:
    return policy.policy_set(db)


def current_policy(db: Database, now: datetime) -> PolicyVersion:
    return policy.current_policy(db, now)


def history(db: Database, member_id: str) -> list[HistoryEvent]:
    events = [as_history_event(e) for e in consent.consent_history(db, member_id)]
    events.sort(key=lambda e: (e.at, e.seq), reverse=True)
    return events


def decide(db: Database, member_id: str, purpose: str, at: datetime) -> Decision:
    return eligibility.decide_member(db, member_id, purpose, at)


def decide_many(
    db: Database, member_ids: Sequence[str], purpose: str, at: datetime
) -> tuple[list[Decision], list[str]]:
    """Decisions for the known ids (in the order asked) and the ids that are unknown."""
    found = {d.member_id: d for d in eligibility.decide_all(db, purpose, at, member_ids=member_ids)}
    ordered = [found[m] for m in dict.fromkeys(member_ids) if m in found]
    unknown = [m for m in dict.fromkeys(member_ids) if m not in found]
    return ordered, unknown


def decide_all(db: Database, purpose: str, at: datetime) -> list[Decision]:
    return list(eligibility.decide_all(db, purpose, at))


@dataclass(frozen=True, slots=True)
class Saved:
    """A recorded choice for the routes: the event, and ``note`` ("already on" /
    "already off") when the choice was redundant and nothing was appended."""

    event: HistoryEvent
    note: str | None = None


def _saved(r: consent.Recorded) -> Saved:
    return Saved(as_history_event(r.event), r.note)


def record(
    db: Database,
    member_id: str,
    purpose: str,
    action: str,
    *,
    source: str,
    now: datetime,
    at: datetime | None = None,
    personal: dict[str, Any] | None = None,
    committer: ConsentWriter | None = None,
) -> Saved:
    """Record a consent event (through the group committer when there is one); a
    redundant choice appends nothing."""
    if committer is not None:
        r = committer.record_choice(
            member_id, purpose, action, source=source, now=now, at=at, personal=personal
        )
    else:
        r = consent.record_choice(
            db, member_id, purpose, action, source=source, now=now, at=at, personal=personal
        )
    return _saved(r)


async def record_async(
    db: Database,
    member_id: str,
    purpose: str,
    action: str,
    *,
    source: str,
    now: datetime,
    at: datetime | None = None,
    committer: ConsentWriter | None = None,
) -> Saved:
    """:func:`record` for async routes: validation runs in a worker thread and the wait
    for the group commit holds no thread."""
    if committer is None:
        return await run_in_threadpool(
            lambda: record(db, member_id, purpose, action, source=source, now=now, at=at)
        )
    draft = await run_in_threadpool(
        lambda: prepare(db, member_id, purpose, action, source=source, now=now, at=at)
    )
    return _saved(await asyncio.wrap_future(committer.submit(draft)))


def update_member(
    db: Database,
    ref: str,
    *,
    country: str | None,
    status: str | None,
    birth_date: date | None,
    effective_at: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """Record a member change through the API (source ``api``)."""
    mid = members.resolve(db, ref)
    return members.update_member(
        db,
        mid,
        country=country,
        status=status,
        birth_date=birth_date,
        effective_at=effective_at,
        now=now,
        source="api",
    ).to_dict()


def erase_member(
    db: Database,
    settings: Settings,
    ref: str,
    *,
    request_id: str | None,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """Erase a member through the API (see :mod:`optin.services.erasure`)."""
    from optin.services import erasure

    mid = erasure.find_member(db, ref)
    return erasure.erase_member(
        db, settings, mid, now=now, request_id=request_id, actor=actor
    ).to_dict()


def show_member(db: Database, ref: str, now: datetime) -> dict[str, Any]:
    return members.show_member(db, members.resolve(db, ref), now)


def receipt_for_member(db: Database, member_id: str, event_id: str) -> dict[str, Any]:
    """The receipt of one of ``member_id``'s own events; someone else's is 'not found'."""
    if consent.event_owner(db, event_id) != member_id:
        raise NotFoundError(f"no consent event {event_id!r} in your history")
    return receipt(db, event_id)


def receipt(db: Database, event_id: str) -> dict[str, Any]:
    return receipts.receipt(db, event_id)


def content_usage(db: Database, content_id: str, *, now: datetime) -> signals.ContentUsage:
    return signals.content_usage(db, content_id, now=now)


def platform_signals(db: Database, paths: list[str], *, now: datetime) -> signals.PlatformSignals:
    return signals.platform_signals(db, paths, now=now)


def verify_snapshot(
    db: Database, settings: Settings, snapshot_id: str, *, now: datetime, actor: str = "web"
) -> dict[str, Any]:
    """Run the independent snapshot verifier and keep its result in the snapshot's
    ``verifications.jsonl``; returns the report as a dict (``kept``: the line kept, or
    None when the directory could not be written)."""
    from optin.services import verifications, verify

    report = verify.verify_snapshot(db, settings, snapshot_id, now=now)
    out = report.to_dict()
    out["kept"] = None
    if report.path and Path(report.path).is_dir():
        try:
            out["kept"] = verifications.record(Path(report.path), report, actor=actor, now=now)
        except OSError:
            log.warning("snapshot %s: the verification result could not be kept", snapshot_id)
    return out


def latest_verification(settings: Settings, stored: str) -> dict[str, Any] | None:
    """The newest kept verification of the snapshot stored at ``stored``, or None."""
    from optin.services import verifications
    from optin.services.snapshots import snapshot_dir

    return verifications.latest(snapshot_dir(settings.home, stored))


# -- snapshot leak audit (issue 17) --------------------------------------------------------

AUDIT_LABELS = snapshot_audit.LABELS


def audit_view(db: Database, settings: Settings, snapshot_id: str) -> tuple[Any, list[Any]]:
    return snapshot_audit.audit_view(db, settings, snapshot_id)


def audit_status(db: Database, settings: Settings, snapshot_id: str) -> Any:
    return snapshot_audit.audit_status(db, settings, snapshot_id)


def start_audit(
    db: Database, settings: Settings, snapshot_id: str, *, size: int, seed: int, by: str,
    now: datetime,
) -> Any:  # fmt: skip
    return snapshot_audit.start_audit(
        db, settings, snapshot_id, size=size, seed=seed, by=by, now=now
    )


def review_record(
    db: Database, settings: Settings, snapshot_id: str, record_id: str, *, verdict: str,
    span: str, label: str, by: str, now: datetime,
) -> Any:  # fmt: skip
    return snapshot_audit.review_record(
        db, settings, snapshot_id, record_id, verdict=verdict, span=span, label=label, by=by,
        now=now,
    )  # fmt: skip


def leak_audit(settings: Settings, stored: str) -> dict[str, Any]:
    """The snapshot's leak audit, read-only (``state`` none / in_progress / complete /
    damaged)."""
    from optin.services.snapshots import snapshot_dir

    return snapshot_audit.peek(snapshot_dir(settings.home, stored))
