"""Member-level sampling: Poisson over members, at most k examples per sampled member
(a member with 100 posts and a member with 1 post alike). Plain numpy: no torch."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optin.training.sampler import UnitSampler


def test_a_member_with_100_posts_and_one_with_1_contribute_at_most_k_each() -> None:
    # unit 0: 100 posts; unit 1: 1 post; units 2..49: 3 posts each
    unit_of = [0] * 100 + [1] + [u for u in range(2, 50) for _ in range(3)]
    k = 4
    sampler = UnitSampler(unit_of, sample_rate=0.5, max_per_unit=k, seed=7)
    seen_heavy = seen_light = 0
    heavy_examples: set[int] = set()
    for batch in sampler.batches(400):
        per_unit = Counter(batch.units)
        assert max(per_unit.values(), default=0) <= k
        assert per_unit.get(0, 0) in (0, k)  # the heavy member: exactly k when sampled
        assert per_unit.get(1, 0) in (0, 1)  # the light member: its one post
        for ex, u in zip(batch.examples, batch.units, strict=True):
            assert unit_of[ex] == u  # every example is its own member's
            if u == 0:
                heavy_examples.add(ex)
        assert len(set(batch.examples)) == len(batch.examples)  # no example twice
        seen_heavy += 0 in per_unit
        seen_light += 1 in per_unit
    # both are sampled at the member rate, whatever their post counts
    assert 160 < seen_heavy < 240 and 160 < seen_light < 240
    assert len(heavy_examples) > 50  # the k are drawn afresh each step


def test_example_level_samples_each_example_alone() -> None:
    sampler = UnitSampler(list(range(200)), sample_rate=0.1, max_per_unit=1, seed=1)
    sizes = [len(b.examples) for b in sampler.batches(300)]
    assert 15 < sum(sizes) / len(sizes) < 25  # Poisson: mean q * n
    assert len(set(sizes)) > 3  # the batch size varies


@settings(max_examples=50, deadline=None)
@given(
    counts=st.lists(st.integers(1, 30), min_size=1, max_size=40),
    k=st.integers(1, 6),
    q=st.floats(0.05, 1.0),
    seed=st.integers(0, 10_000),
)
def test_no_batch_ever_holds_more_than_k_of_a_member(
    counts: list[int], k: int, q: float, seed: int
) -> None:
    unit_of = [u for u, n in enumerate(counts) for _ in range(n)]
    sampler = UnitSampler(unit_of, sample_rate=q, max_per_unit=k, seed=seed)
    for batch in sampler.batches(5):
        per_unit = Counter(batch.units)
        for u, n in per_unit.items():
            assert n == min(k, counts[u])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        UnitSampler([0], sample_rate=0.0, max_per_unit=1, seed=0)
    with pytest.raises(ValueError):
        UnitSampler([0], sample_rate=0.5, max_per_unit=0, seed=0)
