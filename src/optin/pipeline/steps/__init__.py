"""Pipeline steps: small classes over Arrow tables that count why they drop rows.

A step has a ``name`` (the row of the manifest's step table its drops land in) and a
``run(table)`` that returns the kept rows and the drops by reason (:class:`StepOutcome`);
none opens a connection or a file, so every engine runs the same code. The stages'
lineups are in :mod:`optin.pipeline.steps.lineup`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

Counts = Counter[str]


@dataclass
class StepOutcome:
    """The rows a step kept, its drops by reason, and (redaction) findings by label."""

    table: pa.Table
    dropped: Counts = field(default_factory=Counter)
    findings: Counts = field(default_factory=Counter)


class Step(Protocol):
    """One filtering step of a stage."""

    @property
    def name(self) -> str:
        """The step's row in the manifest's step table."""
        ...

    def run(self, table: pa.Table) -> StepOutcome: ...


__all__ = ["Counts", "Step", "StepOutcome"]
