"""Consent gate: keep rows whose author is eligible at the as-of time and at build time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc


def consent_gate(
    table: pa.Table, eligible: pa.Array, reasons: Mapping[str, str]
) -> tuple[pa.Table, Counter[str]]:
    """Keep rows whose ``author_id`` is in ``eligible``; count the rest by their
    author's reason (``reasons``: author id -> reason code; unknown -> ``NOT_A_MEMBER``)."""
    mask = pc.is_in(table["author_id"], value_set=eligible)
    mask = pc.fill_null(mask, False)
    counts: Counter[str] = Counter()
    excluded = table.filter(pc.invert(mask))["author_id"]
    if len(excluded):
        vc = pc.value_counts(excluded)
        for item in vc.to_pylist():
            counts[reasons.get(item["values"], "NOT_A_MEMBER")] += item["counts"]
    return table.filter(mask), counts
