"""The global duplicate pass on a Dask cluster: keys shuffled by key, never gathered.

The rule is :func:`optin.pipeline.steps.dedupe.find_duplicates`'s, and so is the
result (a test holds the two equal on random inputs): records are ranked by (created
time, position in input order); of each exact key the lowest rank stays; among the
survivors, records sharing a band key are connected and only the lowest rank of each
connected component stays.

Each record is a node ``g`` (its global position: the shard's offset plus its row).
On the workers, with ``dask.dataframe``:

1. every stage-1 shard is read where it lies (``from_map``), exact keys shuffled by key;
   in each exact group all but the lowest (created, g) are exact duplicates;
2. the survivors' band keys (band, key, g) are shuffled by (band, key); each group
   of two or more gives star edges (smallest g, other g), and each partition's edges are
   contracted to stars of its own connected components (numpy, in the partition);
3. connected components by min-label propagation with pointer jumping (each round:
   two joins of the edges with the labels, a group-by-min, one jump), repeated until
   the sum of the labels stops falling (labels only ever fall, so an unchanged sum is
   an unchanged labelling);
4. nodes shuffled by component; all but the lowest (created, g) are near duplicates.

In a build (:func:`write_duplicates`) the duplicates are then shuffled by shard and each
shard's rows written by a worker to a file its stage 2 reads; the driver receives one
count pair per shard and, per round, one number: no positions, keys, edges or labels.
Shuffles use Dask's task-based method, so the same code runs on the synchronous
scheduler (tests) and on a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from optin.pipeline.steps.dedupe import min_labels

I64 = npt.NDArray[np.int64]
_SHUFFLE = "tasks"


def _frame(columns: dict[str, Any]) -> Any:
    import pandas as pd

    return pd.DataFrame(columns)


def _meta_keys(bands: int) -> Any:
    cols: dict[str, Any] = {
        "g": np.empty(0, np.int64),
        "created": np.empty(0, np.int64),
        "exact": np.empty(0, np.uint64),
    }
    for b in range(bands):
        cols[f"band_{b:02d}"] = np.empty(0, np.uint64)
    return _frame(cols)


def _read_shard(part: tuple[str, int, int], bands: int) -> Any:
    """One stage-1 shard's keys with the rows' global positions."""
    from optin.pipeline.io import read_ipc

    path, offset, rows = part
    names = ["created_us", "exact_hash"] + [f"band_{b:02d}" for b in range(bands)]
    t = read_ipc(Path(path), names)
    cols: dict[str, Any] = {
        "g": np.arange(offset, offset + rows, dtype=np.int64),
        "created": t["created_us"].to_numpy().astype(np.int64, copy=False),
        "exact": t["exact_hash"].to_numpy().astype(np.uint64, copy=False),
    }
    for b in range(bands):
        cols[f"band_{b:02d}"] = t[f"band_{b:02d}"].to_numpy().astype(np.uint64, copy=False)
    return _frame(cols)


def _group_firsts(key: Any, created: Any, g: Any) -> tuple[Any, Any]:
    """The order that sorts rows by (key, created, g), and which sorted rows are the
    first (the winner) of their key."""
    order = np.lexsort((g, created, key))
    k = key[order]
    first = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        first[1:] = k[1:] != k[:-1]
    return order, first


def _exact_split(df: Any, *, losers: bool, bands: int) -> Any:
    """In one exact-key partition: the exact duplicates (``losers``), or the long band
    rows (band, key, g, created) of the survivors."""
    g = df["g"].to_numpy()
    created = df["created"].to_numpy()
    order, first = _group_firsts(df["exact"].to_numpy(), created, g)
    if losers:
        return _frame({"g": g[order[~first]]})
    keep = order[first]
    n = len(keep)
    if n == 0:
        return _frame(
            {
                "band": np.empty(0, np.int16),
                "key": np.empty(0, np.uint64),
                "g": np.empty(0, np.int64),
                "created": np.empty(0, np.int64),
            }
        )
    band = np.repeat(np.arange(bands, dtype=np.int16), n)
    key = np.concatenate([df[f"band_{b:02d}"].to_numpy()[keep] for b in range(bands)])
    return _frame(
        {
            "band": band,
            "key": key.astype(np.uint64, copy=False),
            "g": np.tile(g[keep], bands),
            "created": np.tile(created[keep], bands),
        }
    )


def _star_edges(df: Any) -> Any:
    """In one (band, key) partition: for each group of two or more, edges from its
    smallest g to every other member, with both ends' created times."""
    band = df["band"].to_numpy()
    key = df["key"].to_numpy()
    g = df["g"].to_numpy()
    created = df["created"].to_numpy()
    order = np.lexsort((g, key, band))
    b, k = band[order], key[order]
    new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        new[1:] = (b[1:] != b[:-1]) | (k[1:] != k[:-1])
    group = np.cumsum(new) - 1
    hub = order[np.flatnonzero(new)][group]
    other = order[~new]
    hub = hub[~new]
    return _contract(g[hub], created[hub], g[other], created[other])


