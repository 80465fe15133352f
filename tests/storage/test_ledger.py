"""The consent ledger on SQLite and PostgreSQL: chain, tampering, concurrency, erasure."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.keys import KeyRing, destroy_member_key, unseal
from optin.storage.keystore import keystore_of
from optin.storage.models import ConsentEventRow
from tests.factories import T0

#: the append time passed to the ledger (time is a parameter in storage)
NOW = T0 + timedelta(days=400)


def _draft(i: int, member: str = "m1", personal: dict | None = None) -> ledger.EventDraft:
    return ledger.EventDraft(
        member_id=member,
        purpose="train_own_models",
        action="grant" if i % 2 == 0 else "withdraw",
        at=T0 + timedelta(minutes=i),
        policy_version=1,
        source="import",
        personal=personal,
    )


def _fill(db: Database, n: int = 6) -> None:
    with db.session() as s:
        ledger.append_many(s, [_draft(i, member=f"m{i % 3}") for i in range(n)], now=NOW)


def _verify(db: Database) -> ledger.LedgerReport:
    with db.session() as s:
        return ledger.verify(s)


def test_when_empty_then_verify_ok(db: Database) -> None:
    r = _verify(db)
    assert r.ok and r.length == 0 and r.head_hash == ledger.GENESIS


def test_when_appending_then_chain_links_and_head_follows(db: Database) -> None:
    with db.session() as s:
        first = ledger.append(s, _draft(0), now=NOW)
        second = ledger.append(s, _draft(1), {"ip": "192.0.2.1"}, now=NOW)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == ledger.GENESIS
    assert second.prev_hash == first.hash
    with db.session() as s:
        head = ledger.ledger_head(s)
        many = ledger.append_many(s, [_draft(i) for i in range(2, 7)], now=NOW)
    assert head == ledger.LedgerHead(2, second.hash)
    assert many.seq == 7
    r = _verify(db)
    assert r.ok and r.length == 7 and r.head_hash == many.hash


def test_when_hash_recomputed_then_matches_documented_formula(db: Database) -> None:
    import hashlib
    import json

    with db.session() as s:
        row = ledger.append(s, _draft(0), now=NOW)
    payload = json.dumps(
        {
            "seq": 1,
            "event_id": row.event_id,
            "member_id": "m1",
            "purpose": "train_own_models",
            "action": "grant",
            "at": "2024-02-01T00:00:00.000000+00:00",
            "recorded_at": row.recorded_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "policy_version": 1,
            "source": "import",
            "personal_sha256": None,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert row.hash == hashlib.sha256(("0" * 64 + payload).encode()).hexdigest()


def test_when_append_fails_midway_then_nothing_is_written(db: Database) -> None:
    _fill(db, 3)
    bad = [_draft(10), _draft(11)]
    bad[1].event_id = bad[0].event_id  # duplicate id -> unique violation
    with pytest.raises(Exception), db.session() as s:  # noqa: B017
        ledger.append_many(s, bad, now=NOW)
    r = _verify(db)
    assert r.ok and r.length == 3


def test_when_bad_action_then_input_error(db: Database) -> None:
    from optin.errors import InputError

    d = _draft(0)
    d.action = "maybe"
    with pytest.raises(InputError, match="action"), db.session() as s:
        ledger.append(s, d, now=NOW)


# -- tampering ------------------------------------------------------------------------


def _sql(db: Database, *stmts: str) -> None:
    with db.engine.begin() as conn:
        for st in stmts:
            conn.execute(text(st))


def _edit(db: Database) -> int:
    _sql(db, "UPDATE consent_events SET action = 'withdraw' WHERE seq = 3")
    return 3


def _edit_time(db: Database) -> int:
    with db.session() as s:
        row = s.get(ConsentEventRow, 4)
        assert row is not None
        row.at = row.at + timedelta(seconds=1)
    return 4


def _delete(db: Database) -> int:
    _sql(db, "DELETE FROM consent_events WHERE seq = 3")
    return 3


def _forge_tail(db: Database) -> int:
    # a well-formed row appended behind the ledger's back (the head is not updated)
    with db.session() as s:
        last = s.get(ConsentEventRow, 6)
        assert last is not None
        d = _draft(99)
        payload = ledger.canonical_payload(
            7, d.event_id, d.member_id, d.purpose, "grant", d.at, d.at, 1, "import", None
        )
        s.add(
            ConsentEventRow(
                seq=7,
                event_id=d.event_id,
                member_id=d.member_id,
                purpose=d.purpose,
                action="grant",
                at=d.at,
                recorded_at=d.at,
                policy_version=1,
                source="import",
                personal=None,
                prev_hash=last.hash,
                hash=ledger.chain_hash(last.hash, payload),
            )
        )
    return 7


def _forge_middle(db: Database) -> int:
    # shift seq 3.. up by one and insert a well-formed row at 3
    with db.session() as s:
        for seq in range(6, 2, -1):
            s.execute(
                text("UPDATE consent_events SET seq = :n WHERE seq = :o"), {"n": seq + 1, "o": seq}
            )
        prev = s.get(ConsentEventRow, 2)
        assert prev is not None
        d = _draft(50)
        payload = ledger.canonical_payload(
            3, d.event_id, d.member_id, d.purpose, "grant", d.at, d.at, 1, "import", None
        )
        s.add(
            ConsentEventRow(
                seq=3,
                event_id=d.event_id,
                member_id=d.member_id,
                purpose=d.purpose,
                action="grant",
                at=d.at,
                recorded_at=d.at,
                policy_version=1,
                source="import",
                personal=None,
                prev_hash=prev.hash,
                hash=ledger.chain_hash(prev.hash, payload),
            )
        )
    return 4


def _swap(db: Database) -> int:
    cols = ["event_id", "member_id", "action", "at", "personal", "prev_hash", "hash"]
    with db.session() as s:
        a = s.execute(
            select(*[getattr(ConsentEventRow, c) for c in cols]).where(ConsentEventRow.seq == 2)
        ).one()
        b = s.execute(
            select(*[getattr(ConsentEventRow, c) for c in cols]).where(ConsentEventRow.seq == 5)
        ).one()
        s.execute(text("UPDATE consent_events SET event_id = 'tmp' WHERE seq = 2"))
        for seq, vals in ((5, a), (2, b)):
            row = s.get(ConsentEventRow, seq)
            assert row is not None
            for c, v in zip(cols, vals, strict=True):
                setattr(row, c, v)
            s.flush()
    return 2


def _truncate(db: Database) -> int:
    _sql(db, "DELETE FROM consent_events WHERE seq >= 5")
    return 5


def _head(db: Database) -> int:
    _sql(db, "UPDATE ledger_head SET hash = '" + "f" * 64 + "' WHERE id = 1")
    return 6


TAMPERING = {
    "edit_field": _edit,
    "edit_time": _edit_time,
    "delete_row": _delete,
    "insert_forged_tail": _forge_tail,
    "insert_forged_middle": _forge_middle,
    "swap_rows": _swap,
    "truncate_tail": _truncate,
    "forge_head": _head,
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_when_tampered_then_verify_names_first_bad_seq(db: Database, kind: str) -> None:
    _fill(db, 6)
    assert _verify(db).ok
    expected = TAMPERING[kind](db)
    r = _verify(db)
    assert not r.ok
    assert r.first_bad_seq == expected, r.problem
    assert r.problem and str(expected) in r.problem


def test_when_small_chunks_then_verify_streams_whole_chain(db: Database) -> None:
    _fill(db, 25)
    with db.session() as s:
        assert ledger.verify(s, chunk=4).ok
    _sql(db, "UPDATE consent_events SET purpose = 'share_with_providers' WHERE seq = 23")
    with db.session() as s:
        assert ledger.verify(s, chunk=4).first_bad_seq == 23


# -- personal fields and erasure -------------------------------------------------------


def test_when_member_key_destroyed_then_personal_unreadable_and_chain_verifies(
    db: Database,
) -> None:
    with db.session() as s:
        a = ledger.append(s, _draft(0, "m1"), {"ip": "192.0.2.7", "country": "US"}, now=NOW)
        b = ledger.append(s, _draft(1, "m2"), {"ip": "198.51.100.9"}, now=NOW)
    with db.session() as s:
        ring = KeyRing(s)
        assert unseal(ring.key_for_read("m1"), a.event_id, a.personal) == {
            "ip": "192.0.2.7",
            "country": "US",
        }
        assert b"192.0.2.7" not in (a.personal or b"")
        assert destroy_member_key(s, "m1", now=NOW) is True
    with db.session() as s:
        ring = KeyRing(s)
        assert ring.key_for_read("m1") is None
        assert unseal(ring.key_for_read("m1"), a.event_id, a.personal) is None
        assert unseal(ring.key_for_read("m2"), b.event_id, b.personal) == {"ip": "198.51.100.9"}
        assert keystore_of(s).get(["m1", "m2"]).keys() == {"m1", "m2"}
        assert keystore_of(s).get(["m1"]) == {"m1": None}  # destroyed, and remembered
    assert _verify(db).ok
    with db.session() as s:
        assert ledger.personal_fields(s, a) is None
        assert ledger.personal_fields(s, b) == {"ip": "198.51.100.9"}
        assert ledger.destroy_member_key(s, "m1", now=NOW) is False  # already gone
    # an erased member never gets personal data stored again
    with db.session() as s:
        c = ledger.append(s, _draft(2, "m1"), {"ip": "192.0.2.8"}, now=NOW)
    assert c.personal is None
    assert _verify(db).ok


def test_when_ciphertext_moved_to_other_event_then_it_does_not_decrypt(db: Database) -> None:
    with db.session() as s:
        a = ledger.append(s, _draft(0, "m1"), {"ip": "192.0.2.7"}, now=NOW)
        b = ledger.append(s, _draft(1, "m1"), {"ip": "192.0.2.8"}, now=NOW)
        key = KeyRing(s).key_for_read("m1")
    assert unseal(key, b.event_id, a.personal) is None


def test_when_bulk_append_with_personal_then_keys_created_once(db: Database) -> None:
    with db.session() as s:
        ledger.append_many(
            s, [_draft(i, f"m{i % 4}", {"ip": f"192.0.2.{i}"}) for i in range(12)], now=NOW
        )
    with db.session() as s:
        n = len(keystore_of(s).get([f"m{i}" for i in range(6)]))
        rows = s.scalars(select(ConsentEventRow).order_by(ConsentEventRow.seq)).all()
        ring = KeyRing(s)
        ring.load(r.member_id for r in rows)
        ips = [unseal(ring.key_for_read(r.member_id), r.event_id, r.personal) for r in rows]
    assert n == 4
    assert [p["ip"] if p else None for p in ips] == [f"192.0.2.{i}" for i in range(12)]
    assert _verify(db).ok


# -- concurrency -----------------------------------------------------------------------


def _writer(url: str, worker: int, n: int, home: Path | None = None) -> None:
    db = Database(url, home=home)
    try:
        for i in range(n):
            with db.session() as s:
                ledger.append(
                    s,
                    ledger.EventDraft(
                        member_id=f"w{worker}",
                        purpose="train_own_models",
                        action="grant" if i % 2 == 0 else "withdraw",
                        at=datetime(2024, 3, 1, tzinfo=UTC) + timedelta(seconds=i),
                        policy_version=1,
                        source="system",
                    ),
                    {"ip": f"10.0.{worker}.{i}"} if i % 3 == 0 else None,
                    now=NOW,
                )
    finally:
        db.dispose()


@pytest.mark.slow
def test_when_processes_append_concurrently_then_chain_intact_and_count_exact(
    db: Database,
) -> None:
    workers, per = 6, 25
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db.url, w, per, db.home)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * workers
    r = _verify(db)
    assert r.ok, r.problem
    assert r.length == workers * per
    with db.session() as s:
        seqs = s.scalars(select(ConsentEventRow.seq).order_by(ConsentEventRow.seq)).all()
        per_worker = dict(
            s.execute(
                text("SELECT member_id, COUNT(*) FROM consent_events GROUP BY member_id")
            ).all()
        )
    assert seqs == list(range(1, workers * per + 1))
    assert per_worker == {f"w{w}": per for w in range(workers)}
