"""Output columns and deterministic zstd Parquet bytes."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from optin.pipeline.schema import OUTPUT


def record_ids(content_ids: Sequence[str], key: bytes) -> list[str]:
    """Opaque record ids: HMAC-SHA256(per-snapshot key, content id), 32 hex characters."""
    return [hmac.digest(key, c.encode(), "sha256").hex()[:32] for c in content_ids]


def created_months(created: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``YYYY-MM`` of each UTC timestamp."""
    return pc.strftime(created, format="%Y-%m")


def parquet_bytes(table: pa.Table, *, row_group_size: int, zstd_level: int) -> bytes:
    """Parquet bytes of ``table`` (cast to :data:`OUTPUT`) with fixed writer options and
    no time in the metadata, so equal tables give equal bytes."""
    table = table.select(OUTPUT.names).cast(OUTPUT).replace_schema_metadata(None)
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        row_group_size=max(1, row_group_size),
        compression="zstd",
        compression_level=zstd_level,
        use_dictionary=["kind", "language", "created_month"],
        write_statistics=True,
        version="2.6",
        data_page_version="1.0",
        store_schema=True,
    )
    return bytes(sink.getvalue())
