"""The model registry without torch, on SQLite and PostgreSQL: a model registered with
its training set is flagged ``needs_retrain`` (with the count) when a member withdraws,
the member's view says which versions held their records, and retiring destroys the
weights but keeps the cards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from optin.errors import ConflictError
from optin.services.consent import record_consent
from optin.services.demo import generate_demo
from optin.services.lineage import member_lineage
from optin.services.models import (
    flag_models,
    list_models,
    member_models,
    retire_model,
    show_model,
)
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import SnapshotRecordRow
from optin.storage.repos import models as repo
from tests.pipeline.helpers import DEMO_NOW, PURPOSE, build

LATER = DEMO_NOW + timedelta(hours=1)


@pytest.fixture()
def registered(db: Database, tmp_path: Path) -> Iterator[tuple[Database, Settings, str, dict]]:
    generate_demo(db, members=80, posts=600, seed=5, now=DEMO_NOW, accounts=False)
    # the database's own home (where it finds model directories), as `Database.open` does
    settings = Settings(home=db.home or tmp_path / "home", database_url=db.url)
    sid = build(db, settings).snapshot_id
    with db.session() as s:
        rows = s.execute(
            select(SnapshotRecordRow.record_id, SnapshotRecordRow.author_id).where(
                SnapshotRecordRow.snapshot_id == sid
            )
        ).all()
    by_author: dict[str, list[str]] = {}
    for rid, a in rows:
        by_author.setdefault(a, []).append(rid)
    vdir = settings.home / "models" / "m1" / "v1"
    vdir.mkdir(parents=True)
    for name in ("model.safetensors", "config.json", "README.md", "model_card.json"):
        (vdir / name).write_text("x")
    with db.session() as s:
        repo.add_model(
            s,
            id="m1",
            created_at=DEMO_NOW,
            purpose=PURPOSE,
            base="tiny",
            shards=0,
            status="active",
            current_version=1,
            needs_retrain_records=0,
            path="models/m1",
        )
        repo.add_version(
            s,
            model_id="m1",
            version=1,
            snapshot_id=sid,
            created_at=DEMO_NOW,
            status="current",
            path="models/m1/v1",
            privacy=json.dumps({"unit": "member", "epsilon": 8.0, "delta": 1e-5}),
            card="{}",
        )
        repo.add_component(
            s,
            records=[(sid, r) for r, _ in rows],
            id="m1/model",
            model_id="m1",
            name="model",
            cohort=None,
            trained_in=1,
            snapshot_id=sid,
            members=len(by_author),
            status="live",
        )
        repo.link(s, "m1", 1, ["m1/model"])
    yield db, settings, sid, by_author


def test_a_withdrawal_flags_the_model_with_the_count(registered) -> None:  # type: ignore[no-untyped-def]
    db, _settings, _sid, by_author = registered
    member, recs = max(by_author.items(), key=lambda kv: len(kv[1]))
    assert member_models(db, member)[0]["member_records"] == len(recs)
    record_consent(db, member, PURPOSE, "withdraw", source="cli", at=LATER, now=LATER)
    (m,) = list_models(db)
    assert m.status == "needs_retrain" and m.needs_retrain_records == len(recs)
    assert "withdrawal" in (m.needs_retrain_reason or "") and "the whole model" in (
        m.needs_retrain_reason or ""
    )
    # the member's page data: the model and version that holds their records
    lin = member_lineage(db, member)
    (v,) = lin["model_versions"]
    assert v["model_id"] == "m1" and v["contains_member"] and v["privacy"]["epsilon"] == 8.0


def test_flagging_counts_only_records_the_model_trained_on(registered) -> None:  # type: ignore[no-untyped-def]
    from optin.services.propagation import PropagationReport, SnapshotImpact

    db, _settings, sid, by_author = registered
    member, recs = next(iter(by_author.items()))
    report = PropagationReport("withdrawal", LATER, [member])
    report.snapshots.append(
        SnapshotImpact(sid, PURPOSE, new_records=len(recs) + 1, record_ids=[*recs, "not-trained"])
    )
    flag_models(db, report)
    assert show_model(db, "m1")["model"]["needs_retrain_records"] == len(recs)


def test_retire_destroys_weights_keeps_cards_and_the_members_history(registered) -> None:  # type: ignore[no-untyped-def]
    db, settings, _sid, by_author = registered
    member = next(iter(by_author))
    with pytest.raises(ConflictError, match="reason"):
        retire_model(db, settings, "m1", reason=" ", now=LATER)
    out = retire_model(db, settings, "m1", reason="superseded by a DP model", now=LATER)
    assert sorted(out["destroyed"]) == ["config.json", "model.safetensors"]
    vdir = settings.home / "models" / "m1" / "v1"
    assert sorted(p.name for p in vdir.iterdir()) == ["README.md", "model_card.json"]
    info = show_model(db, "m1")
    assert info["model"]["status"] == "retired"
    assert info["components"][0]["status"] == "destroyed"
    (v,) = member_models(db, member)
    assert v["contains_member"] and not v["weights_exist"] and v["model_status"] == "retired"
    with pytest.raises(ConflictError, match="already retired"):
        retire_model(db, settings, "m1", reason="again", now=LATER)


def test_a_failed_audit_blocks_the_model_a_passing_one_lifts_it(registered) -> None:  # type: ignore[no-untyped-def]
    from optin.services.models import model_card, record_audit

    db, _settings, _sid, _by = registered
    out = record_audit(db, "m1", audit={"exposure_r1": 9.5}, passed=False, now=LATER)
    assert out["status"] == "blocked" and list_models(db)[0].status == "blocked"
    assert model_card(db, "m1")["audit"]["exposure_r1"] == 9.5
    assert record_audit(db, "m1", audit={}, passed=True, now=LATER)["status"] == "active"


def test_export_is_refused_while_blocked_and_leaves_the_audit_inputs_out(registered) -> None:  # type: ignore[no-untyped-def]
    from optin.services.models import export_model, record_audit, require_usable

    db, settings, _sid, by_author = registered
    vdir = settings.home / "models" / "m1" / "v1"
    (vdir / "audit").mkdir()
    (vdir / "audit" / "training.jsonl").write_text('{"text": "member text"}\n')
    (vdir / "model_card.json").write_text(
        json.dumps({"canaries": "audit/canaries.jsonl", "audit_records": {}, "model_id": "m1"})
    )
    verdict = {
        "checks": [{"name": "max_exposure_bits[1]", "limit": 8.0, "measured": 9.5, "passed": False}]
    }
    record_audit(db, "m1", audit={"verdict": verdict}, passed=False, now=LATER)
    dest = settings.home.parent / "export"
    for call in (
        lambda: export_model(db, settings, "m1", dest),
        lambda: require_usable(db, "m1", use="served"),
    ):
        with pytest.raises(ConflictError, match=r"blocked.*max_exposure_bits\[1\] 9.5 > 8.0"):
            call()
    assert not dest.exists()
    assert list_models(db)[0].audit == {
        "passed": False,
        "recorded_at": LATER.isoformat(),
        "failed": "max_exposure_bits[1] 9.5 > 8.0",
    }
    record_audit(db, "m1", audit={}, passed=True, now=LATER)
    out = export_model(db, settings, "m1", dest)
    assert "audit/training.jsonl" not in out["files"] and not (dest / "audit").exists()
    card = json.loads((dest / "model_card.json").read_text())
    assert "canaries" not in card and card["exported"]["from"] == "m1"
    with pytest.raises(ConflictError, match="already exists"):
        export_model(db, settings, "m1", dest)
    # a model still holding withdrawn content is not exported either
    member = next(iter(by_author))
    record_consent(db, member, PURPOSE, "withdraw", source="cli", at=LATER, now=LATER)
    with pytest.raises(ConflictError, match="no longer eligible"):
        export_model(db, settings, "m1", settings.home.parent / "export2")


def test_a_withdrawal_removes_the_members_text_from_the_audit_inputs(registered) -> None:  # type: ignore[no-untyped-def]
    db, settings, _sid, by_author = registered
    (member, mine), (_other, theirs) = sorted(by_author.items())[:2]
    audit = settings.home / "models" / "m1" / "v1" / "audit"
    audit.mkdir()
    lines = [json.dumps({"record_id": r, "text": f"text of {r}"}) + "\n" for r in mine + theirs]
    (audit / "training.jsonl").write_text("".join(lines))
    (audit / "non_members.jsonl").write_text(lines[-1])
    (audit / "canaries.jsonl").write_text('{"id": "c"}\n')
    record_consent(db, member, PURPOSE, "withdraw", source="cli", at=LATER, now=LATER)
    left = [json.loads(x)["record_id"] for x in (audit / "training.jsonl").read_text().splitlines()]
    assert left == theirs
    assert (audit / "non_members.jsonl").read_text() == lines[-1]
    assert (audit / "canaries.jsonl").read_text() == '{"id": "c"}\n'
    assert sorted(p.name for p in audit.iterdir()) == [
        "canaries.jsonl",
        "non_members.jsonl",
        "training.jsonl",
    ]
