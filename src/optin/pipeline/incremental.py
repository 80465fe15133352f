"""What a snapshot keeps beside its shards so a later build can start from it
(``optin snapshot build --since``), and the pure parts of that build; no database.

``<snapshot>/_incremental/rows.parquet`` has one row per content row the build saw after
the consent gate (the input of stage 1), in content-id order:

- ``record_id``: the row's record id (HMAC of the content id under the record-id key of
  ``meta.json``'s ``key_of`` snapshot), so a later build finds it without content ids;
- ``content_hash``: 16 bytes, keyed BLAKE2b (the platform's ``content-hash`` key of the
  same snapshot) over content id, author, kind, language, created time and text
  (:data:`CONTENT_HASH`): a row is *unchanged* when the parent has a row with its hash,
  found by the hash alone (no record id is computed for it). The hash is keyed so that
  it cannot confirm a guess of an unredacted text;
- ``outcome``: ``kept`` (in the shards), ``duplicate`` (dropped by the global duplicate
  pass) or ``step:reason`` (dropped by a stage-1 step, e.g. ``quality:too_short``);
- ``created_us``, ``exact_hash``, ``band_NN``: the dedupe keys of rows that passed stage 1
  (null for the others).

``<snapshot>/_incremental/eligibility.parquet`` has one row per member the build
decided, sorted by key (a build that plans on the workers writes one row group per
member partition, each sorted by key), so a later build decides again only the members
whose decision can differ (``services.incremental_eligibility``):

- ``member_key``: 16 bytes, keyed BLAKE2b of the member id (the ``member-key`` key of the
  ``key_of`` snapshot): the file names no member;
- ``reason_as_of``: the decision's reason at the as-of time;
- ``reason``: empty when the member is eligible at the as-of time and at build time,
  else why not (as the build's consent step counts it, e.g. ``WITHDRAWN_AFTER_AS_OF``).

``meta.json`` holds the key snapshot id, the config fingerprint (less shard sizes), a
keyed digest of the members' directory the texts were redacted with, the row count,
with an eligibility file its ``eligibility`` facts (the times decided at, a fingerprint
of the policy versions in force by then, the eligibility digest, the member count) and,
for a build from a lake, ``lake_files``: the SHA-256 of every lake file it read (path
relative to the lake's root -> hex digest), so that a later build reads the files that
did not change without their texts.

The file names no author and no content id; it lives under ``_incremental/`` (not
``data/``), is no part of the training set, and is deleted with the shards when the
snapshot is retired.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from optin.errors import IntegrityError
from optin.files import atomic_binary
from optin.pipeline.config import BuildConfig
from optin.pipeline.io import atomic_write_json, read_ipc, read_json, write_ipc
from optin.pipeline.shard import FAKES, ShardTask
from optin.pipeline.steps.dedupe import find_duplicates
from optin.pipeline.steps.write import record_ids

ROWS_DIR = "_incremental"
ROWS_FILE = "rows.parquet"
ELIGIBILITY_FILE = "eligibility.parquet"
META_FILE = "meta.json"
#: the kept records' fakes the directory check accepted or refused (``shard.FAKES``)
FAKES_FILE = "fakes.arrow"
#: the build's directory elements (:func:`optin.privacy.directory_delta.directory_elements`)
ELEMENTS_FILE = "directory_elements.arrow"
KEPT = "kept"
DUPLICATE = "duplicate"
#: what ``content_hash`` covers (``meta.json`` names it: a parent whose hashes cover
#: other fields cannot be built from)
CONTENT_HASH = "content_id,author_id,kind,language,created_at,text"
#: config fields that change no record (only how records are cut into files)
LAYOUT_FIELDS = ("shard_size", "row_group_size", "zstd_level")


def rows_schema(bands: int) -> pa.Schema:
    fields = [
        ("record_id", pa.string()),
        ("content_hash", pa.binary(16)),
        ("outcome", pa.string()),
        ("created_us", pa.int64()),
        ("exact_hash", pa.uint64()),
    ]
    fields += [(f"band_{b:02d}", pa.uint64()) for b in range(bands)]
    return pa.schema(fields)


def config_fingerprint(cfg: BuildConfig) -> str:
    """SHA-256 of the config's canonical JSON without :data:`LAYOUT_FIELDS`."""
    import json

    d = {k: v for k, v in cfg.to_dict().items() if k not in LAYOUT_FIELDS}
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def content_hashes(table: pa.Table, key: bytes) -> list[bytes]:
    """Keyed 16-byte BLAKE2b of (content id, author, kind, language, created, text) per
    row (:data:`CONTENT_HASH`).

    The hashed bytes are
    ``f"{content_id}\\x1f{author}\\x1f{kind}\\x1f{language}\\x1f{created_us}\\x1f{text}"``
    in UTF-8 (a null field reads ``None``, a null text the empty string); the join is
    done by Arrow, so only the hash runs per row in Python."""
    n = table.num_rows
    if n == 0:
        return []

    def field(name: str, null: str) -> pa.Array:
        col = table[name]
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            col = pc.cast(pc.cast(col, pa.int64()), pa.string())
        return pc.fill_null(pc.cast(col, pa.large_string()), null)

    joined = pc.binary_join_element_wise(
        field("content_id", "None"),
        field("author_id", "None"),
        field("kind", "None"),
        field("language", "None"),
        field("created_at", "None"),
        field("text", ""),
        pa.scalar("\x1f", pa.large_string()),
    )
    data = pc.cast(joined, pa.large_binary()).to_pylist()
    copy = hashlib.blake2b(key=key[:64], digest_size=16).copy  # keyed once, copied per row

    def one(d: bytes) -> bytes:
        h = copy()
        h.update(d)
        return h.digest()

    return [one(d) for d in data]


