"""The RDP accountant (plain Python): properties, and agreement with Opacus's RDP
accountant (a published reference implementation) for the example-level case on the
same q, σ and steps (that part runs where the ``train`` extra is installed, as in CI)."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optin.training.accountant import ORDERS, calibrate_sigma, epsilon, rdp

CASES = [  # (q, sigma, steps, delta)
    (0.01, 1.0, 1000, 1e-5),
    (0.05, 0.8, 200, 1e-5),
    (0.1, 1.5, 40, 1e-6),
    (0.25, 2.0, 40, 1e-5),
    (0.004, 1.1, 10_000, 1e-5),
    (1.0, 5.0, 10, 1e-5),
]


@pytest.mark.parametrize(("q", "sigma", "steps", "delta"), CASES)
def test_epsilon_matches_opacus_rdp_accountant(
    q: float, sigma: float, steps: int, delta: float
) -> None:
    pytest.importorskip("torch")
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    acc.history = [(sigma, q, steps)]
    ref = acc.get_epsilon(delta=delta)
    ours, _ = epsilon(q, sigma, steps, delta)
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(("q", "sigma", "steps", "delta"), CASES[:4])
def test_rdp_curve_matches_opacus_per_order(
    q: float, sigma: float, steps: int, delta: float
) -> None:
    pytest.importorskip("torch")
    from opacus.accountants.analysis.rdp import compute_rdp

    ref = compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=list(ORDERS))
    ours = rdp(q, sigma, steps)
    for a, r, o in zip(ORDERS, ref, ours, strict=True):
        assert o == pytest.approx(float(r), rel=1e-6, abs=1e-12), f"order {a}"


def test_calibrated_sigma_meets_the_target_and_agrees_with_opacus() -> None:
    q, steps, delta = 16 / 300, 40, 1e-5
    for target in (1.0, 8.0):
        sigma = calibrate_sigma(target, delta, q, steps)
        assert epsilon(q, sigma, steps, delta)[0] <= target
        assert epsilon(q, sigma * 0.97, steps, delta)[0] > target * 0.99  # nearly tight
    pytest.importorskip("torch")
    from opacus.accountants.utils import get_noise_multiplier

    for target in (1.0, 8.0):
        with warnings.catch_warnings():  # Opacus warns while its search probes tiny sigmas
            warnings.simplefilter("ignore", UserWarning)
            ref = get_noise_multiplier(
                target_epsilon=target,
                target_delta=delta,
                sample_rate=q,
                steps=steps,
                accountant="rdp",
                epsilon_tolerance=0.001,
            )
        assert calibrate_sigma(target, delta, q, steps, tolerance=0.001) == pytest.approx(
            ref, rel=0.02
        )


@settings(max_examples=15, deadline=None)
@given(
    q=st.floats(0.001, 0.5),
    sigma=st.floats(0.6, 5.0),
    steps=st.integers(1, 500),
)
def test_more_noise_or_fewer_steps_never_costs_more(q: float, sigma: float, steps: int) -> None:
    e = epsilon(q, sigma, steps, 1e-5)[0]
    assert e >= 0 and math.isfinite(e)
    assert epsilon(q, sigma * 1.5, steps, 1e-5)[0] <= e + 1e-9
    assert epsilon(q, sigma, max(1, steps // 2), 1e-5)[0] <= e + 1e-9
    assert epsilon(q / 2, sigma, steps, 1e-5)[0] <= e + 1e-9


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        epsilon(0.1, 1.0, 10, 0.0)
    with pytest.raises(ValueError):
        calibrate_sigma(0.0, 1e-5, 0.1, 10)
