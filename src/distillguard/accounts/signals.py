"""Registered account-level signals.

Each signal maps the per-account aggregates of :func:`~distillguard.accounts.features.account_features`
to a value in [0, 1] (higher = more like a harvesting account; null when the columns it needs are
absent) and knows how to say so in a reason ("91% of prompts ask for chain-of-thought; typical
account 4%"). Thresholds do not live here: the scorer weighs the signals.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import polars as pl

from distillguard.signals.base import Signal, register


class AccountSignal(Signal):
    """Base class for account signals (subclasses set ``expr`` and ``reason``)."""

    level = "account"
    #: the raw feature column shown in reasons, and how to print it
    raw: ClassVar[str] = ""
    unit: ClassVar[str] = "pct"  # "pct", "num", "hours", "days"
    phrase: ClassVar[str] = ""

    @classmethod
    def expr(cls) -> pl.Expr:
        raise NotImplementedError

    @classmethod
    def fmt(cls, v: float | None) -> str:
        if v is None:
            return "n/a"
        if cls.unit == "pct":
            return f"{100 * v:.0f}%"
        if cls.unit == "hours":
            return f"{v:.0f} h"
        if cls.unit == "days":
            return f"{v:.1f} days"
        return f"{v:.3g}"

    @classmethod
    def reason(cls, raw: float | None, baseline: float | None) -> str:
        return f"{cls.phrase.format(value=cls.fmt(raw))} (typical account: {cls.fmt(baseline)})"


def _clip(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.Float64).clip(0.0, 1.0)


@register
class CotShare(AccountSignal):
    """Share of the account's prompts that elicit chain-of-thought (reasoning traces) in any language."""

    id = "account.cot_share"
    requires = ("prompt",)
    raw = "cot_share"
    phrase = "{value} of prompts ask for chain-of-thought"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.col("cot_share"))


@register
class FixedInstruction(AccountSignal):
    """Share of prompts that open or close with the same fixed text (an injected instruction)."""

    id = "account.fixed_instruction"
    requires = ("prompt",)
    raw = "fixed_instruction"
    phrase = "{value} of prompts carry the same fixed opening or closing instruction"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.max_horizontal(pl.col("top_head_share"), pl.col("top_tail_share")).fill_null(0.0))


@register
class CapabilityFocus(AccountSignal):
    """Share of traffic on the capabilities distillers harvest (reasoning, coding, tool use, grading)."""

    id = "account.capability_focus"
    requires = ("prompt",)
    raw = "target_share"
    phrase = "{value} of traffic targets harvested capabilities"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.col("target_share").fill_null(0.0))


@register
class CapabilityBreadth(AccountSignal):
    """How many harvested capabilities the account covers systematically (a capability sweep covers many)."""

    id = "account.capability_breadth"
    requires = ("prompt",)
    raw = "target_breadth"
    unit = "num"
    phrase = "covers {value} harvested capabilities"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.col("target_breadth").fill_null(0) / 5.0)


@register
class TemplateConcentration(AccountSignal):
    """Share of the account's prompts built on its single most used template (filled-in values masked)."""

    id = "account.template_concentration"
    requires = ("prompt",)
    raw = "top_template_share"
    phrase = "{value} of prompts use one template"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.col("top_template_share").fill_null(0.0))


@register
class SingleTurn(AccountSignal):
    """Share of requests that are the first turn of a conversation (harvesting rarely follows up)."""

    id = "account.single_turn"
    requires = ("turn",)
    raw = "single_turn_share"
    phrase = "{value} of requests are single-turn"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.col("single_turn_share"))


@register
class OutputDemand(AccountSignal):
    """How long the answers the account asks for are (mean max_tokens, log-scaled: 256 -> 0, 16K -> 1)."""

    id = "account.output_demand"
    requires = ("max_tokens",)
    raw = "mean_max_tokens"
    unit = "num"
    phrase = "asks for {value} output tokens on average"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip((pl.col("mean_max_tokens").log(2) - 8.0) / 6.0)


@register
class RoundTheClock(AccountSignal):
    """How flat the account's hour-of-day profile is (scripts run round the clock; people sleep)."""

    id = "account.round_the_clock"
    requires = ("ts",)
    raw = "hour_entropy"
    unit = "num"
    phrase = "hour-of-day entropy {value}"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip((pl.col("hour_entropy").fill_null(0.0) - 0.6) / 0.4)


@register
class Quietness(AccountSignal):
    """Low, steady volume: 5-60 requests per active day, under the rate limits."""

    id = "account.quiet_volume"
    requires = ("ts",)
    raw = "req_per_day"
    unit = "num"
    phrase = "{value} requests per active day"

    @classmethod
    def expr(cls) -> pl.Expr:
        r = pl.col("req_per_day")
        return pl.when((r >= 5) & (r <= 60)).then(1.0).otherwise(0.0) * _clip(pl.col("active_days") / 7.0)


