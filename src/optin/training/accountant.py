"""Rényi-DP accounting for the Poisson-subsampled Gaussian mechanism, in plain Python.

The same mechanism serves both privacy units: at example level the sampling rate ``q``
is the chance that an example is in a step's batch; at member level (what optin trains
with by default) ``q`` is the chance that a *member* is sampled, every sampled member
contributes one clipped sum of at most ``k`` examples' gradients, and the sensitivity of
the step's sum to adding or removing a whole member is the clip norm ``C``. Noise
``N(0, (σC)²)`` then gives the RDP curve of the sampled Gaussian mechanism with
``(q, σ)``, composed over ``steps``.

The curve is computed as in Mironov, Talwar and Zhang, *Rényi Differential Privacy of
the Sampled Gaussian Mechanism* (2019): the closed form for integer orders and the
series for fractional ones, over the orders Opacus uses, converted to ``(ε, δ)`` with
the bound of Balle et al. (2020, Theorem 21), which is also what Opacus's
``RDPAccountant`` reports. It is written here, not imported, so that a model card can be
checked without torch and so that the test against Opacus compares two
implementations. :func:`calibrate_sigma` finds the smallest noise multiplier meeting a
target ``(ε, δ)`` by bisection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: The RDP orders (Opacus's default list).
ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))


def _log_add(a: float, b: float) -> float:
    lo, hi = min(a, b), max(a, b)
    if lo == -math.inf:
        return hi
    return math.log1p(math.exp(lo - hi)) + hi


def _log_sub(a: float, b: float) -> float:
    if b == -math.inf:
        return a
    if a == b:
        return -math.inf
    if a < b:
        raise ValueError("log_sub: a < b")
    try:
        return math.log(math.expm1(a - b)) + b
    except OverflowError:
        return a


def _log_erfc(x: float) -> float:
    r = math.erfc(x)
    if r > 0.0:
        return math.log(r)
    # asymptotic expansion for large x
    return (
        -math.log(math.pi) / 2
        - math.log(x)
        - x**2
        - 0.5 * x**-2
        + 0.625 * x**-4
        - 37.0 / 24.0 * x**-6
        + 353.0 / 64.0 * x**-8
    )


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _log_a_int(q: float, sigma: float, alpha: int) -> float:
    log_a = -math.inf
    for i in range(alpha + 1):
        log_coef = _log_comb(alpha, i) + i * math.log(q) + (alpha - i) * math.log(1 - q)
        log_a = _log_add(log_a, log_coef + (i * i - i) / (2 * sigma**2))
    return log_a


def _log_a_frac(q: float, sigma: float, alpha: float) -> float:
    # the integrals over (-inf, z0] and [z0, inf), in logs; binom(alpha, i) carried as
    # sign and log magnitude (it changes sign once i > alpha)
    log_a0, log_a1 = -math.inf, -math.inf
    z0 = sigma**2 * math.log(1 / q - 1) + 0.5
    i, sign, log_coef = 0, 1, 0.0
    while True:
        j = alpha - i
        log_t0 = log_coef + i * math.log(q) + j * math.log(1 - q)
        log_t1 = log_coef + j * math.log(q) + i * math.log(1 - q)
        log_e0 = math.log(0.5) + _log_erfc((i - z0) / (math.sqrt(2) * sigma))
        log_e1 = math.log(0.5) + _log_erfc((z0 - j) / (math.sqrt(2) * sigma))
        log_s0 = log_t0 + (i * i - i) / (2 * sigma**2) + log_e0
        log_s1 = log_t1 + (j * j - j) / (2 * sigma**2) + log_e1
        if sign > 0:
            log_a0, log_a1 = _log_add(log_a0, log_s0), _log_add(log_a1, log_s1)
        else:
            log_a0, log_a1 = _log_sub(log_a0, log_s0), _log_sub(log_a1, log_s1)
        if alpha - i < 0:
            sign = -sign
        log_coef += math.log(abs(alpha - i)) - math.log(i + 1)
        i += 1
        if max(log_s0, log_s1) < -30:
            break
    return _log_add(log_a0, log_a1)


def _rdp_one(q: float, sigma: float, alpha: float) -> float:
    if q == 0:
        return 0.0
    if sigma == 0:
        return math.inf
    if q == 1.0:
        return alpha / (2 * sigma**2)
    if math.isinf(alpha):
        return math.inf
    if float(alpha).is_integer():
        return _log_a_int(q, sigma, int(alpha)) / (alpha - 1)
    return _log_a_frac(q, sigma, alpha) / (alpha - 1)


def rdp(q: float, sigma: float, steps: int, orders: Sequence[float] = ORDERS) -> list[float]:
    """The RDP of ``steps`` compositions of the sampled Gaussian mechanism, per order."""
    return [_rdp_one(q, sigma, a) * steps for a in orders]


def epsilon(
    q: float, sigma: float, steps: int, delta: float, orders: Sequence[float] = ORDERS
) -> tuple[float, float]:
    """``(ε, best order)`` for ``steps`` steps at sampling rate ``q`` and noise
    multiplier ``sigma``, at ``delta``."""
    if not 0 < delta < 1:
        raise ValueError("delta must be in (0, 1)")
    best, best_order = math.inf, math.nan
    for a, r in zip(orders, rdp(q, sigma, steps, orders), strict=True):
        if a <= 1 or math.isinf(r):
            continue
        eps = r + math.log1p(-1 / a) - (math.log(delta) + math.log(a)) / (a - 1)
        if eps < best:
            best, best_order = eps, a
    return max(best, 0.0), best_order


def calibrate_sigma(
    target_epsilon: float,
    delta: float,
    q: float,
    steps: int,
    *,
    tolerance: float = 0.01,
    sigma_max: float = 2000.0,
) -> float:
    """The smallest noise multiplier (to ``tolerance``) whose ε at ``(q, steps, delta)``
    is at most ``target_epsilon``."""
    if target_epsilon <= 0:
        raise ValueError("target epsilon must be > 0")
    lo, hi = 0.0, 10.0
    while epsilon(q, hi, steps, delta)[0] > target_epsilon:
        lo, hi = hi, hi * 2
        if hi > sigma_max:
            raise ValueError(
                f"no noise multiplier up to {sigma_max} reaches epsilon {target_epsilon} "
                f"at q={q}, steps={steps}, delta={delta}"
            )
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        if mid > 0 and epsilon(q, mid, steps, delta)[0] <= target_epsilon:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True)
class Guarantee:
    """What a DP run promises, as the model card and lineage record it."""

    unit: str  # member | example
    epsilon: float
    delta: float
    sampling: str  # e.g. "Poisson, members at rate q"
    sample_rate: float
    noise_multiplier: float
    clip_norm: float
    max_examples_per_member: int | None
    steps: int
    accountant: str = "RDP (sampled Gaussian mechanism; Mironov et al. 2019)"

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.unit,
            "epsilon": round(self.epsilon, 4),
            "delta": self.delta,
            "sampling": self.sampling,
            "sample_rate": self.sample_rate,
            "noise_multiplier": round(self.noise_multiplier, 4),
            "clip_norm": self.clip_norm,
            "max_examples_per_member": self.max_examples_per_member,
            "steps": self.steps,
            "accountant": self.accountant,
        }


__all__ = ["ORDERS", "Guarantee", "calibrate_sigma", "epsilon", "rdp"]