ELIGIBILITY_SCHEMA = pa.schema(
    [
        ("member_key", pa.binary(16)),
        ("reason_as_of", pa.string()),
        ("reason", pa.string()),
    ]
)


def member_keys(member_ids: Iterable[str], key: bytes) -> list[bytes]:
    """Keyed 16-byte BLAKE2b of each member id (the eligibility file's ``member_key``)."""
    copy = hashlib.blake2b(key=key[:64], digest_size=16).copy  # keyed once, copied per id

    def one(m: str) -> bytes:
        h = copy()
        h.update(m.encode())
        return h.digest()

    return [one(m) for m in member_ids]


def write_eligibility(snapshot: Path, table: pa.Table) -> None:
    """``_incremental/eligibility.parquet`` (atomic), rows sorted by member key."""
    d = snapshot / ROWS_DIR
    d.mkdir(parents=True, exist_ok=True)
    table = table.cast(ELIGIBILITY_SCHEMA).sort_by("member_key")
    with atomic_binary(d / ELIGIBILITY_FILE, mode=0o600, mkdir=False) as f:
        pq.write_table(table, f, compression="zstd", use_dictionary=["reason_as_of", "reason"])


def write_eligibility_part(path: Path, table: pa.Table) -> None:
    """One member partition's rows of the eligibility file (Parquet, atomic), sorted by
    member key; folded into the file by :func:`write_eligibility_parts`."""
    table = table.cast(ELIGIBILITY_SCHEMA).sort_by("member_key")
    with atomic_binary(path, mode=0o600) as f:
        pq.write_table(table, f, compression="zstd", use_dictionary=["reason_as_of", "reason"])


def write_eligibility_parts(snapshot: Path, parts: Sequence[Path]) -> int:
    """``_incremental/eligibility.parquet`` (atomic) from per-partition part files: one
    row group per part (each sorted by member key), read one part at a time; the rows."""
    d = snapshot / ROWS_DIR
    d.mkdir(parents=True, exist_ok=True)
    rows = 0
    with (
        atomic_binary(d / ELIGIBILITY_FILE, mode=0o600, mkdir=False) as f,
        pq.ParquetWriter(
            f, ELIGIBILITY_SCHEMA, compression="zstd", use_dictionary=["reason_as_of", "reason"]
        ) as w,
    ):
        for p in parts:
            t = pq.read_table(p)
            if t.schema != ELIGIBILITY_SCHEMA:
                raise IntegrityError(f"{p}: an eligibility part of shape {t.schema.names}")
            w.write_table(t)
            rows += t.num_rows
    return rows


def read_eligibility(snapshot: Path, rows: int) -> pa.Table | None:
    """The eligibility file kept beside ``snapshot``'s shards (``rows`` as its meta
    says), or None when it has none."""
    path = snapshot / ROWS_DIR / ELIGIBILITY_FILE
    if not path.exists():
        return None
    table = pq.read_table(path)
    if table.schema != ELIGIBILITY_SCHEMA or table.num_rows != rows:
        raise IntegrityError(
            f"{path}: {table.num_rows} rows of shape {table.schema.names}; its meta says "
            f"{rows} rows of {ELIGIBILITY_SCHEMA.names}"
        )
    return table


