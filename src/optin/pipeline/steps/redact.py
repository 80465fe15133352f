"""Redaction step: the privacy engine over a batch; drop the records the policy's drop
rule marks (``too_little_text_left``, ``pii_density``: see
:func:`optin.privacy.anonymize.engine.drop_reason`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from optin.privacy.api import RedactorConfig, get_redactor


@dataclass
class RedactOutcome:
    table: pa.Table
    dropped: Counter[str] = field(default_factory=Counter)
    findings: Counter[str] = field(default_factory=Counter)


def redact_step(table: pa.Table, cfg: RedactorConfig) -> RedactOutcome:
    """Replace ``text`` by its redacted form; drop rows the policy marks, counted by
    reason (``too_little_text_left``, ``pii_density``).

    ``findings`` counts applied findings by label over every row seen, kept or dropped.
    """
    if table.num_rows == 0:
        return RedactOutcome(table)
    redactor = get_redactor(cfg)
    batch = redactor.redact_batch(table["text"].combine_chunks())
    out = table.set_column(
        table.schema.get_field_index("text"), "text", batch.texts.cast(pa.large_string())
    )
    dropped = pc.fill_null(batch.dropped, False)
    n_dropped = int(pc.sum(dropped).as_py() or 0)
    out = out.filter(pc.invert(dropped))
    counts: Counter[str] = Counter()
    if n_dropped:
        counts.update(r for r in batch.drop_reasons if r is not None)
    return RedactOutcome(out, counts, Counter(batch.counts_by_label()))
