"""Helpers for snapshot tests: a small demo platform built once per module and copied
per test (a home directory with the SQLite database and the snapshot key)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from optin.pipeline.config import BuildConfig
from optin.services.demo import generate_demo
from optin.services.snapshots import BuildResult, build_snapshot, snapshot_key
from optin.settings import Settings
from optin.storage.database import Database

DEMO_NOW = datetime(2025, 6, 1, tzinfo=UTC)
AS_OF = datetime(2025, 5, 1, tzinfo=UTC)
PURPOSE = "train_own_models"


def make_demo_home(path: Path, *, members: int = 300, posts: int = 3000, seed: int = 3) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    db = Database.open(Settings(home=path))
    generate_demo(db, members=members, posts=posts, seed=seed, now=DEMO_NOW, accounts=False)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    snapshot_key(Settings(home=path), "-", "record-id")  # the installation key travels along
    return path


def copy_home(src: Path, dst: Path) -> tuple[Database, Settings]:
    shutil.copytree(src, dst)
    settings = Settings(home=dst)
    return Database.open(settings), settings


def build(
    db: Database,
    settings: Settings,
    *,
    engine: str = "inline",
    workers: int = 1,
    shard_size: int = 100,
    now: datetime = DEMO_NOW,
    as_of: datetime = AS_OF,
    dedupe_on: str = "auto",
    **cfg: object,
) -> BuildResult:
    config = BuildConfig(purpose=PURPOSE, shard_size=shard_size, row_group_size=shard_size, **cfg)  # type: ignore[arg-type]
    return build_snapshot(
        db,
        settings,
        PURPOSE,
        as_of,
        engine=engine,
        workers=workers,
        config=config,
        now=now,
        dedupe_on=dedupe_on,
    )


def shard_bytes(result: BuildResult) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((result.path / "data").glob("*.parquet"))}


def read_all(result: BuildResult) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for p in sorted((result.path / "data").glob("*.parquet")):
        rows.extend(pq.read_table(p).to_pylist())
    return rows


@pytest.fixture(scope="module", name="demo_home")
def demo_home_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield make_demo_home(tmp_path_factory.mktemp("demo") / "home")


@pytest.fixture(name="demo")
def demo_fixture(demo_home: Path, tmp_path: Path) -> Iterator[tuple[Database, Settings]]:
    db, settings = copy_home(demo_home, tmp_path / "home")
    yield db, settings
    db.dispose()
