"""``snapshot build --since``: an incremental build equals a full build at the same as-of
time (same records, same texts, same step table) on randomized changes: new posts,
edits, deletions, withdrawals, new grants, and duplicates across parent and new content
(an earlier new copy beats a parent record; a parent duplicate whose winner left wins
again). Verify passes on it and checks the parent link."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from optin.errors import ConfigError, ConflictError
from optin.pipeline.config import BuildConfig
from optin.services import incremental as incremental_mod
from optin.services import snapshot_partitions as partitions
from optin.services.consent import record_consent
from optin.services.eligibility import decide_all
from optin.services.snapshots import BuildResult, build_snapshot
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import ContentRow, SnapshotRecordRow
from tests.factories import add_content
from tests.pipeline.helpers import AS_OF, DEMO_NOW, PURPOSE, copy_home, make_demo_home

T1 = DEMO_NOW + timedelta(days=2)  # changes happen before it
AS_OF2 = T1
NOW2 = T1 + timedelta(hours=1)
SHARD = 60


@pytest.fixture(scope="module", name="small_home")
def small_home_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = make_demo_home(tmp_path_factory.mktemp("incr") / "home", members=150, posts=1500)
    db = Database.open(Settings(home=home))
    _seed_duplicates(db)
    db.dispose()
    yield home


def _prov(db: Database, sid: str) -> list[SnapshotRecordRow]:
    with db.session() as s:
        q = select(SnapshotRecordRow).where(SnapshotRecordRow.snapshot_id == sid)
        return list(s.execute(q).scalars())


def _eligible_authors(db: Database, sid: str) -> list[str]:
    return sorted({p.author_id for p in _prov(db, sid)})


def _seed_duplicates(db: Database) -> None:
    """Before the parent: pairs of equal and near-equal posts by different authors, so
    the parent holds duplicates a withdrawal can bring back."""
    authors = _eligible(db)
    rng = random.Random(11)
    for i in range(24):
        a, b = rng.sample(authors, 2)
        text = f"Sharing my garden notes number {i}: tomatoes and basil grew well this spring"
        t = AS_OF - timedelta(days=40 - i)
        add_content(db, a, f"dupA-{i:03d}", text, created_at=t)
        other = text if i % 2 else text + " again"
        add_content(db, b, f"dupB-{i:03d}", other, created_at=t + timedelta(hours=3))


def _eligible(db: Database) -> list[str]:
    """Members eligible at the parent's as-of and build times."""
    at = {d.member_id for d in decide_all(db, PURPOSE, AS_OF) if d.eligible}
    return sorted(at & {d.member_id for d in decide_all(db, PURPOSE, DEMO_NOW) if d.eligible})


def _config() -> BuildConfig:
    return BuildConfig(purpose=PURPOSE, shard_size=SHARD, row_group_size=SHARD)


def _build(
    db: Database, settings_: Settings, *, as_of: datetime, now: datetime, since: str | None = None,
    engine: str = "inline", config: BuildConfig | None = None, lake: Path | None = None,
    eligibility_on: str = "auto",
) -> BuildResult:  # fmt: skip
    return build_snapshot(
        db, settings_, PURPOSE, as_of, engine=engine, workers=1, config=config or _config(),
        now=now, since=since, content=str(lake) if lake is not None else None,
        eligibility_on=eligibility_on,
    )  # fmt: skip


def _write_lake(db: Database, lake: Path | None) -> None:
    """The content table as a lake (one file per day, rows in content-id order): days
    whose rows did not change are written byte for byte as before."""
    if lake is None:
        return
    from tests.pipeline.test_lake import content_rows, write_lake

    shutil.rmtree(lake, ignore_errors=True)
    write_lake(content_rows(db), lake)


def _contents(db: Database, r: BuildResult) -> dict[str, tuple[Any, ...]]:
    """content id -> (text, kind, language, created month) of every record."""
    cid = {p.record_id: p.content_id for p in _prov(db, r.snapshot_id)}
    out: dict[str, tuple[Any, ...]] = {}
    for f in r.manifest["files"]:
        for row in pq.read_table(r.path / f["path"]).to_pylist():
            out[cid[row["record_id"]]] = (
                row["text"], row["kind"], row["language"], row["created_month"]
            )  # fmt: skip
    assert len(out) == r.records
    return out


