"""Exact and near-duplicate removal (MinHash-LSH with ``rensa``), deterministic.

Per shard (:func:`dedupe_keys`): normalise each text (NFKC, case-fold, words only), an
8-byte BLAKE2b hash of it (exact key), and a MinHash signature of word shingles folded
into one 64-bit key per LSH band.

Globally (:func:`find_duplicates`): records are ranked by (created time, position in
content-id order). Exact duplicates: all but the lowest rank of each exact key are
dropped. Near duplicates: records sharing any band key are connected; in each connected
component only the lowest rank is kept (the earliest post wins, ties to the smallest
content id). The result depends only on the data, never on shard or worker order.
Memory is O(records x 16 bytes) per band, not O(text).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"\w+", re.UNICODE)
_FNV = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


def normalise(text: str) -> list[str]:
    """The words of ``text`` after NFKC and case folding."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def exact_key(words: Sequence[str], seed: int) -> int:
    h = hashlib.blake2b(" ".join(words).encode(), digest_size=8, salt=seed.to_bytes(8, "big"))
    return int.from_bytes(h.digest(), "big")


def shingles(words: Sequence[str], n: int) -> list[str]:
    if len(words) <= n:
        return [" ".join(words)]
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def _minhash_fn(num_perm: int, seed: int) -> Callable[[list[str]], list[int]]:
    from rensa import RMinHash

    def sig(tokens: list[str]) -> list[int]:
        m = RMinHash(num_perm=num_perm, seed=seed)
        m.update(tokens)
        return list(m.digest())

    return sig


def band_keys(signatures: npt.NDArray[np.uint32], bands: int) -> U64:
    """Fold each band of ``rows_per_band`` uint32 values into one uint64 (FNV-1a style)."""
    n, perms = signatures.shape
    r = perms // bands
    sig = signatures.astype(np.uint64).reshape(n, bands, r)
    h = np.full((n, bands), np.uint64(0xCBF29CE484222325), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(r):
            h = (h ^ sig[:, :, j]) * _FNV
        h = h ^ (h >> np.uint64(29))
        h = h * _MIX
        h = h ^ (h >> np.uint64(32))
    return h


def dedupe_keys(
    texts: Sequence[str], *, num_perm: int, bands: int, shingle_words: int, seed: int
) -> tuple[U64, U64]:
    """(exact keys shape (n,), band keys shape (n, bands)) for ``texts``."""
    n = len(texts)
    exact = np.empty(n, dtype=np.uint64)
    sigs = np.empty((n, num_perm), dtype=np.uint32)
    sig = _minhash_fn(num_perm, seed)
    for i, t in enumerate(texts):
        words = normalise(t)
        exact[i] = exact_key(words, seed)
        sigs[i] = sig(shingles(words, shingle_words))
    return exact, band_keys(sigs, bands)


def _ranks(created_us: I64) -> I64:
    """Rank of each record by (created time, position); position breaks ties."""
    order = np.lexsort((np.arange(len(created_us)), created_us))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank


def _edges(keys: U64) -> tuple[I64, I64]:
    """Edges (first, other) joining the positions of equal ``keys``; "first" is the
    smallest position of its group (so exact groups keep their lowest rank)."""
    if len(keys) < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    new = np.concatenate(([True], k[1:] != k[:-1]))
    group = np.cumsum(new) - 1
    first = order[np.flatnonzero(new)][group]
    dup = ~new
    return first[dup].astype(np.int64), order[dup].astype(np.int64)


def min_labels(n: int, src: I64, dst: I64) -> I64:
    """Connected components of nodes ``0..n-1`` joined by the edges ``src[i]-dst[i]``:
    each node's label is the smallest node of its component (min-label propagation with
    pointer jumping)."""
    label = np.arange(n, dtype=np.int64)
    while True:
        before = label.copy()
        m = np.minimum(label[src], label[dst])
        np.minimum.at(label, src, m)
        np.minimum.at(label, dst, m)
        while True:  # pointer jumping: follow labels to their root
            nxt = label[label]
            if np.array_equal(nxt, label):
                break
            label = nxt
        if np.array_equal(before, label):
            return label


def find_duplicates(
    created_us: I64,
    exact: U64,
    band_columns: Callable[[int], U64] | None,
    bands: int,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(exact-duplicate mask, near-duplicate mask) over all records, in input order.

    ``band_columns(b)`` returns band ``b``'s keys for every record (read lazily, one band
    at a time); None skips near-duplicate detection.
    """
    n = len(created_us)
    rank = _ranks(created_us)
    # Work in rank space: node r is the record with rank r; lower is preferred.
    by_rank = np.empty(n, dtype=np.int64)
    by_rank[rank] = np.arange(n, dtype=np.int64)
    exact_dup_r = np.zeros(n, dtype=bool)
    _, others = _edges(exact[by_rank])
    exact_dup_r[others] = True  # stable sort: the first of each group has the lowest rank
    near_dup_r = np.zeros(n, dtype=bool)
    if band_columns is not None and n > 1:
        alive = np.flatnonzero(~exact_dup_r)
        srcs: list[I64] = []
        dsts: list[I64] = []
        for b in range(bands):
            a, c = _edges(band_columns(b)[by_rank][alive])
            srcs.append(alive[a])
            dsts.append(alive[c])
        src = np.concatenate(srcs)
        dst = np.concatenate(dsts)
        label = min_labels(n, src, dst)
        near_dup_r = (label != np.arange(n)) & ~exact_dup_r
    return exact_dup_r[rank], near_dup_r[rank]
