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
    a, b = runs
    acc = pl.read_csv(a / "accounts.csv")
    assert acc.height > 100 and acc["flagged"].sum() > 0
    assert acc["campaign_id"].drop_nulls().n_unique() >= 1
    for name in ("accounts.csv", "campaigns.json", "lookalikes.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ea, eb = pq.read_table(a / "edges.parquet"), pq.read_table(b / "edges.parquet")
    assert isinstance(ea, pa.Table) and ea.equals(eb)