def _mutate(db: Database, parent: BuildResult, rng: random.Random, spec: dict[str, int]) -> None:
    """Changes between the parent and T1, drawn from ``spec`` counts."""
    prov = sorted(_prov(db, parent.snapshot_id), key=lambda p: p.content_id)
    with db.session() as s:
        texts = dict(s.execute(select(ContentRow.id, ContentRow.text)).all())
        all_authors = sorted({a for (a,) in s.execute(select(ContentRow.author_id)).all()})
    at = T1 - timedelta(hours=5)
    for p in rng.sample(prov, min(spec["withdraw"], len(prov))):
        record_consent(db, p.author_id, PURPOSE, "withdraw", source="web", at=at, now=at)
    for a in rng.sample(all_authors, min(spec["grant"], len(all_authors))):
        record_consent(db, a, PURPOSE, "grant", source="web", at=at, now=at)
    picked = rng.sample(prov, min(spec["edit"] + spec["delete"], len(prov)))
    with db.session() as s:
        for p in picked[: spec["edit"]]:
            s.execute(
                update(ContentRow)
                .where(ContentRow.id == p.content_id)
                .values(text=texts[p.content_id] + " (edited: thanks everyone)", edited_at=at)
            )
        for p in picked[spec["edit"] :]:
            s.execute(update(ContentRow).where(ContentRow.id == p.content_id).values(deleted_at=at))
    eligible = sorted({p.author_id for p in prov})
    for i in range(spec["new"]):
        add_content(
            db, rng.choice(eligible if i % 3 else all_authors), f"new-{i:04d}",
            f"A brand new post {i} about hiking trails and the weather near the lake today",
            created_at=T1 - timedelta(hours=rng.randint(6, 400)),
        )  # fmt: skip
    for i in range(spec["dups"]):  # copies of parent records, earlier or later
        p = rng.choice(prov)
        shift = timedelta(days=rng.choice([-400, -1, 1, 3]))
        created = min(AS_OF - timedelta(days=1), T1 - timedelta(hours=6)) + shift
        text = texts[p.content_id] + ("" if i % 2 else " indeed")
        author = rng.choice(eligible if i % 3 else all_authors)
        add_content(db, author, f"copy-{i:04d}", text, created_at=created)


def _incremental_equals_full(
    home: Path,
    tmp: Path,
    seed: int,
    spec: dict[str, int],
    *,
    lake: bool = False,
    parent_on: str = "auto",
) -> BuildResult:
    """``lake``: the content is read from a lake written from the content table (the
    days the changes do not touch are the parent's files byte for byte); ``parent_on``:
    where the parent's plan runs (``workers``: per member partition)."""
    db, st_ = copy_home(home, tmp / "a")
    source = tmp / "lake" if lake else None
    _write_lake(db, source)
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW, lake=source, eligibility_on=parent_on)
    _mutate(db, parent, random.Random(seed), spec)
    _write_lake(db, source)
    db.dispose()
    db_full, st_full = copy_home(tmp / "a", tmp / "b")
    db = Database.open(st_)
    child = _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id, lake=source)
    full = _build(db_full, st_full, as_of=AS_OF2, now=NOW2, lake=source)
    assert child.status == "built" and child.snapshot_id != full.snapshot_id
    assert _contents(db, child) == _contents(db_full, full)
    assert child.manifest["counts"]["steps"] == full.manifest["counts"]["steps"]
    # eligibility decided only for changed members: the same members by reason
    elig = dict(child.manifest["eligibility"])
    decided = elig.pop("decided")
    assert elig == full.manifest["eligibility"]
    assert decided["decided_all_because"] is None and decided["from_parent"] > 0
    inc = child.manifest["incremental"]
    assert inc["reused"] + inc["processed"] >= child.records
    assert child.manifest["parent"]["id"] == parent.snapshot_id
    db_full.dispose()
    db.dispose()
    return child


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 10_000),
    spec=st.fixed_dictionaries(
        {
            "new": st.integers(0, 30),
            "edit": st.integers(0, 8),
            "delete": st.integers(0, 8),
            "withdraw": st.integers(0, 5),
            "grant": st.integers(0, 20),
            "dups": st.integers(0, 12),
        }
    ),
)
def test_incremental_equals_full_build_on_random_changes(
    small_home: Path, tmp_path_factory: pytest.TempPathFactory, seed: int, spec: dict[str, int]
) -> None:
    _incremental_equals_full(small_home, tmp_path_factory.mktemp("h"), seed, spec)


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 10_000),
    spec=st.fixed_dictionaries(
        {
            "new": st.integers(0, 12),
            "edit": st.integers(0, 4),
            "delete": st.integers(0, 4),
            "withdraw": st.integers(0, 5),
            "grant": st.integers(0, 20),
            "dups": st.integers(0, 8),
        }
    ),
)
def test_incremental_from_a_lake_equals_full_on_random_changes(
    small_home: Path, tmp_path_factory: pytest.TempPathFactory, seed: int, spec: dict[str, int]
) -> None:
    """Lake files the parent read byte for byte are read without their texts; the
    result is still a full build's."""
    child = _incremental_equals_full(
        small_home, tmp_path_factory.mktemp("h"), seed, spec, lake=True
    )
    assert child.manifest["incremental"]["lake_files_unchanged"] > 0


