"""Key weights (rarity x consistency) and bounded candidate edges.

For every key shared by at least two accounts:

* ``df`` = accounts that use it consistently; ``idf = ln((N+1)/df) / ln(N+1)`` in [0, 1], so a key
  shared by a large part of the population (a popular agent's system prompt, a carrier NAT) weighs
  almost nothing, and keys shared by more than ``max_bucket`` accounts make no edges at all;
* an account's weight on the key is ``share x idf`` (how consistently it uses it, how rare it is).

Candidate edges never list all pairs of a bucket: members are ordered by a hash of the account id
(the same order for every key, so accounts that share many keys are neighbours in all of them) and
each member is linked to the next ``neighbours`` members (cyclically), so a bucket of m accounts
makes at most ``m * neighbours`` edges. A pair's evidence for a key is ``min`` of the two weights;
per kind it is summed over keys and capped at ``kind_cap``; the pair weight is the sum over kinds
of ``kind_weight x evidence``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import polars as pl
import polars_hash as plh
import pyarrow as pa

from distillguard.accounts.exact import exact_sum
from distillguard.linking.keys import KIND_WEIGHT


@dataclass(frozen=True)
class LinkParams:
    """Parameters of the linking stage (intent first; the mechanism is derived)."""

    neighbours: int = 6
    max_bucket: int = 20000
    kind_cap: float = 1.0
    min_edge_weight: float = 0.12


def weigh_keys(keys: ir.Table, n_accounts: int) -> ir.Table:
    """Add ``df``, ``idf`` and ``w`` (= share x idf) to the key rows; keep keys shared by >= 2 accounts."""
    w = ibis.window(group_by=["kind", "key"])
    k = keys.mutate(df=keys.account_id.count().over(w))
    k = k.filter(k.df >= 2)
    denom = float(max(2, n_accounts + 1))
    idf = (denom / k.df.cast("float64")).ln() / ibis.literal(denom).ln()
    k = k.mutate(idf=idf.clip(0.0, 1.0))
    return k.mutate(w=k.share * k.idf)


def account_order(ids: pa.Table) -> pa.Table:
    """``(account_id, a, o)``: each account's number in id order and its place in a pseudo-random order
    (by xxh64 of the id, then the id). Computed here, not by the engine: engines hash differently, and
    the bucket order decides which pairs are proposed, so it must be the same on DuckDB and Spark."""
    df = pl.from_arrow(ids).select(pl.col("account_id").cast(pl.String)).sort("account_id")
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(a=pl.int_range(pl.len(), dtype=pl.Int64), h=plh.col("account_id").nchash.xxhash64())
    df = df.sort(["h", "account_id"]).with_columns(o=pl.int_range(pl.len(), dtype=pl.Int64))
    return df.select("account_id", "a", "o").to_arrow()


def candidate_edges(weighted: ir.Table, params: LinkParams = LinkParams()) -> pa.Table:
    """Undirected weighted edges ``(src, dst, weight, kind, kinds, w_<kind>...)`` with src < dst.

    ``kind`` is the kind that contributes most to the pair's weight; ``w_<kind>`` is each kind's
    contribution (``kind_weight x capped evidence``), so later stages can re-weigh the evidence.
    """
    k = weighted.filter(weighted.df <= params.max_bucket)
    # integer ids, so the self-join and the grouping below run on integers: accounts are numbered in
    # id order (``src < dst`` holds for the numbers as for the ids) and get their place ``o`` in the
    # bucket order (by hash, then id: the same order in every bucket); keys are numbered by (kind, key)
    acc = ibis.memtable(account_order(k.select("account_id").distinct().to_pyarrow()))
    kid = k.select("kind", "key").distinct()
    kid = kid.mutate(kid=ibis.row_number().over(order_by=["kind", "key"]))
    k = k.join(acc, "account_id").join(kid, ["kind", "key"])
    bucket = ibis.window(group_by="kid", order_by="o")
    k = k.mutate(rank=ibis.row_number().over(bucket)).select("a", "kind", "kid", "w", "df", "rank")
    offs = ibis.memtable({"j": list(range(1, params.neighbours + 1))})
    a = k.cross_join(offs)
    a = a.filter(a.j < a.df).mutate(target=(a.rank + a.j) % a.df, back=a.df - a.j)
    # the pair (rank, target) is also made from target with offset ``back`` when that is within
    # ``neighbours``: keep the smaller offset (the lower rank when both are equal), so every pair of
    # a bucket is made once and no DISTINCT over all candidate rows is needed
    a = a.filter((a.back > params.neighbours) | (a.j < a.back) | ((a.j == a.back) & (a.rank < a.target)))
    b = k.select(b_a="a", b_kid="kid", b_w="w", b_rank="rank")
    e = a.join(b, [a.kid == b.b_kid, a.target == b.b_rank])
    e = e.select(
        src=ibis.least(e.a, e.b_a),
        dst=ibis.greatest(e.a, e.b_a),
        kind=e.kind,
        kid=e.kid,
        ev=ibis.least(e.w, e.b_w),
    )
    per_kind = e.group_by(["src", "dst", "kind"]).aggregate(ev=exact_sum(e.ev), nkeys=e.count())
    kw = ibis.memtable({"kind": list(KIND_WEIGHT), "kind_weight": list(KIND_WEIGHT.values())})
    per_kind = per_kind.join(kw, "kind")
    per_kind = per_kind.mutate(contrib=per_kind.ev.clip(upper=params.kind_cap) * per_kind.kind_weight)
    # one row per (pair, kind): each w_<kind> sum has one term, so it is exact; the pair weight adds
    # them in a fixed order (kinds by name), so it does not depend on the order rows arrive in
    kinds = sorted(KIND_WEIGHT)
    pairs = per_kind.group_by(["src", "dst"]).aggregate(
        kinds=per_kind.kind.collect().sort(),  # (an ordered collect is not portable)
        **{f"w_{kind}": ibis.ifelse(per_kind.kind == kind, per_kind.contrib, 0.0).sum() for kind in kinds},
    )
    wcol = [pairs[f"w_{kind}"] for kind in kinds]
    weight = wcol[0]
    for c in wcol[1:]:
        weight = weight + c
    # the kind contributing most; ties go to the first kind by name
    top_w = ibis.greatest(*wcol)
    top = ibis.cases(*[(wcol[i] == top_w, kinds[i]) for i in range(len(kinds))])
    pairs = pairs.mutate(weight=weight, kind=top)
    pairs = pairs.select("src", "dst", "weight", "kind", "kinds", *[f"w_{kind}" for kind in KIND_WEIGHT])
    pairs = pairs.filter(pairs.weight >= params.min_edge_weight)
    names = acc.select("a", "account_id")
    pairs = pairs.join(names.rename(src_id="account_id"), pairs.src == names.a).drop("src", "a")
    pairs = pairs.join(names.rename(dst_id="account_id"), pairs.dst == names.a).drop("dst", "a")
    pairs = pairs.rename(src="src_id", dst="dst_id")
    pairs = pairs.select("src", "dst", "weight", "kind", "kinds", *[f"w_{kind}" for kind in KIND_WEIGHT])
    pairs = pairs.order_by(["src", "dst"])
    return pairs.to_pyarrow()


#: key kinds that are content (what the prompts say), as opposed to infrastructure or account facts
CONTENT_KINDS = ("template", "near_duplicate", "instruction")
#: accounts sharing one content key at which its reach saturates
REACH_SATURATION = 64


def content_reach(weighted: ir.Table) -> pl.DataFrame:
    """Per account: ``content_reach`` in [0, 1] and ``content_reach_accounts`` (other accounts reached).

    For every content key the account uses consistently, ``share x log(df) / log(REACH_SATURATION)``
    (how much of its traffic is on content that ``df - 1`` other accounts also send, log-scaled);
    the account's value is the largest. ``content_reach_accounts`` is ``df - 1`` of that key.
    """
    k = weighted.filter(weighted.kind.isin(CONTENT_KINDS))
    reach = k.share * (k.df.cast("float64").ln() / math.log(REACH_SATURATION)).clip(0.0, 1.0)
    k = k.mutate(reach=reach)
    # the key of largest reach; ties go to the key shared with most accounts, then by kind and key
    w = ibis.window(group_by="account_id", order_by=[ibis.desc(k.reach), ibis.desc(k.df), k.kind, k.key])
    k = k.mutate(r=ibis.row_number().over(w))
    k = k.filter(k.r == 0)
    out = k.select("account_id", content_reach=k.reach, content_reach_accounts=k.df - 1)
    df = pl.from_arrow(out.to_pyarrow())
    assert isinstance(df, pl.DataFrame)
    return df.with_columns(
        pl.col("content_reach").cast(pl.Float64), pl.col("content_reach_accounts").cast(pl.Int64)
    )


def vouched_peer_share(edges: pl.DataFrame, feats: pl.DataFrame) -> pl.DataFrame:
    """Per linked account: ``vouched_peer_share``, the share of its link weight that goes to verified
    contract-tier accounts (``feats.vouched``). A verified lab's strongest ties are to its own verified
    colleagues; a verified account inside a campaign is tied mostly to unverified throwaways."""
    v = feats.select("account_id", pl.col("vouched").fill_null(0.0).cast(pl.Float64))
    e = edges.select("src", "dst", "weight")
    both = pl.concat(
        [
            e.select(account_id="src", peer="dst", weight="weight"),
            e.select(account_id="dst", peer="src", weight="weight"),
        ]
    )
    both = both.join(v.rename({"account_id": "peer", "vouched": "pv"}), on="peer", how="left")
    # summed in a fixed order (by account, then peer), so the result does not depend on row order
    both = both.sort(["account_id", "peer"])
    return both.group_by("account_id").agg(
        vouched_peer_share=(pl.col("weight") * pl.col("pv").fill_null(0.0)).sum() / pl.col("weight").sum()
    )
