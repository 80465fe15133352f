"""Issue 9 (storage): every event carries its effective time (``at``) and the time the
ledger recorded it (``recorded_at``), which is the append's ``now``, never the caller's."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.models import ConsentEventRow
from tests.factories import T0

NOW = T0 + timedelta(days=400)
BACKDATED = T0 - timedelta(days=30)


def _draft(i: int) -> ledger.EventDraft:
    return ledger.EventDraft(
        member_id=f"m{i}",
        purpose="train_own_models",
        action="grant",
        at=T0 + timedelta(minutes=i),
        policy_version=1,
        source="web",
        recorded_at=BACKDATED,  # a caller trying to choose when the ledger learned of it
    )


def _recorded(db: Database) -> list:
    with db.session() as s:
        return list(
            s.scalars(select(ConsentEventRow.recorded_at).order_by(ConsentEventRow.seq)).all()
        )


def test_when_a_draft_names_recorded_at_then_the_append_time_wins(db: Database) -> None:
    with db.session() as s:
        row = ledger.append(s, _draft(0), now=NOW)
        ledger.append_many(s, [_draft(1), _draft(2)], now=NOW + timedelta(seconds=1))
    assert row.recorded_at == NOW
    assert _recorded(db) == [NOW, NOW + timedelta(seconds=1), NOW + timedelta(seconds=1)]
    with db.session() as s:
        assert ledger.verify(s).ok


def test_when_historical_load_then_drafts_keep_their_recorded_time(db: Database) -> None:
    plain = _draft(1)
    plain.recorded_at = None
    with db.session() as s:
        ledger.append_many(s, [_draft(0), plain], now=NOW, historical=True)
    assert _recorded(db) == [BACKDATED, NOW]


def test_when_recorded_at_is_rewritten_then_verify_names_the_row(db: Database) -> None:
    with db.session() as s:
        ledger.append_many(s, [_draft(i) for i in range(3)], now=NOW)
    with db.session() as s:
        s.execute(
            text("UPDATE consent_events SET recorded_at = :t WHERE seq = 2"),
            {"t": NOW - timedelta(days=1)},
        )
    with db.session() as s:
        report = ledger.verify(s)
    assert not report.ok and report.first_bad_seq == 2
