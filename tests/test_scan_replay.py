"""--replay-daily: cumulative daily decisions, consistent with the full scan."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from distillguard.pipeline import ScanOptions, scan


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory):
    from distillguard.simulate import simulate

    tmp = tmp_path_factory.mktemp("replay")
    simulate(tmp / "logs", seed=3, scale=0.15)
    res = scan(
        [tmp / "logs" / "interactions"],
        [tmp / "logs" / "accounts.parquet"],
        tmp / "work",
        ScanOptions(seed=0, replay_daily=True),
    )
    assert res.replay is not None
    return res, pl.from_arrow(res.replay), pl.from_arrow(res.accounts)


def test_replay_has_one_row_per_account_seen_per_day(replayed) -> None:
    _, rp, acc = replayed
    assert rp.columns == ["account_id", "day", "flagged", "campaign_id"]
    assert rp.select(pl.struct("account_id", "day").is_unique().all()).item()
    days = rp["day"].unique().sort()
    assert days.diff().drop_nulls().dt.total_days().eq(1).all()
    per_day = rp.group_by("day").len().sort("day")["len"]
    assert (per_day.diff().drop_nulls() >= 0).all()  # cumulative windows only add accounts
    seen = acc.filter(pl.col("interactions") > 0)
    assert per_day[-1] == seen.height


def test_last_replay_day_matches_the_full_scan(replayed) -> None:
    _, rp, acc = replayed
    last = rp.filter(pl.col("day") == rp["day"].max()).select("account_id", "flagged")
    full = acc.filter(pl.col("interactions") > 0).select("account_id", full="flagged")
    j = last.join(full, on="account_id")
    assert j.height == full.height
    assert (j["flagged"] == j["full"]).all()
    flagged = rp.filter(pl.col("flagged"))
    camp = acc.select("account_id", final="campaign_id")
    k = flagged.join(camp, on="account_id")
    assert (k["campaign_id"].eq_missing(k["final"])).all()
    assert rp.filter(~pl.col("flagged"))["campaign_id"].null_count() == rp.filter(~pl.col("flagged")).height


def test_replay_file_is_written(replayed, tmp_path: Path) -> None:
    from distillguard.output import write_results

    res, rp, _ = replayed
    write_results(res, tmp_path)
    back = pl.read_parquet(tmp_path / "replay.parquet")
    assert back.height == rp.height and back.schema["day"] == pl.Date


def test_the_daily_replay_is_timed_as_one_stage(replayed) -> None:
    res, rp, _ = replayed
    stages = res.summary["timings"]["stages"]
    # the replay's detection passes are not added to the full scan's own stages
    assert stages["daily replay"] > 0 and not any(k.startswith("replay ") for k in stages)
    assert stages["daily replay"] > stages["linking accounts"]  # (one pass a day, over longer windows)
    assert rp["day"].n_unique() >= 5
