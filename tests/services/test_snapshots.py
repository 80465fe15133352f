"""Snapshot builds against the architecture invariants (1, 2, 3, 5, 6)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from optin.domain.eligibility import eligibility
from optin.errors import ConfigError, DependencyMissingError, InputError, NotFoundError
from optin.pipeline.config import BuildConfig
from optin.pipeline.executors import engine_names
from optin.pipeline.steps.lineup import STAGE_STEP_NAMES
from optin.services.consent import record_consent
from optin.services.eligibility import decide_member
from optin.services.policy import policy_set
from optin.services.snapshots import (
    SnapshotSummary,
    build_snapshot,
    get_snapshot,
    list_snapshots,
    resolve_snapshot_id,
    show_snapshot,
)
from optin.settings import Settings
from optin.storage import ledger
from optin.storage.database import Database
from optin.storage.members import member_histories
from optin.storage.models import ContentRow, SnapshotRecordRow
from tests.factories import add_members
from tests.pipeline.helpers import (  # noqa: F401  (fixtures)
    AS_OF,
    DEMO_NOW,
    PURPOSE,
    build,
    copy_home,
    demo_fixture,
    demo_home_fixture,
    read_all,
    shard_bytes,
)


def _provenance(db: Database, sid: str) -> list[SnapshotRecordRow]:
    with db.session() as s:
        return list(
            s.execute(
                select(SnapshotRecordRow).where(SnapshotRecordRow.snapshot_id == sid)
            ).scalars()
        )


def test_invariant_1_every_record_eligible_allowed_and_not_deleted(demo) -> None:
    db, settings = demo
    r = build(db, settings)
    assert r.records > 20
    prov = _provenance(db, r.snapshot_id)
    assert len(prov) == r.records
    pv = policy_set(db).in_force(AS_OF)
    purpose = pv.purposes[PURPOSE]
    with db.session() as s:
        contents = {c.id: c for c in s.execute(select(ContentRow)).scalars()}
    for p in prov:
        c = contents[p.content_id]
        assert c.author_id == p.author_id
        assert purpose.allows(c.kind, c.visibility)
        assert c.created_at <= AS_OF and c.deleted_at is None
    for author in {p.author_id for p in prov}:
        assert decide_member(db, author, PURPOSE, AS_OF).eligible
        assert decide_member(db, author, PURPOSE, DEMO_NOW).eligible
    counts = r.manifest["counts"]
    steps = {s["step"]: s for s in counts["steps"]}
    assert steps["select"]["in"] == len(contents)
    assert steps["dedupe"]["out"] == r.records == counts["records"]
    for a, b in zip(counts["steps"], counts["steps"][1:], strict=False):
        assert a["out"] == b["in"]
        assert a["in"] - sum(a["dropped"].values()) == a["out"]


def test_invariant_2_traceable_to_consent_event_and_ledger_head(demo) -> None:
    db, settings = demo
    r = build(db, settings)
    ps = policy_set(db)
    prov = _provenance(db, r.snapshot_id)
    with db.session() as s:
        hist = member_histories(s, {p.author_id for p in prov})
        head = ledger.ledger_head(s)
    for p in prov:
        d = eligibility(hist[p.author_id], PURPOSE, AS_OF, ps)
        assert (p.consent_event_id, p.policy_version) == (d.consent_event_id, d.policy_version)
        assert p.consent_event_id is not None  # opt-in default: always an explicit grant
    assert r.manifest["ledger"] == {"length": head.seq, "head_hash": head.hash}


def test_invariant_3_shards_carry_no_ids_and_no_clear_personal_data(demo) -> None:
    db, settings = demo
    r = build(db, settings)
    prov = _provenance(db, r.snapshot_id)
    rows = read_all(r)
    assert set(rows[0]) == {"record_id", "text", "kind", "language", "created_month"}
    forbidden = {p.content_id for p in prov} | {p.author_id for p in prov}
    blob = "\n".join(str(v) for row in rows for v in row.values())
    assert not any(f in blob for f in forbidden if len(f) > 4)
    # surrogates (the default): every e-mail in the text is a fake at example.com
    emails = re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "\n".join(str(r["text"]) for r in rows))
    assert emails and all(e.endswith("@example.com") for e in emails), emails[:5]


def test_the_operator_never_changes_which_records_are_kept(demo) -> None:
    """Quality and duplicate decisions are made on the masked view, so surrogates (whose
    fakes depend on the snapshot key) keep exactly the records tags keep."""
    db, settings = demo
    kept = {}
    for op in ("surrogate", "mask", "pseudonym"):
        r = build(db, settings, operator=op)
        kept[op] = {p.content_id for p in _provenance(db, r.snapshot_id)}
        steps = {s["step"]: s["dropped"] for s in r.manifest["counts"]["steps"]}
        kept[op + " drops"] = {k: steps[k] for k in ("redact", "quality", "dedupe")}  # type: ignore[assignment]
    assert kept["surrogate"] == kept["mask"] == kept["pseudonym"] and kept["mask"]
    assert kept["surrogate drops"] == kept["mask drops"] == kept["pseudonym drops"]


def test_invariant_5_two_builds_give_identical_bytes(demo, tmp_path: Path) -> None:
    db, settings = demo
    db2, settings2 = copy_home(settings.home, tmp_path / "copy")
    a = build(db, settings)
    b = build(db2, settings2)
    assert a.snapshot_id == b.snapshot_id
    assert shard_bytes(a) == shard_bytes(b) and len(shard_bytes(a)) >= 2
    assert a.manifest["merkle"] == b.manifest["merkle"]
    db2.dispose()


def test_invariant_5_local_and_dask_synchronous_identical(demo, tmp_path: Path) -> None:
    dask = pytest.importorskip("dask")
    db, settings = demo
    db2, settings2 = copy_home(settings.home, tmp_path / "copy")
    a = build(db, settings, engine="inline")
    with dask.config.set(scheduler="synchronous"):
        b = build(db2, settings2, engine="dask", workers=2)
    assert shard_bytes(a) == shard_bytes(b)
    db2.dispose()


def test_invariant_6_no_temporary_or_work_files_left(demo) -> None:
    db, settings = demo
    r = build(db, settings)
    names = sorted(str(p.relative_to(r.path)) for p in r.path.rglob("*"))
    assert "_work" not in " ".join(names)
    assert not [n for n in names if n.endswith(".tmp") or "/." in n or n.startswith(".")]
    assert {"manifest.json", "croissant.json", "datasheet.md", "data"} <= set(names)


def test_rerun_after_completion_is_up_to_date_and_change_gives_new_snapshot(demo) -> None:
    db, settings = demo
    a = build(db, settings)
    again = build(db, settings)
    assert again.status == "up_to_date" and again.snapshot_id == a.snapshot_id
    author = _provenance(db, a.snapshot_id)[0].author_id
    record_consent(
        db,
        author,
        PURPOSE,
        "withdraw",
        source="web",
        at=DEMO_NOW + timedelta(hours=1),
        now=DEMO_NOW + timedelta(hours=1),  # recorded when made
    )
    later = DEMO_NOW + timedelta(days=1)
    b = build(db, settings, now=later)
    assert b.snapshot_id != a.snapshot_id and b.status == "built"
    assert author not in {p.author_id for p in _provenance(db, b.snapshot_id)}
    consent = {s["step"]: s for s in b.manifest["counts"]["steps"]}["consent"]
    assert consent["dropped"].get("WITHDRAWN_AFTER_AS_OF", 0) >= 1
    assert len(list_snapshots(db)) == 2
    assert show_snapshot(db, b.snapshot_id)["manifest"]["snapshot_id"] == b.snapshot_id


def test_future_as_of_and_unknown_purpose_are_refused(demo) -> None:
    db, settings = demo
    with pytest.raises(InputError, match="future"):
        build_snapshot(db, settings, PURPOSE, DEMO_NOW + timedelta(days=1), now=DEMO_NOW)
    with pytest.raises(
        NotFoundError, match="valid purposes: share_with_providers, train_own_models"
    ):
        build_snapshot(db, settings, "nope", AS_OF, now=DEMO_NOW)


def test_when_snapshots_are_listed_then_one_summary_serves_every_adapter(demo) -> None:
    db, settings = demo
    r = build(db, settings)
    (listed,) = list_snapshots(db)
    assert isinstance(listed, SnapshotSummary) and listed.manifest is None
    assert (listed.id, listed.status, listed.records) == (r.snapshot_id, "complete", r.records)
    steps = r.manifest["counts"]["steps"]
    assert [s["step"] for s in steps] == ["select", "consent", *STAGE_STEP_NAMES]
    dropped = sum(sum(s["dropped"].values()) for s in steps)
    assert sum(listed.excluded.values()) == dropped == steps[0]["in"] - r.records
    assert listed.findings == r.manifest["findings_by_label"]
    detail = get_snapshot(db, resolve_snapshot_id(db, "latest"))
    assert detail.manifest == r.manifest and detail.manifest_sha256
    d = detail.to_dict()
    assert d["as_of"] == AS_OF.isoformat() and d["manifest"] == r.manifest
    assert {k: v for k, v in d.items() if k != "manifest"} == listed.to_dict()
    assert show_snapshot(db, "latest") == d
    with pytest.raises(NotFoundError, match="does not exist; known: "):
        get_snapshot(db, "nope")


def test_when_engine_is_unknown_then_the_registry_names_the_choices(demo) -> None:
    db, settings = demo
    assert engine_names() == ("local", "dask")
    with pytest.raises(ConfigError, match="unknown engine 'spark'; allowed: local, dask"):
        build_snapshot(db, settings, PURPOSE, AS_OF, engine="spark", now=DEMO_NOW)


def test_when_dask_is_missing_then_dependency_error_names_the_extra(
    demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, settings = demo
    monkeypatch.setitem(__import__("sys").modules, "dask", None)
    with pytest.raises(DependencyMissingError, match=r"pip install 'optin\[dask\]'"):
        build_snapshot(db, settings, PURPOSE, AS_OF, engine="dask", now=DEMO_NOW)


def test_shards_load_with_datasets_pyarrow_polars_duckdb(
    demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, settings = demo
    r = build(db, settings)
    glob = str(r.path / "data" / "*.parquet")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    from datasets import load_dataset

    ds = load_dataset(
        "parquet", data_files=glob, split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert ds.num_rows == r.records
    assert set(ds.column_names) == {"record_id", "text", "kind", "language", "created_month"}
    assert pq.ParquetDataset(str(r.path / "data")).read().num_rows == r.records
    assert pl.read_parquet(glob).height == r.records
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall()[0][0] == r.records


@pytest.mark.filterwarnings("ignore::DeprecationWarning:rdflib.*")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_croissant_validates_with_mlcroissant_and_datasheet_explains(demo) -> None:
    mlc = pytest.importorskip("mlcroissant")
    db, settings = demo
    r = build(db, settings)
    doc = json.loads((r.path / "croissant.json").read_text())
    for key in (
        "rai:dataCollection",
        "rai:dataCollectionTimeframe",
        "rai:dataPreprocessingProtocol",
        "rai:personalSensitiveInformation",
        "rai:dataUseCases",
        "rai:dataLimitations",
        "rai:dataBiases",
        "rai:dataReleaseMaintenancePlan",
        "optin:purpose",
        "optin:asOf",
        "optin:regimeTable",
        "optin:withdrawalHandling",
    ):
        assert doc[key], key
    ds = mlc.Dataset(jsonld=str(r.path / "croissant.json"))
    records = list(ds.records("records"))
    assert len(records) == r.records
    assert set(records[0]) == {
        f"records/{c}" for c in ("record_id", "text", "kind", "language", "created_month")
    }
    sheet = (r.path / "datasheet.md").read_text()
    for phrase in (
        "What was excluded",
        "How personal data was handled",
        "How to request removal",
        "EXCLUDED_JURISDICTION",
    ):
        assert phrase in sheet


# -- invariant 1 over random consent histories (hypothesis) ----------------------------

_T0 = datetime(2024, 3, 1, tzinfo=UTC)
_HOURS = st.integers(min_value=0, max_value=24 * 400)


@st.composite
def _histories(draw: st.DrawFn) -> list[dict[str, object]]:
    members = []
    for i in range(draw(st.integers(min_value=1, max_value=4))):
        events = draw(
            st.lists(st.tuples(st.sampled_from(["grant", "withdraw"]), _HOURS), max_size=4)
        )
        members.append(
            {
                "id": f"m{i}",
                "country": draw(st.sampled_from(["US", "FR", "BR"])),
                "events": sorted(events, key=lambda e: e[1]),
                "posts": draw(st.lists(_HOURS, min_size=1, max_size=3)),
            }
        )
    return members


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Path:
    return _sqlite_template


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=_histories(), as_of_h=_HOURS, build_h=st.integers(min_value=0, max_value=24 * 60))
def test_no_ineligible_record_over_random_histories(
    spec: list[dict[str, object]],
    as_of_h: int,
    build_h: int,
    template_db: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("h")
    shutil.copyfile(template_db, home / "optin.db")
    settings_ = Settings(home=home)
    db = Database.open(settings_)
    try:
        as_of = _T0 + timedelta(hours=as_of_h)
        now = as_of + timedelta(hours=build_h)
        add_members(db, [{"id": m["id"], "country": m["country"]} for m in spec])
        with db.session() as s:
            for m in spec:
                for j, h in enumerate(m["posts"]):  # type: ignore[attr-defined]
                    s.add(
                        ContentRow(
                            id=f"{m['id']}-c{j}",
                            author_id=m["id"],
                            kind="post",
                            visibility="public",
                            language="en",
                            text=f"Post {j} by a member about cloud architecture number {m['id']}{j}"
                            f" and lessons learned {h}",
                            created_at=_T0 + timedelta(hours=h),
                        )
                    )
        for m in spec:
            for action, h in m["events"]:  # type: ignore[attr-defined]
                record_consent(
                    db,
                    m["id"],
                    PURPOSE,
                    action,
                    source="web",  # type: ignore[arg-type]
                    at=_T0 + timedelta(hours=h),
                    now=_T0 + timedelta(hours=h),
                )
        cfg = BuildConfig(purpose=PURPOSE, shard_size=3, dedupe=False, min_chars=1, min_words=1)
        r = build_snapshot(db, settings_, PURPOSE, as_of, engine="inline", config=cfg, now=now)
        ps = policy_set(db)
        with db.session() as s:
            hist = member_histories(s, [m["id"] for m in spec])  # type: ignore[misc]
        expected = set()
        for m in spec:
            ok = (
                eligibility(hist[m["id"]], PURPOSE, as_of, ps).eligible  # type: ignore[index]
                and eligibility(hist[m["id"]], PURPOSE, now, ps).eligible
            )  # type: ignore[index]
            for j, h in enumerate(m["posts"]):  # type: ignore[attr-defined]
                if ok and _T0 + timedelta(hours=h) <= as_of:
                    expected.add(f"{m['id']}-c{j}")
        got = {p.content_id for p in _provenance(db, r.snapshot_id)}
        assert got == expected
        assert len(read_all(r)) == len(expected)
    finally:
        db.dispose()


def test_build_and_verify_on_each_backend(db: Database, tmp_path: Path) -> None:
    from optin.services.demo import generate_demo
    from optin.services.verify import verify_snapshot

    generate_demo(db, members=200, posts=1500, seed=2, now=DEMO_NOW, accounts=False)
    settings_ = Settings(home=tmp_path / "home", database_url=db.url)
    r = build(db, settings_)
    assert r.records > 0
    assert len(_provenance(db, r.snapshot_id)) == r.records
    rep = verify_snapshot(db, settings_, r.snapshot_id, now=DEMO_NOW)
    assert rep.status == "pass", [c.problems for c in rep.checks]
    assert build(db, settings_).status == "up_to_date"
