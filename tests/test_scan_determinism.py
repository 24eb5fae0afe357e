"""The same logs give byte-identical results, whatever the batch size they were read in and however
many threads aggregated them (row order and float summation order both change between the runs)."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.output import write_results
from distillguard.pipeline import ScanOptions, scan
from distillguard.simulate import simulate


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("det") / "logs"
    simulate(out, seed=1007, scale=0.05)
    return out


def test_batch_size_and_threads_change_no_byte_of_the_results(logs, tmp_path):
    runs = []
    for batch_rows, threads in ((1_000, 1), (65_536, None)):
        res = scan(
            [logs / "interactions"],
            [logs / "accounts.parquet"],
            tmp_path / f"work{batch_rows}",
            ScanOptions(seed=3, batch_rows=batch_rows, threads=threads),
        )
        out = tmp_path / f"out{batch_rows}"
        out.mkdir()
        write_results(res, out)
        runs.append(out)
        # seconds per stage: every detection stage, none longer than the analysis they make up
        t = res.summary["timings"]
        assert {"account aggregates", "linking accounts", "clustering", "campaigns"} <= set(t["stages"])
        assert all(v >= 0 for v in t["stages"].values())
        assert sum(t["stages"].values()) <= t["analysis"] + 0.05
    a, b = runs
    acc = pl.read_csv(a / "accounts.csv")
    assert acc.height > 100 and acc["flagged"].sum() > 0
    assert acc["campaign_id"].drop_nulls().n_unique() >= 1
    for name in ("accounts.csv", "campaigns.json", "lookalikes.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ea, eb = pq.read_table(a / "edges.parquet"), pq.read_table(b / "edges.parquet")
    assert isinstance(ea, pa.Table) and ea.equals(eb)


# (marks: stage entered at second t, end), expected seconds per stage
STAGE_CASES = [
    ("one stage", ([("a", 0.0)], 2.0), {"a": 2.0}),
    ("in order", ([("a", 0.0), ("b", 1.5), ("c", 1.75)], 4.0), {"a": 1.5, "b": 0.25, "c": 2.25}),
    ("entered twice", ([("a", 0.0), ("b", 1.0), ("a", 2.0)], 5.0), {"a": 4.0, "b": 1.0}),
    ("replay days are one stage", ([("a", 0.0), ("replay 2026-04-22", 1.0), ("replay 2026-04-23", 2.0),
                                    ("b", 4.0)], 5.0), {"a": 1.0, "daily replay": 3.0, "b": 1.0}),
    ("no stage", ([], 1.0), {}),
]


@pytest.mark.parametrize(("marks", "expected"), [pytest.param(m, e, id=c) for c, m, e in STAGE_CASES])
def test_stage_seconds(marks, expected):
    from distillguard.pipeline import stage_seconds

    assert stage_seconds(*marks) == expected
