"""The look-alike guard (distillguard.scoring.guard): which thresholds it picks from calibration scans,
and how the default operating point applies them."""

from __future__ import annotations

import json
from importlib import resources

import polars as pl
import pytest

from distillguard.scoring import choose_operating_point, load_model
from distillguard.scoring.guard import GROUP_RATE, bad_runs, guard

GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))


def _scan(seed: int, lookalike_scores: list[float], days: list[int] | None = None) -> pl.DataFrame:
    """One calibration scan: 100 accounts of a big legitimate group scoring 0.1, a small look-alike
    group with the given scores, ten campaign accounts scoring 0.99."""
    n = len(lookalike_scores)
    days = days or [14] * n
    return pl.DataFrame({
        "scenario": "s",
        "seed": seed,
        "archetype": ["big"] * 100 + ["small"] * n + ["campaign"] * 10,
        "y": [0] * (100 + n) + [1] * 10,
        "score": [0.1] * 100 + lookalike_scores + [0.99] * 10,
        "observed_days": [14] * 100 + days + [14] * 10,
    })


@pytest.mark.parametrize(
    ("small", "run_share", "rung", "threshold"),
    [
        # every scan clean at the rung: the rung stands
        ([[0.2, 0.3]] * 10, 0.0, 0.5, 0.5),
        # one scan of ten has a look-alike at 0.7: none allowed -> above it; one allowed -> the rung
        ([[0.2, 0.3]] * 9 + [[0.2, 0.7]], 0.0, 0.5, 0.75),
        ([[0.2, 0.3]] * 9 + [[0.2, 0.7]], 0.1, 0.5, 0.5),
        # two scans over, one allowed: the lower of the two is tolerated, the higher not
        ([[0.2, 0.3]] * 8 + [[0.6], [0.8]], 0.1, 0.5, 0.65),
        # the guard never lowers the rung
        ([[0.2, 0.3]] * 10, 0.0, 0.9, 0.9),
    ],
)
def test_main_threshold(small, run_share, rung, threshold) -> None:
    frame = pl.concat([_scan(i, s) for i, s in enumerate(small)])
    g = guard(frame, rung, {}, GRID, run_share)
    assert g["threshold"] == pytest.approx(threshold)
    assert g["runs"] == len(small)
    assert g["runs_over"] <= int(run_share * len(small))


def test_a_group_is_over_flagged_above_the_rate() -> None:
    # 1 flagged of 100 big-group accounts (1%) is over the 0.5% rate; the small group is clean
    f = _scan(0, [0.2]).with_columns(
        score=pl.when(pl.int_range(pl.len()) == 0).then(0.9).otherwise(pl.col("score"))
    )
    bad = bad_runs(f, 0.5, {})
    assert bad["archetype"].to_list() == ["big"] and GROUP_RATE < 0.01


def test_history_buckets_lowered_only_while_no_scan_gains_a_group() -> None:
    # short-history look-alikes at 0.45 and 0.3; campaign accounts never need the bucket here
    frame = pl.concat([_scan(0, [0.45, 0.2], [2, 14]), _scan(1, [0.3], [5])])
    g = guard(frame, 0.5, {3: 0.1, 7: 0.1}, GRID, 0.0)
    assert g["threshold"] == 0.5
    # bucket 3 (days <= 3) stops above 0.45; bucket 7 (4-7 days) above 0.3
    assert g["by_history"] == {"3": 0.5, "7": 0.35}
    # a bucket never goes below its own rung
    assert guard(frame, 0.5, {3: 0.1, 7: 0.4}, GRID, 0.0)["by_history"]["7"] == 0.4


def test_history_buckets_also_judged_on_first_days_scans() -> None:
    """Whole scans hold few accounts seen a week or less: a bucket lowered on them alone reaches a
    short-history look-alike that only a scan of some seed's first days shows (a research lab's
    week-long sweep, on held-out runs); with those scans the bucket stops above it."""
    whole = pl.concat([_scan(0, [0.2]), _scan(1, [0.3])])
    first = _scan(0, [0.55, 0.2], [5, 5]).with_columns(prefix=pl.lit(5), observed_days=pl.lit(5))
    assert guard(whole, 0.7, {7: 0.1}, GRID, 0.0)["by_history"] == {"7": 0.1}
    g = guard(whole, 0.7, {7: 0.1}, GRID, 0.0, first_days=first)
    assert g["by_history"] == {"7": 0.6}
    assert g["threshold"] == 0.7 and g["runs"] == 2  # the main threshold is judged on whole scans
    assert g["first_days_runs"] == 1 and g["first_days_runs_over"] == g["first_days_runs_over_at_main"] == 0
    # a whole scan among the first-days ones (prefix 0) is not counted twice
    assert guard(whole, 0.7, {7: 0.1}, GRID, 0.0, first_days=first.with_columns(prefix=pl.lit(0)))[
        "by_history"] == {"7": 0.1}


