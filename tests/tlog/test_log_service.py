"""The log over a real ledger (SQLite and PostgreSQL): integration, checkpoints, proofs,
erasure, a consistent rewrite of the chain, and witnesses (in process and over HTTP)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from optin.errors import IntegrityError, NotFoundError
from optin.services import tlog as svc
from optin.services.ledger import verify_ledger
from optin.services.witness import WitnessService, make_server
from optin.settings import Settings
from optin.storage import ledger
from optin.storage import tlog as store
from optin.storage.database import Database
from optin.storage.ledger import ChainEntry, EventDraft
from optin.tlog import merkle
from optin.tlog.checkpoint import Checkpoint, ProofFile, count_cosignatures
from optin.tlog.leaf import opened_leaf
from optin.tlog.note import Verifier
from optin.tlog.witness import request_body

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _drafts(n: int, start: int = 0) -> list[EventDraft]:
    return [
        EventDraft(
            member_id=f"m{(start + i) % 7}",
            purpose="train_own_models",
            action="grant" if (start + i) % 3 else "withdraw",
            at=T0 + timedelta(minutes=start + i),
            policy_version=1,
            source="web",
            personal={"country": "FR"} if i % 2 else None,
        )
        for i in range(n)
    ]


def _append(db: Database, n: int, start: int = 0) -> list[str]:
    drafts = _drafts(n, start)
    with db.session() as s:
        ledger.append_many(s, drafts, now=T0)
    return [d.event_id for d in drafts]


@pytest.fixture()
def log_settings(tmp_path: Path, db: Database) -> Settings:
    s = Settings(home=tmp_path / "home", database_url=db.url, log_origin="optin.test/log")
    svc.keygen(s)
    return s


def _vkey(settings: Settings) -> Verifier:
    return svc.log_signer(settings).verifier


def test_keygen_key_file_is_private_and_kept(log_settings: Settings) -> None:
    path = svc.key_path(log_settings)
    assert path.stat().st_mode & 0o777 == 0o600
    vkey, _, created = svc.keygen(log_settings)
    assert not created and Verifier.parse(vkey) == _vkey(log_settings)
    assert vkey.startswith("optin.test/log+")


def test_proofs_over_growing_ledger_verify_against_every_later_checkpoint(
    db: Database, log_settings: Settings
) -> None:
    ids: list[str] = []
    notes: list[str] = []
    key = _vkey(log_settings)
    for step, n in enumerate([1, 2, 5, 8, 1, 17]):
        ids += _append(db, n, len(ids))
        now = T0 + timedelta(seconds=10 * step)
        cp = svc.publish_checkpoint(db, log_settings, now=now)
        assert cp is not None and cp.size == len(ids)
        notes.append(cp.note)
        checkpoint, _ = Checkpoint.open(cp.note, [key])
        for i, event_id in enumerate(ids):  # every earlier event, against this checkpoint
            pf = svc.member_proof_file(db, log_settings, f"m{i % 7}", event_id, now=now)
            assert pf.index == i
            leaf, fields = opened_leaf(pf.extra or b"")
            assert fields["event_id"] == event_id
            assert ProofFile.decode(pf.encode()).verify(leaf, key).size == len(ids)
        for old_note in notes:  # every earlier checkpoint is consistent with this one
            old, _ = Checkpoint.open(old_note, [key])
            proof = svc.consistency(db, old.size, checkpoint.size)
            assert merkle.verify_consistency(
                old.size, checkpoint.size, proof, old.root, checkpoint.root
            )
    with db.session() as s:
        state = store.tree_state(s)
        data = s.execute(text("SELECT data FROM tlog_leaves ORDER BY idx")).scalars().all()
    assert merkle.root_from_leaf_hashes(merkle.leaf_hash(bytes(d)) for d in data) == (
        state.size,
        state.root,
    )
    assert svc.verify_log(db, log_settings).ok


def test_checkpoints_at_most_every_interval(db: Database, log_settings: Settings) -> None:
    _append(db, 3)
    first = svc.publish_checkpoint(db, log_settings, now=T0)
    _append(db, 2, 3)
    same = svc.publish_checkpoint(db, log_settings, now=T0 + timedelta(milliseconds=500))
    assert first is not None and same is not None and same.size == first.size == 3
    later = svc.publish_checkpoint(db, log_settings, now=T0 + timedelta(seconds=1))
    assert later is not None and later.size == 5


def test_a_member_gets_only_own_proofs_and_erasure_keeps_proofs_valid(
    db: Database, log_settings: Settings
) -> None:
    ids = _append(db, 4)
    svc.publish_checkpoint(db, log_settings, now=T0)
    with pytest.raises(NotFoundError):
        svc.member_proof_file(db, log_settings, "m5", ids[0], now=T0)
    with db.session() as s:
        ledger.destroy_member_key(s, "m0", now=T0)
    with pytest.raises(NotFoundError, match="erased"):
        svc.member_proof_file(db, log_settings, "m0", ids[0], now=T0)
    public = svc.inclusion_proof_file(db, log_settings, ids[0], now=T0)
    with db.session() as s:
        data = s.execute(text("SELECT data FROM tlog_leaves WHERE idx = 0")).scalar_one()
    assert public.verify(merkle.leaf_hash(bytes(data)), _vkey(log_settings)).size == 4
    report = svc.verify_log(db, log_settings)
    assert report.ok and report.checked_commitments == 3


def _rechain(db: Database) -> None:
    """Recompute every chain hash and the head over the rows as they are now."""
    with db.session() as s:
        rows = list(ledger.iter_rows(s))
        prev = ledger.GENESIS
        for r in rows:
            entry = ChainEntry.of(
                r.seq, r.event_id, r.member_id, r.purpose, r.action, r.at, r.recorded_at,
                r.policy_version, r.source, r.personal,
            )  # fmt: skip
            digest = entry.digest(prev)
            s.execute(
                text("UPDATE consent_events SET prev_hash = :p, hash = :h WHERE seq = :q"),
                {"p": prev, "h": digest, "q": r.seq},
            )
            prev = digest
        s.execute(text("UPDATE ledger_head SET hash = :h WHERE id = 1"), {"h": prev})


def _set_first_action(db: Database, action: str) -> None:
    """Change seq 1 and re-chain: a consistent rewrite of the chain and its head."""
    with db.session() as s:
        s.execute(text("UPDATE consent_events SET action = :a WHERE seq = 1"), {"a": action})
    _rechain(db)


def test_a_consistent_rewrite_of_the_chain_is_caught(db: Database, log_settings: Settings) -> None:
    _append(db, 9)
    _set_first_action(db, "grant")
    assert verify_ledger(db).ok
    key = _vkey(log_settings)
    old = svc.publish_checkpoint(db, log_settings, now=T0)
    assert old is not None
    auditor_copy, _ = Checkpoint.open(old.note, [key])  # an outsider keeps this

    _set_first_action(db, "withdraw")  # the insider's rewrite
    assert verify_ledger(db).ok  # the chain alone cannot tell
    report = svc.verify_log(db, log_settings)
    assert not report.ok and "no longer matches" in (report.problem or "")

    svc.rebuild(db, now=T0, force=True)  # the insider rebuilds the tree too
    report = svc.verify_log(db, log_settings)
    assert not report.ok and "rewritten" in (report.problem or "")
    _append(db, 2, 9)
    with pytest.raises(IntegrityError, match="rewritten"):
        svc.publish_checkpoint(db, log_settings, now=T0 + timedelta(seconds=5))
    # the auditor's consistency check from the kept checkpoint fails
    svc.integrate(db, now=T0)
    with db.session() as s:
        state = store.tree_state(s)
    proof = svc.consistency(db, auditor_copy.size, state.size)
    assert not merkle.verify_consistency(
        auditor_copy.size, state.size, proof, auditor_copy.root, state.root
    )


# -- witnesses ---------------------------------------------------------------------------


def _witness(tmp_path: Path, settings: Settings) -> tuple[WitnessService, str]:
    key = tmp_path / "w1.key"
    vkey, _, _ = svc.keygen(settings, path=key, name="witness.test/w1", alg=0x04)
    return WitnessService(key, tmp_path / "w1.state", [_vkey(settings)]), vkey


def test_witness_cosigns_growth_and_refuses_forks_and_rollbacks_after_restart(
    db: Database, log_settings: Settings, tmp_path: Path
) -> None:
    w, wkey = _witness(tmp_path, log_settings)
    settings = log_settings.model_copy(update={"log_witnesses": [f"http://w1 {wkey}"]})

    def post(url: str, body: bytes) -> tuple[int, str]:
        a = w.add_checkpoint(body.decode(), now=T0)
        return a.status, a.body

    _append(db, 5)
    cp1 = svc.publish_checkpoint(db, settings, now=T0, post=post)
    _append(db, 6, 5)
    cp2 = svc.publish_checkpoint(db, settings, now=T0 + timedelta(seconds=2), post=post)
    assert cp1 is not None and cp2 is not None
    assert cp1.cosigners == cp2.cosigners == ("witness.test/w1",)
    assert count_cosignatures(cp2.cosigned, [Verifier.parse(wkey)]) == ["witness.test/w1"]
    assert svc.log_status(db, settings).quorum_met

    w2, _ = _witness(tmp_path, log_settings)  # restart: state from the file
    assert w2.states["optin.test/log"].size == 11
    signer = svc.log_signer(log_settings)
    from optin.tlog.note import sign_note

    smaller = sign_note(Checkpoint("optin.test/log", 5, cp1.root).text(), signer)
    assert w2.add_checkpoint(request_body(0, [], smaller), now=T0).status == 409
    assert w2.add_checkpoint(request_body(11, [], smaller), now=T0).status == 400
    forked = sign_note(Checkpoint("optin.test/log", 11, b"\x07" * 32).text(), signer)
    assert w2.add_checkpoint(request_body(11, [], forked), now=T0).status == 422
    grown = sign_note(Checkpoint("optin.test/log", 12, b"\x07" * 32).text(), signer)
    assert w2.add_checkpoint(request_body(11, [b"\x01" * 32], grown), now=T0).status == 422
    stranger = sign_note(Checkpoint("other.test/log", 1, b"\x07" * 32).text(), signer)
    assert w2.add_checkpoint(request_body(0, [], stranger), now=T0).status == 404


def test_witness_over_http_and_quorum_reporting(
    db: Database, log_settings: Settings, tmp_path: Path
) -> None:
    w, wkey = _witness(tmp_path, log_settings)
    server = make_server(w, "127.0.0.1", 0, lambda: T0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        settings = log_settings.model_copy(update={"log_witnesses": [f"{url} {wkey}"]})
        _append(db, 3)
        cp = svc.publish_checkpoint(db, settings, now=T0)
        assert cp is not None and cp.cosigners == ("witness.test/w1",)
        down = log_settings.model_copy(
            update={"log_witnesses": [f"{url} {wkey}", f"http://127.0.0.1:9 {wkey}"]}
        )
        _append(db, 1, 3)
        cp = svc.publish_checkpoint(db, down, now=T0 + timedelta(seconds=3))
        assert cp is not None and cp.size == 4
        status = svc.log_status(db, down)
        assert status.quorum == 2 and not status.quorum_met
    finally:
        server.shutdown()
        server.server_close()
