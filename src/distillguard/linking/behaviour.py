"""Behavioural peers: accounts whose request profiles sit close together in a rare part of the population.

An operator who avoids every shared key (own cards, own addresses, no template, no fixed instruction)
still runs one harvesting program over all its accounts, and the program leaves the same profile on
each: what it asks for (the mix of capabilities, the share of public-dataset items, how often they
repeat and how popular they are, the share of chain-of-thought and dataset-shaped requests, prompt
length) and how (single turns, system prompts, tools). Request settings, volume and hours are left
out: they cost nothing to vary per account. This is the lockstep principle of CopyCatch and
SynchroTrap applied to behaviour instead of timing.

Each account's profile is a vector of those aggregates, every coordinate scaled by its spread in the
population. The ``neighbours`` nearest profiles of every account are found with an approximate
nearest-neighbour index (usearch's HNSW; never all pairs). A pair of neighbours is linked with weight
``closeness x rarity``: closeness ``exp(-(d / (tightness x s))^2)`` where ``s`` is the distance at which a
typical account finds its ``neighbours``-th peer, and rarity how far the less unusual of the two profiles is
from the population's median profile (0 at the median, 1 from the ``rare_quantile`` on). Ordinary
users are close to many others but not rare, so they get no links; a lone unusual account is rare
but close to no one. A harvesting pool is both.

What evading it costs: each account must ask for different things (its own mix of capabilities and
datasets, its own share of cover traffic), i.e. the operator splits the harvest into many small
differently shaped ones, or drowns it in enough ordinary traffic that it stops being a harvest.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.signals.base import Signal, register
from distillguard.signals.prompt.capability import CAPABILITIES

KIND = "behaviour"
NOUN = "behavioural profile"


@dataclass(frozen=True)
class BehaviourParams:
    """How close and how rare two profiles must be to link their accounts."""

    #: nearest profiles looked at per account
    neighbours: int = 10
    #: weight of a full behavioural link in a pair's link weight (0 turns the links off)
    kind_weight: float = 1.0
    #: profiles at least this far from the median (as a quantile of the population) count as fully rare
    rare_quantile: float = 0.95
    #: ... and from this quantile on they start to count
    common_quantile: float = 0.6
    #: how close two profiles must be, as a share of the distance at which a typical account finds its
    #: ``neighbours``-th peer: at this share closeness is 1/e, at half of it 0.78, at the full distance 0.02
    tightness: float = 0.5
    #: links weaker than this are not made
    min_weight: float = 0.15
    #: accounts with fewer requests than this have no profile worth comparing
    min_requests: int = 10
    seed: int = 0


@register
class BehaviouralPeers(Signal):
    """Accounts whose request profiles (capability mix, dataset and chain-of-thought shares, turn
    structure, requested output, settings, volume, hours) sit close together in a rare part of the
    population: one program running many accounts."""

    id = "link.behaviour"
    level = "link"
    requires = ("prompt",)


#: profile coordinates taken from the account features. Only what is asked and how: request settings
#: (max_tokens, temperature), volume and hours cost an operator nothing to vary per account, and the
#: adaptive scenario's campaigns spread as wide as the whole population in them
_FROM_FEATURES: dict[str, pl.Expr] = {
    "cot_share": pl.col("cot_share"),
    "dataset_share": pl.col("dataset_share"),
    "dataset_repeat": pl.col("dataset_repeat"),
    "dataset_popularity": pl.col("dataset_popularity").clip(lower_bound=1e-3).log(2),
    "single_turn": pl.col("single_turn_share"),
    "tools": pl.col("tools_share"),
    "dataset_shape": pl.col("dataset_shape"),
    "prompt_chars": pl.col("mean_prompt_chars").clip(lower_bound=1.0).log(2),
}


def profiles(staged: ir.Table, feats: pl.DataFrame, min_requests: int = 10) -> pl.DataFrame:
    """``account_id`` plus one float column per profile coordinate, for accounts with at least
    ``min_requests`` requests (nulls: the population median of that coordinate)."""
    t = staged
    caps = t.group_by(["account_id", "capability"]).aggregate(c=lambda s: s.count())
    has_system = ibis.ifelse(t.system_fp.notnull(), 1, 0).cast("float64")
    extra = t.group_by("account_id").aggregate(system=has_system.mean())
    cap = pl.from_arrow(caps.to_pyarrow())
    ex = pl.from_arrow(extra.to_pyarrow())
    assert isinstance(cap, pl.DataFrame) and isinstance(ex, pl.DataFrame)
    mix = (
        cap.with_columns(pl.col("c").cast(pl.Float64) / pl.col("c").sum().over("account_id"))
        .filter(pl.col("capability").is_in(list(CAPABILITIES)))
        .pivot(on="capability", index="account_id", values="c", aggregate_function="sum")
    )
    for c in CAPABILITIES:
        mix = mix.with_columns(pl.col(c).fill_null(0.0).alias(f"cap_{c}") if c in mix.columns
                               else pl.lit(0.0).alias(f"cap_{c}"))
    mix = mix.select("account_id", *[f"cap_{c}" for c in CAPABILITIES])
    base = feats.filter(pl.col("interactions") >= min_requests).select(
        "account_id", *[e.cast(pl.Float64).alias(n) for n, e in _FROM_FEATURES.items()]
    )
    prof = base.join(mix, on="account_id", how="left").join(ex, on="account_id", how="left")
    cols = [c for c in prof.columns if c != "account_id"]
    prof = prof.with_columns(pl.col(c).cast(pl.Float64).fill_nan(None) for c in cols)
    return prof.with_columns(pl.col(c).fill_null(pl.col(c).median()).fill_null(0.0) for c in cols).sort(
        "account_id"
    )


def _scaled(prof: pl.DataFrame) -> np.ndarray:
    """Each coordinate centred on its median and divided by its spread (the standard deviation of the
    values clipped to their 1st and 99th percentiles; coordinates that do not vary are dropped)."""
    x = prof.drop("account_id").to_numpy().astype(np.float64)
    lo, hi = np.percentile(x, [1, 99], axis=0)
    spread = np.clip(x, lo, hi).std(axis=0)  # (the spread of the bulk: outliers do not set the unit)
    keep = spread > 1e-9
    z = (x[:, keep] - np.median(x[:, keep], axis=0)) / spread[keep]
    return np.ascontiguousarray(np.clip(z, -6.0, 6.0), dtype=np.float32)


def behaviour_edges(prof: pl.DataFrame, params: BehaviourParams = BehaviourParams()) -> pl.DataFrame:
    """``src, dst, behaviour, distance`` (src < dst) for linked pairs of :func:`profiles` rows."""
    schema = {"src": pl.Utf8, "dst": pl.Utf8, "behaviour": pl.Float64, "distance": pl.Float64}
    n = prof.height
    k = min(params.neighbours, n - 1)
    if k < 1 or params.kind_weight <= 0:
        return pl.DataFrame(schema=schema)
    z = _scaled(prof)
    if z.shape[1] == 0:
        return pl.DataFrame(schema=schema)
    from usearch.index import Index  # (imported where it is used)

    index = Index(ndim=z.shape[1], metric="l2sq", dtype="f32", connectivity=8, expansion_add=32,
                  expansion_search=32)
    keys = np.arange(n, dtype=np.uint64)
    index.add(keys, z, threads=1)  # (one thread: the graph, and so the neighbours, are reproducible)
    found = index.search(z, k + 1, threads=1)
    nbr = np.asarray(found.keys, dtype=np.int64).reshape(n, -1)
    d2 = np.asarray(found.distances, dtype=np.float64).reshape(n, -1)
    valid = (nbr >= 0) & (nbr < n) & (nbr != np.arange(n)[:, None])
    # the distance at which a typical account finds its k-th peer
    kth = np.where(valid, d2, np.nan)
    kth_d2 = np.nanmax(kth, axis=1)
    s2 = float(np.nanmedian(kth_d2)) if np.isfinite(kth_d2).any() else 1.0
    s2 = max(s2, 1e-6)
    # rarity: how far from the median profile (the origin of the scaled space)
    r = np.sqrt((z.astype(np.float64) ** 2).sum(axis=1))
    q_lo, q_hi = np.quantile(r, [params.common_quantile, params.rare_quantile])
    rarity = np.clip((r - q_lo) / max(q_hi - q_lo, 1e-9), 0.0, 1.0)
    rows = np.repeat(np.arange(n), nbr.shape[1])[valid.ravel()]
    cols = nbr.ravel()[valid.ravel()]
    dist2 = d2.ravel()[valid.ravel()]
    w = np.exp(-dist2 / (params.tightness**2 * s2)) * np.minimum(rarity[rows], rarity[cols])
    ok = w >= params.min_weight
    a, b = np.minimum(rows[ok], cols[ok]), np.maximum(rows[ok], cols[ok])
    ids = prof["account_id"]
    out = pl.DataFrame({"a": a, "b": b, "behaviour": w[ok], "distance": np.sqrt(dist2[ok])})
    out = out.group_by("a", "b").agg(pl.col("behaviour").max(), pl.col("distance").min()).sort("a", "b")
    return out.select(
        src=ids.gather(out["a"]), dst=ids.gather(out["b"]), behaviour="behaviour", distance="distance"
    )


def add_behaviour(
    edges: pa.Table, beh: pl.DataFrame, params: BehaviourParams = BehaviourParams()
) -> pa.Table:
    """The candidate edges with behavioural links folded in: ``w_behaviour`` (``kind_weight x
    evidence``) added to ``weight`` of the pairs already linked, and new edges for pairs linked by
    behaviour alone (``kind`` and ``kinds`` say so). Sorted by ``src, dst``."""
    e = pl.from_arrow(edges)
    assert isinstance(e, pl.DataFrame)
    col = f"w_{KIND}"
    ev = beh.select("src", "dst", w=pl.col("behaviour") * params.kind_weight)
    if e.height == 0 and ev.height == 0:
        return e.with_columns(pl.lit(0.0, pl.Float64).alias(col)).to_arrow()
    joined = e.join(ev, on=["src", "dst"], how="full", coalesce=True, maintain_order="left")
    w = pl.col("w").fill_null(0.0)
    new = pl.col("weight").is_null()
    fills = {c: pl.col(c).fill_null(0.0) for c in e.columns if c.startswith("w_")}
    joined = joined.with_columns(
        weight=pl.col("weight").fill_null(0.0) + w,
        kind=pl.when(new).then(pl.lit(KIND)).otherwise(pl.col("kind")),
        kinds=pl.when(new).then(pl.lit([KIND]))
        .when(w > 0).then(pl.col("kinds").list.concat(pl.lit([KIND])))
        .otherwise(pl.col("kinds")),
        **fills,
        **{col: w},
    ).drop("w")
    return joined.sort("src", "dst").to_arrow()


def account_behaviour_text(edges: pl.DataFrame) -> pl.DataFrame:
    """``account_id, text`` for accounts with behavioural links, e.g. "behaves like 14 other accounts
    (same request profile in a rare part of the population)"."""
    col = f"w_{KIND}"
    if edges.height == 0 or col not in edges.columns:
        return pl.DataFrame(schema={"account_id": pl.Utf8, "text": pl.Utf8})
    s = edges.filter(pl.col(col) > 0)
    both = pl.concat([s.select(account_id="src", peer="dst"), s.select(account_id="dst", peer="src")])
    per = both.group_by("account_id").agg(n=pl.len(), peers=pl.col("peer").sort().head(3))
    text = pl.concat_str([
        pl.lit("behaves like "), pl.col("n").cast(pl.Utf8),
        pl.when(pl.col("n") == 1).then(pl.lit(" other account")).otherwise(pl.lit(" other accounts")),
        pl.lit(" (a near-identical request profile that is rare in the population, e.g. "),
        pl.col("peers").list.join(", "), pl.lit(")"),
    ])
    return per.select("account_id", text=text).sort("account_id")
