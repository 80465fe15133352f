"""Cut the consent-gated content stream into fixed-size input shards (work dir)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from optin.errors import IntegrityError
from optin.pipeline.io import write_ipc
from optin.pipeline.schema import INPUT
from optin.pipeline.steps.consent import consent_gate


@dataclass
class Plan:
    """Input shards written: (index, rows, sha256) and consent exclusions by reason."""

    shards: list[tuple[int, int, str]] = field(default_factory=list)
    selected: int = 0
    consent_dropped: Counter[str] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        return sum(r for _, r, _ in self.shards)


def consent_counts(
    author_counts: Mapping[str, int], eligible: Collection[str], reasons: Mapping[str, str]
) -> tuple[int, Counter[str]]:
    """(selected rows, rows excluded by reason) from selected rows per author: the same
    counts the consent gate gives on the rows themselves (unknown -> ``NOT_A_MEMBER``)."""
    dropped: Counter[str] = Counter()
    for author, n in author_counts.items():
        if author not in eligible:
            dropped[reasons.get(author, "NOT_A_MEMBER")] += n
    return sum(author_counts.values()), dropped


def write_input_shards(
    batches: Iterable[pa.Table],
    *,
    eligible: Collection[str],
    reasons: Mapping[str, str],
    shard_size: int,
    work: Path,
    plan: Plan,
    author_counts: Mapping[str, int] | None = None,
) -> Iterator[tuple[int, int, str]]:
    """Gate each batch by consent and write every ``shard_size`` surviving rows (in
    content-id order) as ``work/input/NNNNN.arrow``; yield (index, rows, sha256) as each
    shard lands, so executors can start on it while the plan goes on. Counts go to
    ``plan``: from ``author_counts`` (selected rows per author) when given, so ``batches``
    may hold only the eligible authors' rows; else from the batches. Memory: about two
    shards."""
    if author_counts is not None:
        plan.selected, plan.consent_dropped = consent_counts(author_counts, eligible, reasons)
    pending: list[pa.Table] = []
    pending_rows = 0

    def flush(table: pa.Table) -> tuple[int, int, str]:
        index = len(plan.shards)
        sha = write_ipc(work / "input" / f"{index:05d}.arrow", table)
        plan.shards.append((index, table.num_rows, sha))
        return plan.shards[-1]

    for batch in batches:
        if batch.schema != INPUT:
            batch = batch.cast(INPUT)
        kept, dropped = consent_gate(batch, eligible, reasons)
        if author_counts is None:
            plan.selected += batch.num_rows
            plan.consent_dropped.update(dropped)
        elif dropped:
            raise IntegrityError(
                f"content batch holds rows by {sum(dropped.values())} ineligible authors "
                "although it was selected for eligible authors only"
            )
        if kept.num_rows:
            pending.append(kept)
            pending_rows += kept.num_rows
        while pending_rows >= shard_size:
            table = _one_chunk(pending)
            yield flush(table.slice(0, shard_size))
            rest = table.slice(shard_size)
            pending, pending_rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
    if pending_rows:
        yield flush(_one_chunk(pending))


def _one_chunk(tables: list[pa.Table]) -> pa.Table:
    """The rows of ``tables`` as one table (no copy when there is one single-chunk table)."""
    if len(tables) == 1 and all(c.num_chunks <= 1 for c in tables[0].columns):
        return tables[0]
    return pa.concat_tables(tables).combine_chunks()