def _contract(u: I64, cu: I64, v: I64, cv: I64) -> Any:
    """The partition's edges as stars: its connected components (found here, in numpy)
    each become edges from their smallest node to the others. Components only merge
    within the partition, so the global components are unchanged; the rounds left to
    the cluster are fewer."""
    if len(u) == 0:
        return _frame({"u": u, "cu": cu, "v": v, "cv": cv})
    nodes, inv = np.unique(np.concatenate([u, v]), return_inverse=True)
    created = np.empty(len(nodes), dtype=np.int64)
    created[inv] = np.concatenate([cu, cv])
    src, dst = inv[: len(u)], inv[len(u) :]
    label = min_labels(len(nodes), src, dst)  # nodes sorted: the min is the smallest g
    leaf = np.flatnonzero(label != np.arange(len(nodes)))
    root = label[leaf]
    return _frame({"u": nodes[root], "cu": created[root], "v": nodes[leaf], "cv": created[leaf]})


def _winners_lose(df: Any) -> Any:
    """In one component partition: every node but the lowest (created, g) of its label."""
    g = df["g"].to_numpy()
    order, first = _group_firsts(df["label"].to_numpy(), df["created"].to_numpy(), g)
    return _frame({"g": g[order[~first]]})


def _min_labels(df: Any) -> Any:
    """Per node of a partition (after a shuffle by node): its smallest label."""
    return df.groupby("g", sort=True)["label"].min().reset_index()


def _labels_meta() -> Any:
    return _frame({"g": np.empty(0, np.int64), "label": np.empty(0, np.int64)})


def _start_labels(df: Any) -> Any:
    """Both ends of each edge (u < v) labelled u."""
    u, v = df["u"].to_numpy(), df["v"].to_numpy()
    return _frame({"g": np.concatenate([u, v]), "label": np.concatenate([u, u])})


def _edge_mins(df: Any) -> Any:
    """Both ends of each edge labelled with the smaller of the two ends' labels."""
    m = np.minimum(df["lu"].to_numpy(), df["lv"].to_numpy())
    return _frame(
        {"g": np.concatenate([df["u"].to_numpy(), df["v"].to_numpy()]), "label": np.tile(m, 2)}
    )


def _jump(df: Any) -> Any:
    """A node takes its label's label when that is smaller (one pointer jump)."""
    label = df["label"].to_numpy()
    up = df["up"].to_numpy(dtype=np.float64, na_value=np.nan)
    has = ~np.isnan(up)
    out = label.copy()
    upi = np.where(has, up, 0).astype(np.int64)
    take = has & (upi < label)
    out[take] = upi[take]
    return _frame({"g": df["g"].to_numpy(), "label": out})


