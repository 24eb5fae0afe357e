"""The per-account sequential test: harvest-like requests add up day by day (CUSUM of an SPRT ratio)."""

from __future__ import annotations

import datetime as dt
import math

import ibis
import polars as pl
import pytest

from distillguard.accounts.sequential import SequentialParams, harvest_cusum

T0 = dt.datetime(2026, 4, 22, 9, tzinfo=dt.UTC)

#: account -> per day (requests, harvest-like requests)
PATTERNS: dict[str, list[tuple[int, int]]] = {
    **{f"typical{i}": [(20, 1)] * 14 for i in range(12)},  # the population: 5% harvest-like
    "quiet_harvester": [(8, 5)] * 14,
    "slow_harvester": [(2, 2)] * 14,
    "sleeper": [(20, 1)] * 7 + [(20, 12)] * 7,
    "power_user": [(60, 6)] * 14,  # 10%: busy, but not a harvest
    "one_day": [(30, 30)],
}


def _staged() -> ibis.Table:
    rows = []
    for account, days in PATTERNS.items():
        for d, (n, x) in enumerate(days):
            for i in range(n):
                harvest = i < x
                rows.append({
                    "account_id": account,
                    "ts": T0 + dt.timedelta(days=d, minutes=i),
                    # the three ways a request is harvest-like, in turn
                    "dataset_item": (i if i % 3 == 0 else None) if harvest else None,
                    "cot": 0.9 if harvest and i % 3 == 1 else 0.0,
                    "capability": "math_reasoning" if harvest else "general_chat",
                    "dataset_shape": 0.8 if harvest and i % 3 == 2 else 0.0,
                })
    df = pl.DataFrame(rows).with_columns(pl.col("dataset_item").cast(pl.Int64))
    return ibis.memtable(df)


@pytest.fixture(scope="module")
def result() -> tuple[pl.DataFrame, dict]:
    return harvest_cusum(_staged())


@pytest.mark.parametrize(
    ("account", "crosses", "days_at_least", "days_at_most"),
    [
        ("quiet_harvester", True, 0, 0),
        ("slow_harvester", True, 0, 3),
        ("sleeper", True, 7, 7),  # the benign week is forgotten, the harvest week is not
        ("power_user", False, None, None),
        ("typical0", False, None, None),
        ("one_day", True, 0, 0),
    ],
)
def test_who_crosses_the_bound_and_when(result, account, crosses, days_at_least, days_at_most):
    out, _ = result
    row = out.filter(pl.col("account_id") == account).row(0, named=True)
    assert (row["harvest_cusum"] >= 1.0) == crosses
    if crosses:
        assert days_at_least <= row["harvest_days_to_bound"] <= days_at_most
    else:
        assert row["harvest_days_to_bound"] is None


def test_the_rate_is_measured_in_the_population_and_the_cusum_matches_a_plain_loop(result):
    out, measured = result
    assert measured["p0"] == pytest.approx(0.05)
    params = SequentialParams()
    assert measured["bound"] == pytest.approx(math.log((1 - params.beta) / params.alpha))
    hit = math.log(measured["p1"] / measured["p0"])
    miss = math.log((1 - measured["p1"]) / (1 - measured["p0"]))
    for account, days in PATTERNS.items():
        s = best = 0.0
        for n, x in days:
            s = max(0.0, s + x * hit + (n - x) * miss)
            best = max(best, s)
        got = out.filter(pl.col("account_id") == account)["harvest_cusum"][0]
        assert got == pytest.approx(best / measured["bound"]), account
