"""Cluster-level features: a cluster is scored as a whole, not only account by account.

Each feature is in [0, 1]; accounts outside any cluster get 0 for all of them.
"""

from __future__ import annotations

import polars as pl

CONTENT_KINDS = ("template", "near_duplicate", "instruction")
INFRA_KINDS = ("payment", "ip_prefix")

#: feature id -> (description used in reasons, how to print the value)
CLUSTER_FEATURES: dict[str, str] = {
    "cluster.size": "linked group of {size} accounts",
    "cluster.content_sharing": "{value} of the group's links are shared templates or near-duplicate prompts",
    "cluster.infra_sharing": "{value} of the group's links are shared payment instruments or IP prefixes",
    "cluster.signup_burst": "{value} of the group's links are sign-ups in the same hour",
    "cluster.cot_share": "{value} of the group's traffic asks for chain-of-thought",
    "cluster.capability_focus": "{value} of the group's traffic targets harvested capabilities",
    "cluster.quiet": "{value} of the group's accounts keep a quiet, steady volume",
    "cluster.fresh": "group accounts start heavy use {value} right after sign-up",
    "cluster.unverified": "{value} of the group's accounts are unverified self-serve",
    "cluster.template_reuse": "{value} of the group's traffic is on its most used template, on average",
    "cluster.content_reach": "the group's accounts send content shared across many accounts ({value} reach)",
    "cluster.vouched": "{value} of the group's accounts are verified contract-tier accounts",
    "cluster.synchronized": "{value} of the group's links are active in the same hours beyond their rhythms",
    "cluster.behaviour": "{value} of the group's links are near-identical, rare request profiles",
    "cluster.dataset_walk": "the group's accounts work through public datasets without repeats ({value})",
}


def cluster_features(acc: pl.DataFrame, clusters: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """Per cluster: ``cluster``, ``size``, ``interactions`` and the features of :data:`CLUSTER_FEATURES`.

    ``acc`` has ``account_id``, ``interactions`` and the account signal columns; ``clusters`` maps
    ``account_id -> cluster``; ``edges`` has ``src``, ``dst``, ``weight``, ``kinds`` (list of kinds).
    """
    # sorted, so every float sum below adds its terms in the same order whatever order rows came in
    m = acc.join(clusters, on="account_id", how="inner").sort(["cluster", "account_id"])
    wt = pl.col("interactions").cast(pl.Float64)

    def wmean(c: str) -> pl.Expr:
        return ((pl.col(c).fill_null(0.0) * wt).sum() / wt.sum()).alias(c)

    per = m.group_by("cluster").agg(
        size=pl.len(),
        interactions=pl.col("interactions").sum(),
        **{"cluster.cot_share": wmean("account.cot_share")},
        **{"cluster.capability_focus": wmean("account.capability_focus")},
        **{"cluster.template_reuse": pl.col("account.template_concentration").fill_null(0.0).mean()},
        **{"cluster.quiet": pl.col("account.quiet_volume").fill_null(0.0).mean()},
        **{"cluster.fresh": pl.col("account.fresh_account").fill_null(0.0).mean()},
        **{"cluster.unverified": pl.col("account.unverified_self_serve").fill_null(0.0).mean()},
        **{"cluster.content_reach": pl.col("account.content_reach").fill_null(0.0).mean()},
        **{"cluster.vouched": pl.col("account.vouched").fill_null(0.0).mean()},
        **{"cluster.dataset_walk": pl.col("account.dataset_walk").fill_null(0.0).mean()},
    )
    cmap = clusters.select("account_id", "cluster")
    ie = edges.join(cmap.rename({"account_id": "src", "cluster": "c1"}), on="src").join(
        cmap.rename({"account_id": "dst", "cluster": "c2"}), on="dst"
    )
    ie = ie.filter(pl.col("c1") == pl.col("c2"))

    def has(kinds: tuple[str, ...]) -> pl.Expr:
        return pl.col("kinds").list.eval(pl.element().is_in(list(kinds))).list.any()

    ek = (
        ie.group_by("c1")
        .agg(
            **{"cluster.content_sharing": has(CONTENT_KINDS).mean()},
            **{"cluster.infra_sharing": has(INFRA_KINDS).mean()},
            **{"cluster.signup_burst": has(("signup_burst",)).mean()},
            **{"cluster.synchronized": has(("sync",)).mean()},
            **{"cluster.behaviour": has(("behaviour",)).mean()},
        )
        .rename({"c1": "cluster"})
    )
    per = per.join(ek, on="cluster", how="left")
    per = per.with_columns(
        pl.col("^cluster\\..*$").fill_null(0.0).cast(pl.Float64),
        **{"cluster.size": (pl.col("size").cast(pl.Float64).log(2) / 6.0).clip(0.0, 1.0)},
    )
    return per.sort("cluster")