def _guarded_model(tmp_path, rung: float = 0.999):
    d = json.loads(resources.files("distillguard.scoring").joinpath("model-noindex.json").read_text())
    main = d["thresholds"]["0.999"]
    # (halfway to 1.0: above the rung whatever the shipped weights, and below 1.0, which means "none met")
    d["guard"] = {"rung": rung, "threshold": (main + 1.0) / 2, "by_history": {"3": 0.9, "7": 0.1},
                  "group_rate": 0.005, "run_share": 0.03, "runs": 100}
    p = tmp_path / "model.json"
    p.write_text(json.dumps(d))
    return load_model(str(p)), main


def test_default_operating_point_is_held_up_by_the_guard(tmp_path) -> None:
    model, main = _guarded_model(tmp_path)
    op = choose_operating_point(model)
    assert op.threshold == pytest.approx((main + 1.0) / 2)
    assert "look-alike guard" in op.how
    hist = {h["max_days"]: h["threshold"] for h in op.by_history}
    own = {int(b): t["0.999"] for b, t in model.history["thresholds"].items()}
    assert hist[3] == max(own[3], 0.9) and hist[7] == own[7]  # raised to the guard, never lowered
    # another rung, or a threshold the user gives, is not guarded
    assert choose_operating_point(model, target_precision=0.99).threshold == model.thresholds["0.99"]
    assert choose_operating_point(model, threshold=0.3).threshold == 0.3
    # a guard for another rung leaves the default alone
    other, _ = _guarded_model(tmp_path, rung=0.99)
    assert choose_operating_point(other).threshold == pytest.approx(main)


def test_shipped_index_model_carries_a_guard_measured_on_calibration_seeds() -> None:
    g = load_model(dataset_index=True).guard
    assert g["rung"] == 0.999 and g["threshold"] >= load_model(dataset_index=True).thresholds["0.999"]
    assert all(20 < s < 100 for seeds in g["measured_on"].values() for s in seeds)
    assert g["runs_over"] <= int(g["run_share"] * g["runs"])
    # its history buckets were judged on the calibration seeds' first days too
    assert g["first_days_runs"] >= 100 and g["first_days_runs_over"] == g["first_days_runs_over_at_main"]
    assert all(20 < s < 100 for seeds in g["first_days_measured_on"]["scenarios"].values() for s in seeds)


@pytest.mark.parametrize(
    ("over_in", "scenario_runs", "threshold"),
    [
        # two over-flagged scans of 20, in two scenarios: pooled 10% allows both, one per scenario too
        (("a", "b"), 1, 0.5),
        # both in one scenario: pooled they pass, but that scenario is over-flagged in 2 of its 10 scans
        (("a", "a"), 1, 0.65),
        (("a", "a"), 2, 0.5),
    ],
)
def test_no_scenario_may_hide_in_the_pool(over_in, scenario_runs, threshold) -> None:
    """Pooled over scenarios, an allowance of over-flagged scans can all fall in one scenario (held-out
    `adaptive` runs over-flagged a startup in 3 of 18 while the pool allowed 3 of 100); each scenario
    is held to ``scenario_runs`` of its own scans."""
    scans = []
    for sc in ("a", "b"):
        bad = [0.6, 0.62][: over_in.count(sc)]
        for i in range(10):
            look = [0.2, bad[i]] if i < len(bad) else [0.2, 0.3]
            scans.append(_scan(i, look).with_columns(scenario=pl.lit(sc)))
    g = guard(pl.concat(scans), 0.5, {}, GRID, 0.1, scenario_runs)
    assert g["threshold"] == pytest.approx(threshold)
    assert g["scenario_runs"] == scenario_runs


@pytest.mark.parametrize(("scenario_runs", "said"), [(None, False), (1, True)])
def test_the_operating_point_states_the_per_scenario_bound(tmp_path, scenario_runs, said) -> None:
    d = json.loads(resources.files("distillguard.scoring").joinpath("model-noindex.json").read_text())
    main = d["thresholds"]["0.999"]
    d["guard"] = {"rung": 0.999, "threshold": (main + 1.0) / 2, "by_history": {}, "group_rate": 0.005,
                  "run_share": 0.03, "runs": 100}
    if scenario_runs is not None:
        d["guard"]["scenario_runs"] = scenario_runs
    (tmp_path / "m.json").write_text(json.dumps(d))
    how = choose_operating_point(load_model(str(tmp_path / "m.json"))).how
    assert "look-alike guard" in how and ("1 of any one scenario's" in how) == said


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--peer-gate", "abc"], "--peer-gate: expected a score between 0 and 1, or off; got 'abc'"),
        (["--peer-gate", "1.5"], "--peer-gate: expected a score between 0 and 1, or off; got '1.5'"),
        (["--seeds", "5"], "the guard is calibrated on dev seeds the weights never saw (21-99)"),
        (["--seeds", "1000"], "the guard is calibrated on dev seeds the weights never saw (21-99)"),
    ],
)
def test_the_guard_command_refuses_bad_arguments_with_a_message(tmp_path, monkeypatch, capsys, args, said):
    from distillguard.scoring import guard as g

    monkeypatch.setattr("sys.argv", ["guard", "--frames", str(tmp_path / "f"), *args])
    with pytest.raises(SystemExit) as exc:
        g.main()
    assert said in (str(exc.value.code) + capsys.readouterr().err)
    assert not (tmp_path / "f").exists() or not any((tmp_path / "f").iterdir())  # nothing scanned
