"""Per-account aggregates over the staged interactions, written once as ibis expressions.

The staged table (see :mod:`distillguard.pipeline`) holds one narrow row per interaction: the
log-format columns the scan needs plus the per-prompt features. Everything set-wise here is an
ibis expression, so the same code runs on the embedded DuckDB backend (streams and spills) or on
a distributed engine. Only the final one-row-per-account table is materialised (as polars).
"""

from __future__ import annotations

import math

import ibis
import ibis.expr.types as ir
import polars as pl

from distillguard.accounts.counts import AccountCounts
from distillguard.accounts.exact import exact_sum

#: Capabilities that distillation campaigns harvest (the rest is ordinary chat traffic).
TARGET_CAPABILITIES = (
    "math_reasoning",
    "coding",
    "agentic_coding",
    "tool_use",
    "rubric_grading",
    "reasoning_articulation",
    "safe_rewrite",
    "data_generation",
)


def _share(cond: ir.BooleanValue) -> ir.FloatingScalar:
    # (integers cast to double: Spark reads the literal 1.0 as a decimal and averages it to 5 places)
    return ibis.ifelse(cond, 1, 0).cast("float64").mean()


def _top_share(counts: AccountCounts, col: str, name: str) -> ir.Table:
    """Per account: share of its interactions carrying its most frequent non-null value of ``col``
    (one of the counted fingerprint columns), and how many distinct values it sends per request."""
    c = counts.of_column(col)
    top = c.group_by("aidx").aggregate(top=c.n.max(), ndistinct=c.count())
    j = top.join(counts.totals, "aidx")
    return j.select(
        "account_id",
        **{name: j.top.cast("float64") / j.total, f"{name}_distinct": j.ndistinct.cast("float64") / j.total},
    )


def _distinct_count(t: ir.Table, value: ir.Value, name: str) -> ir.Table:
    """Per account: how many distinct non-null ``value``s (grouped, not a DISTINCT aggregate, which
    makes the engine copy its input once more)."""
    v = t.select("account_id", v=value)
    v = v.filter(v.v.notnull()).distinct()
    return v.group_by("account_id").aggregate(**{name: v.count()})


def _days(delta: pl.Series) -> pl.Series:
    """A duration in whole seconds, in days (float64, nulls kept), divided element by element in numpy.

    Polars divides a column by a constant through the constant's reciprocal in some kernels and not
    in others, depending on how the column is chunked, so the last bit of a day count depended on
    how DuckDB had handed over the rows (180000 s gave 2.083333333333333 or 2.0833333333333335)."""
    secs = delta.dt.total_seconds().cast(pl.Float64).to_numpy()
    return pl.Series(delta.name, secs / 86400.0, dtype=pl.Float64, nan_to_null=True)


