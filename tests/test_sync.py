"""Synchronized activity: co-activity beyond what each account's own daily rhythm predicts."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pyarrow as pa
import pytest

from distillguard.linking.sync import SyncParams, sync_evidence

T0 = dt.datetime(2026, 4, 22, tzinfo=dt.UTC)
DAYS = 21


def _rows(account: str, hours: list[int]) -> list[dict]:
    return [{"account_id": account, "ts": T0 + dt.timedelta(hours=h, minutes=7)} for h in hours]


def _pool(rng, k, per_day=3):
    """k accounts run by one scheduler: a few random windows a day, all accounts in them."""
    hours = []
    for d in range(DAYS):
        hours += [d * 24 + int(h) for h in rng.choice(24, per_day, replace=False)]
    return {f"pool{i}": hours for i in range(k)}


def _office(rng, k):
    """k office workers of one time zone: 9-17 on weekdays, each on their own random days."""
    return {
        f"office{i}": [
            d * 24 + h for d in range(DAYS) if d % 7 < 5 and rng.random() < 0.6 for h in range(9, 17)
        ]
        for i in range(k)
    }


def _always(k):
    return {f"always{i}": list(range(DAYS * 24)) for i in range(k)}


def _humans(rng, k):
    """independent people: a few random evening hours on random days."""
    return {
        f"human{i}": [
            d * 24 + int(h) for d in range(DAYS) if rng.random() < 0.7 for h in rng.choice(range(17, 23), 2)
        ]
        for i in range(k)
    }


@pytest.fixture(scope="module")
def evidence():
    rng = np.random.default_rng(1)
    accounts = {**_pool(rng, 3), **_office(rng, 3), **_always(2), **_humans(rng, 3)}
    accounts["sparse0"] = [5, 30]
    accounts["sparse1"] = [5, 30]
    rows = [r for a, h in accounts.items() for r in _rows(a, h)]
    con = ibis.duckdb.connect()
    staged = con.create_table("staged", ibis.memtable(pa.Table.from_pylist(rows)))
    pairs = [
        ("pool0", "pool1"),
        ("pool1", "pool2"),
        ("office0", "office1"),
        ("office1", "office2"),
        ("always0", "always1"),
        ("human0", "human1"),
        ("human1", "human2"),
        ("sparse0", "sparse1"),
        ("office0", "pool0"),
        ("human0", "pool2"),
    ]
    edges = pa.table({"src": [a for a, _ in pairs], "dst": [b for _, b in pairs]})
    ev = sync_evidence(con, staged, edges, SyncParams())
    return {(r["src"], r["dst"]): r for r in ev.to_dicts()}


@pytest.mark.parametrize(
    "pair, low, high",
    [
        (("pool0", "pool1"), 0.35, 1.0),  # one scheduler, 3 changing windows a day: lift ~4 (at most 8)
        (("pool1", "pool2"), 0.35, 1.0),
        (("office0", "office1"), 0.0, 0.25),  # same office hours: explained by their rhythm
        (("office1", "office2"), 0.0, 0.25),
        (("always0", "always1"), 0.0, 0.0),  # around the clock: lift exactly 1
        (("human0", "human1"), 0.0, 0.3),
        (("human1", "human2"), 0.0, 0.3),
        (("sparse0", "sparse1"), 0.0, 0.0),  # identical, but two hours say nothing
        (("office0", "pool0"), 0.0, 0.2),
        (("human0", "pool2"), 0.0, 0.2),
    ],
)
def test_sync_evidence(evidence, pair, low, high):
    row = evidence[pair]
    assert low <= row["sync"] <= high, row


def test_every_edge_gets_a_row_and_lift_is_overlap_over_expected(evidence):
    assert len(evidence) == 10
    r = evidence[("pool0", "pool1")]
    assert r["sync_overlap"] == DAYS * 3
    assert r["sync_lift"] == pytest.approx(r["sync_overlap"] / r["sync_expected"])
    assert evidence[("always0", "always1")]["sync_lift"] == pytest.approx(1.0)


def test_no_edges_no_rows():
    con = ibis.duckdb.connect()
    staged = con.create_table("staged", ibis.memtable(pa.Table.from_pylist(_rows("a", [1, 2]))))
    out = sync_evidence(
        con, staged, pa.table({"src": pa.array([], pa.string()), "dst": pa.array([], pa.string())})
    )
    assert out.height == 0 and "sync" in out.columns
