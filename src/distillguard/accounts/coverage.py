"""Dataset coverage in words: which public datasets an account's (or a campaign's) prompts come from.

The evidence behind ``account.dataset_walk`` for an analyst or a lawyer: how many items of which
datasets the account sent, how many it repeated, how many no other account sent; for a campaign, how
its accounts together cover each dataset and whether any item was sent by two of them (a harvest
partitioned over accounts never repeats one).
"""

from __future__ import annotations

import functools

import ibis
import ibis.expr.types as ir
import polars as pl

#: datasets named per account in a reason (the largest first)
TOP_DATASETS = 3


#: distinct items of one part an account must send for its coverage of that part to count
MIN_PART_ITEMS = 10


@functools.lru_cache(maxsize=2)
def item_datasets(index) -> pl.DataFrame:  # index: DatasetIndex
    """``item, dataset, part, evaluation`` of every item of a loaded dataset index (``evaluation``:
    the item belongs to a set named as a published evaluation set when the index was built). Kept per
    loaded index: a scan asks for it while scoring and again while writing the reasons."""
    import numpy as np

    items = np.arange(len(index.item_dataset), dtype=np.int64)
    return pl.DataFrame({"item": items, "dataset": index.dataset_of(items),
                         "part": pl.Series(index.item_part, dtype=pl.String),
                         "evaluation": index.is_evaluation()})


def part_coverage(staged: ir.Table, datasets: pl.DataFrame) -> pl.DataFrame:
    """Per account: ``benchmark_coverage``, the largest share of one dataset part (a dataset's split or
    subset, e.g. ``gsm8k/test``) whose items it sent (counting parts of which it sent at least
    :data:`MIN_PART_ITEMS` distinct items), and ``benchmark_part``, which part. An evaluation runs
    through a benchmark's canonical set; a harvest samples thinly across whole datasets. Also
    ``evaluation_share`` (:func:`evaluation_share`), from the same counts."""
    counts = _part_counts(staged, datasets)
    sizes = datasets.group_by("part").agg(size=pl.len())
    df = counts.filter(pl.col("items") >= MIN_PART_ITEMS).join(sizes, on="part")
    df = df.with_columns(coverage=(pl.col("items") / pl.col("size")).cast(pl.Float64))
    best = df.sort(["account_id", "coverage", "part"], descending=[False, True, False]).unique(
        "account_id", keep="first", maintain_order=True
    )
    best = best.select("account_id", benchmark_coverage="coverage", benchmark_part="part")
    return _evaluation_share(counts).join(best, on="account_id", how="left")


def evaluation_share(staged: ir.Table, datasets: pl.DataFrame) -> pl.DataFrame:
    """Per account that sent a dataset item: ``evaluation_share``, the share of its distinct items that
    belong to published evaluation sets, over at least :data:`MIN_PART_ITEMS` items (an account with
    fewer counts as if it had sent that many, so two benchmark questions are not an evaluation)."""
    return _evaluation_share(_part_counts(staged, datasets))


def _part_counts(staged: ir.Table, datasets: pl.DataFrame) -> pl.DataFrame:
    """``account_id, part, items, evaluation``: the distinct items each account sent of each part, and
    whether the part is an evaluation set (named by its dataset or itself: the same for all its items)."""
    parts = ibis.memtable(datasets.select("item", "part", "evaluation"))
    per = _items(staged).distinct().join(parts, "item")
    per = per.group_by(["account_id", "part"]).aggregate(
        items=lambda s: s.count(), evaluation=lambda s: s.evaluation.any()
    )
    df = pl.from_arrow(per.to_pyarrow())
    assert isinstance(df, pl.DataFrame)
    return df


def _evaluation_share(counts: pl.DataFrame) -> pl.DataFrame:
    per = counts.group_by("account_id").agg(
        items=pl.col("items").sum(), ev=pl.col("items").filter(pl.col("evaluation")).sum()
    )
    return per.select(
        "account_id",
        evaluation_share=(pl.col("ev") / pl.max_horizontal(pl.col("items"), pl.lit(MIN_PART_ITEMS)))
        .cast(pl.Float64),
    )


def _items(staged: ir.Table) -> ir.Table:
    """``account_id, item`` of every request that holds a dataset item."""
    t = staged.filter(staged.dataset_item.notnull())
    return t.select("account_id", item=t.dataset_item.cast("int64"))


