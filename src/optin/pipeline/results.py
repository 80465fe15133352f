"""Typed results of the per-shard stages (what a completion marker holds).

Each stage of a shard returns one of these; the executor hands them back in task order
and the driver sums them. ``to_json``/``from_json`` are the marker format, so a rerun
reads back exactly what the finished run returned (a marker of another shape counts as
"not finished" and the stage runs again).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

R = TypeVar("R", "StageOneResult", "StageTwoResult")


@dataclass(frozen=True)
class StageOneResult:
    """Stage 1 of one shard: rows in and out, drops by step and reason, findings."""

    shard: str
    input_sha256: str
    stage1_sha256: str
    rows_in: int
    rows_out: int
    #: step name -> reason -> rows dropped by that step (steps in run order)
    dropped_by_step: dict[str, dict[str, int]]
    findings: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    skipped: bool = False

    @property
    def dropped(self) -> dict[str, int]:
        """Drops by reason over every step."""
        total: Counter[str] = Counter()
        for counts in self.dropped_by_step.values():
            total.update(counts)
        return dict(sorted(total.items()))

    @property
    def rows_seen(self) -> int:
        """Records this result accounts for (progress bars)."""
        return self.rows_in

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["skipped"]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StageOneResult:
        return cls(
            shard=str(data["shard"]),
            input_sha256=str(data["input_sha256"]),
            stage1_sha256=str(data["stage1_sha256"]),
            rows_in=int(data["rows_in"]),
            rows_out=int(data["rows_out"]),
            dropped_by_step={str(k): dict(v) for k, v in data["dropped_by_step"].items()},
            findings=dict(data["findings"]),
            seconds=dict(data.get("seconds", {})),
            records=dict(data.get("records", {})),
        )


@dataclass(frozen=True)
class StageTwoResult:
    """Stage 2 of one shard: duplicates dropped and the Parquet file written (if any)."""

    shard: str
    stage1_sha256: str
    drop_sha256: str
    rows: int
    #: step name -> reason -> rows dropped (only ``dedupe`` today)
    dropped_by_step: dict[str, dict[str, int]]
    file: str | None = None
    sha256: str | None = None
    bytes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    skipped: bool = False

    @property
    def dropped(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for counts in self.dropped_by_step.values():
            total.update(counts)
        return dict(sorted(total.items()))

    @property
    def rows_seen(self) -> int:
        return self.rows + sum(self.dropped.values())

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["skipped"]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StageTwoResult:
        return cls(
            shard=str(data["shard"]),
            stage1_sha256=str(data["stage1_sha256"]),
            drop_sha256=str(data["drop_sha256"]),
            rows=int(data["rows"]),
            dropped_by_step={str(k): dict(v) for k, v in data["dropped_by_step"].items()},
            file=data.get("file"),
            sha256=data.get("sha256"),
            bytes=int(data.get("bytes", 0)),
            seconds=dict(data.get("seconds", {})),
            records=dict(data.get("records", {})),
        )


#: What a per-shard stage returns.
ShardResult = StageOneResult | StageTwoResult


def as_skipped(result: R) -> R:
    return replace(result, skipped=True)


def drops_by_step(results: Iterable[ShardResult]) -> dict[str, Counter[str]]:
    """Step name -> drops by reason, summed over ``results`` (steps in first-seen order)."""
    out: dict[str, Counter[str]] = {}
    for r in results:
        for step, counts in r.dropped_by_step.items():
            out.setdefault(step, Counter()).update(counts)
    return out


class BuildProgress:
    """Progress sink of a snapshot build (the CLI draws a rich bar); the default does
    nothing. Here, not in the snapshot service, so the CLI defines its bar without
    importing the service."""

    def stage(self, name: str, total: int) -> None:
        return None

    def advance(self, result: ShardResult) -> None:
        return None

    def message(self, text: str) -> None:
        return None
