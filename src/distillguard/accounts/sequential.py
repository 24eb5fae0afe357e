"""Harvest intent accumulated over time: a per-account sequential test (CUSUM of a likelihood ratio).

A share ("62% of requests ...") does not grow with time, so an account that harvests slowly, or
mixes its harvest with ordinary chats, stays under any threshold set on a day's traffic. Here every
request counts as evidence: a request is *harvest-like* when it holds a public-dataset item, asks a
harvested capability (math, coding, tool use, grading ...) for its reasoning, or is shaped like a
training-set row. Under the null hypothesis an account sends harvest-like requests at the
population's typical rate ``p0`` (the median account's share, measured in the scan itself); under
the alternative at ``p1``. Each day adds the log-likelihood ratio of its requests,

    L_d = x_d ln(p1 / p0) + (n_d - x_d) ln((1 - p1) / (1 - p0)),

and the CUSUM ``S_d = max(0, S_{d-1} + L_d)`` (Page's test: it forgets a benign history, so an aged
account that turns to harvesting is caught from the day it turns) is compared with the bound of
Wald's SPRT for error rates ``alpha`` and ``beta``, ``A = ln((1 - beta) / alpha)``. The statistic
reported is the largest ``S_d``, and the first day it crossed ``A``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import polars as pl

from distillguard.accounts.features import TARGET_CAPABILITIES


@dataclass(frozen=True)
class SequentialParams:
    """The test's error rates and the alternative hypothesis."""

    #: false alarm and miss rates of the SPRT whose bound the statistic is compared with
    alpha: float = 1e-4
    beta: float = 0.1
    #: harvest-like share under the alternative (at least twice the population's own rate)
    p1: float = 0.5
    #: bounds of the population rate ``p0`` estimated from the scan
    p0_min: float = 0.01
    p0_max: float = 0.3
    #: accounts with fewer requests do not set the population rate
    min_requests: int = 10

    @property
    def bound(self) -> float:
        return math.log((1.0 - self.beta) / self.alpha)


def harvest_like(t: ir.Table) -> ir.BooleanValue:
    """Per request: it holds a public-dataset item, asks a harvested capability for its reasoning,
    or is shaped like a training-set row."""
    reasoning = (t.cot.fill_null(0.0) >= 0.5) & t.capability.isin(TARGET_CAPABILITIES)
    return t.dataset_item.notnull() | reasoning | (t.dataset_shape.fill_null(0.0) >= 0.5)


def harvest_cusum(
    staged: ir.Table, params: SequentialParams = SequentialParams()
) -> tuple[pl.DataFrame, dict]:
    """Per account: ``harvest_cusum`` (the largest CUSUM value, in units of the SPRT bound),
    ``harvest_days_to_bound`` (days from its first request to the first day the CUSUM crossed the bound,
    null if never) and ``harvest_like_share``; and the test's parameters as measured (``p0``...)."""
    t = staged
    daily = t.group_by(["account_id", t.ts.date().name("day")]).aggregate(
        n=lambda s: s.count(), x=lambda s: ibis.ifelse(harvest_like(s), 1, 0).sum()
    )
    d = pl.from_arrow(daily.to_pyarrow())
    assert isinstance(d, pl.DataFrame)
    d = d.with_columns(pl.col("n").cast(pl.Float64), pl.col("x").cast(pl.Float64)).sort("account_id", "day")
    per = d.group_by("account_id").agg(n=pl.col("n").sum(), x=pl.col("x").sum())
    shares = per.filter(pl.col("n") >= params.min_requests).select(pl.col("x") / pl.col("n"))
    p0 = float(shares.to_series().median()) if shares.height else params.p0_min
    p0 = min(max(p0, params.p0_min), params.p0_max)
    p1 = max(params.p1, 2.0 * p0)
    hit, miss = math.log(p1 / p0), math.log((1.0 - p1) / (1.0 - p0))
    a = params.bound
    d = d.with_columns(llr=pl.col("x") * hit + (pl.col("n") - pl.col("x")) * miss)
    # CUSUM as a cumulative sum minus its running minimum (from 0): max(0, S + L) day by day
    d = d.with_columns(c=pl.col("llr").cum_sum().over("account_id"))
    low = pl.min_horizontal(pl.col("c").cum_min().over("account_id"), pl.lit(0.0))
    d = d.with_columns(s=pl.col("c") - low)
    d = d.with_columns(first=pl.col("day").min().over("account_id"))
    out = d.group_by("account_id").agg(
        harvest_cusum=(pl.col("s").max() / a),
        crossed=pl.col("day").filter(pl.col("s") >= a).min(),
        first=pl.col("first").first(),
    )
    out = out.join(per, on="account_id").select(
        "account_id",
        pl.col("harvest_cusum").cast(pl.Float64),
        harvest_days_to_bound=(pl.col("crossed") - pl.col("first")).dt.total_days().cast(pl.Float64),
        harvest_like_share=pl.col("x") / pl.col("n"),
    )
    measured = {"p0": p0, "p1": p1, "bound": a, "alpha": params.alpha, "beta": params.beta}
    return out.sort("account_id"), measured