def account_coverage(staged: ir.Table, datasets: pl.DataFrame) -> pl.DataFrame:
    """Per account and dataset: ``requests``, ``items`` (distinct), ``exclusive`` (items no other
    account sent)."""
    t = _items(staged)
    per = t.group_by(["account_id", "item"]).aggregate(c=lambda s: s.count())
    owners = per.group_by("item").aggregate(owners=lambda s: s.count())
    per = per.join(owners, "item")
    df = pl.from_arrow(per.to_pyarrow())
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(pl.col("item").cast(pl.Int64)).join(datasets, on="item", how="left")
    return (
        df.group_by("account_id", "dataset")
        .agg(
            requests=pl.col("c").sum(),
            items=pl.len(),
            exclusive=(pl.col("owners") == 1).sum(),
        )
        .sort("account_id", "items", "dataset", descending=[False, True, False])
    )


def coverage_text(cov: pl.DataFrame) -> pl.DataFrame:
    """``account_id, text``, e.g. "its prompts hold 87 items of public datasets (gsm8k 41,
    hendrycks_math 30, mbpp 16), none repeated, 85 sent by no other account"."""
    if cov.height == 0:
        return pl.DataFrame(schema={"account_id": pl.Utf8, "text": pl.Utf8})
    named = cov.with_columns(
        part=pl.concat_str([pl.col("dataset").fill_null("?"), pl.lit(" "), pl.col("items").cast(pl.Utf8)])
    )
    per = named.group_by("account_id", maintain_order=True).agg(
        items=pl.col("items").sum(),
        requests=pl.col("requests").sum(),
        exclusive=pl.col("exclusive").sum(),
        parts=pl.col("part").head(TOP_DATASETS),
        # pl.len() is unsigned: fewer datasets than shown would wrap around to 4294967295
        more=pl.len().cast(pl.Int64) - TOP_DATASETS,
    )
    repeated = pl.col("requests") - pl.col("items")
    text = pl.concat_str([
        pl.lit("its prompts hold "), pl.col("items").cast(pl.Utf8), pl.lit(" items of public datasets ("),
        pl.col("parts").list.join(", "),
        pl.when(pl.col("more") > 0).then(pl.concat_str([pl.lit(", "), pl.col("more").cast(pl.Utf8),
                                                         pl.lit(" more")])).otherwise(pl.lit("")),
        pl.lit("), "),
        pl.when(repeated == 0).then(pl.lit("none repeated"))
        .otherwise(pl.concat_str([repeated.cast(pl.Utf8), pl.lit(" repeats")])),
        pl.lit(", "), pl.col("exclusive").cast(pl.Utf8), pl.lit(" sent by no other account"),
    ])
    return per.select("account_id", text=text).sort("account_id")


def campaign_coverage(
    staged: ir.Table, datasets: pl.DataFrame, account_campaign: pl.DataFrame
) -> dict[str, list[dict]]:
    """Per campaign id, one entry per dataset its accounts drew from (most requests first):
    ``dataset``, ``accounts``, ``requests``, ``items`` (distinct over the campaign) and
    ``shared_items`` (items sent by two or more of its accounts: none, for a harvest partitioned over
    them)."""
    ac = account_campaign.filter(pl.col("campaign_id").is_not_null()).select("account_id", "campaign_id")
    if ac.height == 0:
        return {}
    t = _items(staged)
    t = t.join(ibis.memtable(ac), "account_id").join(ibis.memtable(datasets), "item")
    per = t.group_by(["campaign_id", "dataset", "item"]).aggregate(
        n=lambda s: s.count(), accounts=lambda s: s.account_id.nunique()
    )
    agg = per.group_by(["campaign_id", "dataset"]).aggregate(
        requests=lambda s: s.n.sum(),
        items=lambda s: s.count(),
        shared_items=lambda s: ibis.ifelse(s.accounts >= 2, 1, 0).sum(),
    )
    acc = t.select("campaign_id", "dataset", "account_id").distinct()
    acc = acc.group_by(["campaign_id", "dataset"]).aggregate(accounts=lambda s: s.count())
    df = pl.from_arrow(agg.join(acc, ["campaign_id", "dataset"]).to_pyarrow())
    assert isinstance(df, pl.DataFrame)
    out: dict[str, list[dict]] = {}
    for r in df.sort(["campaign_id", "requests", "dataset"], descending=[False, True, False]).iter_rows(
        named=True
    ):
        out.setdefault(r["campaign_id"], []).append(
            {k: r[k] for k in ("dataset", "accounts", "requests", "items", "shared_items")}
        )
    return out
