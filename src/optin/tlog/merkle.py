"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs from stored subtree hashes, and
proof verification. Pure: no I/O.

Hashes: leaf ``SHA-256(0x00 || data)``, node ``SHA-256(0x01 || left || right)``, the
empty tree ``SHA-256("")``.

Proof generation never walks the whole tree: it asks a :data:`NodeGetter` for the hash
of a *perfect* subtree ``(level, index)`` (the ``2**level`` leaves starting at
``index * 2**level``), which storage keeps for every complete subtree, and combines at
most ``O(log n)`` of them for each hash the proof needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "MerkleError",
    "NodeGetter",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()

#: ``(level, index) -> hash`` of the perfect subtree of ``2**level`` leaves from
#: ``index * 2**level``.
NodeGetter = Callable[[int, int], bytes]


class MerkleError(ValueError):
    """A proof request or a proof that does not fit the tree sizes."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(get: NodeGetter, lo: int, hi: int) -> bytes:
    """The Merkle tree hash of leaves ``[lo, hi)``, where ``lo`` is a multiple of the
    largest power of two below ``hi - lo`` (true of every range a proof needs): the
    range is the perfect subtrees of the binary digits of ``hi - lo``, largest first,
    folded from the right."""
    n = hi - lo
    if n <= 0:
        return EMPTY_ROOT
    parts: list[bytes] = []
    pos = lo
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            if pos % (1 << level):
                raise MerkleError(f"range [{lo}, {hi}) is not aligned for stored subtrees")
            parts.append(get(level, pos >> level))
            pos += 1 << level
    acc = parts[-1]
    for h in reversed(parts[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_proof(get: NodeGetter, index: int, size: int) -> list[bytes]:
    """The RFC 6962 audit path of leaf ``index`` in the tree of ``size`` leaves, from the
    leaf's sibling up to the root's child."""
    if not 0 <= index < size:
        raise MerkleError(f"leaf index {index} is outside the tree of size {size}")
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(range_hash(get, lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(get, lo, lo + k))
            lo += k
            m -= k
    path.reverse()
    return path


def consistency_proof(get: NodeGetter, old: int, new: int) -> list[bytes]:
    """The RFC 6962 consistency proof between tree sizes ``old <= new``."""
    if not 0 <= old <= new:
        raise MerkleError(f"no consistency proof from size {old} to size {new}: need old <= new")
    if old == 0 or old == new:
        return []
    proof: list[bytes] = []
    lo, hi, m, complete = 0, new, old, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                proof.append(range_hash(get, lo, hi))
            break
        k = _split(n)
        if m <= k:
            proof.append(range_hash(get, lo + k, hi))
            hi = lo + k
        else:
            proof.append(range_hash(get, lo, lo + k))
            lo += k
            m -= k
            complete = False
    proof.reverse()
    return proof


def root_from_leaf_hashes(hashes: Iterable[bytes]) -> tuple[int, bytes]:
    """``(size, root)`` of the tree over ``hashes`` in one streaming pass (a stack of at
    most ``log2(n)`` perfect subtrees)."""
    stack: list[tuple[int, bytes]] = []  # (level, hash), levels strictly decreasing
    size = 0
    for h in hashes:
        size += 1
        level, acc = 0, h
        while stack and stack[-1][0] == level:
            acc = node_hash(stack.pop()[1], acc)
            level += 1
        stack.append((level, acc))
    if not stack:
        return 0, EMPTY_ROOT
    acc = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        acc = node_hash(h, acc)
    return size, acc


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` bind leaf hash ``leaf`` at ``index`` to
    ``root`` of a tree of ``size`` leaves?"""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old: int, new: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of size ``new`` with ``new_root`` an
    append-only extension of the tree of size ``old`` with ``old_root``?"""
    if not 0 <= old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first hash
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
