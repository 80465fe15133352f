"""The steps each per-shard stage runs, in order; their names are the rows of the
manifest's step table (after the driver's ``select`` and ``consent``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from optin.pipeline.config import BuildConfig
from optin.pipeline.steps import Step, StepOutcome
from optin.pipeline.steps.quality import language_filter, quality_filter
from optin.pipeline.steps.redact import VIEW_COLUMN, redact_step
from optin.privacy.api import RedactorConfig


@dataclass(frozen=True)
class LanguageStep:
    """Unknown or not-allowed language tags (``language_*``)."""

    languages: tuple[str, ...]
    name: str = "language"

    def run(self, table: pa.Table) -> StepOutcome:
        kept, dropped = language_filter(table, self.languages)
        return StepOutcome(kept, dropped)


@dataclass(frozen=True)
class RedactStep:
    """The privacy engine; drops what the drop rule marks (``too_little_text_left``,
    ``pii_density``)."""

    redactor: RedactorConfig
    name: str = "redact"

    def run(self, table: pa.Table) -> StepOutcome:
        out = redact_step(table, self.redactor)
        return StepOutcome(out.table, out.dropped, out.findings)


@dataclass(frozen=True)
class QualityStep:
    """Length, word count, boilerplate and repetition (see ``quality_reason``), judged on
    the operator-independent view the redact step adds (``VIEW_COLUMN``)."""

    config: BuildConfig
    name: str = "quality"

    def run(self, table: pa.Table) -> StepOutcome:
        cfg = self.config
        kept, dropped = quality_filter(
            table,
            min_chars=cfg.min_chars,
            min_words=cfg.min_words,
            boilerplate=cfg.boilerplate,
            max_repeat_ratio=cfg.max_repeat_ratio,
            column=VIEW_COLUMN if VIEW_COLUMN in table.column_names else "text",
        )
        return StepOutcome(kept, dropped)


@dataclass(frozen=True)
class DedupeStep:
    """Stage 2: drop the row positions the global duplicate pass chose."""

    exact: Sequence[int]
    near: Sequence[int]
    name: str = "dedupe"

    def run(self, table: pa.Table) -> StepOutcome:
        keep = np.ones(table.num_rows, dtype=bool)
        keep[list(self.exact)] = False
        keep[list(self.near)] = False
        dropped: Counter[str] = Counter()
        for reason, rows in (("exact_duplicate", self.exact), ("near_duplicate", self.near)):
            if len(rows):
                dropped[reason] = len(rows)
        return StepOutcome(table.filter(pa.array(keep, pa.bool_())), dropped)


def stage1_steps(config: BuildConfig, redactor: RedactorConfig) -> list[Step]:
    """Stage 1: language -> redact -> quality (dedupe keys are computed after these)."""
    return [LanguageStep(config.languages), RedactStep(redactor), QualityStep(config)]


#: Rows of the manifest's step table that the shard stages fill, in order.
STAGE_STEP_NAMES: tuple[str, ...] = (
    LanguageStep.name,
    RedactStep.name,
    QualityStep.name,
    DedupeStep.name,
)
