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
