"""The same logs give the same decisions, whatever the batch size they were read in."""

from __future__ import annotations

import polars as pl
import pytest

from distillguard.pipeline import ScanOptions, scan
from distillguard.simulate import simulate


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("det") / "logs"
    simulate(out, seed=1007, scale=0.05)
    return out


def test_batch_size_changes_no_decision_and_no_reason(logs, tmp_path):
    runs = []
    for batch_rows in (1_000, 65_536):
        res = scan(
            [logs / "interactions"],
            [logs / "accounts.parquet"],
            tmp_path / str(batch_rows),
            ScanOptions(seed=3, batch_rows=batch_rows),
        )
        runs.append(pl.from_arrow(res.accounts).sort("account_id"))
    a, b = runs
    assert a.height > 100 and a["flagged"].sum() > 0
    for col in ("account_id", "flagged", "campaign_id", "reasons"):
        assert a[col].to_list() == b[col].to_list(), col
    assert (a["score"] - b["score"]).abs().max() < 1e-12  # float sums may be ordered differently
