"""Thresholds by history length (distillguard.scoring.history): bucketing, calibration, the operating
point's per-account threshold, and a scan that applies them with a reason an analyst can read."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources

import numpy as np
import polars as pl
import pytest

from distillguard.scoring import choose_operating_point, load_model
from distillguard.scoring.history import BUCKETS, MIN_LEGITIMATE, bucket, calibrate, observed_days
from distillguard.scoring.operating_point import MIN_FLAG_REQUESTS, OperatingPoint, history_points

END = dt.datetime(2026, 5, 5, 23, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("first_seen", "days"),
    [
        (END, 1),
        (END - dt.timedelta(hours=23, minutes=59), 1),
        (END - dt.timedelta(hours=24), 2),
        (END - dt.timedelta(days=2, hours=1), 3),
        (END - dt.timedelta(days=13, hours=23), 14),
    ],
)
def test_observed_days(first_seen: dt.datetime, days: int) -> None:
    got = pl.DataFrame({"f": [first_seen]}).select(observed_days(pl.col("f"), END)).to_series()[0]
    assert got == days


@pytest.mark.parametrize(("days", "b"), [(1, 3), (3, 3), (4, 7), (5, 7), (7, 7), (8, None), (30, None)])
def test_bucket(days: int, b: int | None) -> None:
    assert pl.select(bucket(pl.lit(days))).to_series()[0] == b


def _frame(rng: np.random.Generator, days: int, legit: int, campaign: int, legit_hi: float) -> pl.DataFrame:
    """Scores where legitimate accounts stay below ``legit_hi`` and campaign accounts sit above it."""
    return pl.DataFrame({
        "score": np.r_[rng.uniform(0, legit_hi, legit), rng.uniform(legit_hi + 0.05, 1, campaign)],
        "y": np.r_[np.zeros(legit, np.int8), np.ones(campaign, np.int8)],
        "observed_days": np.full(legit + campaign, days, np.int32),
        "scenario": "default",
        "seed": 21,
    })


def test_calibrate_finds_each_bucket_its_own_threshold() -> None:
    assert BUCKETS == (3, 7)
    rng = np.random.default_rng(5)
    frame = pl.concat([
        _frame(rng, 1, MIN_LEGITIMATE // 2, 150, 0.1),
        _frame(rng, 3, MIN_LEGITIMATE // 2, 150, 0.1),
        _frame(rng, 6, MIN_LEGITIMATE, 300, 0.3),
        _frame(rng, 30, 5000, 300, 0.9),  # beyond the buckets: the main curve's business
    ])
    h = calibrate(frame, "test")
    assert h["buckets"] == [3, 7] and set(h["curves"]) == {"3", "7"}
    t3, t7 = h["thresholds"]["3"]["0.999"], h["thresholds"]["7"]["0.999"]
    assert 0.1 <= t3 <= 0.15 and 0.3 <= t7 <= 0.35
    assert h["counts"]["3"] == {"accounts": 2 * (MIN_LEGITIMATE // 2 + 150), "campaign_accounts": 300}
    # too few legitimate accounts in a bucket: no curve, so no threshold of its own
    thin = calibrate(frame.filter(pl.col("observed_days") != 6).vstack(
        _frame(rng, 6, MIN_LEGITIMATE - 1, 300, 0.3)), "test")
    assert set(thin["curves"]) == {"3"}
    assert thin["counts"]["7"] == {"accounts": MIN_LEGITIMATE - 1 + 300, "campaign_accounts": 300}


def test_operating_point_threshold_per_account() -> None:
    op = OperatingPoint(0.999, 0.6, "x", by_history=(
        {"max_days": 1, "threshold": 0.1, "precision": 1.0, "recall": 0.5},
        {"max_days": 3, "threshold": 0.3, "precision": 0.999, "recall": 0.8},
    ))
    got = pl.DataFrame({"d": [1, 2, 3, 4, 20]}).select(op.account_threshold(pl.col("d"))).to_series()
    assert got.to_list() == [0.1, 0.3, 0.3, 0.6, 0.6]
    plain = OperatingPoint(0.999, 0.6, "x")
    assert pl.select(plain.account_threshold(pl.lit(1))).to_series()[0] == 0.6


@pytest.fixture(scope="module")
def small_logs(tmp_path_factory: pytest.TempPathFactory):
    from distillguard.simulate import simulate

    logs = tmp_path_factory.mktemp("history") / "logs"
    simulate(logs, scenario="default", seed=4401, scale=0.1)
    return logs


def _with_history(tmp_path, thresholds: dict[str, dict[str, float]]):
    d = json.loads(resources.files("distillguard.scoring").joinpath("model-noindex.json").read_text())
    curve = [{"threshold": t, "precision": 1.0, "recall": 0.5, "flagged": 1, "false_positives": 0}
             for t in (0.02, 0.1, 0.2)]
    d["history"] = {"buckets": [1, 2], "thresholds": thresholds, "curves": {b: curve for b in thresholds}}
    p = tmp_path / "model.json"
    p.write_text(json.dumps(d))
    return p


def test_history_points_use_the_rung_of_the_target(tmp_path) -> None:
    p = _with_history(tmp_path, {"1": {"0.99": 0.05, "0.999": 0.1}, "2": {"0.99": 0.2, "0.999": 1.0}})
    model = load_model(str(p))
    # bucket 2 never reached 0.999: it keeps the main threshold
    assert [(h["max_days"], h["threshold"]) for h in history_points(model, 0.999)] == [(1, 0.1)]
    op = choose_operating_point(model, target_precision=0.99)
    assert [(h["max_days"], h["threshold"]) for h in op.by_history] == [(1, 0.05), (2, 0.2)]
    assert "up to 1 d 0.050" in op.how
    # a threshold the user gives applies to every account
    assert choose_operating_point(model, threshold=0.5).by_history == ()


def test_scan_flags_short_histories_at_their_threshold(tmp_path, small_logs) -> None:
    """A scan of a simulation's first three days with a history section: accounts seen up to two days
    are judged at their buckets' thresholds, the others at the main one, and the early flags say why."""
    from distillguard.pipeline import ScanOptions, scan

    # (thresholds far below the main one: some accounts of one or two days score between them
    # whatever the shipped weights are)
    p = _with_history(tmp_path, {"1": {"0.999": 0.001}, "2": {"0.999": 0.005}})
    op_main = choose_operating_point(load_model(str(p))).threshold
    rows = pl.read_parquet(small_logs / "interactions" / "*.parquet")
    cut = dt.datetime.combine(rows["ts"].min().date() + dt.timedelta(days=3), dt.time(), tzinfo=dt.UTC)
    (tmp_path / "first3").mkdir()
    rows.filter(pl.col("ts") < cut).write_parquet(tmp_path / "first3" / "part.parquet")
    res = scan([tmp_path / "first3"], [small_logs / "accounts.parquet"], tmp_path / "work",
               ScanOptions(seed=0, model_path=str(p)))
    d = res.design
    assert d is not None and "observed_days" in d.columns
    acc = pl.from_arrow(res.accounts).join(d.select("account_id", "observed_days"), on="account_id")
    for days, t in ((1, 0.001), (2, 0.005), (3, op_main)):
        part = acc.filter(pl.col("observed_days") == days)
        assert part.height
        assert (part["flagged"] == ((part["score"] >= t) & (part["interactions"] >= MIN_FLAG_REQUESTS))).all()
    # accounts that reached their threshold on one or two requests stay unflagged, and say so
    own = pl.when(pl.col("observed_days") == 1).then(0.001).otherwise(0.005)
    few = acc.filter((pl.col("interactions") < MIN_FLAG_REQUESTS) & (pl.col("score") >= own))
    assert few.height, "no account of one or two requests reached its threshold: the gate is not exercised"
    assert not few["flagged"].any()
    said = r"not flagged: the score reaches the threshold on only [12] requests?"
    assert few["reasons"].str.contains(said).all()
    early = acc.filter(pl.col("flagged") & (pl.col("score") < op_main))
    assert early.height, "the short-history thresholds flagged nobody the main one would not have"
    assert early["reasons"].str.contains(r"seen for [12] days?: judged at the threshold for such short").all()
    assert [h["max_days"] for h in res.summary["operating_point"]["by_history"]] == [1, 2]


