"""Consent gate: keep rows whose author is eligible at the as-of time and at build time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def eligible_mask(
    authors: pa.Array | pa.ChunkedArray, eligible: pa.Array | Container[str]
) -> pa.BooleanArray:
    """Which of ``authors`` are in ``eligible`` (a null author never is).

    ``eligible`` is best a set-like container (a set, a dict's keys): each distinct
    author of the batch is looked up once, so the cost follows the batch, not the number
    of eligible members. (An Arrow array as ``eligible`` builds a hash table of all of
    it on every call: a million eligible members cost more than the batch itself.)"""
    if isinstance(eligible, pa.Array):
        return pc.fill_null(pc.is_in(authors, value_set=eligible), False)
    if isinstance(authors, pa.ChunkedArray):
        authors = authors.combine_chunks()
    if len(authors) == 0:
        return pa.array([], pa.bool_())
    enc = pc.dictionary_encode(authors)
    values = enc.dictionary.to_pylist()
    if not values:  # every author null
        return pa.array(np.zeros(len(authors), dtype=bool), pa.bool_())
    hit = np.fromiter((v in eligible for v in values), dtype=bool, count=len(values))
    mask = hit[pc.fill_null(enc.indices, 0).to_numpy(zero_copy_only=False)]
    if enc.indices.null_count:
        mask &= enc.indices.is_valid().to_numpy(zero_copy_only=False)
    return pa.array(mask, pa.bool_())


def reason_counts(authors: pa.Array | pa.ChunkedArray, reasons: Mapping[str, str]) -> Counter[str]:
    """Rows by their author's reason (``reasons``: author id -> reason code; unknown ->
    ``NOT_A_MEMBER``), each distinct author looked up once."""
    counts: Counter[str] = Counter()
    if len(authors) == 0:
        return counts
    vc = pc.value_counts(authors)
    for a, n in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True):
        counts[reasons.get(a, "NOT_A_MEMBER")] += n
    return counts


def consent_gate(
    table: pa.Table, eligible: pa.Array | Container[str], reasons: Mapping[str, str]
) -> tuple[pa.Table, Counter[str]]:
    """Keep rows whose ``author_id`` is in ``eligible``; count the rest by their
    author's reason (``reasons``: author id -> reason code; unknown -> ``NOT_A_MEMBER``)."""
    mask = eligible_mask(table["author_id"], eligible)
    counts = reason_counts(table.filter(pc.invert(mask))["author_id"], reasons)
    return table.filter(mask), counts