def _components(edges: Any, nparts: int) -> Any:
    """(g, label) for every node of ``edges`` (u < v), label = the smallest g of its
    connected component."""
    import dask.dataframe as dd

    meta = _labels_meta()

    def shuffle_min(frame: Any) -> Any:
        return frame.shuffle(on="g", npartitions=nparts, shuffle_method=_SHUFFLE).map_partitions(
            _min_labels, meta=meta
        )

    uv = edges[["u", "v"]]
    labels = shuffle_min(uv.map_partitions(_start_labels, meta=meta)).persist()
    total = int(labels["label"].sum().compute())
    while True:
        lu = labels.rename(columns={"g": "u", "label": "lu"})
        lv = labels.rename(columns={"g": "v", "label": "lv"})
        joined = uv.merge(lu, on="u", shuffle_method=_SHUFFLE).merge(
            lv, on="v", shuffle_method=_SHUFFLE
        )
        cand = dd.concat([labels, joined.map_partitions(_edge_mins, meta=meta)])
        step = shuffle_min(cand)
        hop = step.rename(columns={"g": "label", "label": "up"})
        jumped = step.merge(hop, on="label", how="left", shuffle_method=_SHUFFLE)
        nxt = shuffle_min(jumped.map_partitions(_jump, meta=meta)).persist()
        new_total = int(nxt["label"].sum().compute())
        labels = nxt
        if new_total == total:
            return labels
        total = new_total


#: Records per shuffle partition the pass aims at (its partitions are never fewer than
#: ``partitions`` nor more than the shards).
RECORDS_PER_PARTITION = 1_000_000


