"""The peer gate (distillguard.scoring.peers): a flag needs other accounts that score high for the same
reasons; the guard chooses thresholds with it, and a scan applies it and says why."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import polars as pl
import pytest

from distillguard.scoring import choose_operating_point, load_model
from distillguard.scoring.guard import bad_runs, guard
from distillguard.scoring.peers import PeerGate, gate_column, gate_text, passes, peer_scores


def _population(seed: int = 0):
    """Two score terms per account: 300 ordinary accounts near (0, 0) scoring 0.05, a pool of 30
    harvest accounts near (5, 5) scoring 0.95, and one loner at (2.5, -2) scoring 0.95 (row 330)."""
    rng = np.random.default_rng(seed)
    contrib = np.vstack([rng.normal(0, 0.5, (300, 2)), rng.normal(5, 0.3, (30, 2)), [[2.5, -2.0]]])
    score = np.array([0.05] * 300 + [0.95] * 30 + [0.95])
    return contrib, score


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (300, 0.95),  # a pool member: its closest accounts are the pool
        (330, 0.05),  # the loner: its closest accounts are ordinary
        (0, 0.05),  # an ordinary account
    ],
)
def test_peer_score_is_the_mean_of_the_closest_others(row, expected) -> None:
    contrib, score = _population()
    query = np.zeros(len(score), dtype=bool)
    query[row] = True
    ps = peer_scores(contrib, score, query, 10)
    assert ps[row] == pytest.approx(expected)
    assert np.isnan(np.delete(ps, row)).all()  # only asked rows get a value


def test_the_account_itself_is_never_its_own_peer() -> None:
    # three identical rows that score 1.0 among 20 that score 0: each has 2 twins and 8 others
    contrib = np.vstack([np.zeros((3, 2)), np.full((20, 2), 1.0)])
    score = np.array([1.0] * 3 + [0.0] * 20)
    ps = peer_scores(contrib, score, np.ones(23, dtype=bool), 10)
    assert ps[:3] == pytest.approx([0.2] * 3)


def test_too_small_a_scan_is_not_asked() -> None:
    contrib, score = np.zeros((10, 2)), np.ones(10)
    assert np.isnan(peer_scores(contrib, score, np.ones(10, dtype=bool), 10)).all()


def test_the_result_does_not_depend_on_row_order() -> None:
    contrib, score = _population(1)
    perm = np.random.default_rng(2).permutation(len(score))
    q = np.ones(len(score), dtype=bool)
    a = peer_scores(contrib, score, q, 10)
    b = peer_scores(contrib[perm], score[perm], q, 10)
    assert np.allclose(a[perm], b)


def _scored(contrib: np.ndarray, score: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({
        "account_id": [f"a{i:04d}" for i in range(len(score))], "score": score,
        "contrib:x": contrib[:, 0], "contrib:y": contrib[:, 1],
    })


def test_the_gate_lets_the_pool_stand_and_stops_the_loner() -> None:
    contrib, score = _population()
    s = _scored(contrib, score)
    gate = PeerGate(10, 0.7)
    s = s.with_columns(peer_score=gate_column(s, gate, pl.col("score") >= 0.5))
    flagged = s.filter((pl.col("score") >= 0.5) & passes(gate))["account_id"].to_list()
    assert len(flagged) == 30 and "a0330" not in flagged
    texts = dict(gate_text(s, gate).iter_rows())
    assert set(texts) == {f"a{i:04d}" for i in range(300, 331)}  # every account the gate asked
    assert texts["a0330"].startswith("not flagged: the 10 accounts whose evidence is closest")
    assert "0.05 on average (a flag needs 0.70)" in texts["a0330"]
    assert texts["a0300"].endswith("score 0.95 on average: others look like it")
    # a literal asks every row (as the guard does): a select of pl.lit would be one row
    assert gate_column(s, gate, pl.lit(True)).null_count() == 0
    # without a gate nothing is asked and everything passes
    assert gate_column(s, None, pl.lit(True)).null_count() == s.height
    assert gate_text(s, None).height == 0


def _scan(seed: int, loner: float) -> pl.DataFrame:
    """A calibration scan as the guard sees it: a campaign pool of 12 that its peers vouch for, and a
    startup that scores ``loner`` alone (its closest accounts score low)."""
    n_big, n_pool = 200, 12
    return pl.DataFrame({
        "scenario": "s", "seed": seed,
        "archetype": ["big"] * n_big + ["startup"] + ["campaign"] * n_pool,
        "y": [0] * (n_big + 1) + [1] * n_pool,
        "score": [0.1] * n_big + [loner] + [0.95] * n_pool,
        "peer_score": [0.1] * n_big + [0.15] + [0.95] * n_pool,
        "observed_days": 14,
    })


def test_the_guard_counts_flags_through_the_gate() -> None:
    grid = tuple(round(0.05 * i, 2) for i in range(1, 20))
    frame = pl.concat([_scan(i, 0.9 if i < 3 else 0.3) for i in range(10)])
    # without the gate the startup in 3 of 10 scans keeps the threshold above 0.9
    assert guard(frame, 0.5, {}, grid, 0.0)["threshold"] == pytest.approx(0.95)
    g = guard(frame, 0.5, {}, grid, 0.0, gate=PeerGate(10, 0.7))
    assert g["threshold"] == 0.5 and g["peer_gate"] == {"neighbours": 10, "min_score": 0.7}
    assert bad_runs(frame, 0.5, {}, PeerGate(10, 0.7)).height == 0


def test_the_shipped_index_model_carries_a_gate_the_operating_point_applies() -> None:
    model = load_model(dataset_index=True)
    gate = model.guard["peer_gate"]
    assert gate["neighbours"] >= 5 and 0.0 < gate["min_score"] < 1.0
    op = choose_operating_point(model)
    assert op.gate == PeerGate.from_dict(gate) and "peer gate" in op.how
    # a threshold the user gives keeps the gate; turning it off removes it
    assert choose_operating_point(model, threshold=0.5).gate == op.gate
    off = choose_operating_point(model, peer_gate=False)
    assert off.gate is None and "peer gate" not in off.how and off.threshold == op.threshold


def test_a_model_without_a_gate_gets_none(tmp_path) -> None:
    d = json.loads(resources.files("distillguard.scoring").joinpath("model-noindex.json").read_text())
    d.get("guard", {}).pop("peer_gate", None)
    p = tmp_path / "m.json"
    p.write_text(json.dumps(d))
    assert choose_operating_point(load_model(str(p))).gate is None
