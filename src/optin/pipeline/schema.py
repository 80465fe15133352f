"""Arrow schemas of the pipeline's files."""

from __future__ import annotations

import pyarrow as pa

#: Input shards (work dir only; hold clear text and author ids, deleted after the build).
INPUT = pa.schema(
    [
        ("content_id", pa.string()),
        ("author_id", pa.string()),
        ("text", pa.large_string()),
        ("kind", pa.string()),
        ("language", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)


def stage1_schema(bands: int) -> pa.Schema:
    """Stage-1 output: redacted, filtered rows plus dedupe keys (work dir only)."""
    fields = [
        ("content_id", pa.string()),
        ("author_id", pa.string()),
        ("record_id", pa.string()),
        ("text", pa.large_string()),
        ("kind", pa.string()),
        ("language", pa.string()),
        ("created_month", pa.string()),
        ("created_us", pa.int64()),
        ("exact_hash", pa.uint64()),
    ]
    fields += [(f"band_{i:02d}", pa.uint64()) for i in range(bands)]
    return pa.schema(fields)


#: What ships: no author ids, no content ids.
OUTPUT = pa.schema(
    [
        ("record_id", pa.string()),
        ("text", pa.large_string()),
        ("kind", pa.string()),
        ("language", pa.string()),
        ("created_month", pa.string()),
    ]
)

#: Provenance side file written next to each output shard in the work dir.
PROVENANCE = pa.schema(
    [
        ("record_id", pa.string()),
        ("content_id", pa.string()),
        ("author_id", pa.string()),
    ]
)

#: Stage-1 drops per row (work dir): why each dropped row left, as ``step:reason``.
DROPS = pa.schema([("content_id", pa.string()), ("outcome", pa.string())])