def directory_digest(path: Path, key: bytes) -> str:
    """Keyed digest of the members' directory file a build redacted with."""
    return hmac.new(key, path.read_bytes(), "sha256").hexdigest()


def task_rows(
    task: ShardTask, hash_key: bytes, kept: Callable[[pa.Table], Sequence[bool]]
) -> pa.Table:
    """The rows of one processed shard, in input order: record id, content hash, outcome
    (``kept(stage1_table)`` says which stage-1 rows survived the duplicate pass) and keys."""
    bands = task.config.bands
    inp = read_ipc(
        task.input_path(), ["content_id", "author_id", "text", "kind", "language", "created_at"]
    )
    cids = inp["content_id"].to_pylist()
    drops = read_ipc(task.drops_path())
    why = dict(zip(drops["content_id"].to_pylist(), drops["outcome"].to_pylist(), strict=True))
    s1 = read_ipc(task.stage1_path())
    where = {c: i for i, c in enumerate(s1["content_id"].to_pylist())}
    keep = list(kept(s1))
    n = len(cids)
    outcome: list[str] = []
    pos = np.full(n, -1, dtype=np.int64)
    for i, c in enumerate(cids):
        j = where.get(c)
        if j is None:
            outcome.append(why.get(c, "stage1:unknown"))
        else:
            pos[i] = j
            outcome.append(KEPT if keep[j] else DUPLICATE)
    have = pos >= 0
    take = pa.array(np.where(have, pos, 0))
    mask = pa.array(~have)

    def key_col(name: str) -> pa.Array:
        col = s1[name].take(take) if s1.num_rows else pa.nulls(n, s1.schema.field(name).type)
        return pc.if_else(mask, pa.scalar(None, col.type), col)

    columns: list[Any] = [
        pa.array(record_ids(cids, task.key), pa.string()),
        pa.array(content_hashes(inp, hash_key), pa.binary(16)),
        pa.array(outcome, pa.string()),
        key_col("created_us"),
        key_col("exact_hash"),
        *(key_col(f"band_{b:02d}") for b in range(bands)),
    ]
    return pa.table(columns, schema=rows_schema(bands))


def full_build_rows(
    tasks: Sequence[ShardTask], kept_of: Callable[[ShardTask], set[str]], hash_key: bytes
) -> Iterator[pa.Table]:
    """The rows file of a full build, one table per shard task (``kept_of(task)``: the
    record ids that task's shard holds), so the driver holds one shard's rows and one
    shard's kept ids at a time. A shard holds only rows of its own task's stage 1; a kept
    id found in no row of its task is an :class:`IntegrityError`."""
    for t in tasks:
        kept = kept_of(t)

        def is_kept(s1: pa.Table, kept: set[str] = kept) -> list[bool]:
            return [r in kept for r in s1["record_id"].to_pylist()]

        table = task_rows(t, hash_key, is_kept)
        marked = pc.sum(pc.equal(table["outcome"], KEPT)).as_py() or 0
        if marked != len(kept):
            raise IntegrityError(
                f"shard task {t.name}: its shard holds {len(kept)} records, "
                f"{marked} of them found among the task's own rows"
            )
        yield table


def write_rows(
    snapshot: Path, parts: Iterable[pa.Table], meta: dict[str, Any], schema: pa.Schema
) -> None:
    """``_incremental/rows.parquet`` and ``meta.json`` (atomic; meta last): ``parts`` are
    streamed to the file one table at a time; ``schema`` is the file's when there are
    none."""
    d = snapshot / ROWS_DIR
    d.mkdir(parents=True, exist_ok=True)
    n = 0
    with atomic_binary(d / ROWS_FILE, mode=0o600, mkdir=False) as f:
        writer: pq.ParquetWriter | None = None
        try:
            for part in parts:
                if writer is None:
                    writer = pq.ParquetWriter(f, part.schema, compression="zstd")
                writer.write_table(part, row_group_size=1 << 20)
                n += part.num_rows
            if writer is None:
                writer = pq.ParquetWriter(f, schema, compression="zstd")
        finally:
            if writer is not None:
                writer.close()
    atomic_write_json(d / META_FILE, {**meta, "rows": n})


