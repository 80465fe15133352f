"""Content from the platform's lake: a Parquet dataset, hive-partitioned by day.

``optin snapshot build --content DATASET`` reads posts where the platform keeps them
instead of optin's SQL content table. ``DATASET`` is a directory (every ``*.parquet``
file below it) or a glob of files. The layout and the columns are documented in
``docs/lake.md``; :data:`LAKE_COLUMNS` is the schema, checked on every file's footer
before any row is read (a wrong file names itself, the column and the type expected).

Reads use ``pyarrow.dataset`` with column push-down (each pass reads only the columns
it needs) and predicate push-down (partitions after the as-of day are skipped by their
``day=`` directory; the other filters go to the Parquet scanner). Files are read one
after another in path order, and rows in file order: the same files give the same
input shards. No database, no clock.
"""

from __future__ import annotations

import glob
from collections import Counter
from collections.abc import Callable, Collection, Container, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from optin.errors import InputError
from optin.pipeline.io import sha256_file
from optin.pipeline.steps.consent import eligible_mask

#: The format name the manifest records for this source.
LAKE_FORMAT = "parquet-hive-day/1"

_UTC_ZONES = {"UTC", "Etc/UTC", "+00:00", "Z", "utc"}
_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class LakeColumn:
    name: str
    kind: str  # "string" | "timestamp"
    nullable: bool
    meaning: str

    @property
    def expected(self) -> str:
        if self.kind == "string":
            return "string or large_string"
        return "timestamp (s, ms, us or ns) with time zone UTC"

    @property
    def arrow(self) -> pa.DataType:
        if self.name == "text":
            return pa.large_string()
        return pa.string() if self.kind == "string" else _TS

    def accepts(self, t: pa.DataType) -> bool:
        if self.kind == "string":
            return bool(pa.types.is_string(t) or pa.types.is_large_string(t))
        return bool(pa.types.is_timestamp(t) and t.tz in _UTC_ZONES)


#: The lake's columns (docs/lake.md is written from this table by hand; a test keeps them
#: in step). Extra columns are allowed and never read.
LAKE_COLUMNS: tuple[LakeColumn, ...] = (
    LakeColumn("content_id", "string", False, "the post's id, unique in the dataset"),
    LakeColumn("author_id", "string", False, "the member who wrote it (optin's member id)"),
    LakeColumn("kind", "string", False, "post, comment, ... (the policy's content kinds)"),
    LakeColumn("visibility", "string", False, "public, followers, ... (the policy's values)"),
    LakeColumn("created_at", "timestamp", False, "when it was posted"),
    LakeColumn("edited_at", "timestamp", True, "last edit, null if never edited"),
    LakeColumn("deleted_at", "timestamp", True, "when it was deleted, null if it is not"),
    LakeColumn("language", "string", False, "BCP 47 tag, `und` when unknown"),
    LakeColumn("text", "string", False, "the text as it is now"),
)
_BY_NAME = {c.name: c for c in LAKE_COLUMNS}
#: The partition column (``day=YYYY-MM-DD`` directories): the UTC date of ``created_at``.
PARTITION = "day"

#: What the snapshot's input shards get (``optin.pipeline.schema.INPUT``'s columns).
_INPUT_COLUMNS = ("content_id", "author_id", "text", "kind", "language", "created_at")
_COUNT_COLUMNS = ("author_id", "kind", "visibility", "created_at", "deleted_at")


@dataclass(frozen=True)
class LakeFile:
    path: str  # relative to the source root, POSIX
    bytes: int
    rows: int
    day: str | None  # the partition's day (ISO), None when the file has no day= directory

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "rows": self.rows, "day": self.day}


def _canonical_schema() -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow, nullable=c.nullable) for c in LAKE_COLUMNS])


def _target(columns: Sequence[str]) -> pa.Schema:
    """The canonical types of ``columns``, nullable (the null check names the file and
    the column)."""
    canonical = _canonical_schema()
    return pa.schema([pa.field(c, canonical.field(c).type) for c in columns])