def test_a_parent_planned_on_the_workers_keeps_its_decisions(
    small_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lake build that planned on the workers (eligibility per member partition) keeps
    the eligibility file too, so its child decides only the members who changed."""
    monkeypatch.setattr(partitions, "MEMBERS_PER_PARTITION", 40)  # several partitions
    spec = {"new": 12, "edit": 3, "delete": 3, "withdraw": 4, "grant": 10, "dups": 6}
    child = _incremental_equals_full(small_home, tmp_path, 11, spec, lake=True, parent_on="workers")
    decided = child.manifest["eligibility"]["decided"]
    assert 4 <= decided["decided"] < decided["members"] / 2


def test_every_kind_of_change_at_once_and_verify_passes(small_home: Path, tmp_path: Path) -> None:
    spec = {"new": 40, "edit": 6, "delete": 6, "withdraw": 4, "grant": 25, "dups": 12}
    child = _incremental_equals_full(small_home, tmp_path, 7, spec)
    inc = child.manifest["incremental"]
    assert inc["new"] > 0 and inc["edited"] > 0 and inc["reused"] > 0
    assert sum(inc["dropped"].values()) > 0
    db = Database.open(Settings(home=tmp_path / "a"))
    rep = verify_snapshot(db, Settings(home=tmp_path / "a"), child.snapshot_id, now=NOW2)
    assert rep.status == "pass", rep.to_dict()
    assert any(c.name == "parent" and c.ok for c in rep.checks)
    db.dispose()


@pytest.mark.parametrize("lake", [False, True], ids=["sql", "lake"])
def test_withdrawn_winner_brings_its_duplicate_back(
    small_home: Path, tmp_path: Path, lake: bool
) -> None:
    """A parent duplicate whose winner's author withdrew is in the child, as in a full
    build; an earlier new copy of a parent record replaces it. From a lake, the
    resurrected row is read again from its unchanged file."""
    db, st_ = copy_home(small_home, tmp_path / "a")
    source = tmp_path / "lake" if lake else None
    _write_lake(db, source)
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW, lake=source)
    kept = {p.content_id: p.author_id for p in _prov(db, parent.snapshot_id)}
    pairs = [i for i in range(24) if f"dupA-{i:03d}" in kept and f"dupB-{i:03d}" not in kept]
    assert pairs, "the seeded duplicates are in the parent"
    with db.session() as s:
        b_authors = dict(
            s.execute(select(ContentRow.id, ContentRow.author_id).where(ContentRow.id.like("dupB-%")))
            .all()
        )  # fmt: skip
    at = T1 - timedelta(hours=5)
    i = next(i for i in pairs if b_authors[f"dupB-{i:03d}"] in set(kept.values())
             and b_authors[f"dupB-{i:03d}"] != kept[f"dupA-{i:03d}"])  # fmt: skip
    record_consent(db, kept[f"dupA-{i:03d}"], PURPOSE, "withdraw", source="web", at=at, now=at)
    victim = next(c for c in sorted(kept) if c.startswith("dupA-") and c != f"dupA-{i:03d}"
                  and kept[c] != kept[f"dupA-{i:03d}"])  # fmt: skip
    with db.session() as s:
        row = s.get(ContentRow, victim)
        assert row is not None
        text, created = row.text, row.created_at
    add_content(db, b_authors[f"dupB-{i:03d}"], "early-copy", text,
                created_at=created - timedelta(days=2))  # fmt: skip
    _write_lake(db, source)
    db.dispose()
    db_full, st_full = copy_home(tmp_path / "a", tmp_path / "b")
    db = Database.open(st_)
    child = _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id, lake=source)
    full = _build(db_full, st_full, as_of=AS_OF2, now=NOW2, lake=source)
    mine = _contents(db, child)
    assert mine == _contents(db_full, full)
    assert f"dupB-{i:03d}" in mine and f"dupA-{i:03d}" not in mine
    assert "early-copy" in mine and victim not in mine
    inc = child.manifest["incremental"]
    assert inc["resurrected"] >= 1
    if lake:  # lake rows are held by reference: the resurrected one was read again
        assert inc["lake_files_unchanged"] > 0
    assert inc["dropped"].get("exact_duplicate", 0) >= 1
    db_full.dispose()
    db.dispose()


def test_a_lake_file_rewritten_during_the_build_is_refused(
    small_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file read without its texts (the parent's bytes) must still be those bytes when
    the build has read it: else the build stops, naming the file."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from optin.services import incremental as incremental_mod

    db, st_ = copy_home(small_home, tmp_path / "a")
    source = tmp_path / "lake"
    _write_lake(db, source)
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW, lake=source)
    chunks = incremental_mod._LakeRead.chunks
    rewritten: list[Path] = []

    def rewrite_after(self: Any) -> Any:  # another writer rewrites a file meanwhile
        yield from chunks(self)
        f = next(f for f in self.files if f.path in self.unchanged)
        path = self.lake.root / f.path
        t = pq.read_table(path)
        text = pc.binary_join_element_wise(t["text"], pa.scalar(" (rewritten)"), "")
        pq.write_table(t.set_column(t.schema.get_field_index("text"), "text", text), path)
        rewritten.append(path)

    monkeypatch.setattr(incremental_mod._LakeRead, "chunks", rewrite_after)
    with pytest.raises(ConflictError, match="changed during the build") as e:
        _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id, lake=source)
    assert str(rewritten[0]) in str(e.value)
    db.dispose()


def test_chained_incremental_and_up_to_date(
    small_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incremental of an incremental equals a full build too; a rerun is up to date.
    The child's rows file is written in parts of a few rows (taken from the parent's
    table a part at a time) and its grandchild still equals a full build."""
    monkeypatch.setattr(incremental_mod, "ROWS_PART", 7)
    db, st_ = copy_home(small_home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    child = _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id)
    again = _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id)
    assert again.status == "up_to_date" and again.snapshot_id == child.snapshot_id
    _mutate(db, child, random.Random(3), {"new": 10, "edit": 3, "delete": 3, "withdraw": 2,
                                          "grant": 5, "dups": 4})  # fmt: skip
    later = NOW2 + timedelta(days=1)
    db.dispose()
    db_full, st_full = copy_home(tmp_path / "a", tmp_path / "b")
    db = Database.open(st_)
    grand = _build(db, st_, as_of=later, now=later, since="latest")
    full = _build(db_full, st_full, as_of=later, now=later)
    assert grand.manifest["parent"]["id"] == child.snapshot_id
    assert grand.manifest["record_id_key_of"] == parent.snapshot_id
    assert _contents(db, grand) == _contents(db_full, full)
    db_full.dispose()
    db.dispose()