@pytest.mark.parametrize(
    ("days", "text"),
    [
        (1, "seen for 1 day: judged at the threshold for such short histories, 0.3 (precision 0.999 on"),
        (3, "seen for 3 days: judged at the threshold for such short histories, 0.4 (precision n/a on"),
        (9, None),  # (judged at the main threshold: no such reason)
    ],
)
def test_history_reason_names_the_bucket_threshold_and_its_precision(days, text) -> None:
    from distillguard.scoring.history import history_text

    op = OperatingPoint(0.999, 0.6, "x", by_history=(
        {"max_days": 1, "threshold": 0.3, "precision": 0.9991, "recall": 0.5},
        {"max_days": 3, "threshold": 0.4, "precision": None, "recall": None},
    ))
    scored = pl.DataFrame({"account_id": ["a"], "observed_days": [days]})
    scored = scored.with_columns(threshold=op.account_threshold(pl.col("observed_days")))
    got = history_text(scored, op)
    if text is None:
        assert got.height == 0
    else:
        assert got["text"][0].startswith(text) and got["text"][0].endswith("0.600 for longer histories)")


def _inputs(rng: np.random.Generator, n: int, y: int, days: int, signal: float) -> pl.DataFrame:
    """Model inputs of ``n`` accounts: ``account.cot_share`` is ``signal`` (plus noise), the rest noise."""
    from distillguard.scoring.model import FEATURES

    cols = {f: rng.uniform(0, 0.2, n) for f in FEATURES}
    cols["account.cot_share"] = np.clip(signal + rng.normal(0, 0.05, n), 0, 1)
    return pl.DataFrame({
        "account_id": [f"a{y}{days}{i}" for i in range(n)], **cols,
        "y": np.full(n, y, np.int8), "observed_days": np.full(n, days, np.int32),
        "score": rng.uniform(0, 1, n),  # (the scores of some other model: must not be used)
        "scenario": "default", "seed": 21,
    })