def _day_of(rel: str, shown: str) -> str | None:
    days = [p.split("=", 1)[1] for p in Path(rel).parts[:-1] if p.startswith(f"{PARTITION}=")]
    if not days:
        return None
    try:
        return date.fromisoformat(days[-1]).isoformat()
    except ValueError:
        raise InputError(
            f"partition directory '{PARTITION}={days[-1]}' is not a date",
            file=shown,
            field=PARTITION,
            value=days[-1],
            allowed="day=YYYY-MM-DD (the UTC date of created_at)",
        ) from None


def _expand(source: str) -> tuple[Path, list[Path]]:
    """(root, files) of a directory or a glob."""
    if any(ch in source for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
        base = Path(source.split("*")[0].split("?")[0].split("[")[0])
        root = base if base.is_dir() else base.parent
        if not files:
            raise InputError(
                "the glob matches no file",
                file=source,
                field="--content",
                allowed="a directory of Parquet files or a glob that matches some",
            )
        return root.resolve(), [f.resolve() for f in files]
    root = Path(source)
    if root.is_file():
        return root.parent.resolve(), [root.resolve()]
    if not root.is_dir():
        raise InputError(
            "no such directory or file",
            file=source,
            field="--content",
            allowed="a directory of Parquet files (hive-partitioned by day) or a glob",
        )
    files = sorted(
        p for p in root.rglob("*.parquet") if p.is_file() and not p.name.startswith((".", "_"))
    )
    if not files:
        raise InputError(
            "the directory holds no *.parquet file",
            file=source,
            field="--content",
            allowed="a directory of Parquet files (hive-partitioned by day)",
        )
    return root.resolve(), [f.resolve() for f in files]


def check_schema(schema: pa.Schema, shown: str) -> None:
    """Raise :class:`InputError` naming ``shown``, the column and the type expected when
    ``schema`` (one file's) lacks a column of :data:`LAKE_COLUMNS` or has a wrong type."""
    for col in LAKE_COLUMNS:
        idx = schema.get_field_index(col.name)
        if idx < 0:
            raise InputError(
                f"column '{col.name}' is missing",
                file=shown,
                field=col.name,
                allowed=f"{col.expected} ({col.meaning}); see docs/lake.md",
            )
        t = schema.field(idx).type
        if not col.accepts(t):
            raise InputError(
                f"column '{col.name}' has type {t}",
                file=shown,
                field=col.name,
                value=str(t),
                allowed=col.expected,
            )


@dataclass(frozen=True)
class LakeSource:
    """A checked lake: its root, its files in read order, and what the manifest records."""

    source: str
    root: Path
    files: tuple[LakeFile, ...]

    @classmethod
    def open(cls, source: str) -> LakeSource:
        """Find the files of ``source`` and check every file's schema (footers only)."""
        root, paths = _expand(source)
        files: list[LakeFile] = []
        for p in paths:
            rel = p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)
            shown = str(p)
            try:
                meta = pq.ParquetFile(p).metadata
                schema = meta.schema.to_arrow_schema()
            except (OSError, pa.ArrowInvalid) as e:
                raise InputError(
                    f"not a readable Parquet file ({e})",
                    file=shown,
                    allowed="Parquet files with the columns of docs/lake.md",
                ) from None
            check_schema(schema, shown)
            files.append(LakeFile(rel, p.stat().st_size, meta.num_rows, _day_of(rel, shown)))
        return cls(source, root, tuple(files))

    # -- what the manifest and the snapshot id record --

    def fingerprint(self) -> list[str]:
        """Facts that change when the lake's files change (for the snapshot id)."""
        return [LAKE_FORMAT, str(self.root)] + [f"{f.path}:{f.bytes}:{f.rows}" for f in self.files]

    def to_manifest(self) -> dict[str, Any]:
        return {
            "kind": "lake",
            "format": LAKE_FORMAT,
            "source": self.source,
            "root": str(self.root),
            "files": [f.to_dict() for f in self.files],
            "rows": sum(f.rows for f in self.files),
        }

    # -- reads --

    def files_to_read(self, as_of: datetime) -> tuple[list[LakeFile], int]:
        """(files whose partition may hold rows created by ``as_of``, rows in the rest)."""
        return self._read_files(as_of)

    def _read_files(self, as_of: datetime) -> tuple[list[LakeFile], int]:
        """(files whose partition may hold rows created by ``as_of``, rows in the rest)."""
        cut = as_of.astimezone(UTC).date().isoformat()
        keep = [f for f in self.files if f.day is None or f.day <= cut]
        return keep, sum(f.rows for f in self.files if f.day is not None and f.day > cut)

    def _batches(
        self,
        f: LakeFile,
        columns: Sequence[str],
        flt: Callable[[pa.Schema], ds.Expression] | None,
        batch_size: int,
    ) -> Iterator[pa.Table]:
        """The rows of ``f`` that pass ``flt`` (built for the file's own column types, so
        the scanner compares like with like), cast to the canonical types (timestamps
        to microseconds: finer parts are dropped)."""
        path = self.root / f.path
        shown = str(path)
        target = _target(columns)
        try:
            dataset = ds.dataset(str(path), format="parquet")
            expr = flt(dataset.schema) if flt is not None else None
            scanner = dataset.scanner(columns=list(columns), filter=expr, batch_size=batch_size)
            for batch in scanner.to_batches():
                yield _conform(pa.Table.from_batches([batch]), target, f.day, shown)
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"cannot read the file ({e})", file=shown) from None

    # -- reads by row group (an incremental build: unchanged files without their texts) --

    def digest(self, f: LakeFile) -> str:
        """SHA-256 of the file's bytes: what says a file is the one a parent build read."""
        path = self.root / f.path
        try:
            return sha256_file(path)
        except OSError as e:
            raise InputError(f"cannot read the file ({e})", file=str(path)) from None

    def gate_row_groups(
        self,
        f: LakeFile,
        kinds: Sequence[str],
        visibilities: Sequence[str],
        as_of: datetime,
        eligible: Container[str],
        *,
        texts: bool,
    ) -> Iterator[GatedGroup]:
        """The selection and the consent gate of ``f``, one row group at a time: per row
        group, the rows by selection outcome, the authors of the selected rows the gate
        drops (for the consent counts by reason) and the positions of the selected rows
        of ``eligible`` authors with their content ids; with ``texts``, also those rows'
        input-shard columns (else the texts are not read)."""
        path = self.root / f.path
        shown = str(path)
        kinds_a, vis_a, t = _selection(kinds, visibilities, as_of)
        meta = ("content_id", *_COUNT_COLUMNS)
        columns = list(dict.fromkeys((*meta, *_INPUT_COLUMNS))) if texts else list(meta)
        target = _target(columns)
        try:
            pf = pq.ParquetFile(path)
            for rg in range(pf.num_row_groups):
                b = _conform(pf.read_row_group(rg, columns=columns), target, f.day, shown)
                counts, sel = _outcome(b, kinds_a, vis_a, t)
                eligible_rows = eligible_mask(b.column("author_id"), eligible)
                ok = pc.and_(sel, eligible_rows)
                gated = pc.filter(b.column("author_id"), pc.and_(sel, pc.invert(eligible_rows)))
                pos = np.flatnonzero(ok.to_numpy(zero_copy_only=False))
                picked = b.take(pa.array(pos, pa.int64()))
                yield GatedGroup(
                    rg,
                    counts,
                    gated,
                    pos,
                    picked.column("content_id"),
                    picked.select(list(_INPUT_COLUMNS)) if texts else None,
                )
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"cannot read the file ({e})", file=shown) from None

    def read_rows(self, f: LakeFile, row_group: int, positions: Sequence[int]) -> pa.Table:
        """The input-shard columns of the rows at ``positions`` of one row group of ``f``."""
        path = self.root / f.path
        shown = str(path)
        target = _target(_INPUT_COLUMNS)
        try:
            table = pq.ParquetFile(path).read_row_group(row_group, columns=list(_INPUT_COLUMNS))
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"cannot read the file ({e})", file=shown) from None
        table = _conform(table, target, f.day, shown)
        return table.take(pa.array(list(positions), pa.int64()))

    def scan_counts(
        self, kinds: Sequence[str], visibilities: Sequence[str], as_of: datetime
    ) -> tuple[dict[str, int], dict[str, int]]:
        """(rows by selection outcome, selected rows per author), the SQL selection's
        counts: ``deleted``, ``kind_not_allowed``, ``visibility_not_allowed``,
        ``created_after_as_of``, else ``selected``. Rows of partitions after the as-of day
        are counted as ``created_after_as_of`` from the file footers (not read)."""
        files, later = self._read_files(as_of)
        outcome: Counter[str] = Counter()
        authors: Counter[str] = Counter()
        if later:
            outcome["created_after_as_of"] += later
        kinds_a, vis_a, t = _selection(kinds, visibilities, as_of)
        for f in files:
            for b in self._batches(f, _COUNT_COLUMNS, None, 65_536):
                counts, sel = _outcome(b, kinds_a, vis_a, t)
                outcome.update(counts)
                picked = pc.filter(b.column("author_id"), sel)
                if len(picked):
                    vc = pc.value_counts(picked)
                    for a, n in zip(
                        vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True
                    ):
                        authors[a] += n
        return dict(outcome), dict(authors)

    def iter_selected(
        self,
        kinds: Sequence[str],
        visibilities: Sequence[str],
        as_of: datetime,
        *,
        authors: Collection[str],
        batch_size: int = 10_000,
    ) -> Iterator[pa.Table]:
        """Selected rows of ``authors`` (not deleted, kind and visibility allowed, created
        by ``as_of``), as tables of the input-shard columns, in file then row order."""
        files, _ = self._read_files(as_of)
        values = {"kind": list(kinds), "visibility": list(visibilities)}
        typed: dict[tuple[str, str], pa.Array] = {}  # (column, type) -> value set

        def value_set(schema: pa.Schema, name: str) -> pa.Array:
            t = schema.field(name).type
            key = (name, str(t))
            if key not in typed:
                typed[key] = pa.array(values[name], t)
            return typed[key]

        def flt(schema: pa.Schema) -> ds.Expression:
            t = schema.field("created_at").type
            cut = pc.cast(pa.scalar(as_of.astimezone(UTC), _TS), t, safe=False)
            return (
                ds.field("deleted_at").is_null()
                & ds.field("kind").isin(value_set(schema, "kind"))
                & ds.field("visibility").isin(value_set(schema, "visibility"))
                & (ds.field("created_at") <= cut)
            )

        # the authors are tested here, not in the scanner's filter: an ``isin`` there
        # builds a hash table of every eligible author for every batch
        for f in files:
            for table in self._batches(f, _INPUT_COLUMNS, flt, batch_size):
                table = table.filter(eligible_mask(table.column("author_id"), authors))
                if table.num_rows:
                    yield table

    def select_file(
        self,
        f: LakeFile,
        kinds: Sequence[str],
        visibilities: Sequence[str],
        as_of: datetime,
        batch_size: int = 65_536,
    ) -> Iterator[tuple[dict[str, int], pa.Table]]:
        """One file's part of :meth:`scan_counts` and :meth:`iter_selected` in one read
        (for a worker that gates one file of the lake): per batch, (rows by selection
        outcome, the selected rows of every author with the input-shard columns)."""
        kinds_a, vis_a, t = _selection(kinds, visibilities, as_of)
        columns = list(dict.fromkeys((*_INPUT_COLUMNS, *_COUNT_COLUMNS)))
        for b in self._batches(f, columns, None, batch_size):
            counts, sel = _outcome(b, kinds_a, vis_a, t)
            yield counts, b.filter(sel).select(list(_INPUT_COLUMNS))


