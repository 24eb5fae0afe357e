"""Community detection on the weighted account graph with igraph's Leiden (CPM objective).

CPM (constant Potts model) keeps a group together only while its internal edge weight beats
``resolution x pairs``, so small planted groups are not absorbed into large communities (the
resolution limit of modularity). Node ids are assigned in sorted account order and the RNG is
seeded, so the same input gives the same clusters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import igraph as ig
import numpy as np
import polars as pl
import pyarrow as pa
import xxhash


@dataclass(frozen=True)
class ClusterParams:
    resolution: float = 0.01
    seed: int = 0
    min_size: int = 2


def campaign_id(account_ids: list[str] | tuple[str, ...]) -> str:
    """Deterministic campaign id: ``DG-`` + 8 hex chars of xxh64 over the sorted member ids."""
    h = xxhash.xxh64("\n".join(sorted(account_ids)).encode(), seed=0).hexdigest()
    return f"DG-{h[:8]}"


def leiden_clusters(edges: pa.Table, params: ClusterParams = ClusterParams()) -> pl.DataFrame:
    """``(account_id, cluster)`` for every account in a cluster of at least ``min_size`` members.

    Clusters are numbered 0.. in the order of their smallest member id (deterministic).
    """
    empty = pl.DataFrame(schema={"account_id": pl.Utf8, "cluster": pl.Int64})
    if edges.num_rows == 0:
        return empty
    e = pl.from_arrow(edges.select(["src", "dst", "weight"]))
    assert isinstance(e, pl.DataFrame)
    nodes = pl.concat([e["src"], e["dst"]]).unique().sort()
    idx = pl.DataFrame({"account_id": nodes, "i": np.arange(len(nodes), dtype=np.int64)})
    # keep the edges' (sorted) order: Leiden's result depends on the order it is given the edges
    e = e.join(idx.rename({"account_id": "src", "i": "s"}), on="src", maintain_order="left").join(
        idx.rename({"account_id": "dst", "i": "d"}), on="dst", maintain_order="left"
    )
    g = ig.Graph(n=len(nodes), edges=np.column_stack([e["s"].to_numpy(), e["d"].to_numpy()]), directed=False)
    state = random.getstate()
    random.seed(params.seed)
    try:
        part = g.community_leiden(
            objective_function="CPM",
            weights=e["weight"].to_list(),
            resolution=params.resolution,
            n_iterations=-1,
        )
    finally:
        random.setstate(state)
    out = idx.with_columns(raw=pl.Series(part.membership, dtype=pl.Int64))
    sizes = out.group_by("raw").agg(size=pl.len(), first=pl.col("account_id").min())
    sizes = sizes.filter(pl.col("size") >= params.min_size).sort("first")
    sizes = sizes.with_columns(cluster=pl.int_range(pl.len(), dtype=pl.Int64))
    return (
        out.join(sizes.select("raw", "cluster"), on="raw").select("account_id", "cluster").sort("account_id")
    )
