"""Issue 15, bounded driver memory: a lake build whose plan runs on the workers
(eligibility per member partition, the lake gated per file, shards cut from per-file
counts, the Merkle root folded streaming) equals the in-driver plan byte for byte, on
the inline engine, Dask's synchronous scheduler and a real LocalCluster."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import dask
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from optin.pipeline.merkle import MerkleFold, merkle_root, merkle_root_sorted_runs
from optin.services import snapshot_partitions as partitions
from optin.services.snapshots import BuildResult
from optin.services.verify import verify_snapshot
from optin.storage.database import Database
from optin.storage.models import SnapshotRecordRow
from tests.pipeline.helpers import (  # noqa: F401  (fixtures)
    DEMO_NOW,
    copy_home,
    demo_fixture,
    demo_home_fixture,
    shard_bytes,
)
from tests.pipeline.test_lake import content_rows, lake_build, write_lake

#: manifest fields that differ between engines by design (or are times)
_ENGINE_FIELDS = ("engine", "workers", "dedupe_pass")


def _manifest(r: BuildResult) -> dict[str, Any]:
    m = {k: v for k, v in r.manifest.items() if k not in ("signature",)}
    m["config"] = {k: v for k, v in m["config"].items() if k not in _ENGINE_FIELDS}
    return m


def _provenance(db: Database, sid: str) -> list[tuple[Any, ...]]:
    with db.session() as s:
        rows = s.execute(
            select(
                SnapshotRecordRow.record_id,
                SnapshotRecordRow.content_id,
                SnapshotRecordRow.author_id,
                SnapshotRecordRow.consent_event_id,
                SnapshotRecordRow.policy_version,
                SnapshotRecordRow.shard,
            ).where(SnapshotRecordRow.snapshot_id == sid)
        ).all()
    return sorted(tuple(r) for r in rows)


@pytest.fixture(name="pair")
def pair_fixture(demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The in-driver lake build, and a fresh copy of the demo home for the other one."""
    db, settings_ = demo
    monkeypatch.setattr(partitions, "MEMBERS_PER_PARTITION", 150)  # several partitions
    lake = write_lake(content_rows(db), tmp_path / "lake")
    db2, settings2 = copy_home(settings_.home, tmp_path / "copy")
    a = lake_build(db, settings_, lake, eligibility_on="driver")
    yield db, a, db2, settings2, lake
    db2.dispose()


def _same(db: Database, a: BuildResult, db2: Database, settings2: Any, b: BuildResult) -> None:
    assert b.snapshot_id == a.snapshot_id  # the eligibility digest names it alike
    assert shard_bytes(a) == shard_bytes(b) and len(shard_bytes(a)) >= 2
    assert _manifest(a) == _manifest(b)
    assert _provenance(db, a.snapshot_id) == _provenance(db2, b.snapshot_id)
    assert not list(b.path.glob("_work")) and not list(b.path.parent.glob("_eligibility-*"))
    # the kept eligibility file (for a later --since build): the same members, reasons and
    # meta, whichever plan decided them (the workers' file has one row group per partition)
    ea, eb = (pq.read_table(r.path / "_incremental" / "eligibility.parquet") for r in (a, b))
    assert ea.sort_by("member_key").equals(eb.sort_by("member_key")) and ea.num_rows > 0
    assert pq.ParquetFile(b.path / "_incremental" / "eligibility.parquet").num_row_groups >= 2
    ma, mb = (json.loads((r.path / "_incremental" / "meta.json").read_text()) for r in (a, b))
    assert ma["eligibility"] == mb["eligibility"]
    rep = verify_snapshot(db2, settings2, b.snapshot_id, now=DEMO_NOW, rescan=False)
    assert rep.status == "pass", rep.to_dict()


def test_the_workers_plan_on_the_inline_engine_equals_the_driver_plan(pair) -> None:
    db, a, db2, settings2, lake = pair
    b = lake_build(db2, settings2, lake, eligibility_on="workers")
    assert b.timings.get("gate") is not None  # it did plan on the workers
    _same(db, a, db2, settings2, b)


def test_dask_synchronous_plans_on_the_workers_and_equals_the_driver_plan(pair) -> None:
    db, a, db2, settings2, lake = pair
    with dask.config.set(scheduler="synchronous"):
        b = lake_build(db2, settings2, lake, engine="dask", workers=2, dedupe_on="workers")
    assert b.timings.get("gate") is not None
    _same(db, a, db2, settings2, b)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_local_cluster_plans_on_the_workers_and_equals_the_driver_plan(pair) -> None:
    pytest.importorskip("distributed")
    db, a, db2, settings2, lake = pair
    b = lake_build(db2, settings2, lake, engine="dask", workers=2)
    assert b.timings.get("gate") is not None
    _same(db, a, db2, settings2, b)


def test_the_cut_gives_shards_of_the_size_across_files() -> None:
    cuts = partitions._cuts([("a", 3), ("b", 0), ("c", 5), ("d", 1)], 4)
    assert cuts == [
        [("a", 0, 3), ("c", 0, 1)],
        [("c", 1, 4)],
        [("d", 0, 1)],
    ]
    assert partitions._cuts([], 4) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=8), max_size=80), st.integers(1, 6))
def test_the_streaming_fold_equals_the_level_by_level_root(ids: list[str], runs: int) -> None:
    ids = list(dict.fromkeys(ids))
    fold = MerkleFold()
    for r in sorted(ids):
        fold.add(r)
    assert fold.root() == merkle_root(ids) and fold.leaves == len(ids)
    random.Random(len(ids)).shuffle(ids)
    parts = [sorted(ids[i::runs]) for i in range(runs)]
    assert merkle_root_sorted_runs(parts) == (len(ids), merkle_root(ids))


def test_the_fold_refuses_unsorted_leaves() -> None:
    fold = MerkleFold()
    fold.add("b")
    with pytest.raises(ValueError, match="ascending"):
        fold.add("a")


def test_partition_files_of_a_killed_build_are_removed_by_the_next(tmp_path: Path) -> None:
    import os

    dead = tmp_path / "_eligibility-999999999-abc"
    live = tmp_path / f"_eligibility-{os.getpid()}-def"
    for d in (dead, live):
        d.mkdir()
        (d / "elig-00000.arrow").write_bytes(b"x")
    partitions._remove_orphans(tmp_path)
    assert not dead.exists() and live.exists()


def test_where_the_plan_runs_is_checked() -> None:
    from optin.errors import ConfigError

    assert not partitions.partitioned(None, "dask", "auto")
    with pytest.raises(ConfigError, match="needs a lake"):
        partitions.partitioned(None, "inline", "workers")
    with pytest.raises(ConfigError, match="allowed: auto, driver, workers"):
        partitions.partitioned(None, "dask", "gpu")


def test_member_ranges_cover_every_member_once_with_the_same_decisions(demo) -> None:
    import itertools

    from optin.services.eligibility import decide_all
    from optin.storage.projection import member_bounds

    db, _ = demo
    bounds = member_bounds(db.engine, 100)
    assert len(bounds) >= 3
    edges: list[str | None] = [None, *bounds, None]
    parts = [
        list(decide_all(db, "train_own_models", DEMO_NOW, member_range=r))
        for r in itertools.pairwise(edges)
    ]
    assert sum(1 for p in parts if p) >= 3  # (the last range may be empty)
    whole = list(decide_all(db, "train_own_models", DEMO_NOW))
    assert [d for p in parts for d in p] == whole