@dataclass(frozen=True)
class GatedGroup:
    """One row group of a lake file through the selection and the consent gate."""

    row_group: int
    counts: Counter[str]  # rows by selection outcome
    gated_authors: pa.Array  # the authors of the selected rows the consent gate drops
    positions: np.ndarray  # positions (in the row group) of the selected eligible rows
    content_ids: pa.Array  # their content ids
    table: pa.Table | None  # their input-shard columns, when the texts were read


def _conform(table: pa.Table, target: pa.Schema, day: str | None, shown: str) -> pa.Table:
    """``table`` cast to the canonical types (timestamps to microseconds: finer parts are
    dropped), its never-null columns and its rows' partition day checked."""
    table = table.cast(target, safe=False)
    for name in target.names:
        col = _BY_NAME[name]
        if not col.nullable and table.column(name).null_count:
            raise InputError(
                f"{table.column(name).null_count} null value(s) in column '{name}'",
                file=shown,
                field=name,
                allowed=f"{col.expected}, never null",
            )
    if day is not None and "created_at" in target.names and table.num_rows:
        _check_day(table.column("created_at"), day, shown)
    return table


def _selection(
    kinds: Sequence[str], visibilities: Sequence[str], as_of: datetime
) -> tuple[pa.Array, pa.Array, pa.Scalar]:
    """The selection's value sets and as-of time, typed for :func:`_outcome`."""
    return (
        pa.array(list(kinds), pa.string()),
        pa.array(list(visibilities), pa.string()),
        pa.scalar(as_of.astimezone(UTC), _TS),
    )


