"""Leiden clustering and campaign ids: deterministic, planted groups kept apart."""

from __future__ import annotations

import itertools

import polars as pl
import pyarrow as pa
import pytest

from distillguard.campaigns import ClusterParams, campaign_id, leiden_clusters


def _planted(groups: list[int], bridge: float) -> pa.Table:
    src, dst, w = [], [], []
    for g, n in enumerate(groups):
        for a, b in itertools.combinations(range(n), 2):
            src.append(f"g{g}_{a:03d}")
            dst.append(f"g{g}_{b:03d}")
            w.append(1.0)
    for g in range(len(groups) - 1):  # one weak bridge between consecutive groups
        src.append(f"g{g}_000")
        dst.append(f"g{g + 1}_000")
        w.append(bridge)
    return pa.table({"src": src, "dst": dst, "weight": w})


@pytest.mark.parametrize(
    ("groups", "bridge", "resolution"),
    [([10, 10, 10], 1.0, 0.05), ([5, 40], 0.5, 0.05), ([8, 8, 8, 8], 1.0, 0.2)],
)
def test_leiden_keeps_planted_groups_apart(groups: list[int], bridge: float, resolution: float) -> None:
    cl = leiden_clusters(_planted(groups, bridge), ClusterParams(resolution=resolution))
    by_group = cl.with_columns(g=pl.col("account_id").str.extract(r"^(g\d+)_"))
    assert by_group.height == sum(groups)
    per_group = by_group.group_by("g").agg(clusters=pl.col("cluster").n_unique())
    assert per_group["clusters"].to_list() == [1] * len(groups)
    assert cl["cluster"].n_unique() == len(groups)


@pytest.mark.parametrize("seed", [0, 7])
def test_leiden_is_deterministic(seed: int) -> None:
    e = _planted([6, 9, 12], 0.8)
    a = leiden_clusters(e, ClusterParams(resolution=0.05, seed=seed))
    b = leiden_clusters(e, ClusterParams(resolution=0.05, seed=seed))
    assert a.equals(b)


@pytest.mark.parametrize(
    ("ids", "same_as"),
    [(["b", "a", "c"], ["a", "b", "c"]), (["x"], ["x"]), (["acct_2", "acct_1"], ["acct_1", "acct_2"])],
)
def test_campaign_id_depends_only_on_the_member_set(ids: list[str], same_as: list[str]) -> None:
    cid = campaign_id(ids)
    assert cid == campaign_id(same_as)
    assert cid.startswith("DG-") and len(cid) == 11
    assert cid != campaign_id([*ids, "extra"])
