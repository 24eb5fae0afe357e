"""Lay out a campaign's account graph from ``edges.parquet`` for the report.

Edges between the same two accounts are merged into one drawn edge that lists every kind of shared
evidence (coloured by the strongest); big campaigns are cut to the ``max_nodes`` most connected
accounts and the view says so. Layout (spring) and clusters (Louvain) come from networkx with a seed,
so the same scan gives the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import polars as pl


@dataclass(frozen=True)
class GraphView:
    nodes: list[dict]  # account_id, x, y, score, flagged, cluster, degree
    edges: list[dict]  # src, dst, x, y, x2, y2, kind (strongest), kinds ("; "-joined), weight
    total_nodes: int  # accounts in the campaign's graph before the cap
    total_edges: int  # merged edges before the cap
    clusters: int
    kinds: dict[str, int] = field(default_factory=dict)  # evidence kind -> merged edges carrying it
    note: str = ""


def campaign_edges(edges: pl.DataFrame, campaign_id: str, members: list[str]) -> pl.DataFrame:
    """The edges of one campaign: tagged with its id, or joining two of its members."""
    m = pl.Series(members, dtype=pl.String)
    return edges.filter((pl.col("campaign_id") == campaign_id)
                        | (pl.col("src").is_in(m.implode()) & pl.col("dst").is_in(m.implode())))


def layout_graph(edges: pl.DataFrame, accounts: pl.DataFrame, *, members: list[str] | None = None,
                 max_nodes: int = 300, max_edges: int = 2000, seed: int = 0) -> GraphView | None:
    """Merge, cap and lay out ``edges`` (columns src, dst, kind, weight); ``accounts`` gives scores,
    ``members`` (the campaign's accounts) marks which nodes belong to it (all of them when ``None``)."""
    if edges.height == 0:
        return None
    merged = (
        edges.with_columns(a=pl.min_horizontal("src", "dst"), b=pl.max_horizontal("src", "dst"))
        .filter(pl.col("a") != pl.col("b"))
        .group_by("a", "b", "kind").agg(pl.col("weight").max())
        .sort(["weight", "kind"], descending=[True, False])
        .group_by("a", "b", maintain_order=True)
        .agg(kind=pl.col("kind").first(), kinds=pl.col("kind").str.join("; "), weight=pl.col("weight").max(),
             kind_list=pl.col("kind"))
    )
    if merged.height == 0:
        return None
    kinds = merged.explode("kind_list").group_by("kind_list").len().sort("len", descending=True)
    kind_counts = dict(zip(kinds["kind_list"].to_list(), kinds["len"].to_list(), strict=True))
    degree = (pl.concat([merged.select(n=pl.col("a")), merged.select(n=pl.col("b"))])
              .group_by("n").len().rename({"len": "degree"}))
    total_nodes, total_edges = degree.height, merged.height
    scores = accounts.select(n=pl.col("account_id"), score=pl.col("score"), flagged=pl.col("flagged"))
    degree = degree.join(scores, on="n", how="left").sort(["degree", "score", "n"],
                                                           descending=[True, True, False], nulls_last=True)
    notes = []
    if total_nodes > max_nodes:
        degree = degree.head(max_nodes)
        keep = degree["n"]
        merged = merged.filter(pl.col("a").is_in(keep.implode()) & pl.col("b").is_in(keep.implode()))
        notes.append(f"showing the {max_nodes} most connected of {total_nodes:,} accounts")
    if merged.height > max_edges:
        merged = merged.sort(["weight", "a", "b"], descending=[True, False, False]).head(max_edges)
        notes.append(f"showing the {max_edges:,} strongest of {total_edges:,} links")
    g = nx.Graph()
    g.add_nodes_from(degree["n"].to_list())
    g.add_weighted_edges_from(merged.select("a", "b", "weight").iter_rows())
    pos = nx.spring_layout(g, seed=seed, weight="weight", iterations=80)
    communities = nx.community.louvain_communities(g, weight="weight", seed=seed)
    communities = sorted(communities, key=lambda c: (-len(c), min(c)))
    cluster = {n: i + 1 for i, c in enumerate(communities) for n in c}
    ids = degree["n"].to_list()
    xy = np.array([pos[n] for n in ids]).round(4)
    node_df = degree.with_columns(x=pl.Series(xy[:, 0]), y=pl.Series(xy[:, 1]),
                                  cluster=pl.Series([cluster[n] for n in ids]))
    coords = node_df.select("n", "x", "y")
    edge_df = (merged.join(coords.rename({"n": "a"}), on="a")
               .join(coords.rename({"n": "b", "x": "x2", "y": "y2"}), on="b")
               .select(src="a", dst="b", x="x", y="y", x2="x2", y2="y2", kind="kind", kinds="kinds",
                       weight=pl.col("weight").round(3)))
    member = (pl.col("n").is_in(pl.Series(members, dtype=pl.String).implode()) if members is not None
              else pl.lit(True))
    nodes = node_df.select(account_id="n", x="x", y="y", score="score", flagged="flagged",
                           member=pl.when(member).then(pl.lit("in this campaign"))
                           .otherwise(pl.lit("linked, outside it")),
                           cluster="cluster", degree="degree").to_dicts()
    return GraphView(nodes=nodes, edges=edge_df.to_dicts(), total_nodes=total_nodes, total_edges=total_edges,
                     clusters=len(communities), kinds=kind_counts, note="; ".join(notes))
