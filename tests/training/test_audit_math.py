"""The audit's arithmetic and verdicts, without a model: exposure, ranks, AUC, edit
similarity, the policy check and the JSON form of a result."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optin.domain.model import AuditThresholds
from optin.training.audit import (
    AuditResult,
    CanaryExposure,
    ExtractionStats,
    MembershipStats,
    audit_passes,
    chance_exposure,
    edit_similarity,
    exposure_from_rank,
    normal_tail_exposure,
    rank_among,
    repetition_stats,
    roc_auc,
)

EXPOSURE_TABLE = [
    # (rank, |R|, bits)
    (1, 1000, math.log2(1000)),
    (1000, 1000, 0.0),
    (500, 1000, 1.0),
    (1, 2, 1.0),
    (1, 10**6, math.log2(10**6)),
    (2, 1024, 9.0),
]


@pytest.mark.parametrize(("rank", "size", "bits"), EXPOSURE_TABLE)
def test_exposure_table(rank, size, bits) -> None:
    assert exposure_from_rank(rank, size) == pytest.approx(bits, abs=1e-12)


@pytest.mark.parametrize(("rank", "size"), [(0, 10), (11, 10), (1, 0)])
def test_when_rank_outside_space_then_value_error(rank, size) -> None:
    with pytest.raises(ValueError):
        exposure_from_rank(rank, size)


def test_rank_exact_and_sampled_and_ties() -> None:
    assert rank_among(0.5, [1.0, 2.0, 3.0]) == 1  # best of 4 -> rank 1
    assert rank_among(9.0, [1.0, 2.0, 3.0]) == 4  # worst
    assert rank_among(2.0, [1.0, 2.0, 3.0]) == 2.5  # one below, one tie (half)
    # sampled: half the sample is below -> about half the space
    assert rank_among(5.0, [1.0, 2.0, 8.0, 9.0], space_size=10**6) == pytest.approx(
        1 + (10**6 - 1) / 2
    )
    assert exposure_from_rank(rank_among(0.0, [1.0] * 99), 100) == pytest.approx(math.log2(100))


def test_chance_exposure_is_the_mean_over_uniform_ranks() -> None:
    n = 1000
    mean = sum(exposure_from_rank(r, n) for r in range(1, n + 1)) / n
    assert chance_exposure(n) == pytest.approx(mean, rel=1e-9)
    assert chance_exposure(10**9) == pytest.approx(math.log2(math.e), abs=1e-3)


def test_normal_tail_exposure() -> None:
    others = [float(x) for x in range(-50, 51)]
    assert normal_tail_exposure(statistics_mean(others), others) == pytest.approx(1.0)
    assert normal_tail_exposure(-1e6, others) < 1100  # finite, JSON-safe
    assert normal_tail_exposure(0.0, [1.0]) is None


def statistics_mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


AUC_TABLE = [
    # positives, negatives, AUC (by hand)
    ([3.0, 4.0], [1.0, 2.0], 1.0),
    ([1.0, 2.0], [3.0, 4.0], 0.0),
    ([1.0, 3.0], [2.0, 4.0], 0.25),  # pairs (pos>neg): (3,2) only -> 1/4
    ([2.0], [2.0], 0.5),  # tie counts half
    ([1.0, 2.0, 3.0], [2.0], (0 + 0.5 + 1) / 3),
]


@pytest.mark.parametrize(("pos", "neg", "auc"), AUC_TABLE)
def test_auc_table(pos, neg, auc) -> None:
    assert roc_auc(pos, neg) == pytest.approx(auc)


def _pairwise_auc(pos: list[float], neg: list[float]) -> float:
    """Independent restatement: P(pos > neg) + P(pos == neg) / 2 over all pairs."""
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=30),
    st.lists(st.integers(-5, 5), min_size=1, max_size=30),
)
def test_auc_equals_pairwise_definition(pos: list[int], neg: list[int]) -> None:
    p, n = [float(x) for x in pos], [float(x) for x in neg]
    assert roc_auc(p, n) == pytest.approx(_pairwise_auc(p, n))


def test_auc_matches_sklearn() -> None:
    from sklearn import metrics  # the dev extra installs it: an AUC no one here wrote

    rng = random.Random(3)
    pos = [rng.gauss(0.5, 1) for _ in range(200)] + [0.0] * 5
    neg = [rng.gauss(0.0, 1) for _ in range(150)] + [0.0] * 5
    expected = metrics.roc_auc_score([1] * len(pos) + [0] * len(neg), pos + neg)
    assert roc_auc(pos, neg) == pytest.approx(expected, abs=1e-12)


def test_when_auc_has_an_empty_side_then_value_error() -> None:
    with pytest.raises(ValueError):
        roc_auc([], [1.0])


@pytest.mark.parametrize(
    ("a", "b", "sim"),
    [
        ("abc", "abc", 1.0),
        ("", "", 1.0),
        ("abcd", "abce", 0.75),
        ("Hello   World", "hello world", 1.0),  # normalized
        ("abc", "", 0.0),
        ("kitten", "sitting", 1 - 3 / 7),
    ],
)
def test_edit_similarity_table(a, b, sim) -> None:
    assert edit_similarity(a, b) == pytest.approx(sim)


def _exp(rep: int, bits: float, i: int = 0) -> CanaryExposure:
    return CanaryExposure(
        f"c{rep}-{i}", "phone", rep, bits, 2 ** (10 - bits), 1024, 1023, "exact", None
    )


def _result(**kw) -> AuditResult:
    canaries = (_exp(1, 2.0), _exp(1, 9.0, 1), _exp(16, 10.0), _exp(16, 8.0, 1))
    extraction = {
        "training": ExtractionStats("training", 10, 8, 2, 1, 2, 16, 16, 0.9),
        "withdrawn": ExtractionStats("withdrawn", 5, 4, 1, 0, 1, 16, 16, 0.9),
    }
    membership = {"withdrawn": MembershipStats("withdrawn", 0.55, 4, 20, True)}
    return AuditResult(canaries, kw.get("extraction", extraction), kw.get("membership", membership))


def test_repetition_stats() -> None:
    by = {r.repetitions: r for r in repetition_stats(_result().canaries)}
    assert by[1].mean_bits == 5.5 and by[1].max_bits == 9.0 and by[1].min_bits == 2.0
    assert by[16].mean_bits == 9.0 and by[16].canaries == 2
    assert by[1].space_bits == 10.0 and by[1].chance_bits == pytest.approx(chance_exposure(1024))


VERDICTS = [
    ("nothing_configured", AuditThresholds(), True, []),
    (
        "rep1_max_exceeded",
        AuditThresholds(max_exposure_bits={1: 8.0}),
        False,
        ["max_exposure_bits[1]"],
    ),
    ("rep1_max_holds", AuditThresholds(max_exposure_bits={1: 9.0}), True, []),
    (
        "rep16_mean",
        AuditThresholds(max_mean_exposure_bits={16: 8.5}),
        False,
        ["max_mean_exposure_bits[16]"],
    ),
    ("verbatim_rate", AuditThresholds(max_verbatim_rate=0.1), False, ["max_verbatim_rate"]),  # 1/8
    ("near_rate", AuditThresholds(max_near_verbatim_rate=0.25), True, []),  # 2/8
    ("withdrawn_verbatim", AuditThresholds(max_withdrawn_verbatim_rate=0.0), True, []),
    (
        "withdrawn_near",
        AuditThresholds(max_withdrawn_near_verbatim_rate=0.2),
        False,
        ["max_withdrawn_near_verbatim_rate"],
    ),
    (
        "withdrawn_auc",
        AuditThresholds(max_withdrawn_membership_auc=0.5),
        False,
        ["max_withdrawn_membership_auc"],
    ),
]


@pytest.mark.parametrize(("name", "t", "passed", "failed"), VERDICTS, ids=[v[0] for v in VERDICTS])
def test_audit_passes_table(name, t, passed, failed) -> None:
    verdict = audit_passes(_result(), t)
    assert verdict.passed is passed and bool(verdict) is passed
    assert [c.name for c in verdict.failures] == failed


def test_when_measurement_missing_then_not_measured_and_not_failed() -> None:
    t = AuditThresholds(
        max_exposure_bits={4: 1.0},
        max_withdrawn_membership_auc=0.5,
        max_withdrawn_verbatim_rate=0.0,
    )
    verdict = audit_passes(_result(extraction={}, membership={}), t)
    assert verdict.passed
    assert [c.name for c in verdict.not_measured] == [
        "max_exposure_bits[4]",
        "max_withdrawn_verbatim_rate",
        "max_withdrawn_membership_auc",
    ]


def test_result_is_json_and_round_trips() -> None:
    r = _result()
    data = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert AuditResult.from_dict(data) == r
    assert data["extraction"]["training"]["verbatim_rate"] == 1 / 8
    assert data["canaries"]["by_repetition"][0]["repetitions"] == 1
    v = audit_passes(r, AuditThresholds(max_exposure_bits={1: 8.0}))
    assert json.loads(json.dumps(v.to_dict()))["passed"] is False