def _outcome(
    b: pa.Table, kinds_a: pa.Array, vis_a: pa.Array, t: pa.Scalar
) -> tuple[Counter[str], pa.Array]:
    """(rows by selection outcome, the mask of the selected rows) of one batch: the SQL
    selection's order: ``deleted``, ``kind_not_allowed``, ``visibility_not_allowed``,
    ``created_after_as_of``, else ``selected``."""
    outcome: Counter[str] = Counter()
    deleted = b.column("deleted_at").is_valid()
    kind_bad = pc.invert(pc.is_in(b.column("kind"), kinds_a))
    vis_bad = pc.invert(pc.is_in(b.column("visibility"), vis_a))
    late = pc.greater(b.column("created_at"), t)
    n_del = pc.sum(deleted).as_py() or 0
    rest = pc.invert(deleted)
    k = pc.and_(rest, kind_bad)
    n_kind = pc.sum(k).as_py() or 0
    rest = pc.and_(rest, pc.invert(kind_bad))
    v = pc.and_(rest, vis_bad)
    n_vis = pc.sum(v).as_py() or 0
    rest = pc.and_(rest, pc.invert(vis_bad))
    lt = pc.and_(rest, late)
    n_late = pc.sum(lt).as_py() or 0
    sel = pc.and_(rest, pc.invert(late))
    n_sel = pc.sum(sel).as_py() or 0
    for name, n in (
        ("deleted", n_del),
        ("kind_not_allowed", n_kind),
        ("visibility_not_allowed", n_vis),
        ("created_after_as_of", n_late),
        ("selected", n_sel),
    ):
        if n:
            outcome[name] += n
    return outcome, sel


def _check_day(created: pa.Array, day: str, shown: str) -> None:
    """Every row's ``created_at`` falls on its partition's UTC ``day``."""
    d = date.fromisoformat(day)
    lo = pa.scalar(datetime(d.year, d.month, d.day, tzinfo=UTC), _TS)
    hi = pa.scalar(datetime.fromordinal(d.toordinal() + 1).replace(tzinfo=UTC), _TS)
    bad = pc.or_(pc.less(created, lo), pc.greater_equal(created, hi))
    n = pc.sum(bad).as_py() or 0
    if n:
        first = pc.filter(created, bad)[0].as_py()
        raise InputError(
            f"{n} row(s) created outside their partition's day, e.g. {first.isoformat()}",
            file=shown,
            field="created_at",
            value=first.isoformat(),
            allowed=f"times on {day} (UTC): the day= directory is the UTC date of created_at",
        )


__all__ = [
    "LAKE_COLUMNS",
    "LAKE_FORMAT",
    "PARTITION",
    "GatedGroup",
    "LakeColumn",
    "LakeFile",
    "LakeSource",
    "check_schema",
]