def test_history_command_scores_saved_frames_with_the_model_it_calibrates(tmp_path, monkeypatch) -> None:
    from distillguard.scoring import history

    rng = np.random.default_rng(8)
    # short histories: legitimate accounts at cot_share 0.2, campaigns at 0.9
    frame = pl.concat([_inputs(rng, MIN_LEGITIMATE, 0, 2, 0.2), _inputs(rng, 200, 1, 2, 0.9)])
    frame.write_parquet(tmp_path / "frames.parquet")
    model = json.loads(resources.files("distillguard.scoring").joinpath("model-noindex.json").read_text())
    model.pop("history")
    model["intercept"], model["weights"] = -6.0, {"account.cot_share": 12.0}  # sigmoid(-6 + 12 x)
    (tmp_path / "model.json").write_text(json.dumps(model))
    monkeypatch.setattr("sys.argv", ["history", "--prompts-dir", str(tmp_path),
                                     "--from-frames", str(tmp_path / "frames.parquet"),
                                     "--model", str(tmp_path / "model.json")])
    history.main()
    h = json.loads((tmp_path / "model.json").read_text())["history"]
    t = h["thresholds"]["3"]["0.999"]
    # the model's scores: legitimate accounts near sigmoid(-3.6) = 0.03, campaigns near sigmoid(4.8) = 0.99;
    # the frame's own (uniform) scores would have put no rung below 1.0
    assert 0.02 < t < 0.9
    assert h["curves"]["3"][0]["recall"] == 1.0


