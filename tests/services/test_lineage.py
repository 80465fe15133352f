"""Withdrawal propagation, derived snapshots, retirement and the lineage queries, on
SQLite and PostgreSQL (``db``), plus a property test of what a derived snapshot drops."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import select

from optin.domain.eligibility import eligibility
from optin.errors import ConflictError
from optin.services import propagation
from optin.services.consent import record_consent
from optin.services.demo import generate_demo
from optin.services.derive import derive_snapshot
from optin.services.lineage import content_lineage, member_lineage, snapshot_lineage
from optin.services.policy import policy_set
from optin.services.snapshots import get_snapshot, list_snapshots
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.members import member_histories
from optin.storage.models import SnapshotRecordRow
from tests.pipeline.helpers import (  # noqa: F401  (fixtures)
    DEMO_NOW,
    PURPOSE,
    build,
    copy_home,
    demo_home_fixture,
)

LATER = DEMO_NOW + timedelta(hours=1)


def _authors(db: Database, sid: str) -> list[tuple[str, int]]:
    with db.session() as s:
        rows = s.execute(
            select(SnapshotRecordRow.author_id).where(SnapshotRecordRow.snapshot_id == sid)
        ).scalars()
        return sorted(Counter(rows).items(), key=lambda x: (-x[1], x[0]))


def _records_of(db: Database, sid: str, authors: set[str]) -> set[str]:
    with db.session() as s:
        return set(
            s.execute(
                select(SnapshotRecordRow.record_id).where(
                    SnapshotRecordRow.snapshot_id == sid,
                    SnapshotRecordRow.author_id.in_(sorted(authors)),
                )
            ).scalars()
        )


def _authors_records(db: Database, sid: str) -> list[tuple[str, str]]:
    with db.session() as s:
        return [
            (r, a)
            for r, a in s.execute(
                select(SnapshotRecordRow.record_id, SnapshotRecordRow.author_id).where(
                    SnapshotRecordRow.snapshot_id == sid
                )
            ).all()
        ]


def _withdraw(db: Database, member_id: str, at=LATER) -> None:  # type: ignore[no-untyped-def]
    record_consent(db, member_id, PURPOSE, "withdraw", source="cli", at=at, now=at)


@pytest.fixture()
def built(db: Database, tmp_path: Path) -> Iterator[tuple[Database, Settings, str]]:
    generate_demo(db, members=120, posts=900, seed=2, now=DEMO_NOW, accounts=False)
    settings = Settings(home=tmp_path / "home", database_url=db.url)
    r = build(db, settings)
    assert r.records > 0
    yield db, settings, r.snapshot_id


def test_withdrawal_marks_snapshot_stale_with_count_and_reason(built) -> None:  # type: ignore[no-untyped-def]
    db, settings, sid = built
    (a, na), (b, nb) = _authors(db, sid)[:2]
    assert get_snapshot(db, sid).status == "complete"
    _withdraw(db, a)
    _withdraw(db, b)
    sm = next(s for s in list_snapshots(db) if s.id == sid)
    assert sm.status == "stale" and sm.build_status == "complete"
    assert sm.stale_records == na + nb and sm.stale_reasons == {"withdrawal": na + nb}
    rep = verify_snapshot(db, settings, sid, now=LATER, rescan=False)
    assert rep.status == "stale"  # the same judgement, the same count
    elig = next(c for c in rep.checks if c.name == "eligibility")
    assert elig.counts["no_longer_eligible"] == sm.stale_records
    # a new grant makes the records eligible again: no longer stale
    record_consent(
        db,
        a,
        PURPOSE,
        "grant",
        source="cli",
        at=LATER + timedelta(minutes=1),
        now=LATER + timedelta(minutes=1),
    )
    assert get_snapshot(db, sid).stale_records == nb


def test_hooks_get_exactly_the_affected_records(built) -> None:  # type: ignore[no-untyped-def]
    db, _settings, sid = built
    (a, _n), *_ = _authors(db, sid)
    seen: list[propagation.PropagationReport] = []

    def hook(db_: Database, report: propagation.PropagationReport) -> None:
        seen.append(report)

    propagation.register_hook(hook)
    try:
        _withdraw(db, a)
    finally:
        propagation.unregister_hook(hook)
    assert len(seen) == 1 and seen[0].reason == "withdrawal"
    (impact,) = seen[0].affected
    assert impact.snapshot_id == sid
    assert set(impact.record_ids) == _records_of(db, sid, {a})
    # propagating again finds nothing new (idempotent)
    again = propagation.propagate(db, member_ids=[a], reason="withdrawal", now=LATER)
    assert not again.affected and again.snapshots[0].stale_records == len(impact.record_ids)


def test_derive_verify_and_retire(built) -> None:  # type: ignore[no-untyped-def]
    db, settings, sid = built
    (a, _), (b, _) = _authors(db, sid)[:2]
    _withdraw(db, a)
    _withdraw(db, b)
    gone = _records_of(db, sid, {a, b})
    parent = get_snapshot(db, sid)
    res = derive_snapshot(db, settings, sid, now=LATER)
    assert res.status == "derived" and res.removed == len(gone)
    assert res.records == parent.records - len(gone)
    child = get_snapshot(db, res.snapshot_id)
    assert child.status == "complete" and child.parent_id == sid
    assert get_snapshot(db, sid).children == (res.snapshot_id,)
    rep = verify_snapshot(db, settings, res.snapshot_id, now=LATER)
    assert rep.status == "pass", [c.problems for c in rep.checks]
    assert verify_snapshot(db, settings, sid, now=LATER, rescan=False).status == "stale"
    m = child.manifest or {}
    assert m["parent"] == {
        "id": sid,
        "manifest_sha256": parent.manifest_sha256,
        "merkle_root": (parent.manifest or {})["merkle"]["root"],
    }
    salt = bytes.fromhex(m["removed"]["salt"])
    assert sorted(m["removed"]["hashes"]) == sorted(
        hashlib.sha256(salt + r.encode()).hexdigest() for r in gone
    )
    assert m["counts"]["steps"][-1]["step"] == "derive"
    # the child keeps the parent's operator and drop rule, and its documents say so
    assert m["redaction"] == (parent.manifest or {})["redaction"]
    assert m["redaction"]["operator"] == "surrogate"
    sheet = (settings.home / "snapshots" / res.snapshot_id / "datasheet.md").read_text("utf-8")
    assert "operator `surrogate`" in sheet and m["redaction"]["drop_rule"] in sheet
    # the child's texts are the parent's bytes for the kept records (no re-redaction)
    ptexts, ctexts = _texts(settings, parent.manifest), _texts(settings, m)
    assert set(ctexts) == set(ptexts) - gone
    assert all(ctexts[r] == ptexts[r] for r in ctexts)
    # deriving again is up to date; nothing to drop from the child
    assert derive_snapshot(db, settings, sid, now=LATER).status == "up_to_date"
    with pytest.raises(ConflictError, match="nothing to drop"):
        derive_snapshot(db, settings, res.snapshot_id, now=LATER)
    lin = snapshot_lineage(db, sid)
    assert lin["children"][0]["id"] == res.snapshot_id and lin["children"][0]["removed"] == len(
        gone
    )
    assert lin["stale"]["records"] == len(gone)
    # retire the parent: shards gone, retirement recorded, verify says so
    (c, _), *_ = [x for x in _authors(db, res.snapshot_id) if x[0] not in {a, b}]
    _withdraw(db, c, at=LATER + timedelta(minutes=5))
    res2 = derive_snapshot(
        db, settings, res.snapshot_id, now=LATER + timedelta(minutes=6), retire=True
    )
    retired = get_snapshot(db, res.snapshot_id)
    assert retired.status == "retired" and retired.retired_by == res2.snapshot_id
    assert not (settings.home / "snapshots" / res.snapshot_id / "data").exists()
    rrep = verify_snapshot(db, settings, res.snapshot_id, now=LATER + timedelta(minutes=7))
    assert rrep.status == "retired" and res2.snapshot_id in (rrep.retired or "")
    with pytest.raises(ConflictError, match="retired"):
        rrep.raise_for_status()
    assert (
        verify_snapshot(
            db, settings, res2.snapshot_id, now=LATER + timedelta(minutes=7), rescan=False
        ).status
        == "pass"
    )
    ml = member_lineage(db, a)
    assert {s["id"] for s in ml["snapshots"]} == {sid}
    assert ml["withdrawals"] and ml["exports"] == [] and ml["models"] == []
    with db.session() as s:
        cid = s.execute(
            select(SnapshotRecordRow.content_id).where(SnapshotRecordRow.author_id == c).limit(1)
        ).scalar_one()
    cl = content_lineage(db, cid)
    assert {r["snapshot_id"] for r in cl["records"]} >= {sid, res.snapshot_id}


def _texts(settings: Settings, manifest) -> dict[str, str]:  # type: ignore[no-untyped-def]
    out: dict[str, str] = {}
    base = settings.home / "snapshots" / manifest["snapshot_id"]
    for f in manifest["files"]:
        t = pq.read_table(base / f["path"], columns=["record_id", "text"])
        out.update(zip(t["record_id"].to_pylist(), t["text"].to_pylist(), strict=True))
    return out


# -- property: what a derived snapshot drops ---------------------------------------------


@pytest.fixture(scope="module")
def small_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.pipeline.helpers import make_demo_home

    home = make_demo_home(tmp_path_factory.mktemp("prop") / "home", members=80, posts=500)
    db, settings = copy_home(home, home.parent / "built")
    build(db, settings)
    db.dispose()
    return home.parent / "built"


_ACTION = st.tuples(
    st.integers(min_value=0, max_value=30),  # which author (by rank)
    st.sampled_from(["withdraw", "grant"]),
    st.integers(min_value=1, max_value=120),  # minutes after the build
)


@pytest.mark.slow
@hyp_settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(_ACTION, min_size=1, max_size=8))
def test_derived_snapshot_drops_exactly_the_no_longer_eligible(
    small_home: Path, tmp_path_factory: pytest.TempPathFactory, history
) -> None:  # type: ignore[no-untyped-def]
    db, settings = copy_home(small_home, tmp_path_factory.mktemp("ex") / "home")
    try:
        (sid,) = [s.id for s in list_snapshots(db)]
        authors = [a for a, _ in _authors(db, sid)]
        for rank, action, minutes in sorted(history, key=lambda x: x[2]):
            at = DEMO_NOW + timedelta(minutes=minutes)
            record_consent(
                db, authors[rank % len(authors)], PURPOSE, action, source="cli", at=at, now=at
            )
        now = DEMO_NOW + timedelta(hours=3)
        ps = policy_set(db)
        with db.session() as s:
            hist = member_histories(s, authors)
        gone = {a for a in authors if not eligibility(hist[a], PURPOSE, now, ps).eligible}
        expected = _records_of(db, sid, gone)
        propagation.propagate(db, member_ids=authors, reason="refresh", now=now)
        assert get_snapshot(db, sid).stale_records == len(expected)
        if not expected:
            with pytest.raises(ConflictError):
                derive_snapshot(db, settings, sid, now=now)
            return
        res = derive_snapshot(db, settings, sid, now=now)
        with db.session() as s:
            kept = set(
                s.execute(
                    select(SnapshotRecordRow.record_id).where(
                        SnapshotRecordRow.snapshot_id == res.snapshot_id
                    )
                ).scalars()
            )
        parent = _records_of(db, sid, set(authors))
        assert parent - kept == expected and kept <= parent
        manifest = json.loads(
            (settings.home / "snapshots" / res.snapshot_id / "manifest.json").read_text()
        )
        assert manifest["removed"]["count"] == len(expected)
        # the child's shards themselves hold exactly the kept records
        in_shards = set(_texts(settings, manifest))
        all_parent = {r for r, _ in _authors_records(db, sid)}
        assert in_shards == kept and all_parent - in_shards == expected
    finally:
        db.dispose()
