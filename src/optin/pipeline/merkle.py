"""Merkle root over a snapshot's record ids.

Construction (documented in the manifest): leaves are SHA-256 of each record id
(UTF-8), sorted by record id; each level hashes the concatenation of adjacent pairs of
raw 32-byte digests; an odd last node is promoted unchanged; the root is hex. The root
of no records is SHA-256 of the empty string.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

CONSTRUCTION = (
    "sha256 leaves over UTF-8 record ids sorted ascending; parent = sha256(left || right) "
    "of raw 32-byte digests; an odd last node is promoted; root in hex; empty set = "
    "sha256(b'')"
)


def merkle_root(record_ids: Iterable[str]) -> str:
    level = [hashlib.sha256(r.encode()).digest() for r in sorted(record_ids)]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        nxt = [
            hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].hex()


class MerkleFold:
    """:func:`merkle_root` over leaves given one at a time, in sorted order, in memory
    logarithmic in their number: ``pending[level]`` is the one node of that level still
    waiting for its right neighbour. :meth:`root` folds the pending nodes bottom-up
    exactly as the level-by-level construction does (an odd last node is promoted)."""

    def __init__(self) -> None:
        self.pending: list[bytes | None] = []
        self.leaves = 0
        self._last: str | None = None

    def add(self, record_id: str) -> None:
        if self._last is not None and record_id < self._last:
            raise ValueError("record ids must be added in ascending order")
        self._last = record_id
        self.leaves += 1
        node = hashlib.sha256(record_id.encode()).digest()
        level = 0
        while True:
            if level == len(self.pending):
                self.pending.append(node)
                return
            left = self.pending[level]
            if left is None:
                self.pending[level] = node
                return
            self.pending[level] = None
            node = hashlib.sha256(left + node).digest()
            level += 1

    def root(self) -> str:
        if not self.leaves:
            return hashlib.sha256(b"").hexdigest()
        carry: bytes | None = None
        for node in self.pending:
            if node is not None:
                carry = node if carry is None else hashlib.sha256(node + carry).digest()
        assert carry is not None
        return carry.hex()


def merkle_root_sorted_runs(runs: Iterable[Iterable[str]]) -> tuple[int, str]:
    """(leaves, :func:`merkle_root`) of the union of ``runs``, each already sorted
    ascending (one per shard, read lazily): a k-way merge, so memory is one item per run
    plus what each run buffers."""
    import heapq

    fold = MerkleFold()
    for rid in heapq.merge(*runs):
        fold.add(rid)
    return fold.leaves, fold.root()