@register
class ModelPivot(AccountSignal):
    """The account moved to a newly released model within 24 hours of its first appearance."""

    id = "account.model_pivot"
    requires = ("model",)
    raw = "pivot_hours"
    unit = "hours"
    phrase = "first used a newly released model {value} after release"

    @classmethod
    def expr(cls) -> pl.Expr:
        early = (pl.col("pivot_hours") <= 24.0) & (pl.col("first_seen") < pl.col("first_seen").max())
        return pl.when(early).then(_clip(pl.col("late_model_share") * 2.0)).otherwise(0.0)


@register
class FreshAccount(AccountSignal):
    """The account started heavy use right after sign-up (tenure at first use, 0 days -> 1, a month -> 0)."""

    id = "account.fresh_account"
    requires = ("accounts.created_at",)
    raw = "tenure_days"
    unit = "days"
    phrase = "first request {value} after sign-up"

    @classmethod
    def expr(cls) -> pl.Expr:
        return (-pl.col("tenure_days").clip(lower_bound=0.0) / 7.0).exp()


@register
class Unverified(AccountSignal):
    """The account is not identity- or business-verified, on a self-serve tier."""

    id = "account.unverified_self_serve"
    requires = ("accounts.tier", "accounts.verified")
    raw = "unverified"
    unit = "num"
    phrase = "unverified self-serve account ({value})"

    @classmethod
    def expr(cls) -> pl.Expr:
        self_serve = pl.col("tier").is_in(["free", "edu", "startup", "research"])
        return (
            pl.when(pl.col("verified").is_null() & pl.col("tier").is_null())
            .then(None)
            .otherwise(pl.when(self_serve & ~pl.col("verified").fill_null(False)).then(1.0).otherwise(0.0))
        )

    @classmethod
    def reason(cls, raw: float | None, baseline: float | None) -> str:
        return "unverified self-serve account"


@register
class IpRotation(AccountSignal):
    """Distinct /24 client prefixes per request (residential proxy pools rotate IPs)."""

    id = "account.ip_rotation"
    requires = ("ip",)
    raw = "ip24_per_request"
    phrase = "a new /24 prefix on {value} of requests"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.col("ip24_per_request").fill_null(0.0) * 2.0)


@register
class ContentReach(AccountSignal):
    """How widely the account's content is shared: its most consistent shared template, near-duplicate
    family or fixed instruction, weighed by how many accounts use it (log-scaled: 2 accounts -> 0.17,
    64 or more -> 1). Campaigns spread the same wrappers over tens to thousands of accounts; a few
    colleagues or one product share content with only a handful."""

    id = "account.content_reach"
    requires = ("prompt",)
    raw = "content_reach_accounts"
    unit = "num"
    phrase = "its content is shared with {value} other accounts"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.col("content_reach").fill_null(0.0))


@register
class Vouched(AccountSignal):
    """Mitigating evidence: a verified account on a contract tier (enterprise or research), which an
    operator has checked; campaigns of thousands of throwaway accounts rarely are. The scorer weighs it
    against what ties the account to unverified campaign accounts (its group's features)."""

    id = "account.vouched"
    requires = ("accounts.tier", "accounts.verified")
    raw = "vouched"
    unit = "num"
    phrase = "verified contract-tier account ({value})"

    @classmethod
    def expr(cls) -> pl.Expr:
        contract = pl.col("tier").is_in(["enterprise", "research"])
        return (
            pl.when(pl.col("verified").is_null() & pl.col("tier").is_null())
            .then(None)
            .otherwise(pl.when(contract & pl.col("verified").fill_null(False)).then(1.0).otherwise(0.0))
        )


@register
class VouchedPeers(AccountSignal):
    """Mitigating evidence: the share of the account's link weight that goes to verified contract-tier
    accounts. Evidence that ties an account to unverified campaign accounts outweighs it; ties among
    verified colleagues do not."""

    id = "account.vouched_peers"
    requires = ("accounts.tier", "accounts.verified")
    raw = "vouched_peer_share"
    phrase = "{value} of its link weight goes to verified contract-tier accounts"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.col("vouched_peer_share").fill_null(0.0))


@register
class DatasetShare(AccountSignal):
    """Share of the account's prompts that hold a verbatim item of a known public dataset (matched
    against the scan's ``--dataset-index``), whatever text wraps it."""

    id = "account.dataset_share"
    requires = ("prompt",)
    option = "--dataset-index"
    raw = "dataset_share"
    phrase = "{value} of prompts are items of public datasets"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.col("dataset_share").fill_null(0.0))


#: distinct items at which :class:`DatasetWalk` saturates
WALK_ITEMS = 100


