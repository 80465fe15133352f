"""Output columns and deterministic zstd Parquet bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from optin.pipeline.schema import OUTPUT


def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states after the HMAC inner and outer key blocks (RFC 2104): copying them
    costs less than keying a new HMAC per message."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in block)),
        hashlib.sha256(bytes(b ^ 0x5C for b in block)),
    )


def record_ids(content_ids: Sequence[str], key: bytes) -> list[str]:
    """Opaque record ids: HMAC-SHA256(per-snapshot key, content id), 32 hex characters
    (computed from the key's precomputed pad states: about 2x one ``hmac.digest`` a row;
    the same bytes, as ``tests/pipeline/test_steps.py`` checks against ``hmac``)."""
    inner, outer = _hmac_pads(key)
    icopy, ocopy = inner.copy, outer.copy

    def one(c: str) -> str:
        i = icopy()
        i.update(c.encode())
        o = ocopy()
        o.update(i.digest())
        return o.hexdigest()[:32]

    return [one(c) for c in content_ids]


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
