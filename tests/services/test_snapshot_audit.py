"""``optin snapshot audit`` (issue 17 point 3): a reproducible sample of a snapshot's
records, reviews imported whole or marked from the demo ground truth, the leak rate with
its Wilson interval in audit.json, the Croissant file and the datasheet; verify checks it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from optin.domain.audit import draw_sample, wilson
from optin.errors import ConflictError, ImportValidationError
from optin.services import snapshot_audit as sa
from optin.services.demo import generate_demo
from optin.services.snapshots import build_snapshot
from optin.services.verify import verify_directory, verify_snapshot
from optin.settings import Settings
from optin.storage.database import Database

pytestmark = pytest.mark.slow


@dataclass
class Built:
    db: Database
    settings: Settings
    sid: str
    path: Path


@pytest.fixture()
def built(db: Database, db_settings: Settings) -> Iterator[Built]:
    now = datetime.now(UTC)
    generate_demo(db, members=40, posts=240, seed=3, now=now)
    r = build_snapshot(db, db_settings, "train_own_models", engine="inline", now=now)
    assert r.records >= 20, r.records
    yield Built(db, db_settings, r.snapshot_id, r.path)


sqlite_only = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


def _now() -> datetime:
    return datetime.now(UTC)


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def _manifest_sha(b: Built) -> str:
    return hashlib.sha256((b.path / "manifest.json").read_bytes()).hexdigest()


def _verify(b: Built) -> dict:
    report = verify_snapshot(b.db, b.settings, b.sid, now=_now())
    assert report.status == "pass", report.to_dict()
    return next(c for c in report.to_dict()["checks"] if c["name"] == "audit")


@sqlite_only
def test_not_audited_until_every_sampled_record_is_reviewed(built: Built) -> None:
    b = built
    croissant = json.loads((b.path / "croissant.json").read_text())
    assert croissant["optin:leakAudit"] == "not audited"
    assert "Not audited" in croissant["rai:dataLimitations"]
    assert "Not audited" in (b.path / "datasheet.md").read_text()
    assert _verify(b)["counts"] == {"audited": False}

    st = sa.start_audit(b.db, b.settings, b.sid, size=10, seed=5, by="t", now=_now())
    assert (st.sample, st.reviewed, st.result) == (10, 0, None)
    lines = _lines(b.path / sa.SAMPLE_FILE)
    assert [x["verdict"] for x in lines] == [None] * 10
    assert all(x["findings"] == [] and x["text"] for x in lines)
    assert "Not audited" in (b.path / "datasheet.md").read_text()
    check = _verify(b)
    assert check["state"] == "ok" and check["detail"].startswith("in progress: 0 of 10")


@sqlite_only
def test_sample_is_the_seeded_draw_and_stable(built: Built) -> None:
    b = built
    st = sa.start_audit(b.db, b.settings, b.sid, size=12, seed=9, by="t", now=_now())
    ids = [x["record_id"] for x in _lines(st.sample_file)]
    audit = sa.read_audit(b.path)
    assert audit is not None and audit["sample"] == ids
    import pyarrow.parquet as pq

    population = [
        r for p in sorted((b.path / "data").glob("*.parquet"))
        for r in pq.read_table(p, columns=["record_id"])["record_id"].to_pylist()
    ]  # fmt: skip
    assert ids == draw_sample(reversed(population), 12, 9) == draw_sample(population, 12, 9)
    assert audit["population"] == len(population)
    # the same size and seed again: the same file, reviews kept
    again = sa.start_audit(b.db, b.settings, b.sid, size=12, seed=9, by="t", now=_now())
    assert [x["record_id"] for x in _lines(again.sample_file)] == ids
    # a sample larger than the snapshot takes every record
    whole = sa.start_audit(
        b.db, b.settings, b.sid, size=10**6, seed=9, by="t", now=_now(), replace=True
    )
    assert whole.sample == len(population)


@sqlite_only
def test_import_is_all_or_nothing_with_line_and_field(built: Built, tmp_path: Path) -> None:
    b = built
    st = sa.start_audit(b.db, b.settings, b.sid, size=6, seed=1, by="t", now=_now())
    lines = _lines(st.sample_file)
    before = (b.path / sa.FILE).read_bytes()
    good = dict(lines[0], verdict="clean")
    n = len(lines[1]["text"])
    bad = [
        json.dumps(good),
        "{not json",
        json.dumps(dict(lines[1], verdict="leak", findings=[{"start": 0, "end": n + 5, "label": "PERSON"}])),
        json.dumps(dict(lines[2], verdict="leak", findings=[])),
        json.dumps(dict(lines[3], verdict="clean", findings=[{"start": 0, "end": 1, "label": "NAME"}])),
        json.dumps({"record_id": "0" * 32, "verdict": "clean", "findings": []}),
        json.dumps(dict(lines[4], text="edited", verdict="clean")),
        json.dumps(dict(good)),
    ]  # fmt: skip
    f = tmp_path / "reviewed.jsonl"
    f.write_text("\n".join(bad) + "\n")
    with pytest.raises(ImportValidationError) as e:
        sa.import_reviews(b.db, b.settings, b.sid, f, by="t", now=_now())
    msg = str(e.value)
    assert "nothing was imported" in msg
    for where in (
        "reviewed.jsonl:2: not valid JSON",
        "reviewed.jsonl:3: field 'findings[0].end'",
        "reviewed.jsonl:4: field 'findings': verdict 'leak' needs at least one finding",
        "reviewed.jsonl:5: field 'findings[0].label': unknown label; allowed: PERSON,",
        "reviewed.jsonl:5: field 'findings': verdict 'clean' with findings",
        "reviewed.jsonl:6: field 'record_id': not a record of the audit's sample",
        "reviewed.jsonl:7: field 'text': differs",
        "reviewed.jsonl:8: field 'record_id': record reviewed twice (first on line 1)",
    ):
        assert where in msg, msg
    assert lines[1]["text"] not in msg  # no member content in errors
    assert (b.path / sa.FILE).read_bytes() == before  # nothing saved


@sqlite_only
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_imported_reviews_give_the_leak_rate_everywhere_and_verify_passes(
    built: Built, tmp_path: Path
) -> None:
    b = built
    manifest_sha = _manifest_sha(b)
    st = sa.start_audit(b.db, b.settings, b.sid, size=8, seed=2, by="t", now=_now())
    lines = _lines(st.sample_file)
    for i, x in enumerate(lines):
        if i < 3:  # three records still hold something: mark their first 4 characters
            x.update(verdict="leak", reviewer="alice",
                     findings=[{"start": 0, "end": 4, "label": "PERSON", "text": x["text"][:4]}])  # fmt: skip
        elif i < 6:
            x.update(verdict="clean")
    f = tmp_path / "half.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    st, n = sa.import_reviews(b.db, b.settings, b.sid, f, by="cli:bob", now=_now())
    assert (n, st.reviewed, st.result) == (6, 6, None)  # two lines left unreviewed
    for x in lines[6:]:
        x.update(verdict="clean")
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    st, n = sa.import_reviews(b.db, b.settings, b.sid, f, by="cli:bob", now=_now())
    r = st.result
    assert r is not None and (r["reviewed"], r["with_personal_data"]) == (8, 3)
    lo, hi = wilson(3, 8)
    assert r["ci95"] == [round(lo, 6), round(hi, 6)] and r["source"] == "people"
    assert r["reviewers"] == ["alice", "cli:bob"] and r["by_label"] == {"PERSON": 3}
    audit = sa.read_audit(b.path)
    assert audit is not None and audit["reviews"][lines[0]["record_id"]]["by"] == "alice"
    assert all("text" not in f for rv in audit["reviews"].values() for f in rv["findings"])
    # the signed manifest is untouched; the documents quote the figure
    assert _manifest_sha(b) == manifest_sha
    croissant = json.loads((b.path / "croissant.json").read_text())
    quoted = croissant["optin:leakAudit"]["@value"]
    assert quoted["records_with_personal_data"] == 3 and quoted["source"] == "people"
    assert quoted["sha256_digest"] == audit["digest"]
    assert "3 of 8 sampled records (37.5%)" in croissant["rai:dataLimitations"]
    assert "3 of 8 sampled records (37.5%)" in croissant["rai:personalSensitiveInformation"]
    sheet = (b.path / "datasheet.md").read_text()
    assert "3 of 8 sampled records (37.5%)" in sheet and f"{lo:.1%} to {hi:.1%}" in sheet
    assert "reviewed by people" in sheet and "Not audited" not in sheet
    check = _verify(b)
    assert check["counts"]["with_personal_data"] == 3 and check["counts"]["ci95"] == r["ci95"]
    # without the database too
    report = verify_directory(None, b.settings, b.path, now=_now())
    assert report.status == "pass", report.to_dict()
    mlc = pytest.importorskip("mlcroissant")
    ds = mlc.Dataset(jsonld=str(b.path / "croissant.json"))  # still valid Croissant
    assert len(list(ds.records("records"))) == audit["population"]


@sqlite_only
def test_verify_fails_a_tampered_audit(built: Built, tmp_path: Path) -> None:
    b = built
    st = sa.start_audit(b.db, b.settings, b.sid, size=5, seed=3, by="t", now=_now())
    lines = [dict(x, verdict="clean") for x in _lines(st.sample_file)]
    lines[0].update(verdict="leak", findings=[{"start": 0, "end": 2, "label": "PHONE"}])
    f = tmp_path / "r.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    sa.import_reviews(b.db, b.settings, b.sid, f, by="t", now=_now())
    apath = b.path / sa.FILE
    good = apath.read_text()

    def fails(audit: dict, rehash: bool, expect: str) -> None:
        if rehash:
            audit["digest"] = sa.canonical_digest(audit)
        apath.write_text(json.dumps(audit))
        report = verify_snapshot(b.db, b.settings, b.sid, now=_now())
        check = next(c for c in report.checks if c.name == "audit")
        assert report.status == "fail" and any(expect in p for p in check.problems), check.problems
        apath.write_text(good)

    a = json.loads(good)
    a["reviews"][lines[0]["record_id"]].update(verdict="clean", findings=[])
    fails(a, rehash=False, expect="digest does not match")
    fails(a, rehash=True, expect="is not what the reviews give")
    a = json.loads(good)
    a["sample"][0] = "f" * 32  # a cherry-picked record instead of the drawn one
    fails(a, rehash=True, expect="is not the one seed 3 draws")
    assert verify_snapshot(b.db, b.settings, b.sid, now=_now()).status == "pass"


@sqlite_only
def test_another_sample_needs_replace_and_replacing_clears_the_figure(
    built: Built, tmp_path: Path
) -> None:
    b = built
    st = sa.start_audit(b.db, b.settings, b.sid, size=3, seed=0, by="t", now=_now())
    f = tmp_path / "r.jsonl"
    f.write_text(
        "".join(json.dumps(dict(x, verdict="clean")) + "\n" for x in _lines(st.sample_file))
    )
    sa.import_reviews(b.db, b.settings, b.sid, f, by="t", now=_now())
    assert "0 of 3 sampled records" in (b.path / "datasheet.md").read_text()
    with pytest.raises(ConflictError, match="--replace"):
        sa.start_audit(b.db, b.settings, b.sid, size=4, seed=0, by="t", now=_now())
    sa.start_audit(b.db, b.settings, b.sid, size=4, seed=0, by="t", now=_now(), replace=True)
    assert "Not audited" in (b.path / "datasheet.md").read_text()
    assert _verify(b)["detail"].startswith("in progress")


def test_ground_truth_marks_the_sample_on_both_backends(built: Built) -> None:
    b = built
    sa.start_audit(b.db, b.settings, b.sid, size=10**6, seed=0, by="t", now=_now())
    st = sa.mark_from_ground_truth(b.db, b.settings, b.sid, now=_now())
    r = st.result
    assert r is not None and r["source"] == "ground_truth" and r["reviewed"] == st.population
    audit = sa.read_audit(b.path)
    assert audit is not None
    gt = audit["ground_truth"]
    assert gt["records_verbatim"] + gt["records_partial_only"] == r["with_personal_data"]
    assert "ground truth" in (b.path / "datasheet.md").read_text()
    assert _verify(b)["counts"]["source"] == "ground_truth"


@pytest.mark.parametrize(
    ("original", "spans", "redacted", "expect"),
    [
        # masked whole: nothing left
        ("Thanks Anna Berg!", [(7, 16, "PERSON")], "Thanks [PERSON]!", []),
        # left verbatim
        ("Thanks Anna Berg!", [(7, 16, "PERSON")], "Thanks Anna Berg!", [("Anna Berg", "verbatim")]),
        # half masked: the surname is left
        ("Thanks Anna Berg!", [(7, 16, "PERSON")], "Thanks [PERSON] Berg!", [("Berg", "partial")]),
        # the same word elsewhere in the post is not a leak
        ("Berg team: thanks Anna Berg", [(18, 27, "PERSON")], "Berg team: thanks [PERSON]", []),
        # a kept city of a masked address is not a leak; its postal code is
        ("at 12 Elm St, Chicago, IL 60601", [(3, 31, "LOCATION")], "at [LOCATION], Chicago, IL", []),
        ("at 12 Elm St, Chicago, IL 60601", [(3, 31, "LOCATION")], "at [LOCATION], Chicago, IL 60601", [("60601", "partial")]),
        # a two-character CJK name inside CJK text
        ("感谢王伟的帮助", [(2, 4, "PERSON")], "感谢王伟的帮助", [("王伟", "verbatim")]),
        ("感谢王伟的帮助", [(2, 4, "PERSON")], "感谢[PERSON]的帮助", []),
    ],
)  # fmt: skip
def test_ground_truth_rule(
    original: str, spans: list, redacted: str, expect: list[tuple[str, str]]
) -> None:
    found, kinds = sa.ground_truth_findings(original, spans, redacted)
    assert [redacted[f["start"] : f["end"]] for f in found] == [t for t, _ in expect]
    assert kinds == sorted({k for _, k in expect}, reverse=True)[:1]


@sqlite_only
def test_signed_audit_catches_a_consistent_rewrite(db: Database, db_settings: Settings) -> None:
    """Where the platform signs its manifests, audit.json is a signed note under a key of
    its own: a rewrite that keeps the digest, the sample and the result consistent is
    still caught."""
    from optin.services import tlog

    tlog.keygen(db_settings)
    now = _now()
    generate_demo(db, members=40, posts=240, seed=3, now=now)
    r = build_snapshot(db, db_settings, "train_own_models", engine="inline", now=now)
    b = Built(db, db_settings, r.snapshot_id, r.path)
    sa.start_audit(b.db, b.settings, b.sid, size=5, seed=0, by="t", now=_now())
    st = sa.mark_from_ground_truth(b.db, b.settings, b.sid, now=_now())
    assert (b.path / sa.NOTE_FILE).exists() and sa.audit_key_path(
        b.settings
    ).stat().st_mode & 0o77 == 0
    check = _verify(b)
    assert check["counts"]["signed"] is True
    apath = b.path / sa.FILE
    audit = json.loads(apath.read_text())
    assert "/audits+" in audit["signed_note"]["key"]  # a key of its own, not the manifests'
    # flip one verdict and make everything else agree (result, interval, digest)
    rv = audit["reviews"][audit["sample"][0]]
    if rv["verdict"] == "leak":
        rv.update(verdict="clean", findings=[])
    else:
        rv.update(verdict="leak", findings=[{"start": 0, "end": 1, "label": "PERSON"}])
    k = sum(r["verdict"] == "leak" for r in audit["reviews"].values())
    lo, hi = wilson(k, st.sample)
    audit["result"].update(with_personal_data=k, leak_rate=round(k / st.sample, 6),
                           ci95=[round(lo, 6), round(hi, 6)])  # fmt: skip
    audit["digest"] = sa.canonical_digest(audit)
    apath.write_text(json.dumps(audit, indent=2, sort_keys=True) + "\n")
    report = verify_snapshot(b.db, b.settings, b.sid, now=_now())
    problems = next(c for c in report.checks if c.name == "audit").problems
    assert report.status == "fail"
    assert any("edited after signing" in p for p in problems), problems


@sqlite_only
def test_the_reviewers_copy_goes_with_the_shards(built: Built) -> None:
    """data/audit-sample.jsonl holds the records' texts: retiring the snapshot (as a
    derive or an erasure does) removes it with the shards; audit.json holds no text."""
    from optin.services.derive import retire_snapshot

    b = built
    st = sa.start_audit(b.db, b.settings, b.sid, size=4, seed=0, by="t", now=_now())
    texts = [x["text"] for x in _lines(st.sample_file)]
    kept = (b.path / sa.FILE).read_text()
    assert not any(t in kept for t in texts if len(t) > 8)
    retire_snapshot(b.db, b.settings, b.sid, by="child", now=_now())
    assert not st.sample_file.exists() and not (b.path / "data").exists()
    with pytest.raises(ConflictError, match="retired"):
        sa.start_audit(b.db, b.settings, b.sid, size=4, seed=0, by="t", now=_now())