def kept_fakes(fakes: pa.Table | None, kept: pa.Array) -> pa.Table:
    """The rows of ``fakes`` (``shard.FAKES``) whose record ids are in ``kept``; with no
    fakes file (a build from before it), a row per kept record with ``refused`` null:
    unknown, so a changed directory processes it again."""
    if fakes is None:
        n = len(kept)
        return pa.table(
            [
                kept.cast(pa.string()),
                pa.nulls(n, FAKES.field("fakes").type),
                pa.nulls(n, pa.bool_()),
            ],
            schema=FAKES,
        )
    return fakes.filter(pc.is_in(fakes["record_id"], value_set=kept))


def task_fakes(task: ShardTask, kept: pa.Array) -> pa.Table:
    """:func:`kept_fakes` of ``task``'s stage-1 fakes file."""
    path = task.fakes_path()
    return kept_fakes(read_ipc(path) if path.exists() else None, kept)


def write_fakes(snapshot: Path, parts: Iterable[pa.Table]) -> None:
    """``_incremental/fakes.arrow`` from ``parts`` (atomic; written before the meta)."""
    d = snapshot / ROWS_DIR
    d.mkdir(parents=True, exist_ok=True)
    tables = [p for p in parts if p.num_rows]
    table = pa.concat_tables(tables) if tables else FAKES.empty_table()
    write_ipc(d / FAKES_FILE, table.cast(FAKES).combine_chunks())


def read_fakes(snapshot: Path) -> pa.Table | None:
    """The fakes file of ``snapshot``; None when it keeps none (built before it)."""
    path = snapshot / ROWS_DIR / FAKES_FILE
    if not path.exists():
        return None
    t = read_ipc(path)
    if t.schema != FAKES:
        raise IntegrityError(f"{path}: fakes file of another shape")
    return t


def read_rows(snapshot: Path) -> tuple[pa.Table, dict[str, Any]] | None:
    """(rows, meta) kept beside ``snapshot``'s shards, or None when it has none."""
    d = snapshot / ROWS_DIR
    if not (d / META_FILE).exists() or not (d / ROWS_FILE).exists():
        return None
    meta = read_json(d / META_FILE)
    table = pq.read_table(d / ROWS_FILE)
    if table.num_rows != meta.get("rows"):
        raise IntegrityError(
            f"{d / ROWS_FILE}: {table.num_rows} rows, {d / META_FILE} says {meta.get('rows')}"
        )
    return table, meta


def duplicates(
    seq: np.ndarray,
    created: np.ndarray,
    exact: np.ndarray,
    band: Callable[[int], np.ndarray],
    cfg: BuildConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """(exact mask, near mask) over records given in any order, ranked as a full build
    ranks them: by (created time, position in content-id order ``seq``). ``band(b)``
    gives band ``b``'s keys of every record in the same order, built when asked (one
    band is held at a time, not all of them)."""
    n = len(seq)
    if not cfg.dedupe or n == 0:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    order = np.argsort(seq, kind="stable")

    def in_order(b: int) -> np.ndarray:
        keys = band(b)
        if len(keys) != n:
            raise IntegrityError(f"band {b}: {len(keys)} keys for {n} records")
        return keys[order]

    e, nd = find_duplicates(
        created[order].astype(np.int64),
        exact[order].astype(np.uint64),
        in_order if cfg.near_dup else None,
        cfg.bands,
    )
    exact_m = np.empty(n, dtype=bool)
    near_m = np.empty(n, dtype=bool)
    exact_m[order] = e
    near_m[order] = nd
    return exact_m, near_m


__all__ = [
    "CONTENT_HASH",
    "DUPLICATE",
    "ELEMENTS_FILE",
    "ELIGIBILITY_FILE",
    "ELIGIBILITY_SCHEMA",
    "FAKES_FILE",
    "KEPT",
    "LAYOUT_FIELDS",
    "ROWS_DIR",
    "config_fingerprint",
    "content_hashes",
    "directory_digest",
    "duplicates",
    "full_build_rows",
    "kept_fakes",
    "member_keys",
    "read_eligibility",
    "read_fakes",
    "read_rows",
    "rows_schema",
    "task_fakes",
    "task_rows",
    "write_eligibility",
    "write_eligibility_part",
    "write_eligibility_parts",
    "write_fakes",
    "write_rows",
]
