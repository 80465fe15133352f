"""Redaction step: the privacy engine over a batch; drop the records the policy's drop
rule marks (``too_little_text_left``, ``pii_density``: see
:func:`optin.privacy.anonymize.engine.drop_reason`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from optin.privacy.api import RedactorConfig, get_redactor

#: The column the redact step adds: every redacted span as its type tag, whatever the
#: operator (:func:`optin.privacy.anonymize.engine.masked_view`). The quality filters
#: and the duplicate keys read it, so the operator and its key never change which
#: records are kept; it is never written to a shard.
VIEW_COLUMN = "view_text"
#: Columns the redact step adds when the redactor checks fakes against the members'
#: directory (the ``surrogate`` operator): the fakes it accepted and whether it refused
#: one (:attr:`optin.privacy.api.RedactedBatch.fakes`). Stage 1 keeps them beside its
#: output for incremental builds (:func:`optin.pipeline.incremental.write_fakes`); never
#: written to a shard.
FAKES_COLUMN = "directory_fakes"
REFUSED_COLUMN = "directory_fake_refused"


def _set(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    i = table.schema.get_field_index(name)
    if i >= 0:
        return table.set_column(i, name, column)
    return table.append_column(name, column)


def view_texts(table: pa.Table) -> pa.ChunkedArray:
    """The operator-independent view of ``table``'s texts (``text`` before redaction)."""
    name = VIEW_COLUMN if VIEW_COLUMN in table.column_names else "text"
    return table[name]


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
    tags_only = cfg.operator == "mask" and all(op == "mask" for _, op in cfg.per_label)
    batch = redactor.redact_batch(table["text"].combine_chunks(), views=not tags_only)
    texts = batch.texts.cast(pa.large_string())
    out = table.set_column(table.schema.get_field_index("text"), "text", texts)
    view = texts if batch.views is None else batch.views.cast(pa.large_string())
    out = _set(out, VIEW_COLUMN, view)
    if any(batch.fake_refused) or any(batch.fakes):
        out = _set(out, FAKES_COLUMN, pa.array(batch.fakes, pa.list_(pa.large_string())))
        out = _set(out, REFUSED_COLUMN, pa.array(batch.fake_refused, pa.bool_()))
    dropped = pc.fill_null(batch.dropped, False)
    n_dropped = int(pc.sum(dropped).as_py() or 0)
    out = out.filter(pc.invert(dropped))
    counts: Counter[str] = Counter()
    if n_dropped:
        counts.update(r for r in batch.drop_reasons if r is not None)
    return RedactOutcome(out, counts, Counter(batch.counts_by_label()))
