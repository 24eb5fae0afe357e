"""Shared-key evidence in words: an account's strongest shared key, and keys too common to count."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import polars as pl
import xxhash

from distillguard.linking.keys import KIND_NOUN

ROW_KINDS = ("template", "near_duplicate", "instruction", "system_prompt", "ip_prefix", "asn", "user_agent")


def _short(key: pl.Expr) -> pl.Expr:
    return pl.when(key.str.len_chars() > 12).then(key.str.slice(0, 10) + "…").otherwise(key)


def key_evidence_text(keys: ir.Table) -> pl.DataFrame:
    """``account_id, text``: each account's most weighty shared key, e.g.
    "62% of its requests share template 3fa2c1d07b… with 311 other accounts"."""
    w = ibis.window(group_by="account_id", order_by=[ibis.desc(keys.w), keys.kind, keys.key])
    top = keys.mutate(r=ibis.row_number().over(w))
    top = top.filter((top.r == 0) & (top.w > 0)).select("account_id", "kind", "key", "share", "df")
    df = pl.from_arrow(top.to_pyarrow())
    assert isinstance(df, pl.DataFrame)
    noun = pl.col("kind").replace_strict(KIND_NOUN, default="key")
    others = (pl.col("df") - 1).cast(pl.Utf8)
    other_accounts = pl.when(pl.col("df") == 2).then(pl.lit(" other account")).otherwise(
        pl.lit(" other accounts")
    )
    pct = (pl.col("share") * 100).round(0).cast(pl.Int64).cast(pl.Utf8) + "%"
    row_txt = pl.concat_str(
        [
            pct,
            pl.lit(" of its requests share "),
            noun,
            pl.lit(" "),
            _short(pl.col("key")),
            pl.lit(" with "),
            others,
            other_accounts,
        ]
    )
    acc_txt = pl.concat_str(
        [
            pl.lit("shares "),
            noun,
            pl.lit(" "),
            _short(pl.col("key")),
            pl.lit(" with "),
            others,
            other_accounts,
        ]
    )
    text = pl.when(pl.col("kind").is_in(ROW_KINDS)).then(row_txt).otherwise(acc_txt)
    return df.select("account_id", text=text)


def popular_keys(keys: ir.Table, scored: pl.DataFrame, n_accounts: int, top: int = 5) -> list[dict]:
    """Look-alike groups made by keys shared by many accounts (a popular agent's system prompt, a NAT):
    recorded with why they were not treated as campaigns."""
    min_df = max(50, int(0.02 * n_accounts))
    big = keys.filter(keys.df >= min_df)
    agg = big.group_by(["kind", "key"]).aggregate(
        accounts=big.account_id.count(), interactions=big.n.sum(), idf=big.idf.max()
    )
    agg = agg.order_by([ibis.desc("accounts"), "kind", "key"]).limit(top)
    heads = pl.from_arrow(agg.to_pyarrow())
    assert isinstance(heads, pl.DataFrame)
    if heads.height == 0:
        return []
    members = pl.from_arrow(
        big.filter(big.kind.isin(heads["kind"].to_list()) & big.key.isin(heads["key"].to_list()))
        .select("kind", "key", "account_id")
        .to_pyarrow()
    )
    assert isinstance(members, pl.DataFrame)
    members = members.join(scored.select("account_id", "score", "flagged"), on="account_id")
    stats = members.group_by(["kind", "key"]).agg(
        top_score=pl.col("score").max(),
        flagged=pl.col("flagged").sum(),
        examples=pl.col("account_id").sort().head(5),
    )
    heads = heads.join(stats, on=["kind", "key"]).sort(
        ["accounts", "kind", "key"], descending=[True, False, False]
    )
    out = []
    for r in heads.iter_rows(named=True):  # at most `top` keys
        noun = KIND_NOUN.get(r["kind"], "key")
        out.append(
            {
                "group_id": "LK-" + xxhash.xxh64(f"{r['kind']}\n{r['key']}".encode()).hexdigest()[:8],
                "kind": r["kind"],
                "accounts": int(r["accounts"]),
                "interactions": int(r["interactions"]),
                "top_score": round(float(r["top_score"]), 4),
                "why_not": (
                    f"{r['accounts']} accounts share {noun} {r['key'][:16]}; "
                    f"a key this common carries little "
                    f"weight (rarity {r['idf']:.2f} of 1), so it does not link them on its own; "
                    f"{r['flagged']} of them were flagged on other evidence."
                ),
                "example_accounts": list(r["examples"]),
            }
        )
    return out
