"""Synchronized activity: co-activity beyond what each account's own daily rhythm predicts."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from distillguard.linking.sync import SyncParams, account_sync_text, campaign_sync, reinforce, sync_evidence

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


def _edges(pairs, weight=0.5, kinds=("template",)):
    return pa.table(
        {
            "src": [a for a, _ in pairs],
            "dst": [b for _, b in pairs],
            "weight": [weight] * len(pairs),
            "kind": [kinds[0]] * len(pairs),
            "kinds": [list(kinds)] * len(pairs),
        }
    )


def _ev(rows):
    return pl.DataFrame(
        rows,
        schema={"src": pl.Utf8, "dst": pl.Utf8, "sync_lift": pl.Float64, "sync": pl.Float64},
        orient="row",
    )


@pytest.mark.parametrize(
    "sync, kind_weight, weight, kinds",
    [
        (1.0, 0.5, 1.0, ["template", "sync"]),  # full evidence adds kind_weight
        (0.4, 0.5, 0.7, ["template", "sync"]),
        (0.0, 0.5, 0.5, ["template"]),  # no evidence: the link is untouched
        (1.0, 0.0, 0.5, ["template"]),  # sync turned off
        (None, 0.5, 0.5, ["template"]),  # not measured
    ],
)
def test_reinforce_adds_weight_and_kind_only_with_evidence(sync, kind_weight, weight, kinds):
    edges = _edges([("a", "b")])
    ev = _ev([] if sync is None else [("a", "b", 5.0, sync)])
    out = pl.from_arrow(reinforce(edges, ev, SyncParams(kind_weight=kind_weight))).to_dicts()[0]
    assert out["weight"] == pytest.approx(weight)
    assert out["kinds"] == kinds
    assert out["w_sync"] == pytest.approx(weight - 0.5)


def test_reinforce_keeps_rows_order_and_columns():
    edges = _edges([("a", "b"), ("a", "c"), ("b", "c")])
    ev = _ev([("b", "c", 3.0, 1.0), ("a", "b", 1.0, 0.0)])
    out = reinforce(edges, ev)
    assert out.column("src").to_pylist() == ["a", "a", "b"]
    assert out.column("dst").to_pylist() == ["b", "c", "c"]
    assert set(edges.schema.names) < set(out.schema.names)
    assert out.column("sync_lift").to_pylist() == [1.0, None, 3.0]


def test_account_text_and_campaign_indicator():
    edges = pl.from_arrow(
        reinforce(
            _edges([("a", "b"), ("a", "c"), ("b", "c"), ("c", "d")]),
            _ev([("a", "b", 4.0, 1.0), ("a", "c", 6.0, 1.0), ("b", "c", 1.0, 0.0), ("c", "d", 2.5, 0.2)]),
        )
    )
    text = dict(account_sync_text(edges).iter_rows())
    want = "active in the same clock hours as 2 linked accounts (median 5.0x what their daily rhythms"
    want += " predict)"
    assert text["a"] == want
    assert "1 linked account (" in text["b"]
    assert "c" in text and "d" in text
    camp = campaign_sync(
        edges, pl.DataFrame({"account_id": ["a", "b", "c", "d"], "campaign_id": ["X", "X", "X", "Y"]})
    )
    assert camp["X"] == {"links": 3, "synchronized_links": 2, "share": 0.6667, "median_lift": 5.0}
    # a campaign with no link inside it still gets its entry
    assert camp["Y"] == {"links": 0, "synchronized_links": 0, "share": 0.0, "median_lift": None}
