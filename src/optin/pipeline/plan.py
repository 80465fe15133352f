"""Cut the consent-gated content stream into fixed-size input shards (work dir)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

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


def write_input_shards(
    batches: Iterable[pa.Table],
    *,
    eligible: Iterable[str],
    reasons: Mapping[str, str],
    shard_size: int,
    work: Path,
    plan: Plan,
) -> Iterator[tuple[int, int, str]]:
    """Gate each batch by consent and write every ``shard_size`` surviving rows (in
    content-id order) as ``work/input/NNNNN.arrow``; yield (index, rows, sha256) as each
    shard lands, so executors can start on it while the plan goes on. Counts go to
    ``plan``. Memory: about two shards."""
    eligible_arr = pa.array(sorted(eligible), pa.string())
    pending: list[pa.Table] = []
    pending_rows = 0

    def flush(table: pa.Table) -> tuple[int, int, str]:
        index = len(plan.shards)
        sha = write_ipc(work / "input" / f"{index:05d}.arrow", table)
        plan.shards.append((index, table.num_rows, sha))
        return plan.shards[-1]

    for batch in batches:
        batch = batch.cast(INPUT)
        plan.selected += batch.num_rows
        kept, dropped = consent_gate(batch, eligible_arr, reasons)
        plan.consent_dropped.update(dropped)
        if kept.num_rows:
            pending.append(kept)
            pending_rows += kept.num_rows
        while pending_rows >= shard_size:
            table = pa.concat_tables(pending).combine_chunks()
            yield flush(table.slice(0, shard_size).combine_chunks())
            rest = table.slice(shard_size)
            pending, pending_rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
    if pending_rows:
        yield flush(pa.concat_tables(pending).combine_chunks())
