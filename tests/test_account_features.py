"""Per-account aggregates: the descriptive extras are optional and change no other column."""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl
import pytest

from distillguard.accounts.features import account_features

#: public-dataset item of each row (None: no item): a sends 10, 11, 10, 12, 20; b sends 20, 21
ITEMS = {1: 10, 2: 11, 4: 10, 5: 12, 8: 20, 0: 20, 3: 21}


def _staged() -> ibis.Table:
    t0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(12):
        acc = "a" if i % 3 else "b"
        rows.append(
            {
                "account_id": acc,
                "org_id": None,
                "ts": t0 + dt.timedelta(hours=5 * i),
                "turn": 0,
                "model": "m1" if i < 6 else "m2",
                "country": "US" if i % 2 else "NL",
                "ip24": f"10.0.{i % 4}.0/24",
                "cot": 0.9 if i % 2 else 0.0,
                "cot_tagged": False,
                "tools": 0,
                "dataset_shape": 0.5,
                "max_tokens": 1024,
                "output_tokens": 100,
                "input_tokens": 50,
                "prompt_chars": 200,
                "capability": "coding" if i % 4 else "math_reasoning",
                "skeleton": 7 if i % 2 else 8,
                "head_fp": 1,
                "tail_fp": None,
                "dataset_item": ITEMS.get(i),
            }
        )
    df = pl.DataFrame(rows).with_columns(
        pl.col("skeleton", "head_fp", "tail_fp").cast(pl.UInt64), pl.col("org_id").cast(pl.Utf8),
        pl.col("dataset_item").cast(pl.Int64),
    )
    return ibis.memtable(df)


def test_descriptive_columns_are_extra_and_change_nothing_else() -> None:
    t = _staged()
    plain = account_features(t)
    full = account_features(t, descriptive=True)
    extra = {"gap_cv", "countries", "models"}
    assert extra.isdisjoint(plain.columns)
    assert extra <= set(full.columns)
    assert full.select(plain.columns).equals(plain)
    b = full.filter(pl.col("account_id") == "b").row(0, named=True)
    assert b["countries"] == 2 and b["models"] == 2 and b["active_days"] == 2
    assert abs(b["gap_cv"]) < 1e-12  # one request every 15 hours: no variation


#: senders per (account, item) pair: a's 10, 11, 12 have one, 20 two; b's 20 two, 21 one
PAIR_OWNERS = (1 + 1 + 1 + 2 + 2 + 1) / 6


@pytest.mark.parametrize(
    ("account", "share", "items", "repeat", "exclusive", "exclusive_items", "popularity"),
    [
        ("a", 5 / 8, 4, 1 - 4 / 5, 3 / 4, 3.0, (5 / 4) / PAIR_OWNERS),  # 10 twice; 20 is b's too
        ("b", 2 / 4, 2, 0.0, 1 / 2, 1.0, (3 / 2) / PAIR_OWNERS),
    ],
)
def test_dataset_aggregates(account, share, items, repeat, exclusive, exclusive_items, popularity) -> None:
    row = account_features(_staged()).filter(pl.col("account_id") == account).row(0, named=True)
    assert row["dataset_share"] == pytest.approx(share)
    assert row["dataset_items"] == items
    assert row["dataset_repeat"] == pytest.approx(repeat)
    assert row["dataset_exclusive"] == pytest.approx(exclusive)
    assert row["dataset_exclusive_items"] == pytest.approx(exclusive_items)
    assert row["dataset_popularity"] == pytest.approx(popularity)


def test_without_dataset_items_the_aggregates_say_none() -> None:
    t = _staged().mutate(dataset_item=ibis.null("int64"))
    f = account_features(t)
    assert f["dataset_share"].to_list() == [0.0, 0.0]
    assert f["dataset_items"].to_list() == [0, 0]
    assert f["dataset_repeat"].is_null().all() and f["dataset_exclusive_items"].to_list() == [0.0, 0.0]