def test_build_model_fits_on_first_days_and_measures_whole_seeds() -> None:
    from distillguard.scoring.train import build_model

    rng = np.random.default_rng(9)
    parts = []
    for seed in (1, 2, 3, 4):
        whole = pl.concat([_inputs(rng, 300, 0, 14, 0.1), _inputs(rng, 60, 1, 14, 0.9)])
        # first days: campaigns show less, so a fit on whole seeds only would under-weigh them
        first = pl.concat([_inputs(rng, 300, 0, 2, 0.1), _inputs(rng, 60, 1, 2, 0.5)])
        parts += [whole.with_columns(seed=pl.lit(seed), prefix=pl.lit(0)),
                  first.with_columns(seed=pl.lit(seed), prefix=pl.lit(2))]
    frame = pl.concat(parts)
    m = build_model(frame, folds=2, description="test")
    assert m["measured_on"]["accounts"] == 4 * 360 and m["measured_on"]["campaign_accounts"] == 4 * 60
    assert m["measured_on"]["fitted_also_on_first_days"] == [2]
    assert m["curve"][0]["flagged"] <= 4 * 360  # the curve counts whole-seed accounts only
    lowest = m["curve"][0]  # (every whole-seed campaign account is flagged there; no first-days row counts)
    assert lowest["flagged"] - lowest["false_positives"] == 4 * 60
    whole_only = build_model(frame.filter(pl.col("prefix") == 0), folds=2, description="test")
    assert "fitted_also_on_first_days" not in whole_only["measured_on"]
    assert m["weights"] != whole_only["weights"]  # the first days' rows are in the fit


@pytest.mark.parametrize(
    ("score", "threshold", "requests", "flagged"),
    [
        (0.99, 0.5, MIN_FLAG_REQUESTS, True),
        (0.99, 0.5, MIN_FLAG_REQUESTS - 1, False),  # a high score on too few requests
        (0.99, 0.5, 1, False),
        (0.49, 0.5, 500, False),
        (0.5, 0.5, 500, True),  # the threshold itself flags
    ],
)
def test_flag_needs_the_threshold_and_enough_requests(score, threshold, requests, flagged) -> None:
    from distillguard.scoring.operating_point import flag

    df = pl.DataFrame({"s": [score], "t": [threshold], "n": [requests]})
    assert df.select(flag(pl.col("s"), pl.col("t"), pl.col("n")))["s"][0] is flagged


def test_fit_reaches_the_optimum() -> None:
    """The fitted weights are the regularised optimum (its gradient vanishes), not where a loose
    stopping rule left the solver: the operating points move with the weights."""
    from distillguard.scoring.model import FEATURES, design_matrix
    from distillguard.scoring.train import fit

    rng = np.random.default_rng(5)
    n = 6000
    base = rng.uniform(0, 1, (n, 4))  # few underlying factors: strongly correlated inputs, as the signals are
    k = len(FEATURES)
    x = np.clip(base @ rng.uniform(0, 1, (4, k)) / 2 + rng.normal(0, 0.05, (n, k)), 0, 1)
    z = -8 + 10 * base[:, 0] + 6 * base[:, 1] - 5 * base[:, 2]
    y = (rng.uniform(0, 1, n) < 1 / (1 + np.exp(-z))).astype(np.int8)
    frame = pl.DataFrame({f: x[:, i] for i, f in enumerate(FEATURES)}).with_columns(y=pl.Series(y))
    b, w = fit(frame, c=0.5)
    xm = design_matrix(frame)
    p = 1 / (1 + np.exp(-(b + xm @ w)))
    grad = np.concatenate([[0.5 * (p - y).sum()], 0.5 * xm.T @ (p - y) + w])
    assert np.abs(grad).max() < 1e-2
