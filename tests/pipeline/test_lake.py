"""Content from a Parquet lake (``snapshot build --content``): the same records as a build
from the SQL content table, a manifest that names the source, verify re-reading the lake
itself, and clear errors for a wrong schema."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from optin.errors import InputError
from optin.pipeline.config import BuildConfig
from optin.pipeline.lake import LAKE_COLUMNS, LakeSource
from optin.services.snapshots import BuildResult, build_snapshot
from optin.services.verify import verify_snapshot
from optin.settings import Settings
from optin.storage.database import Database
from optin.storage.models import ContentRow
from tests.pipeline.helpers import (  # noqa: F401  (fixtures)
    AS_OF,
    DEMO_NOW,
    PURPOSE,
    build,
    copy_home,
    demo_fixture,
    demo_home_fixture,
    read_all,
)

TS = pa.timestamp("us", tz="UTC")
LAKE_SCHEMA = pa.schema(
    [
        ("content_id", pa.string()),
        ("author_id", pa.string()),
        ("kind", pa.string()),
        ("visibility", pa.string()),
        ("created_at", TS),
        ("edited_at", TS),
        ("deleted_at", TS),
        ("language", pa.string()),
        ("text", pa.string()),
    ]
)


def content_rows(db: Database) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.execute(select(ContentRow).order_by(ContentRow.id)).scalars().all()
        return [
            {
                "content_id": r.id,
                "author_id": r.author_id,
                "kind": r.kind,
                "visibility": r.visibility,
                "created_at": r.created_at,
                "edited_at": r.edited_at,
                "deleted_at": r.deleted_at,
                "language": r.language,
                "text": r.text,
            }
            for r in rows
        ]


def write_lake(rows: list[dict[str, Any]], root: Path, schema: pa.Schema = LAKE_SCHEMA) -> Path:
    """``root/day=YYYY-MM-DD/part-0.parquet``, rows in content-id order within a day."""
    by_day: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_day.setdefault(r["created_at"].astimezone(UTC).date().isoformat(), []).append(r)
    for day, part in by_day.items():
        d = root / f"day={day}"
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(part, schema=schema), d / "part-0.parquet")
    return root


def lake_build(db: Database, settings: Settings, lake: Path | str, **kw: Any) -> BuildResult:
    cfg = BuildConfig(purpose=PURPOSE, shard_size=100, row_group_size=100)
    return build_snapshot(
        db,
        settings,
        PURPOSE,
        AS_OF,
        engine=kw.pop("engine", "inline"),
        config=cfg,
        now=DEMO_NOW,
        content=str(lake),
        **kw,
    )


def _rewrite(root: Path, change: Callable[[dict[str, Any]], None], content_id: str) -> None:
    """Apply ``change`` to the lake row of ``content_id`` (rewriting its file)."""
    for f in root.rglob("*.parquet"):
        rows = pq.read_table(f).to_pylist()
        hit = [r for r in rows if r["content_id"] == content_id]
        if hit:
            change(hit[0])
            pq.write_table(pa.Table.from_pylist(rows, schema=LAKE_SCHEMA), f)
            return
    raise AssertionError(content_id)


def _steps(r: BuildResult) -> list[tuple[str, int, int]]:
    return [(s["step"], s["in"], s["out"]) for s in r.manifest["counts"]["steps"]]


def test_lake_build_has_the_records_of_the_sql_build_and_names_its_source(
    demo, tmp_path: Path
) -> None:
    db, settings = demo
    sql = build(db, settings)
    db2, settings2 = copy_home(settings.home, tmp_path / "lakehome")
    lake = write_lake(content_rows(db), tmp_path / "lake")
    r = lake_build(db2, settings2, lake)
    assert r.records == sql.records > 20
    assert sorted(x["text"] for x in read_all(r)) == sorted(x["text"] for x in read_all(sql))
    assert _steps(r) == _steps(sql)
    src = r.manifest["content_source"]
    assert src["kind"] == "lake" and src["root"] == str(lake.resolve())
    assert sum(f["rows"] for f in src["files"]) == len(content_rows(db))
    assert all(f["path"].startswith("day=") for f in src["files"])
    assert sql.manifest["content_source"] == {"kind": "sql", "table": "content_items"}
    rep = verify_snapshot(db2, settings2, r.snapshot_id, now=DEMO_NOW, rescan=False)
    assert rep.status == "pass", rep.to_dict()
    elig = {c.name: c for c in rep.checks}["eligibility"]
    assert elig.counts["source_files_changed_since_build"] == 0
    again = lake_build(db2, settings2, lake)
    assert again.status == "up_to_date"
    db2.dispose()


def test_a_glob_and_millisecond_timestamps_read_the_same(demo, tmp_path: Path) -> None:
    db, settings = demo
    ms = pa.timestamp("ms", tz="UTC")
    schema = pa.schema(
        [pa.field(f.name, ms) if f.type == TS else f for f in LAKE_SCHEMA]
        + [pa.field("extra_column", pa.int64())]
    )
    rows = [{**r, "extra_column": 1} for r in content_rows(db)]
    lake = write_lake(rows, tmp_path / "lake", schema)
    db2, settings2 = copy_home(settings.home, tmp_path / "b")
    a = lake_build(db, settings, lake)
    b = lake_build(db2, settings2, f"{lake}/day=*/*.parquet")
    assert sorted(x["text"] for x in read_all(a)) == sorted(x["text"] for x in read_all(b))
    assert b.manifest["content_source"]["root"] == str(lake.resolve())
    db2.dispose()


def test_content_deleted_in_the_lake_after_the_build_makes_the_snapshot_stale(
    demo, tmp_path: Path
) -> None:
    db, settings = demo
    lake = write_lake(content_rows(db), tmp_path / "lake")
    r = lake_build(db, settings, lake)
    from optin.storage import snapshots as repo

    with db.session() as s:
        cids = [p.content_id for p in repo.iter_provenance(s, r.snapshot_id)]
    later = datetime(2025, 6, 2, tzinfo=UTC)
    _rewrite(lake, lambda row: row.update(deleted_at=later), cids[0])
    rep = verify_snapshot(db, settings, r.snapshot_id, now=later, rescan=False)
    assert rep.status == "stale", rep.to_dict()
    elig = {c.name: c for c in rep.checks}["eligibility"]
    assert elig.counts["deleted_since"] == 1
    assert elig.counts["source_files_changed_since_build"] >= 0
    # a record whose content the lake says is of a kind the policy never allowed fails
    _rewrite(lake, lambda row: row.update(kind="direct_message"), cids[1])
    rep = verify_snapshot(db, settings, r.snapshot_id, now=later, rescan=False)
    assert rep.status == "fail"
    problems = " ".join({c.name: c for c in rep.checks}["eligibility"].problems)
    assert "break the selection rule" in problems and "direct_message" in problems


def test_a_lake_that_is_gone_fails_the_eligibility_check(demo, tmp_path: Path) -> None:
    db, settings = demo
    lake = write_lake(content_rows(db), tmp_path / "lake")
    r = lake_build(db, settings, lake)
    for f in lake.rglob("*.parquet"):
        f.unlink()
    rep = verify_snapshot(db, settings, r.snapshot_id, now=DEMO_NOW, rescan=False)
    problems = " ".join({c.name: c for c in rep.checks}["eligibility"].problems)
    assert rep.status == "fail" and "holds no Parquet file" in problems


def _one_row(**over: Any) -> dict[str, Any]:
    row = {
        "content_id": "c1",
        "author_id": "m1",
        "kind": "post",
        "visibility": "public",
        "created_at": datetime(2025, 4, 1, 12, tzinfo=UTC),
        "edited_at": None,
        "deleted_at": None,
        "language": "en",
        "text": "hello there my friends",
    }
    row.update(over)
    return row


def _schema_with(name: str, t: pa.DataType | None) -> pa.Schema:
    fields = [f for f in LAKE_SCHEMA if f.name != name]
    if t is not None:
        fields.append(pa.field(name, t))
    return pa.schema(fields)


@pytest.mark.parametrize(
    ("column", "arrow_type", "message"),
    [
        ("author_id", None, "column 'author_id' is missing"),
        ("author_id", pa.int64(), "column 'author_id' has type int64"),
        ("created_at", pa.timestamp("us"), "column 'created_at' has type timestamp[us]"),
        ("created_at", pa.string(), "column 'created_at' has type string"),
        ("deleted_at", pa.timestamp("us", tz="Europe/Paris"), "column 'deleted_at' has type"),
        ("text", pa.binary(), "column 'text' has type binary"),
    ],
)
def test_a_wrong_schema_names_the_file_the_column_and_the_type_expected(
    tmp_path: Path, column: str, arrow_type: pa.DataType | None, message: str
) -> None:
    good = tmp_path / "lake" / "day=2025-04-01"
    good.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([_one_row()], schema=LAKE_SCHEMA), good / "a.parquet")
    schema = _schema_with(column, arrow_type)
    row = _one_row()
    if arrow_type is not None and arrow_type != LAKE_SCHEMA.field(column).type:
        row[column] = {
            "int64": 7,
            "string": "2025-04-01",
            "binary": b"x",
        }.get(str(arrow_type), row[column])
    row = {k: v for k, v in row.items() if k in schema.names}
    bad = good / "b.parquet"
    pq.write_table(pa.Table.from_pylist([row], schema=schema), bad)
    with pytest.raises(InputError) as e:
        LakeSource.open(str(tmp_path / "lake"))
    text = str(e.value)
    assert str(bad.resolve()) in text and message in text
    expected = {c.name: c.expected for c in LAKE_COLUMNS}[column]
    assert expected in text


@pytest.mark.parametrize(
    ("over", "day", "message"),
    [
        ({"author_id": None}, "2025-04-01", "null value(s) in column 'author_id'"),
        ({}, "2025-04-02", "created outside their partition's day"),
        ({}, "2025-13-01", "'day=2025-13-01' is not a date"),
    ],
)
def test_bad_rows_and_partitions_name_the_file(
    demo, tmp_path: Path, over: dict[str, Any], day: str, message: str
) -> None:
    db, settings = demo
    d = tmp_path / "lake" / f"day={day}"
    d.mkdir(parents=True)
    f = d / "x.parquet"
    pq.write_table(pa.Table.from_pylist([_one_row(**over)], schema=LAKE_SCHEMA), f)
    with pytest.raises(InputError, match=re.escape(message)) as e:
        lake_build(db, settings, tmp_path / "lake")
    assert str(f.resolve()) in str(e.value)


def test_a_null_text_stops_the_build_and_leaves_no_work_files(demo, tmp_path: Path) -> None:
    from optin.services.eligibility import decide_all

    db, settings = demo
    author = next(d.member_id for d in decide_all(db, PURPOSE, AS_OF) if d.eligible)
    rows = [*content_rows(db), _one_row(content_id="zz-null", author_id=author, text=None)]
    lake = write_lake(rows, tmp_path / "lake")
    bad = lake / "day=2025-04-01" / "part-0.parquet"
    with pytest.raises(InputError, match=re.escape("null value(s) in column 'text'")) as e:
        lake_build(db, settings, lake)
    assert str(bad.resolve()) in str(e.value)
    assert not list(settings.snapshots_dir.rglob("_work"))
    assert not list(settings.snapshots_dir.rglob("*.arrow"))


def test_partitions_after_the_as_of_day_are_counted_from_footers_not_read(
    demo, tmp_path: Path
) -> None:
    db, settings = demo
    lake = write_lake(content_rows(db), tmp_path / "lake")
    sql = build(db, settings)
    db2, settings2 = copy_home(settings.home, tmp_path / "b")
    later = lake / "day=2025-05-20"
    later.mkdir(exist_ok=True)
    n_later = 4
    # rows created on another day than their directory's: reading them would fail the
    # build, so a build that passes never read them
    rows = [
        _one_row(content_id=f"z{i}", created_at=datetime(2025, 4, 2, tzinfo=UTC))
        for i in range(n_later)
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=LAKE_SCHEMA), later / "extra.parquet")
    assert any(f.path == "day=2025-05-20/extra.parquet" for f in LakeSource.open(str(lake)).files)
    r = lake_build(db2, settings2, lake)
    late = {s["step"]: s for s in r.manifest["counts"]["steps"]}["select"]["dropped"]
    sql_late = {s["step"]: s for s in sql.manifest["counts"]["steps"]}["select"]["dropped"]
    # rows of later days count as created after the as-of time, even deleted ones (the
    # SQL source counts those as deleted): the same total, reasons told apart less finely
    assert sum(late.values()) == sum(sql_late.values()) + n_later
    assert late["created_after_as_of"] >= sql_late["created_after_as_of"] + n_later
    assert r.records == sql.records
    db2.dispose()


def test_cli_wrong_schema_is_one_error_line_and_a_nonzero_exit(demo, tmp_path: Path) -> None:
    _db, settings = demo
    d = tmp_path / "lake" / "day=2025-04-01"
    d.mkdir(parents=True)
    schema = _schema_with("visibility", None)
    row = {k: v for k, v in _one_row().items() if k != "visibility"}
    pq.write_table(pa.Table.from_pylist([row], schema=schema), d / "a.parquet")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "optin.cli.main",
            "--home",
            str(settings.home),
            "snapshot",
            "build",
            "--purpose",
            PURPOSE,
            "--as-of",
            AS_OF.isoformat(),
            "--engine",
            "local",
            "--workers",
            "1",
            "--content",
            str(tmp_path / "lake"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "column 'visibility' is missing" in proc.stderr
    assert "a.parquet" in proc.stderr


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_every_timestamp_unit_reads_as_microseconds(tmp_path: Path, unit: str) -> None:
    t = pa.timestamp(unit, tz="UTC")
    schema = pa.schema([pa.field(f.name, t) if f.type == TS else f for f in LAKE_SCHEMA])
    d = tmp_path / "lake" / "day=2025-04-01"
    d.mkdir(parents=True)
    created = pa.array([1743508800123456789], pa.timestamp("ns", tz="UTC")).cast(t, safe=False)
    table = pa.Table.from_pylist([_one_row()], schema=schema).set_column(
        schema.get_field_index("created_at"), "created_at", created
    )
    pq.write_table(table, d / "x.parquet")
    src = LakeSource.open(str(tmp_path / "lake"))
    counts, authors = src.scan_counts(["post"], ["public"], AS_OF)
    assert counts == {"selected": 1} and authors == {"m1": 1}
    (got,) = list(src.iter_selected(["post"], ["public"], AS_OF, authors=["m1"]))
    assert got.schema.field("created_at").type == TS
    assert got.column("created_at")[0].as_py().replace(microsecond=0) == datetime(
        2025, 4, 1, 12, tzinfo=UTC
    )
    assert not list(src.iter_selected(["post"], ["public"], AS_OF, authors=["someone"]))
