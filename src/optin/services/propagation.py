"""Withdrawal propagation: the one entry point every change that can make content
ineligible calls (:func:`propagate`).

For each snapshot holding records of the given members (complete, not retired), the
members' records are judged again at ``now`` by the domain rule
(:func:`optin.domain.eligibility.eligibility` on each author's full history, the same
rule ``optin snapshot verify`` applies): a record is affected when its author is no
longer eligible for the snapshot's purpose, or its content was deleted or erased. The
count per (snapshot, member) is kept with the reason of the change
(``snapshot_stale_members``); a snapshot with any such row is ``stale``. Members who are
eligible again (a new grant) have their rows cleared, so the stale count always equals
what verify finds, as long as every change propagates.

Then every registered hook (:func:`register_hook`) is called with the
:class:`PropagationReport` (provider exports and deletion notices hook in here, and
trained models: :func:`model_flags`). A
failing hook is logged and named in the report; it never undoes the change that
propagated.

Reasons (:data:`REASONS`): ``withdrawal`` (and any other consent change),
``policy_change`` (a material policy change), member lifecycle changes
(:data:`MEMBER_REASONS`: ``account_closed``, ``account_suspended``, ``country_excluded``
(a move to a country excluded under the policy in force), ``country_changed`` (any other
move), ``birth_date_corrected``, ``account_reactivated``), ``content_deleted``,
``erasure``, ``refresh`` (``optin lineage refresh``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from optin.domain.eligibility import PolicySet, eligibility
from optin.errors import InputError
from optin.services.policy import policy_set
from optin.storage import lineage as repo
from optin.storage.database import Database
from optin.storage.members import member_histories

log = logging.getLogger(__name__)

#: Reasons of member lifecycle changes (:mod:`optin.services.members`), most severe first.
MEMBER_REASONS = (
    "account_closed",
    "account_suspended",
    "country_excluded",
    "country_changed",
    "birth_date_corrected",
    "account_reactivated",
)
REASONS = (
    "withdrawal",
    "policy_change",
    *MEMBER_REASONS,
    "content_deleted",
    "erasure",
    "refresh",
)


@dataclass
class SnapshotImpact:
    """What one propagation found in one snapshot."""

    snapshot_id: str
    purpose: str
    stale_records: int = 0  # all records of the snapshot no longer eligible, after this call
    new_records: int = 0  # records this call found newly ineligible
    record_ids: list[str] = field(default_factory=list)  # of ``new_records``
    members: list[str] = field(default_factory=list)  # members newly affected

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "purpose": self.purpose,
            "stale_records": self.stale_records,
            "new_records": self.new_records,
            "members": len(self.members),
        }


@dataclass
class PropagationReport:
    """The outcome of one :func:`propagate` call (what the hooks receive)."""

    reason: str
    now: datetime
    member_ids: list[str]
    snapshots: list[SnapshotImpact] = field(default_factory=list)
    hook_errors: list[str] = field(default_factory=list)

    @property
    def affected(self) -> list[SnapshotImpact]:
        """Snapshots where this call found newly ineligible records."""
        return [s for s in self.snapshots if s.new_records]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "at": self.now.isoformat(),
            "members": len(self.member_ids),
            "snapshots": [s.to_dict() for s in self.snapshots],
            "hook_errors": self.hook_errors,
        }


Hook = Callable[[Database, PropagationReport], None]
_HOOKS: list[Hook] = []


def register_hook(fn: Hook) -> Hook:
    """Call ``fn(db, report)`` after every propagation (idempotent; usable as a
    decorator). Hooks run after the stale rows are committed, in registration order."""
    if fn not in _HOOKS:
        _HOOKS.append(fn)
    return fn


def unregister_hook(fn: Hook) -> None:
    if fn in _HOOKS:
        _HOOKS.remove(fn)


def propagate(
    db: Database, *, member_ids: Iterable[str], reason: str, now: datetime
) -> PropagationReport:
    """Mark every snapshot holding records of ``member_ids`` that are no longer eligible
    at ``now`` as stale (count and reason), then run the hooks."""
    if reason not in REASONS:
        raise InputError(
            "unknown propagation reason", field="reason", value=reason, allowed=", ".join(REASONS)
        )
    ids = sorted(set(member_ids))
    report = PropagationReport(reason, now, ids)
    if not ids:
        return report
    with db.session() as s:
        counts = repo.member_snapshot_counts(s, ids)
        if not counts:
            return report
        snaps = repo.snapshots_by_ids(s, sorted({c.snapshot_id for c in counts}))
        live = {
            sid: row
            for sid, row in snaps.items()
            if row.status == "complete" and row.retired_at is None
        }
        by_snapshot: dict[str, list[str]] = {}
        for c in counts:
            if c.snapshot_id in live:
                by_snapshot.setdefault(c.snapshot_id, []).append(c.author_id)
        if by_snapshot:
            _mark(s, policy_set(db), live, by_snapshot, report)
    _run_hooks(db, report)
    return report


def _mark(
    s: Any,
    ps: PolicySet,
    live: dict[str, Any],
    by_snapshot: dict[str, list[str]],
    report: PropagationReport,
) -> None:
    histories = member_histories(s, sorted({m for ms in by_snapshot.values() for m in ms}))
    for sid in sorted(by_snapshot):
        row = live[sid]
        impact = SnapshotImpact(sid, row.purpose)
        members = by_snapshot[sid]
        records = repo.member_records_in(s, sid, members)
        deleted = repo.deleted_content(s, [r.content_id for r in records])
        before = repo.stale_members(s, sid)
        gone = _ineligible(histories, members, row.purpose, report.now, ps)
        for mid in members:
            mine = [r for r in records if r.author_id == mid]
            bad = mine if mid in gone else [r for r in mine if r.content_id in deleted]
            if not bad:
                repo.clear_stale(s, sid, mid)
                continue
            old = before.get(mid)
            repo.set_stale(s, sid, mid, records=len(bad), reason=report.reason, at=report.now)
            if old is None or old.records < len(bad):
                impact.new_records += len(bad) - (old.records if old else 0)
                impact.record_ids.extend(sorted(r.record_id for r in bad))
                impact.members.append(mid)
        summary = repo.stale_summary(s, [sid]).get(sid)
        impact.stale_records = int(summary["records"]) if summary else 0
        report.snapshots.append(impact)


def _ineligible(
    histories: dict[str, Any], members: list[str], purpose: str, now: datetime, ps: PolicySet
) -> set[str]:
    """The members not eligible for ``purpose`` at ``now`` (unknown members included)."""
    out: set[str] = set()
    for mid in members:
        h = histories.get(mid)
        if h is None or not eligibility(h, purpose, now, ps).eligible:
            out.add(mid)
    return out


def provider_notices(db: Database, report: PropagationReport) -> None:
    """The built-in hook: exports holding these members' records that are no longer
    eligible are marked stale and deletion notices are queued for their providers
    (:func:`optin.services.provider_exports.on_members_ineligible`)."""
    from optin.services.provider_exports import on_members_ineligible

    on_members_ineligible(db, report.member_ids, reason=report.reason, now=report.now)


register_hook(provider_notices)


def model_flags(db: Database, report: PropagationReport) -> None:
    """The built-in hook for models: a model trained on records that are no longer
    eligible is flagged ``needs_retrain`` with their count
    (:func:`optin.services.models.flag_models`)."""
    from optin.services.models import flag_models

    flag_models(db, report)


register_hook(model_flags)


def _run_hooks(db: Database, report: PropagationReport) -> None:
    for fn in list(_HOOKS):
        try:
            fn(db, report)
        except Exception as e:  # the change that propagated stays recorded
            name = getattr(fn, "__qualname__", repr(fn))
            log.error("propagation hook %s failed: %s", name, type(e).__name__)
            report.hook_errors.append(f"{name}: {type(e).__name__}")


def refresh(db: Database, *, now: datetime, reason: str = "refresh") -> PropagationReport:
    """Propagate for every member with records in a live snapshot (after a material
    policy change takes effect, or to repair stale counts)."""
    with db.session() as s:
        members = repo.live_snapshot_authors(s)
    return propagate(db, member_ids=members, reason=reason, now=now)


__all__ = [
    "MEMBER_REASONS",
    "REASONS",
    "Hook",
    "PropagationReport",
    "SnapshotImpact",
    "model_flags",
    "propagate",
    "provider_notices",
    "refresh",
    "register_hook",
    "unregister_hook",
]