def _losers(
    paths: Sequence[Path],
    sizes: Sequence[int],
    *,
    bands: int,
    near_dup: bool,
    partitions: int,
) -> tuple[Any, Any, int] | None:
    """Lazy frames of the exact and the near duplicates' positions (column ``g``; the
    near frame is None when there are none to find) and the shuffle partitions used;
    None when there are no rows. Call under ``dataframe.convert-string`` off."""
    import dask.dataframe as dd

    offsets = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64)))
    starts = offsets[:-1]
    parts = [(str(p), int(o), int(n)) for p, o, n in zip(paths, starts, sizes, strict=True) if n]
    wanted = max(partitions, -(-sum(sizes) // RECORDS_PER_PARTITION))
    nparts = max(1, min(len(parts), wanted))
    empty = np.empty(0, np.int64)
    if not parts:
        return None
    keys = dd.from_map(_read_shard, parts, bands=bands, meta=_meta_keys(bands))
    by_exact = keys.shuffle(on="exact", npartitions=nparts, shuffle_method=_SHUFFLE).persist()
    exact_losers = by_exact.map_partitions(
        _exact_split, losers=True, bands=bands, meta=_frame({"g": empty})
    )
    if not near_dup or sum(sizes) < 2:
        return exact_losers, None, nparts
    long_meta = _frame(
        {
            "band": np.empty(0, np.int16),
            "key": np.empty(0, np.uint64),
            "g": empty,
            "created": empty,
        }
    )
    long = by_exact.map_partitions(_exact_split, losers=False, bands=bands, meta=long_meta)
    edge_meta = _frame({"u": empty, "cu": empty, "v": empty, "cv": empty})
    edges = (
        long.shuffle(on=["band", "key"], npartitions=nparts, shuffle_method=_SHUFFLE)
        .map_partitions(_star_edges, meta=edge_meta)
        .persist()
    )
    if int(edges["u"].count().compute()) == 0:
        return exact_losers, None, nparts
    labels = _components(edges, nparts)
    created = dd.concat(
        [
            edges[["u", "cu"]].rename(columns={"u": "g", "cu": "created"}),
            edges[["v", "cv"]].rename(columns={"v": "g", "cv": "created"}),
        ]
    )
    nodes = labels.merge(
        created.drop_duplicates(subset="g", split_out=nparts, shuffle_method=_SHUFFLE),
        on="g",
        shuffle_method=_SHUFFLE,
    )
    near_losers = nodes.shuffle(on="label", npartitions=nparts, shuffle_method=_SHUFFLE)
    near = near_losers.map_partitions(_winners_lose, meta=_frame({"g": empty}))
    return exact_losers, near, nparts


def distributed_duplicates(
    paths: Sequence[Path],
    sizes: Sequence[int],
    *,
    bands: int,
    near_dup: bool,
    partitions: int = 2,
) -> tuple[I64, I64]:
    """(exact-duplicate positions, near-duplicate positions), global and sorted, of the
    stage-1 shards ``paths`` holding ``sizes`` rows; computed on the current Dask
    scheduler (a distributed Client when one is active). ``partitions``: at least this
    many shuffle partitions (the executor gives two per worker); more for large inputs
    (:data:`RECORDS_PER_PARTITION`). The result does not depend on it. This gathers
    every position here; a build uses :func:`write_duplicates`, which does not."""
    import dask

    empty = np.empty(0, np.int64)
    with dask.config.set({"dataframe.convert-string": False}):
        found = _losers(paths, sizes, bands=bands, near_dup=near_dup, partitions=partitions)
        if found is None:
            return empty, empty
        exact, near, _ = found
        exact_g = np.sort(exact["g"].compute().to_numpy().astype(np.int64))
        if near is None:
            return exact_g, empty
        near_g = np.sort(near["g"].compute().to_numpy().astype(np.int64))
    return exact_g, near_g


def _by_shard(df: Any, *, offsets: I64, near: bool) -> Any:
    """Global positions -> (shard position in the input, row in the shard, near?)."""
    g = df["g"].to_numpy().astype(np.int64, copy=False)
    shard = np.searchsorted(offsets, g, side="right") - 1
    return _frame(
        {
            "shard": shard.astype(np.int64),
            "row": g - offsets[shard],
            "near": np.full(len(g), near, dtype=bool),
        }
    )


def _counts_meta() -> Any:
    return _frame(
        {
            "shard": np.empty(0, np.int64),
            "exact": np.empty(0, np.int64),
            "near": np.empty(0, np.int64),
        }
    )


def _write_shards(df: Any, *, files: Sequence[str]) -> Any:
    """In one shard-keyed partition: each shard's duplicate rows written to its file
    (:func:`optin.pipeline.shard.write_duplicates_file`); the counts per shard."""
    from optin.pipeline.shard import write_duplicates_file

    shard = df["shard"].to_numpy()
    row = df["row"].to_numpy()
    near = df["near"].to_numpy().astype(bool, copy=False)
    out: dict[str, list[int]] = {"shard": [], "exact": [], "near": []}
    for s in np.unique(shard):
        mine = shard == s
        e = np.sort(row[mine & ~near])
        n = np.sort(row[mine & near])
        write_duplicates_file(Path(files[int(s)]), e, n)
        out["shard"].append(int(s))
        out["exact"].append(len(e))
        out["near"].append(len(n))
    return _frame({k: np.asarray(v, dtype=np.int64) for k, v in out.items()})


def write_duplicates(
    paths: Sequence[Path],
    sizes: Sequence[int],
    files: Sequence[Path],
    *,
    bands: int,
    near_dup: bool,
    partitions: int = 2,
) -> dict[int, tuple[int, int]]:
    """The pass of :func:`distributed_duplicates`, its result left on the workers: the
    duplicates are shuffled by shard and each shard's rows (exact, near; sorted, local
    to the shard) written by a worker to ``files[i]`` for the shard ``paths[i]``. Only
    shards with duplicates get a file. Returns {shard position: (exact count, near
    count)} for those: the driver holds one small entry per shard, nothing per record."""
    import dask
    import dask.dataframe as dd

    offsets = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64)))
    with dask.config.set({"dataframe.convert-string": False}):
        found = _losers(paths, sizes, bands=bands, near_dup=near_dup, partitions=partitions)
        if found is None:
            return {}
        exact, near, nparts = found
        meta = _frame(
            {
                "shard": np.empty(0, np.int64),
                "row": np.empty(0, np.int64),
                "near": np.empty(0, bool),
            }
        )
        frames = [exact.map_partitions(_by_shard, offsets=offsets, near=False, meta=meta)]
        if near is not None:
            frames.append(near.map_partitions(_by_shard, offsets=offsets, near=True, meta=meta))
        rows = dd.concat(frames) if len(frames) > 1 else frames[0]
        counts = (
            rows.shuffle(on="shard", npartitions=nparts, shuffle_method=_SHUFFLE)
            .map_partitions(_write_shards, files=[str(f) for f in files], meta=_counts_meta())
            .compute()
        )
    return {
        int(s): (int(e), int(n))
        for s, e, n in zip(counts["shard"], counts["exact"], counts["near"], strict=True)
    }


__all__ = ["distributed_duplicates", "write_duplicates"]
