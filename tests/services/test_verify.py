"""``verify`` re-checks a snapshot independently and names what was tampered with."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, select, update

from optin.cli.main import run
from optin.errors import ConflictError, IntegrityError
from optin.services.consent import record_consent
from optin.services.verify import verify_snapshot
from optin.storage.models import ConsentEventRow, SnapshotRecordRow, SnapshotRow
from tests.pipeline.helpers import (  # noqa: F401  (fixtures)
    DEMO_NOW,
    PURPOSE,
    build,
    demo_fixture,
    demo_home_fixture,
)


@pytest.fixture()
def built(demo):
    db, settings = demo
    r = build(db, settings)
    return db, settings, r


def _failed(report) -> dict[str, list[str]]:
    return {c.name: c.problems for c in report.checks if not c.ok}


def test_fresh_snapshot_passes(built) -> None:
    db, settings, r = built
    rep = verify_snapshot(db, settings, r.snapshot_id, now=DEMO_NOW)
    assert rep.status == "pass", _failed(rep)
    counts = {c.name: c.counts for c in rep.checks}
    assert counts["files"]["records"] == r.records
    residual = counts["personal_data"]["residual_by_label"]
    # surrogate text (the default): no hard label, soft ones (the detector reading a
    # greeting beside a fake name as a name) within the tolerance
    assert not set(residual) & {"CREDIT_CARD", "IBAN", "EMAIL", "GOV_ID"}, residual
    assert sum(residual.values()) <= 0.01 * r.records
    assert counts["personal_data"]["surrogates_skipped"] > 0
    ind = counts["personal_data"]["independent"]
    assert ind["residual_rate"] <= ind["tolerance"]
    lo, hi = ind["residual_rate_ci95"]
    assert lo <= ind["residual_rate"] <= hi
    assert len(ind["record_ids"]) == ind["records_with_residual"]
    rep.raise_for_status()


def test_fresh_masked_snapshot_has_no_residual(demo) -> None:
    db, settings = demo
    r = build(db, settings, operator="mask")
    rep = verify_snapshot(db, settings, r.snapshot_id, now=DEMO_NOW)
    assert rep.status == "pass", _failed(rep)
    counts = {c.name: c.counts for c in rep.checks}
    assert counts["personal_data"]["residual_by_label"] == {}


def test_when_shard_bytes_change_then_files_check_fails(built) -> None:
    db, settings, r = built
    shard = sorted((r.path / "data").glob("*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    rep = verify_snapshot(db, settings, r.snapshot_id, now=DEMO_NOW)
    assert rep.status == "fail"
    assert any(shard.name in p and "shard modified" in p for p in _failed(rep)["files"])
    with pytest.raises(IntegrityError, match="files"):
        rep.raise_for_status()


def test_when_manifest_field_changes_then_manifest_check_fails(built) -> None:
    db, settings, r = built
    path = r.path / "manifest.json"
    m = json.loads(path.read_text())
    m["as_of"] = "2020-01-01T00:00:00+00:00"
    path.write_text(json.dumps(m, indent=2, sort_keys=True))
    problems = _failed(verify_snapshot(db, settings, r.snapshot_id, now=DEMO_NOW))["manifest"]
    assert any("manifest edited" in p for p in problems)
    assert any("'as_of'" in p for p in problems)


def test_when_provenance_row_deleted_then_provenance_check_fails(built) -> None:
    db, settings, r = built
    with db.session() as s:
        rid = s.execute(
            select(SnapshotRecordRow.record_id)
            .where(SnapshotRecordRow.snapshot_id == r.snapshot_id)
            .limit(1)
        ).scalar()
        s.execute(delete(SnapshotRecordRow).where(SnapshotRecordRow.record_id == rid))
    problems = _failed(verify_snapshot(db, settings, r.snapshot_id, now=DEMO_NOW))["provenance"]
    assert any(rid in p and "no provenance row" in p for p in problems)


def test_when_provenance_row_points_elsewhere_then_eligibility_check_fails(built) -> None:
    db, settings, r = built
    with db.session() as s:
        rows = (
            s.execute(
                select(SnapshotRecordRow).where(SnapshotRecordRow.snapshot_id == r.snapshot_id)
            )
            .scalars()
            .all()
        )
        a, b = rows[0], next(x for x in rows if x.author_id != rows[0].author_id)
        s.execute(
            update(SnapshotRecordRow)
            .where(SnapshotRecordRow.record_id == a.record_id)
            .values(consent_event_id=b.consent_event_id)
        )
        s.execute(
            update(SnapshotRecordRow)
            .where(SnapshotRecordRow.record_id == b.record_id)
            .values(content_id="no-such-content-or-other")
        )
    rep = verify_snapshot(db, settings, r.snapshot_id, now=DEMO_NOW)
    problems = " ".join(_failed(rep)["eligibility"])
    assert "consent event" in problems and a.record_id in problems
    assert rep.status == "fail"


def test_when_ledger_row_edited_then_ledger_check_fails(built) -> None:
    db, settings, r = built
    with db.session() as s:
        s.execute(
            update(ConsentEventRow).where(ConsentEventRow.seq == 2).values(member_id="someone-else")
        )
    problems = _failed(verify_snapshot(db, settings, r.snapshot_id, now=DEMO_NOW))["ledger"]
    assert any("seq 2" in p for p in problems)


def test_when_member_withdraws_after_build_then_stale_not_tampered(built) -> None:
    db, settings, r = built
    with db.session() as s:
        author = s.execute(
            select(SnapshotRecordRow.author_id)
            .where(SnapshotRecordRow.snapshot_id == r.snapshot_id)
            .limit(1)
        ).scalar()
    later = DEMO_NOW + timedelta(hours=2)
    record_consent(db, author, PURPOSE, "withdraw", source="web", at=later, now=later)
    rep = verify_snapshot(db, settings, r.snapshot_id, now=later + timedelta(hours=1))
    assert rep.status == "stale"
    assert set(_failed(rep)) == {"eligibility"}
    assert "needs rebuild/withdrawal propagation" in _failed(rep)["eligibility"][0]
    with pytest.raises(ConflictError, match="withdrawal propagation"):
        rep.raise_for_status()


def test_when_shard_holds_residual_email_then_personal_data_check_fails(built) -> None:
    """A consistent forgery (shard, manifest and recorded digest all updated) still fails
    on the rescan."""
    db, settings, r = built
    shard = sorted((r.path / "data").glob("*.parquet"))[0]
    t = pq.read_table(shard)
    texts = t["text"].to_pylist()
    texts[0] = texts[0] + " write to jane.roe@mailbox.org"  # example.org: a surrogate
    t = t.set_column(1, "text", pa.array(texts, pa.large_string()))
    pq.write_table(t, shard, compression="zstd")
    mpath = r.path / "manifest.json"
    m = json.loads(mpath.read_text())
    for f in m["files"]:
        if f["path"].endswith(shard.name):
            f["sha256"] = hashlib.sha256(shard.read_bytes()).hexdigest()
    text = json.dumps(m, indent=2, sort_keys=True) + "\n"
    mpath.write_text(text)
    with db.session() as s:
        s.execute(
            update(SnapshotRow)
            .where(SnapshotRow.id == r.snapshot_id)
            .values(manifest_sha256=hashlib.sha256(text.encode()).hexdigest())
        )
    rep = verify_snapshot(db, settings, r.snapshot_id, now=DEMO_NOW)
    assert set(_failed(rep)) == {"personal_data"}
    assert "EMAIL" in _failed(rep)["personal_data"][0]
    assert shard.name in _failed(rep)["personal_data"][0]


def test_when_member_names_remain_then_independent_rescan_fails(built) -> None:
    """Names the redactor's own rescan does not flag (here: written after the build,
    with digests updated) are found by the independent scanner, by record id."""
    db, settings, r = built
    from optin.storage import snapshots as snap_repo

    with db.session() as s:
        name = next(n for n, _h in snap_repo.iter_directory_rows(s) if n and " " in n)
    shard = sorted((r.path / "data").glob("*.parquet"))[0]
    t = pq.read_table(shard)
    texts = t["text"].to_pylist()
    ids = t["record_id"].to_pylist()
    for i in range(len(texts)):
        texts[i] = (texts[i] or "") + f" cc {name.upper()}"  # upper case: not the detector's
    t = t.set_column(1, "text", pa.array(texts, pa.large_string()))
    pq.write_table(t, shard, compression="zstd")
    mpath = r.path / "manifest.json"
    m = json.loads(mpath.read_text())
    for f in m["files"]:
        if f["path"].endswith(shard.name):
            f["sha256"] = hashlib.sha256(shard.read_bytes()).hexdigest()
    text = json.dumps(m, indent=2, sort_keys=True) + "\n"
    mpath.write_text(text)
    with db.session() as s:
        s.execute(
            update(SnapshotRow)
            .where(SnapshotRow.id == r.snapshot_id)
            .values(manifest_sha256=hashlib.sha256(text.encode()).hexdigest())
        )
    rep = verify_snapshot(db, settings, r.snapshot_id, now=DEMO_NOW)
    problems = _failed(rep)["personal_data"]
    assert any("independent rescan" in p and "PERSON" in p for p in problems), problems
    ind = {c.name: c.counts for c in rep.checks}["personal_data"]["independent"]
    assert ind["by_label"]["PERSON"] >= len(texts)
    assert str(ids[0]) in ind["record_ids"]


def test_cli_verify_list_show_exit_codes(built, capsys: pytest.CaptureFixture[str]) -> None:
    _db, settings, r = built
    home = ["--home", str(settings.home)]
    assert run([*home, "snapshot", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["id"] == r.snapshot_id
    assert run([*home, "snapshot", "show", r.snapshot_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["manifest"]["record_count"] == r.records
    assert run([*home, "snapshot", "verify", r.snapshot_id, "--json", "--no-rescan"]) in (0, 75)
    capsys.readouterr()
    (r.path / "datasheet.md").write_text("edited")  # not covered by hashes: still passes
    shard = sorted((r.path / "data").glob("*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:-10])
    assert run([*home, "snapshot", "verify", r.snapshot_id]) == 3
    out = capsys.readouterr()
    assert "FAIL" in out.out and shard.name in out.err
    assert run([*home, "snapshot", "show", "nope"]) == 66


def test_verify_is_independent_of_the_build_code() -> None:
    import ast

    import optin.services.verify as v

    tree = ast.parse(Path(v.__file__).read_text("utf-8"))
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [m for m in mods if m.startswith(("optin.pipeline", "optin.services.snapshots"))]
