"""Accounts in the accounts table with no traffic in the scanned logs.

They still get a result row (one row per account seen). With no traffic there is no behaviour to
score, but the sign-up record can tie a dormant account to a detected campaign: the same payment
instrument as flagged campaign accounts, or a sign-up in the same hour on the same tier as them.
That is how a standby pool looks before it starts. Such accounts get that evidence in their reasons;
an account sharing a payment instrument with at least ``min_card_accounts`` flagged accounts of one
campaign is scored ``card_factor x`` their highest score and attributed to the campaign when that
reaches the threshold.
"""

from __future__ import annotations

import polars as pl

#: extra result columns written after schema.ACCOUNT_RESULTS (same order as the pipeline's)
EXTRA = ("tier", "verified", "org_id", "top_capability", "cot_share")


def _ties(dormant: pl.DataFrame, members: pl.DataFrame, key: str) -> pl.DataFrame:
    """Per dormant account: the campaign sharing ``key`` with most flagged accounts, and how many."""
    d = dormant.select("account_id", key).filter(pl.col(key).is_not_null())
    m = members.select(key, "campaign_id", "score").filter(pl.col(key).is_not_null())
    j = d.join(m, on=key)
    if j.height == 0:
        return pl.DataFrame(
            schema={
                "account_id": pl.Utf8,
                f"{key}_campaign": pl.Utf8,
                f"{key}_n": pl.UInt32,
                f"{key}_score": pl.Float64,
                f"{key}_value": pl.Utf8,
            }
        )
    g = j.group_by(["account_id", "campaign_id", key]).agg(n=pl.len(), score=pl.col("score").max())
    g = g.sort(["account_id", "n", "campaign_id"], descending=[False, True, False])
    g = g.group_by("account_id", maintain_order=True).first()
    return g.select(
        "account_id",
        pl.col("campaign_id").alias(f"{key}_campaign"),
        pl.col("n").alias(f"{key}_n"),
        pl.col("score").alias(f"{key}_score"),
        pl.col(key).alias(f"{key}_value"),
    )


def dormant_accounts(
    accounts: pl.DataFrame,
    seen: pl.Series,
    account_campaign: pl.DataFrame,
    scored: pl.DataFrame,
    threshold: float,
    min_card_accounts: int = 2,
    card_factor: float = 0.9,
) -> pl.DataFrame:
    """Result rows (``schema.ACCOUNT_RESULTS`` columns + :data:`EXTRA`) for accounts without traffic.

    ``accounts``: the accounts table (``account_id`` and optional sign-up columns); ``seen``: the
    account ids with traffic; ``account_campaign``: ``account_id, campaign_id`` of campaign members;
    ``scored``: ``account_id, score`` of the accounts with traffic.
    """
    cols = accounts.columns
    a = accounts.with_columns(
        *[pl.lit(None, pl.Utf8).alias(c) for c in ("payment_fingerprint", "tier") if c not in cols],
        *[pl.lit(None, pl.Boolean).alias(c) for c in ("verified",) if c not in cols],
        *[pl.lit(None, pl.Datetime("us", "UTC")).alias(c) for c in ("created_at",) if c not in cols],
    )
    a = a.with_columns(
        burst=pl.when(pl.col("created_at").is_not_null()).then(
            pl.concat_str(
                [
                    pl.col("created_at").dt.truncate("1h").dt.strftime("%Y-%m-%dT%H:00Z"),
                    pl.col("tier").fill_null("?"),
                ],
                separator=" ",
            )
        )
    )
    dormant = a.filter(~pl.col("account_id").is_in(seen.implode())).unique("account_id", keep="first")
    members = a.join(account_campaign, on="account_id").join(
        scored.select("account_id", "score"), on="account_id"
    )
    card = _ties(dormant, members, "payment_fingerprint")
    burst = _ties(dormant, members, "burst")
    d = dormant.select("account_id", "tier", "verified").join(card, on="account_id", how="left")
    d = d.join(burst, on="account_id", how="left")
    strong = pl.col("payment_fingerprint_n").fill_null(0) >= min_card_accounts
    score = pl.when(strong).then(pl.col("payment_fingerprint_score") * card_factor).otherwise(0.0)
    card_txt = pl.concat_str(
        [
            pl.lit("shares payment instrument "),
            pl.col("payment_fingerprint_value").str.slice(0, 12),
            pl.lit(" with "),
            pl.col("payment_fingerprint_n").cast(pl.Utf8),
            pl.lit(" flagged accounts of campaign "),
            pl.col("payment_fingerprint_campaign"),
        ]
    )
    burst_txt = pl.concat_str(
        [
            pl.lit("signed up in the same hour and tier ("),
            pl.col("burst_value"),
            pl.lit(") as "),
            pl.col("burst_n").cast(pl.Utf8),
            pl.lit(" flagged accounts of campaign "),
            pl.col("burst_campaign"),
        ]
    )
    tied = pl.col("payment_fingerprint_campaign").is_not_null() | pl.col("burst_campaign").is_not_null()
    reasons = pl.when(tied).then(
        pl.concat_list(
            [pl.lit("no traffic in the scanned logs (possible standby account)"), card_txt, burst_txt]
        )
        .list.drop_nulls()
        .list.join("; ")
    )
    d = d.with_columns(score=score.cast(pl.Float64), reasons=reasons.fill_null(""))
    d = d.with_columns(flagged=pl.col("score") >= threshold)
    return d.select(
        "account_id",
        "score",
        "flagged",
        campaign_id=pl.when(pl.col("flagged")).then(pl.col("payment_fingerprint_campaign")),
        reasons="reasons",
        interactions=pl.lit(0, pl.Int64),
        first_seen=pl.lit(None, pl.Datetime("us", "UTC")),
        last_seen=pl.lit(None, pl.Datetime("us", "UTC")),
        tier="tier",
        verified="verified",
        org_id=pl.lit(None, pl.Utf8),
        top_capability=pl.lit(None, pl.Utf8),
        cot_share=pl.lit(None, pl.Float64),
    )