def test_refusals_name_the_problem(small_home: Path, tmp_path: Path) -> None:
    db, st_ = copy_home(small_home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    other = BuildConfig(purpose=PURPOSE, shard_size=SHARD, row_group_size=SHARD, seed=9)
    with pytest.raises(ConfigError, match="config differs"):
        _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id, config=other)
    shutil.rmtree(parent.path / "_incremental")
    with pytest.raises(ConflictError, match="keeps no rows file"):
        _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id)
    db.dispose()


def test_rows_file_names_no_author_or_content_id(small_home: Path, tmp_path: Path) -> None:
    db, st_ = copy_home(small_home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    rows = pq.read_table(parent.path / "_incremental" / "rows.parquet")
    meta = json.loads((parent.path / "_incremental" / "meta.json").read_text())
    assert meta["rows"] == rows.num_rows and meta["key_of"] == parent.snapshot_id
    blob = str(rows.to_pylist())
    for p in _prov(db, parent.snapshot_id)[:50]:
        assert p.content_id not in blob and p.author_id not in blob
    assert sum(1 for o in rows["outcome"].to_pylist() if o == "kept") == parent.records
    db.dispose()


def _cli(home: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "optin.cli.main", "--home", str(home), "snapshot", "build",
        "--purpose", PURPOSE, "--as-of", AS_OF2.isoformat(), "--workers", "1",
        "--shard-size", str(SHARD), "--engine", "inline", "--since", "latest", *args,
    ]  # fmt: skip


@pytest.mark.slow
def test_killed_incremental_build_resumes_to_the_same_result(
    small_home: Path, tmp_path: Path
) -> None:
    db, st_ = copy_home(small_home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    eligible = _eligible_authors(db, parent.snapshot_id)
    rng = random.Random(5)
    for i in range(1500):  # 25 shards of new posts
        add_content(
            db, rng.choice(eligible), f"bulk-{i:05d}",
            f"Post {i}: {rng.choice(['rain', 'sun', 'snow'])} over the hills, "
            f"{rng.randint(0, 10**6)} steps walked and a call with Jane Doe at 555-0142",
            created_at=T1 - timedelta(hours=rng.randint(6, 900)),
        )  # fmt: skip
    db.dispose()
    db_full, st_full = copy_home(tmp_path / "a", tmp_path / "b")
    home = tmp_path / "a"
    env = {**os.environ, "OPTIN_DEBUG": "1"}
    log = (tmp_path / "killed.log").open("wb")
    proc = subprocess.Popen(
        _cli(home), env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log
    )
    deadline = time.monotonic() + 120
    markers: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        markers = list((home / "snapshots").glob("*/_work/_done/stage1-*.json"))
        if markers:
            break
        time.sleep(0.02)
    alive = proc.poll() is None
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    log.close()
    assert alive, f"build ended before it could be killed: {(tmp_path / 'killed.log').read_text()}"
    snap_dir = markers[0].parents[2]
    assert not (snap_dir / "manifest.json").exists()
    finished = len(list((snap_dir / "_work" / "_done").glob("stage1-*.json")))
    rerun = subprocess.run(
        _cli(home, "--json"), env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    out = json.loads(rerun.stdout)
    assert out["status"] == "resumed" and finished >= 1
    assert out["parent"]["id"] == parent.snapshot_id
    # finished shards were skipped: the rerun redacted fewer rows than it processed
    assert out["timings"]["records_language"] < out["incremental"]["processed"]
    assert not (snap_dir / "_work").exists()
    db = Database.open(st_)
    child = BuildResult(out["snapshot_id"], snap_dir, "resumed", out["records"],
                        json.loads((snap_dir / "manifest.json").read_text()))  # fmt: skip
    full = _build(db_full, st_full, as_of=AS_OF2, now=datetime.now(UTC))
    assert _contents(db, child) == _contents(db_full, full)
    rep = verify_snapshot(db, st_, child.snapshot_id, now=datetime.now(UTC), rescan=False)
    assert rep.status == "pass", rep.to_dict()
    db_full.dispose()
    db.dispose()


def test_incremental_from_a_lake_equals_a_full_lake_build(small_home: Path, tmp_path: Path) -> None:
    from tests.pipeline.test_lake import LAKE_SCHEMA, content_rows, write_lake

    db, st_ = copy_home(small_home, tmp_path / "a")
    rows = content_rows(db)
    lake = write_lake(rows, tmp_path / "lake")

    def lake_build(
        d: Database, s: Settings, as_of: datetime, now: datetime, since: str | None = None
    ) -> BuildResult:
        return build_snapshot(d, s, PURPOSE, as_of, engine="inline", config=_config(), now=now,
                              content=str(lake), since=since)  # fmt: skip

    parent = lake_build(db, st_, AS_OF, DEMO_NOW)
    prov = sorted(_prov(db, parent.snapshot_id), key=lambda p: p.content_id)
    at = T1 - timedelta(hours=5)
    record_consent(db, prov[0].author_id, PURPOSE, "withdraw", source="web", at=at, now=at)
    edited, deleted = prov[-1].content_id, prov[-2].content_id
    for r in rows:
        if r["content_id"] == edited:
            r["text"] += " (edited later)"
            r["edited_at"] = at
        if r["content_id"] == deleted:
            r["deleted_at"] = at
    authors = sorted({p.author_id for p in prov})
    new = [
        {**rows[0], "content_id": f"lake-new-{i}", "author_id": authors[i % len(authors)],
         "text": f"Fresh lake post {i} about rivers, boats and a quiet morning walk",
         "created_at": at - timedelta(hours=i), "edited_at": None, "deleted_at": None,
         "kind": "post", "visibility": "public", "language": "en"}
        for i in range(12)
    ]  # fmt: skip
    shutil.rmtree(lake)
    write_lake(rows + new, lake, LAKE_SCHEMA)
    db.dispose()
    db_full, st_full = copy_home(tmp_path / "a", tmp_path / "b")
    db = Database.open(st_)
    child = lake_build(db, st_, AS_OF2, NOW2, since=parent.snapshot_id)
    full = lake_build(db_full, st_full, AS_OF2, NOW2)
    assert _contents(db, child) == _contents(db_full, full)
    inc = child.manifest["incremental"]
    assert inc["new"] >= 12 and inc["edited"] == 1
    assert child.manifest["content_source"]["kind"] == "lake"
    rep = verify_snapshot(db, st_, child.snapshot_id, now=NOW2, rescan=False)
    assert rep.status == "pass", rep.to_dict()
    db_full.dispose()
    db.dispose()


def test_verify_fails_when_the_parent_link_does_not_hold(small_home: Path, tmp_path: Path) -> None:
    from optin.storage.models import SnapshotRow

    db, st_ = copy_home(small_home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    child = _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id)
    ok = verify_snapshot(db, st_, child.snapshot_id, now=NOW2, rescan=False)
    assert ok.status == "pass", ok.to_dict()
    with db.session() as s:
        s.execute(
            update(SnapshotRow)
            .where(SnapshotRow.id == parent.snapshot_id)
            .values(manifest_sha256="0" * 64)
        )
    rep = verify_snapshot(db, st_, child.snapshot_id, now=NOW2, rescan=False)
    parent_check = next(c for c in rep.checks if c.name == "parent")
    assert rep.status == "fail" and not parent_check.ok
    assert any("parent.manifest_sha256" in p for p in parent_check.problems)
    db.dispose()


@pytest.mark.parametrize("lake", [False, True], ids=["sql", "lake"])
def test_a_changed_directory_reprocesses_only_the_rows_it_can_change(
    small_home: Path, tmp_path: Path, lake: bool
) -> None:
    """Redaction matches the members' directory, and a surrogate must never name a
    member. Between the builds a member joins whose name an unchanged post already
    holds, a member joins under a fake the parent wrote into a record, and a member is
    renamed: only the unchanged rows those entries can redact differently are processed
    again, every other row is reused, and the result equals a full build."""
    from optin.pipeline import incremental as inc
    from optin.storage.models import MemberRow
    from tests.factories import add_member

    db, st_ = copy_home(small_home, tmp_path / "a")
    author = _eligible(db)[0]
    add_content(db, author, "pre-quillon",
                "Great panel with Quillon Vexhartley and @quillon_vex on data rights today",
                created_at=AS_OF - timedelta(days=10))  # fmt: skip
    source = tmp_path / "lake" if lake else None
    _write_lake(db, source)
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW, lake=source)
    fakes = inc.read_fakes(parent.path)
    assert fakes is not None and fakes.num_rows
    fake = next(
        f for fs in fakes["fakes"].to_pylist() for f in fs or () if f.count(" ") == 1
    )  # a person surrogate the parent wrote ("First Last")
    add_member(db, "m-newcomer", handle="quillon_vex", display_name="Quillon Vexhartley",
               joined_at=T1 - timedelta(days=1))  # fmt: skip
    add_member(db, "m-fake-name", handle="fake_namesake", display_name=fake,
               joined_at=T1 - timedelta(days=1))  # fmt: skip
    with db.session() as s:
        renamed = s.get(MemberRow, author)
        assert renamed is not None
        renamed.display_name = "Zephyrine Albescu-Morrow"
    _write_lake(db, source)
    db.dispose()
    db_full, st_full = copy_home(tmp_path / "a", tmp_path / "b")
    db = Database.open(st_)
    child = _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id, lake=source)
    full = _build(db_full, st_full, as_of=AS_OF2, now=NOW2, lake=source)
    mine = _contents(db, child)
    assert mine == _contents(db_full, full)
    assert child.manifest["counts"]["steps"] == full.manifest["counts"]["steps"]
    got = child.manifest["incremental"]
    assert got["directory"].startswith("changed: ") and got["directory_entries_changed"] > 0
    assert got["reused"] > 0
    assert 2 <= got["reprocessed_directory_changed"] < got["reused"]
    assert "Vexhartley" not in mine.get("pre-quillon", ("",))[0]
    # the child keeps its own elements and fakes: a grandchild with no change reuses all
    assert (child.path / inc.ROWS_DIR / inc.ELEMENTS_FILE).exists()
    assert inc.read_fakes(child.path) is not None
    db_full.dispose()
    db.dispose()


def test_a_parent_without_directory_elements_reprocesses_every_row(
    small_home: Path, tmp_path: Path
) -> None:
    """A parent built before directory elements were kept: a changed directory processes
    every row again (and says so); the result still equals a full build."""
    from optin.pipeline import incremental as inc
    from tests.factories import add_member

    db, st_ = copy_home(small_home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    (parent.path / inc.ROWS_DIR / inc.ELEMENTS_FILE).unlink()
    add_member(db, "m-newcomer", handle="quillon_vex", display_name="Quillon Vexhartley",
               joined_at=T1 - timedelta(days=1))  # fmt: skip
    db.dispose()
    db_full, st_full = copy_home(tmp_path / "a", tmp_path / "b")
    db = Database.open(st_)
    child = _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id)
    full = _build(db_full, st_full, as_of=AS_OF2, now=NOW2)
    assert _contents(db, child) == _contents(db_full, full)
    got = child.manifest["incremental"]
    assert got["directory"].startswith("changed: every row processed again")
    assert got["reused"] == 0
    db_full.dispose()
    db.dispose()


def test_unchanged_parent_shards_are_reused_byte_for_byte(small_home: Path, tmp_path: Path) -> None:
    """One withdrawal (and what the demo's own ledger changes by the later as-of time):
    the parent's shards none of whose records left are the child's byte for byte (same
    SHA-256 in both manifests); a shard that lost one is rewritten without it."""
    db, st_ = copy_home(small_home, tmp_path / "a")
    parent = _build(db, st_, as_of=AS_OF, now=DEMO_NOW)
    ids_of = {
        f["path"]: set(pq.read_table(parent.path / f["path"])["record_id"].to_pylist())
        for f in parent.manifest["files"]
    }
    prov = _prov(db, parent.snapshot_id)
    counts = Counter(p.author_id for p in prov)
    author = min(counts, key=lambda a: (counts[a], a))  # the fewest records: most shards kept
    withdrawn = {p.record_id for p in prov if p.author_id == author}
    at = T1 - timedelta(hours=5)
    record_consent(db, author, PURPOSE, "withdraw", source="web", at=at, now=at)
    child = _build(db, st_, as_of=AS_OF2, now=NOW2, since=parent.snapshot_id)
    child_files = {f["path"]: f for f in child.manifest["files"]}
    kept = {p.record_id for p in _prov(db, child.snapshot_id)}
    gone = set().union(*ids_of.values()) - kept
    assert withdrawn <= gone
    touched = [p for p, ids in ids_of.items() if ids & gone]
    assert touched and len(touched) < len(ids_of)
    for f in parent.manifest["files"]:
        path, ids = f["path"], ids_of[f["path"]]
        if not ids & gone:
            assert child_files[path] == f
            assert (child.path / path).read_bytes() == (parent.path / path).read_bytes()
        elif ids - gone:
            got = set(pq.read_table(child.path / path)["record_id"].to_pylist())
            assert got == ids - gone
            assert child_files[path]["rows"] == len(ids - gone)
            assert child_files[path]["sha256"] != f["sha256"]
        else:
            assert path not in child_files
    assert child.manifest["incremental"]["dropped"]["WITHDRAWN"] >= len(withdrawn)
    assert sum(child.manifest["incremental"]["dropped"].values()) == len(gone)
    db.dispose()
