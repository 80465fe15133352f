"""The distributed duplicate pass (keys shuffled on Dask workers) equals the driver's
``find_duplicates`` on random inputs, on the synchronous scheduler and on a real
LocalCluster, and a snapshot built with it is byte-identical to the inline build."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optin.pipeline.io import write_ipc
from optin.pipeline.steps.dedupe import find_duplicates
from tests.pipeline.helpers import (  # noqa: F401  (fixtures)
    build,
    copy_home,
    demo_fixture,
    demo_home_fixture,
    shard_bytes,
)

dask = pytest.importorskip("dask")
pytest.importorskip("dask.dataframe")

from optin.errors import IntegrityError  # noqa: E402
from optin.pipeline.executors.dask_dedupe import (  # noqa: E402
    distributed_duplicates,
    write_duplicates,
)
from optin.pipeline.shard import read_duplicates_file, write_duplicates_file  # noqa: E402

BANDS = 3


def _write_shards(
    root: Path, sizes: list[int], created: np.ndarray, exact: np.ndarray, bands: np.ndarray
) -> list[Path]:
    paths = []
    off = 0
    for i, n in enumerate(sizes):
        cols = {
            "created_us": pa.array(created[off : off + n], pa.int64()),
            "exact_hash": pa.array(exact[off : off + n], pa.uint64()),
        }
        for b in range(bands.shape[1]):
            cols[f"band_{b:02d}"] = pa.array(bands[off : off + n, b], pa.uint64())
        p = root / f"{i:05d}.arrow"
        write_ipc(p, pa.table(cols))
        paths.append(p)
        off += n
    return paths


def _per_shard(sizes: list[int], want_e: list[int], want_n: list[int]) -> dict[int, tuple]:
    """The expected global positions as {shard: (exact rows, near rows)}, local rows,
    for the shards with any."""
    out = {}
    off = 0
    for i, n in enumerate(sizes):
        e = [g - off for g in want_e if off <= g < off + n]
        nd = [g - off for g in want_n if off <= g < off + n]
        if e or nd:
            out[i] = (e, nd)
        off += n
    return out


def _written(root: Path, sizes: list[int], counts: dict[int, tuple[int, int]]) -> dict[int, tuple]:
    """What :func:`write_duplicates` left: {shard: (exact rows, near rows)}, checked
    against the counts it returned; no file for a shard it did not report."""
    out = {}
    for i in range(len(sizes)):
        f = root / "dups" / f"{i}.arrow"
        assert f.exists() == (i in counts)
        if f.exists():
            e, nd = read_duplicates_file(f)
            assert (len(e), len(nd)) == counts[i]
            out[i] = (e.tolist(), nd.tolist())
    return out


def _expected(created: np.ndarray, exact: np.ndarray, bands: np.ndarray) -> tuple[list, list]:
    e, n = find_duplicates(created, exact, lambda b: bands[:, b], bands.shape[1])
    return np.flatnonzero(e).tolist(), np.flatnonzero(n).tolist()


@st.composite
def inputs(draw: st.DrawFn) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    sizes = draw(st.lists(st.integers(0, 12), min_size=1, max_size=5))
    n = sum(sizes)
    keys = draw(st.integers(1, 6))  # few distinct keys: many groups and long chains
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    created = rng.integers(0, 4, n).astype(np.int64)  # ties broken by position
    exact = rng.integers(0, keys * 3, n).astype(np.uint64)
    # large key values too: keys are uint64 and must survive the shuffle
    bands = rng.integers(0, keys, (n, BANDS)).astype(np.uint64) * np.uint64(2**61 + 7)
    return sizes, created, exact, bands


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(inputs())
def test_distributed_pass_equals_the_driver_pass_synchronous(tmp_path: Path, case) -> None:
    sizes, created, exact, bands = case
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    paths = _write_shards(root, sizes, created, exact, bands)
    parts = 1 + int(created.sum()) % 4 if len(created) else 1  # 1-4 shuffle partitions
    files = [root / "dups" / f"{i}.arrow" for i in range(len(sizes))]
    with dask.config.set(scheduler="synchronous"):
        e, n = distributed_duplicates(paths, sizes, bands=BANDS, near_dup=True, partitions=parts)
        e_only, n_none = distributed_duplicates(paths, sizes, bands=BANDS, near_dup=False)
        counts = write_duplicates(paths, sizes, files, bands=BANDS, near_dup=True, partitions=parts)
    want_e, want_n = _expected(created, exact, bands)
    assert e.tolist() == want_e and n.tolist() == want_n
    assert e_only.tolist() == want_e and n_none.tolist() == []
    assert _written(root, sizes, counts) == _per_shard(sizes, want_e, want_n)


def test_a_duplicates_file_that_disagrees_with_the_pass_fails_stage_two(tmp_path: Path) -> None:
    """A shard's duplicates file is checked against the counts the driver was told; a
    file of another shape is refused; either is an IntegrityError naming the file."""
    import dataclasses

    from optin.pipeline.config import BuildConfig
    from optin.pipeline.shard import ShardTask
    from optin.privacy.api import RedactorConfig

    task = ShardTask(
        str(tmp_path), 0, BuildConfig(purpose="train_own_models"), RedactorConfig(), b"k" * 32
    )
    f = task.dups_path()
    write_duplicates_file(f, [1, 4], [2])
    good = dataclasses.replace(task, dups_counts=(2, 1))
    exact, near = good.duplicates()
    assert exact.tolist() == [1, 4] and near.tolist() == [2]
    bad = dataclasses.replace(good, dups_counts=(2, 0))
    with pytest.raises(IntegrityError, match=r"00000\.arrow.*2 exact and 1 near"):
        bad.duplicates()
    write_ipc(f, pa.table({"row": pa.array([1], pa.int32())}))
    with pytest.raises(IntegrityError, match="not a duplicate-rows file"):
        good.duplicates()


def test_a_long_chain_is_one_component(tmp_path: Path) -> None:
    """Record i shares band 0 with i+1 (even i) or band 1 (odd i): one chain of 60, so
    only the earliest record stays (label propagation needs many rounds)."""
    n = 60
    created = np.arange(n, dtype=np.int64)[::-1].copy()  # the last record is the earliest
    exact = np.arange(n, dtype=np.uint64)
    bands = np.zeros((n, BANDS), dtype=np.uint64)
    for i in range(n):
        bands[i, 0] = 1000 + (i // 2)
        bands[i, 1] = 5000 + ((i + 1) // 2)
        bands[i, 2] = 9000 + i
    paths = _write_shards(tmp_path, [25, 35], created, exact, bands)
    with dask.config.set(scheduler="synchronous"):
        e, near = distributed_duplicates(paths, [25, 35], bands=BANDS, near_dup=True)
    assert e.tolist() == [] and near.tolist() == list(range(n - 1))
    assert _expected(created, exact, bands) == ([], list(range(n - 1)))


@pytest.fixture(name="cluster_client")
def cluster_client_fixture() -> Iterator[object]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        host="127.0.0.1",
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_distributed_pass_equals_the_driver_pass_on_a_local_cluster(
    tmp_path: Path, cluster_client: object
) -> None:
    rng = np.random.default_rng(7)
    for case in range(1):
        sizes = [int(x) for x in rng.integers(60, 200, 4)]
        n = sum(sizes)
        created = rng.integers(0, 50, n).astype(np.int64)
        exact = rng.integers(0, n // 2, n).astype(np.uint64)
        bands = rng.integers(0, n // 3, (n, BANDS)).astype(np.uint64)
        root = tmp_path / str(case)
        root.mkdir()
        paths = _write_shards(root, sizes, created, exact, bands)
        files = [root / "dups" / f"{i}.arrow" for i in range(len(sizes))]
        with cluster_client.as_current():  # type: ignore[attr-defined]
            e, near = distributed_duplicates(paths, sizes, bands=BANDS, near_dup=True, partitions=3)
            counts = write_duplicates(paths, sizes, files, bands=BANDS, near_dup=True, partitions=3)
        want_e, want_n = _expected(created, exact, bands)
        assert len(want_n) > 5 and len(want_e) > 5
        assert e.tolist() == want_e and near.tolist() == want_n
        assert _written(root, sizes, counts) == _per_shard(sizes, want_e, want_n)


def test_snapshot_on_dask_synchronous_is_byte_identical_and_drops_near_duplicates(
    demo, tmp_path: Path
) -> None:
    db, settings_ = demo
    db2, settings2 = copy_home(settings_.home, tmp_path / "copy")
    a = build(db, settings_, engine="inline")
    with dask.config.set(scheduler="synchronous"):
        b = build(db2, settings2, engine="dask", workers=2, dedupe_on="workers")
    assert shard_bytes(a) == shard_bytes(b) and len(shard_bytes(a)) >= 2
    dedupe = {s["step"]: s for s in b.manifest["counts"]["steps"]}["dedupe"]
    assert dedupe["dropped"].get("near_duplicate", 0) > 0
    assert dedupe["dropped"].get("exact_duplicate", 0) > 0
    assert a.manifest["merkle"] == b.manifest["merkle"]
    assert b.manifest["config"]["dedupe_pass"] == "dask_shuffle"
    assert a.manifest["config"]["dedupe_pass"] == "driver"
    db2.dispose()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_snapshot_on_a_local_cluster_with_the_workers_pass_is_byte_identical(
    demo, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    db, settings_ = demo
    db2, settings2 = copy_home(settings_.home, tmp_path / "copy")
    a = build(db, settings_, engine="inline")
    b = build(db2, settings2, engine="dask", workers=2, dedupe_on="workers")
    assert b.manifest["config"]["dedupe_pass"] == "dask_shuffle"
    assert shard_bytes(a) == shard_bytes(b) and len(shard_bytes(a)) >= 2
    db2.dispose()


def test_the_workers_pass_needs_dask_and_a_known_choice(demo) -> None:
    from optin.errors import ConfigError

    db, settings_ = demo
    with pytest.raises(ConfigError, match="--dedupe-on workers needs --engine dask"):
        build(db, settings_, engine="local", dedupe_on="workers")
    with pytest.raises(ConfigError, match="allowed: auto, driver, workers"):
        build(db, settings_, engine="inline", dedupe_on="gpu")
    auto = build(db, settings_, engine="inline")
    assert auto.manifest["config"]["dedupe_pass"] == "driver"
