"""Reasons: the strongest contributions to an account's score, in words an analyst can check.

Built with polars expressions over all accounts at once (no per-row Python): each signal's
contribution ``w_i x_i`` ranks it; the text gives the account's raw value next to the population's
median ("91% of prompts ask for chain-of-thought (typical account: 3%)"); then the account's
strongest shared key ("62% of its prompts share template 3fa2c1d0… with 311 other accounts") and its
campaign's shared evidence.
"""

from __future__ import annotations

import polars as pl

from distillguard.accounts.signals import ACCOUNT_SIGNALS, AccountSignal
from distillguard.campaigns.features import CLUSTER_FEATURES


def _fmt(e: pl.Expr, unit: str) -> pl.Expr:
    if unit == "pct":
        return (e * 100).round(0).cast(pl.Int64).cast(pl.Utf8) + "%"
    if unit == "hours":
        return e.round(0).cast(pl.Int64).cast(pl.Utf8) + " h"
    if unit == "days":
        return e.round(1).cast(pl.Utf8) + " days"
    return e.round(1).cast(pl.Utf8)


def _phrase(template: str, value: pl.Expr) -> pl.Expr:
    pre, _, post = template.partition("{value}")
    return pl.concat_str([pl.lit(pre), value, pl.lit(post)])


def _account_texts(feats: pl.DataFrame, s: type[AccountSignal]) -> pl.Expr:
    raw = pl.col(s.raw).cast(pl.Float64)
    if s.id == "account.unverified_self_serve":
        return pl.lit("unverified self-serve account")
    base = feats[s.raw].cast(pl.Float64).median() if s.raw in feats.columns else None
    base_txt = "n/a" if base is None else s.fmt(float(base))
    return pl.concat_str([_phrase(s.phrase, _fmt(raw, s.unit)), pl.lit(f" (typical account: {base_txt})")])


def joined_evidence(*frames: pl.DataFrame) -> pl.DataFrame:
    """``account_id, text``: the texts of several ``account_id, text`` frames, "; "-joined per account
    in the order the frames are given."""
    parts = [f.select("account_id", "text", order=pl.lit(i)) for i, f in enumerate(frames) if f.height]
    if not parts:
        return pl.DataFrame(schema={"account_id": pl.Utf8, "text": pl.Utf8})
    both = pl.concat(parts).sort("account_id", "order")
    return both.group_by("account_id", maintain_order=True).agg(pl.col("text").str.join("; "))


def account_reasons(
    scored: pl.DataFrame,
    feats: pl.DataFrame,
    cluster_feats: pl.DataFrame,
    clusters: pl.DataFrame,
    key_evidence: pl.DataFrame,
    campaign_evidence: pl.DataFrame,
    sync_evidence: pl.DataFrame | None = None,
    top: int = 3,
) -> pl.DataFrame:
    """``account_id, reasons`` ("; "-joined, strongest first).

    ``key_evidence``: ``account_id, text`` (its strongest shared key, already in words);
    ``campaign_evidence``: ``account_id, text`` (its campaign's shared evidence);
    ``sync_evidence``: ``account_id, text`` (its link evidence beyond shared keys, when it has any:
    synchronized and behavioural peers, public-dataset coverage; see :func:`joined_evidence`).
    """
    contrib_cols = [c for c in scored.columns if c.startswith("contrib:")]
    long = scored.select("account_id", *contrib_cols).unpivot(
        index="account_id", variable_name="feature", value_name="contrib"
    )
    long = long.with_columns(pl.col("feature").str.strip_prefix("contrib:")).filter(pl.col("contrib") > 0.05)

    texts = []
    for s in ACCOUNT_SIGNALS:
        if s.raw not in feats.columns:
            continue
        texts.append(feats.select("account_id", feature=pl.lit(s.id), text=_account_texts(feats, s)))
    cm = clusters.join(cluster_feats, on="cluster")
    for f, tmpl in CLUSTER_FEATURES.items():
        if f == "cluster.size":
            t = pl.concat_str([pl.lit("linked group of "), pl.col("size").cast(pl.Utf8), pl.lit(" accounts")])
        else:
            t = _phrase(tmpl, _fmt(pl.col(f), "pct"))
        texts.append(cm.select("account_id", feature=pl.lit(f), text=t))
    text = pl.concat(texts, how="vertical")
    ranked = (
        long.join(text, on=["account_id", "feature"], how="inner")
        .filter(pl.col("text").is_not_null())
        .sort(["account_id", "contrib", "feature"], descending=[False, True, False])
        .group_by("account_id", maintain_order=True)
        .head(top)
        .group_by("account_id", maintain_order=True)
        .agg(sig=pl.col("text"))
    )
    out = scored.select("account_id").join(ranked, on="account_id", how="left")
    out = out.join(key_evidence.rename({"text": "key_text"}), on="account_id", how="left")
    out = out.join(campaign_evidence.rename({"text": "camp_text"}), on="account_id", how="left")
    if sync_evidence is None:
        sync_evidence = pl.DataFrame(schema={"account_id": pl.Utf8, "text": pl.Utf8})
    out = out.join(sync_evidence.rename({"text": "sync_text"}), on="account_id", how="left")
    parts = pl.concat_list(
        [pl.col("sig").fill_null(pl.lit([], pl.List(pl.Utf8))), "key_text", "sync_text", "camp_text"]
    )
    return out.select("account_id", reasons=parts.list.drop_nulls().list.join("; "))
