"""RFC 6962 hashing and proofs against a direct transcription of the RFC's recursive
definitions, plus Hypothesis properties over random trees."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from optin.tlog import merkle
from optin.tlog.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, literally."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def getter(leaves: list[bytes]) -> merkle.NodeGetter:
    def get(level: int, index: int) -> bytes:
        lo = index << level
        hi = lo + (1 << level)
        assert hi <= len(leaves), "asked for an incomplete subtree"
        return mth(leaves[lo:hi])

    return get


def data(n: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(n)]


def test_empty_tree_and_known_root() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaf_hashes([]) == (0, EMPTY_ROOT)
    # RFC 6962 test vector (certificate-transparency-go merkle tests): one empty leaf
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


def test_against_the_rfc_definitions_up_to_40_leaves() -> None:
    for n in range(1, 41):
        leaves = data(n)
        get = getter(leaves)
        root = mth(leaves)
        assert root_from_leaf_hashes([leaf_hash(x) for x in leaves]) == (n, root)
        for m in range(n):
            p = inclusion_proof(get, m, n)
            assert p == path(m, leaves)
            assert verify_inclusion(leaf_hash(leaves[m]), m, n, p, root)
        for old in range(1, n + 1):
            c = consistency_proof(get, old, n)
            assert c == (subproof(old, leaves, True) if old < n else [])
            assert verify_consistency(old, n, c, mth(leaves[:old]), root)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_every_proof_verifies_against_every_later_tree(
    leaves: list[bytes], d: st.DataObject
) -> None:
    n = len(leaves)
    get = getter(leaves)
    sizes = sorted(d.draw(st.sets(st.integers(1, n), min_size=1, max_size=4)))
    for size in sizes:
        root = mth(leaves[:size])
        m = d.draw(st.integers(0, size - 1))
        assert verify_inclusion(leaf_hash(leaves[m]), m, size, inclusion_proof(get, m, size), root)
        for old in range(0, size + 1):
            c = consistency_proof(get, old, size)
            assert verify_consistency(old, size, c, mth(leaves[:old]), root)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=2, max_size=50), st.data())
def test_a_changed_leaf_breaks_its_proofs(leaves: list[bytes], d: st.DataObject) -> None:
    n = len(leaves)
    m = d.draw(st.integers(0, n - 1))
    changed = list(leaves)
    changed[m] = leaves[m] + b"!"
    root = mth(leaves)
    p = inclusion_proof(getter(leaves), m, n)
    assert not verify_inclusion(leaf_hash(changed[m]), m, n, p, root)
    # the rewritten tree is not an extension of any older tree that held the leaf
    old = d.draw(st.integers(m + 1, n))
    forged = consistency_proof(getter(changed), old, n)
    assert not verify_consistency(old, n, forged, mth(leaves[:old]), mth(changed))


def test_wrong_sizes_and_indices_are_refused() -> None:
    leaves = data(5)
    get = getter(leaves)
    p = inclusion_proof(get, 2, 5)
    root = mth(leaves)
    assert not verify_inclusion(leaf_hash(leaves[2]), 3, 5, p, root)
    assert not verify_inclusion(leaf_hash(leaves[2]), 2, 9, p, root)
    assert not verify_inclusion(leaf_hash(leaves[2]), 5, 5, p, root)
    assert not verify_consistency(4, 3, [], root, root)
    assert not verify_consistency(3, 5, [], mth(leaves[:3]), root)