@register
class DatasetWalk(AccountSignal):
    """The account works its way through public datasets: many distinct items, none repeated (a
    harvest partitioned over many accounts), log-scaled (1 item -> 0.15, 100 or more -> 1). A class
    or a tutoring product asks the same popular questions again and again."""

    id = "account.dataset_walk"
    requires = ("prompt",)
    option = "--dataset-index"
    raw = "dataset_items"
    unit = "num"
    phrase = "sent {value} distinct items of public datasets"

    @classmethod
    def expr(cls) -> pl.Expr:
        items = pl.col("dataset_items").fill_null(0).cast(pl.Float64)
        fresh = (1.0 - pl.col("dataset_repeat").fill_null(0.0)).clip(0.0, 1.0)
        return _clip((items + 1.0).log() / float(np.log(WALK_ITEMS + 1)) * fresh)


@register
class PopularItems(AccountSignal):
    """Mitigating evidence: the account's dataset items are ones many other accounts send too (the
    benchmark items researchers all evaluate on, the homework a class shares), against a random
    sample of the datasets: mean senders per item over that of a random (account, item) pair,
    log-scaled (as popular as chance -> 0, 8 times -> 1). A ratio, so it holds as the population
    grows; an operator who harvests only popular items harvests little."""

    id = "account.popular_items"
    requires = ("prompt",)
    option = "--dataset-index"
    raw = "dataset_popularity"
    unit = "num"
    phrase = "its dataset items are {value} times as popular as chance"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.col("dataset_popularity").fill_null(1.0).clip(lower_bound=1e-9).log(2) / 3.0)


@register
class BenchmarkCoverage(AccountSignal):
    """Mitigating evidence: the account ran through a large share of one part of a public dataset (a
    benchmark's test split or subset: GSM8K's test set, HumanEval, MBPP's 500), as an evaluation
    does; a harvest samples thinly across whole datasets. Log-scaled share of the part (1% -> 0.15,
    10% -> 0.52, all of it -> 1). Evading it means harvesting whole small benchmark sets, which hold
    little."""

    id = "account.benchmark_coverage"
    requires = ("prompt",)
    option = "--dataset-index"
    raw = "benchmark_coverage"
    phrase = "sent {value} of one public benchmark set's items, as an evaluation does"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip((pl.col("benchmark_coverage").fill_null(0.0) * 100.0 + 1.0).log() / float(np.log(101.0)))


@register
class EvaluationShare(AccountSignal):
    """Mitigating evidence: the account's dataset items come from published evaluation sets (the
    benchmark test splits named by ``index build --evaluation``), as a researcher's evaluation runs do,
    even a single short run that covers little of its benchmark. Share of its distinct items, over at
    least 10 items, cubed: a harvest drawn from whole datasets holds some evaluation items too, and
    only an account that sends almost nothing else looks like an evaluation. Evading it means
    harvesting only evaluation sets: small, and the questions a rival's own evaluations need unseen."""

    id = "account.evaluation_share"
    requires = ("prompt",)
    option = "--dataset-index"
    raw = "evaluation_share"
    phrase = "{value} of its dataset items are from published evaluation sets, as evaluation runs are"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip(pl.col("evaluation_share").fill_null(0.0) ** 3)


@register
class HarvestSequential(AccountSignal):
    """Harvest intent accumulated over time: the largest CUSUM of the log-likelihood ratio of the
    account's harvest-like requests (dataset items, reasoning asked of harvested capabilities,
    dataset-shaped rows) against the population's own rate, in units of the SPRT bound (see
    :mod:`distillguard.accounts.sequential`), log-scaled (the bound -> 0.29, ten times it -> 1). A slow
    account adds up; a benign history before the harvest is forgotten."""

    id = "account.harvest_sequential"
    requires = ("prompt", "ts")
    raw = "harvest_cusum"
    unit = "num"
    phrase = "its harvest-like requests add up to {value} times the sequential test's bound"

    @classmethod
    def expr(cls) -> pl.Expr:
        return _clip((pl.col("harvest_cusum").fill_null(0.0) + 1.0).log() / float(np.log(11.0)))


ACCOUNT_SIGNALS: tuple[type[AccountSignal], ...] = (
    CotShare,
    FixedInstruction,
    CapabilityFocus,
    CapabilityBreadth,
    TemplateConcentration,
    SingleTurn,
    OutputDemand,
    RoundTheClock,
    Quietness,
    ModelPivot,
    FreshAccount,
    Unverified,
    IpRotation,
    ContentReach,
    Vouched,
    VouchedPeers,
    DatasetShare,
    DatasetWalk,
    PopularItems,
    BenchmarkCoverage,
    EvaluationShare,
    HarvestSequential,
)


def account_signal_values(feats: pl.DataFrame) -> pl.DataFrame:
    """``account_id`` plus one [0, 1] column per account signal (named by its id)."""
    exprs = []
    for s in ACCOUNT_SIGNALS:
        e = s.expr()
        exprs.append(e.cast(pl.Float64).alias(s.id))
    return feats.select("account_id", *exprs)
