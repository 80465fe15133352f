"""Which examples go into each DP step: Poisson sampling of privacy units.

A *unit* is what the guarantee protects. At member level (the default) every example
carries its author's unit index, a step samples each member independently with
probability ``q`` (Poisson sampling, so the batch size varies and the accountant's
amplification by sampling holds), and a sampled member contributes at most ``k`` of
their examples, drawn without replacement; the rest of that member's examples sit the
step out. At example level every example is its own unit (``k = 1``).

Pure Python and numpy: the sampler is tested without torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Batch:
    """One step's selection: ``examples[i]`` belongs to unit ``units[i]``; ``units`` is
    sorted and holds at most ``k`` entries per unit."""

    examples: tuple[int, ...]
    units: tuple[int, ...]

    @property
    def unit_count(self) -> int:
        return len(set(self.units))


class UnitSampler:
    """Poisson sampler over units with at most ``k`` examples per sampled unit.

    ``unit_of[i]`` is the unit (member index, or ``i`` itself at example level) of
    example ``i``.
    """

    def __init__(
        self, unit_of: Sequence[int], *, sample_rate: float, max_per_unit: int, seed: int
    ) -> None:
        if not 0 < sample_rate <= 1:
            raise ValueError("sample_rate must be in (0, 1]")
        if max_per_unit < 1:
            raise ValueError("max_per_unit must be >= 1")
        self.q = sample_rate
        self.k = max_per_unit
        groups: dict[int, list[int]] = {}
        for i, u in enumerate(unit_of):
            groups.setdefault(int(u), []).append(i)
        self.units = sorted(groups)
        self.groups = {u: np.asarray(groups[u], dtype=np.int64) for u in self.units}
        self.rng = np.random.default_rng(seed)

    @property
    def unit_total(self) -> int:
        return len(self.units)

    def expected_units(self) -> float:
        return self.q * len(self.units)

    def sample(self) -> Batch:
        keep = self.rng.random(len(self.units)) < self.q
        chosen = [u for u, k in zip(self.units, keep, strict=True) if k]
        ex: list[int] = []
        un: list[int] = []
        for u in chosen:
            mine = self.groups[u]
            take = mine if len(mine) <= self.k else self.rng.choice(mine, self.k, replace=False)
            ex.extend(int(i) for i in sorted(take))
            un.extend([u] * len(take))
        return Batch(tuple(ex), tuple(un))

    def batches(self, steps: int) -> Iterator[Batch]:
        for _ in range(steps):
            yield self.sample()


__all__ = ["Batch", "UnitSampler"]
