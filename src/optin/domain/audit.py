"""The arithmetic of a snapshot leak audit (``optin snapshot audit``): which records are
sampled, and the leak rate's confidence interval. Pure: no I/O, no clock.

Sampling: every kept record id is ranked by ``HMAC-SHA256(key="optin-audit:<seed>",
record id)``; the sample is the ``size`` ids with the smallest digests. The draw is
reproducible from the seed and the ids alone, independent of the order of the shards
and of the rows in them, and nested (the sample of 100 is the first 100 of the sample of
200 for the same seed), so anyone holding the snapshot can redraw it.

Interval: the Wilson score interval (Wilson 1927; Newcombe 1998, method 3) at 95%
(z = 1.959963984540054), which stays inside [0, 1] and is honest at 0 leaks.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import math
from collections.abc import Iterable

SAMPLING_METHOD = (
    "HMAC-SHA256(key 'optin-audit:<seed>', record id); the records with the smallest "
    "digests (reproducible, independent of shard order)"
)
INTERVAL_METHOD = "Wilson score interval, 95% (z = 1.959963984540054)"
#: the two-sided 95% normal quantile
Z95 = 1.959963984540054


def sample_rank(record_id: str, seed: int) -> bytes:
    """The digest that orders ``record_id`` in the sample drawn with ``seed``."""
    key = f"optin-audit:{seed}".encode()
    return hmac.new(key, record_id.encode("utf-8"), hashlib.sha256).digest()


def draw_sample(record_ids: Iterable[str], size: int, seed: int) -> list[str]:
    """The ``size`` record ids of smallest rank (all of them when there are fewer), in
    rank order; ``record_ids`` may come in any order (duplicates count once)."""
    if size < 0:
        raise ValueError("sample size must be >= 0")
    ranked = ((sample_rank(r, seed), r) for r in set(record_ids))
    return [r for _, r in heapq.nsmallest(size, ranked)]


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``k`` successes in ``n`` trials (``(0, 1)`` when
    ``n`` is 0: nothing was measured)."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n (got k={k}, n={n})")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if k == 0 else max(0.0, min(p, mid - half))  # exact ends, no rounding past p
    hi = 1.0 if k == n else min(1.0, max(p, mid + half))
    return lo, hi


__all__ = ["INTERVAL_METHOD", "SAMPLING_METHOD", "Z95", "draw_sample", "sample_rank", "wilson"]
