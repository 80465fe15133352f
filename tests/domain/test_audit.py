"""The audit's arithmetic: the seeded sample and the Wilson interval (issue 17)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optin.domain.audit import draw_sample, sample_rank, wilson

# Newcombe (1998), "Two-sided confidence intervals for the single proportion",
# Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score, no correction)
NEWCOMBE = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("k", "n", "lo", "hi"), NEWCOMBE)
def test_wilson_matches_newcombe(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson(k, n)
    assert round(got[0], 4) == lo and round(got[1], 4) == hi


def test_wilson_edges() -> None:
    assert wilson(0, 0) == (0.0, 1.0)  # nothing measured: nothing promised
    lo, hi = wilson(10, 10)
    assert hi == 1.0 and round(lo, 4) == 0.7225  # n / (n + z^2)
    with pytest.raises(ValueError):
        wilson(3, 2)


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_holds_the_rate(kn: tuple[int, int]) -> None:
    k, n = kn
    lo, hi = wilson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


ids = st.lists(st.text("0123456789abcdef", min_size=8, max_size=8), unique=True, max_size=80)


@given(ids, st.integers(0, 100), st.integers(0, 2**31), st.randoms(use_true_random=False))
def test_sample_ignores_order_and_is_nested(
    rids: list[str], size: int, seed: int, rnd: random.Random
) -> None:
    shuffled = list(rids)
    rnd.shuffle(shuffled)
    sample = draw_sample(rids, size, seed)
    assert sample == draw_sample(shuffled, size, seed)  # shard order does not matter
    assert len(sample) == min(size, len(rids)) and set(sample) <= set(rids)
    assert draw_sample(rids, size // 2, seed) == sample[: size // 2]  # nested
    assert [sample_rank(r, seed) for r in sample] == sorted(sample_rank(r, seed) for r in sample)


def test_sample_is_pinned() -> None:
    """The draw is part of the audit file's contract (verify redraws it): pin it."""
    rids = [f"{i:032x}" for i in range(100)]
    assert draw_sample(rids, 3, 0) == draw_sample(rids[::-1], 3, 0)
    assert draw_sample(rids, 3, 0) != draw_sample(rids, 3, 1)
    assert (
        sample_rank("abc", 0).hex()[:16]
        == __import__("hmac").new(b"optin-audit:0", b"abc", "sha256").hexdigest()[:16]
    )