def account_features(
    staged: ir.Table,
    accounts: ir.Table | None = None,
    *,
    descriptive: bool = False,
    counts: AccountCounts | None = None,
) -> pl.DataFrame:
    """One row per account seen in ``staged``: volume, velocity, timing, content and account facts.

    Columns (all float unless said): ``interactions`` (int), ``first_seen``, ``last_seen``,
    ``active_days``, ``req_per_day``, ``cot_share``, ``cot_tagged_share``, ``single_turn_share``,
    ``tools_share``, ``dataset_shape``, ``mean_max_tokens``, ``mean_output_tokens``, ``mean_prompt_chars``,
    ``hour_entropy`` (0 = one hour of the day, 1 = flat round the clock), ``top_capability``,
    ``top_capability_share``, ``target_share`` (share on harvested capabilities), ``target_breadth``
    (how many of them),
    ``capability_entropy``, ``top_template_share``, ``top_template_distinct``, ``top_head_share``,
    ``top_tail_share``, ``late_model_share`` (traffic on models first seen after the window opened),
    ``pivot_hours`` (hours from such a model's first appearance to this account's first use of it),
    ``ip24_per_request``, ``dataset_share`` (requests holding an item of the public-dataset index),
    ``dataset_items`` (distinct items, int), ``dataset_repeat`` (share of its item requests that repeat
    an item it sent before), ``dataset_exclusive`` (share of its items no other account sent),
    ``dataset_popularity`` (mean senders of its items over the mean of a random (account, item) pair), and
    from the accounts table when given ``tier``, ``verified``,
    ``tenure_days`` (first use minus sign-up), ``org_id``.

    ``descriptive``: also ``gap_cv`` (coefficient of variation of the gaps between requests),
    ``countries`` and ``models`` (distinct counts). No signal reads them and they cost a sort of every
    request by account and time plus two distinct counts (about a third of this function's time), so
    the scan leaves them out.

    ``counts``: :class:`AccountCounts` of ``staged`` when the caller has them (materialised once for
    this function and the link keys); by default they are computed here.
    """
    t = staged
    if counts is None:
        counts = AccountCounts.of(staged)
    totals = t.group_by("account_id").aggregate(n=t.count())
    base = t.group_by("account_id").aggregate(
        interactions=t.count(),
        first_seen=t.ts.min(),
        last_seen=t.ts.max(),
        cot_share=_share(t.cot >= 0.5),
        cot_tagged_share=_share(t.cot_tagged),
        single_turn_share=_share(t.turn.fill_null(0) == 0),
        tools_share=_share(t.tools.fill_null(0) > 0),
        dataset_shape=t.dataset_shape.mean(),
        mean_max_tokens=t.max_tokens.mean(),
        mean_output_tokens=t.output_tokens.mean(),
        mean_input_tokens=t.input_tokens.mean(),
        mean_prompt_chars=t.prompt_chars.mean(),
        dataset_share=_share(t.dataset_item.notnull()),
        org_id=t.org_id.min(),  # one org per account; min() says which if not
    )
    # public-dataset items (null without a dataset index): how many distinct items, how many of
    # them no other account sent
    ds = t.filter(t.dataset_item.notnull()).select("account_id", item=t.dataset_item)
    per_item = ds.group_by(["account_id", "item"]).aggregate(c=lambda s: s.count())
    owners = per_item.group_by("item").aggregate(owners=lambda s: s.count())
    pj = per_item.join(owners, "item")
    # how popular its items are among all senders, against the popularity of the item behind a
    # random (account, item) pair: ~1 for an account that samples a dataset at random, well above 1
    # for one sending the benchmark items or popular questions many others send. A ratio, so it does
    # not drift as the population (and every item's number of senders) grows
    pair_owners = pj.owners.cast("float64").mean().as_scalar()
    ds_stats = pj.group_by("account_id").aggregate(
        dataset_items=pj.count(),
        dataset_requests=pj.c.sum(),
        dataset_exclusive=_share(pj.owners == 1),
        dataset_popularity=pj.owners.cast("float64").mean() / pair_owners,
    )

    # diurnal shape: entropy of the hour-of-day histogram
    hours = t.group_by(["account_id", t.ts.hour().name("h")]).aggregate(c=lambda s: s.count())
    hours = hours.join(totals, "account_id")
    p = hours.c.cast("float64") / hours.n
    hour_ent = hours.group_by("account_id").aggregate(hour_entropy=exact_sum(-(p * p.ln())) / math.log(24))

    distinct = [_distinct_count(t, t.ts.date(), "active_days"), _distinct_count(t, t.ip24, "ip24s")]
    if descriptive:
        distinct += [_distinct_count(t, t.country, "countries"), _distinct_count(t, t.model, "models")]
        # timing regularity: coefficient of variation of inter-request gaps
        w = ibis.window(group_by="account_id", order_by="ts")
        secs = t.ts.epoch_seconds()
        gaps = t.select("account_id", gap=(secs - secs.lag().over(w)).cast("float64"))
        gaps = gaps.filter(gaps.gap.notnull())
        distinct.append(
            gaps.group_by("account_id").aggregate(gap_mean=gaps.gap.mean(), gap_std=gaps.gap.std())
        )

    # capabilities: focus, breadth, entropy
    caps = (
        t.group_by(["account_id", "capability"]).aggregate(c=lambda s: s.count()).join(totals, "account_id")
    )
    cp = caps.c.cast("float64") / caps.n
    is_target = caps.capability.isin(TARGET_CAPABILITIES)
    cap_stats = caps.group_by("account_id").aggregate(
        target_share=ibis.ifelse(is_target, caps.c, 0).sum().cast("float64") / caps.n.max(),
        target_breadth=ibis.ifelse(is_target & (cp >= 0.05), 1, 0).sum(),
        capability_entropy=exact_sum(-(cp * cp.ln())) / math.log(12),
        top_capability_share=cp.max(),
    )
    # the most used capability; ties go to the first name (nulls last), not to whichever row came first
    by_count = ibis.window(group_by="account_id", order_by=[ibis.desc(caps.c), caps.capability])
    top_cap = caps.mutate(r=ibis.row_number().over(by_count))
    top_cap = top_cap.filter(top_cap.r == 0).select("account_id", top_capability="capability")
    cap_stats = cap_stats.join(top_cap, "account_id")

    # model pivot: traffic on models that first appear after the window opened, and how fast
    start = t.ts.min().as_scalar()
    releases = t.filter(t.model.notnull()).group_by("model").aggregate(release=lambda s: s.ts.min())
    releases = releases.filter(releases.release > start + ibis.interval(days=1))
    am = (
        t.filter(t.model.notnull())
        .group_by(["account_id", "model"])
        .aggregate(first=lambda s: s.ts.min(), c=lambda s: s.count())
    )
    am = am.join(releases, "model")
    pivot = am.group_by("account_id").aggregate(
        late_c=am.c.sum(),
        pivot_hours=((am.first.epoch_seconds() - am.release.epoch_seconds()) / 3600.0).min(),
    )

    feats = base
    for part in [*distinct, ds_stats]:
        feats = feats.left_join(part, "account_id").select(~ibis.selectors.endswith("_right"))
    feats = (
        feats.left_join(hour_ent, "account_id")
        .select(~ibis.selectors.endswith("_right"))
        .left_join(cap_stats, "account_id")
        .select(~ibis.selectors.endswith("_right"))
        .left_join(pivot, "account_id")
        .select(~ibis.selectors.endswith("_right"))
    )
    for col, name in (
        ("skeleton", "top_template_share"),
        ("head_fp", "top_head_share"),
        ("tail_fp", "top_tail_share"),
    ):
        feats = feats.left_join(_top_share(counts, col, name), "account_id").select(
            ~ibis.selectors.endswith("_right")
        )
    if accounts is not None:
        acc = accounts.select("account_id", "tier", "verified", "created_at")
        feats = feats.left_join(acc, "account_id").select(~ibis.selectors.endswith("_right"))

    df = pl.from_arrow(feats.to_pyarrow())
    assert isinstance(df, pl.DataFrame)
    if "tier" not in df.columns:
        df = df.with_columns(
            tier=pl.lit(None, pl.Utf8),
            verified=pl.lit(None, pl.Boolean),
            created_at=pl.lit(None, pl.Datetime("us", "UTC")),
        )
    df = df.with_columns(
        req_per_day=pl.col("interactions")
        / pl.max_horizontal(pl.col("active_days").cast(pl.Float64), pl.lit(1.0)),
        span_days=_days(df["last_seen"] - df["first_seen"]).clip(lower_bound=1.0),
        late_model_share=(pl.col("late_c").fill_null(0) / pl.col("interactions")).cast(pl.Float64),
        ip24_per_request=(pl.col("ip24s") / pl.col("interactions")).cast(pl.Float64),
        dataset_items=pl.col("dataset_items").fill_null(0),
        dataset_repeat=(1.0 - pl.col("dataset_items") / pl.col("dataset_requests")).cast(pl.Float64),
        dataset_exclusive_items=(pl.col("dataset_items") * pl.col("dataset_exclusive")).fill_null(0.0),
        tenure_days=_days(df["first_seen"] - df["created_at"]),
        fixed_instruction=pl.max_horizontal(pl.col("top_head_share"), pl.col("top_tail_share")),
        unverified=(~pl.col("verified").fill_null(False)).cast(pl.Float64),
        vouched=(pl.col("verified").fill_null(False) & pl.col("tier").is_in(["enterprise", "research"]))
        .fill_null(False)
        .cast(pl.Float64),
    ).drop("late_c", "dataset_requests")
    if descriptive:
        df = df.with_columns(gap_cv=(pl.col("gap_std") / pl.col("gap_mean")).fill_nan(None)).drop(
            "gap_std", "gap_mean"
        )
    return df.sort("account_id")
