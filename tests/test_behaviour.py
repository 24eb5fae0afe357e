"""Behavioural peers: near-identical request profiles in a rare part of the population get linked."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from distillguard.linking.behaviour import (
    KIND,
    BehaviourParams,
    account_behaviour_text,
    add_behaviour,
    behaviour_edges,
)


def _population(seed: int, pool: int = 30, spread: float = 0.02, lone: int = 3) -> pl.DataFrame:
    """A population of ordinary profiles (a broad mass), a pool of one program's accounts (a tight
    cloud far from the mass) and a few lone unusual accounts."""
    rng = np.random.default_rng(seed)
    n_mass, dims = 800, 8
    mass = rng.normal(0.0, 1.0, (n_mass, dims))
    centre = np.full(dims, 3.5)
    pool_x = centre + rng.normal(0.0, spread, (pool, dims))
    lone_x = np.zeros((lone, dims))
    for i in range(lone):  # each far out in its own direction
        lone_x[i, i % dims] = -6.0 if i % 2 else 6.0
        lone_x[i, (i + 3) % dims] = -5.0
    x = np.vstack([mass, pool_x, lone_x])
    ids = [f"m{i:04d}" for i in range(n_mass)] + [f"p{i:03d}" for i in range(pool)] + [
        f"l{i}" for i in range(lone)]
    return pl.DataFrame({"account_id": ids, **{f"x{j}": x[:, j] for j in range(dims)}})


def _linked(edges: pl.DataFrame) -> set[str]:
    return set(edges["src"].to_list()) | set(edges["dst"].to_list())


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("pool", "spread"), [(30, 0.02), (12, 0.05), (60, 0.1)])
def test_a_pool_is_linked_and_the_rest_is_not(seed, pool, spread):
    prof = _population(seed, pool, spread)
    e = behaviour_edges(prof)
    linked = _linked(e)
    members = {i for i in prof["account_id"].to_list() if i.startswith("p")}
    assert members <= linked  # every account of the pool has a peer
    assert not {i for i in linked if i.startswith("l")}  # rare but alone
    ordinary = {i for i in linked if i.startswith("m")}
    assert len(ordinary) <= 0.02 * 800  # the mass is common: (almost) never linked
    assert (e["src"] < e["dst"]).all() and e["behaviour"].is_between(0.0, 1.0).all()
    pool_edges = e.filter(pl.col("src").str.starts_with("p") & pl.col("dst").str.starts_with("p"))
    assert pool_edges["behaviour"].median() > 0.5


@pytest.mark.parametrize(
    ("params", "rows"),
    [
        (BehaviourParams(kind_weight=0.0), 0),  # off
        (BehaviourParams(min_weight=1.01), 0),  # nothing is that strong
    ],
)
def test_params_turn_links_off(params, rows):
    assert behaviour_edges(_population(4), params).height == rows


def test_deterministic_and_tiny_inputs():
    prof = _population(5)
    assert behaviour_edges(prof).equals(behaviour_edges(prof))
    assert behaviour_edges(prof.head(1)).height == 0
    constant = pl.DataFrame({"account_id": ["a", "b", "c"], "x": [1.0, 1.0, 1.0]})
    assert behaviour_edges(constant).height == 0  # nothing varies: no profile to compare


def test_links_fold_into_the_candidate_edges():
    edges = pa.table({
        "src": ["a", "b"], "dst": ["b", "c"], "weight": [0.5, 0.3], "kind": ["payment", "template"],
        "kinds": [["payment"], ["template"]], "w_payment": [0.5, 0.0], "w_template": [0.0, 0.3],
    })
    beh = pl.DataFrame(
        {"src": ["a", "c"], "dst": ["b", "d"], "behaviour": [0.4, 0.8], "distance": [0.1, 0.2]}
    )
    out = pl.from_arrow(add_behaviour(edges, beh, BehaviourParams(kind_weight=0.5)))
    rows = {(r["src"], r["dst"]): r for r in out.iter_rows(named=True)}
    assert set(rows) == {("a", "b"), ("b", "c"), ("c", "d")}
    assert rows[("a", "b")]["weight"] == pytest.approx(0.7) and rows[("a", "b")]["kinds"] == ["payment", KIND]
    assert rows[("b", "c")]["weight"] == pytest.approx(0.3) and rows[("b", "c")][f"w_{KIND}"] == 0.0
    new = rows[("c", "d")]
    assert new["weight"] == pytest.approx(0.4) and new["kind"] == KIND and new["kinds"] == [KIND]
    assert new["w_payment"] == 0.0 and new["w_template"] == 0.0
    text = account_behaviour_text(out)
    assert text.filter(pl.col("account_id") == "c")["text"][0].startswith("behaves like 1 other account")
