"""``scan --engine spark`` (Spark in local mode) gives the embedded engine's results on the same logs.

Needs PySpark (the ``spark`` extra) and a Java runtime: skipped without them, except under CI, where
the project's set-up installs both (``make test``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.output import write_results
from distillguard.pipeline import ScanOptions, scan
from distillguard.simulate import simulate


def _spark_or_skip() -> None:
    missing = []
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark (pip install 'distillguard[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing.append("a Java runtime")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install {' and '.join(missing)} (make test does)")
        pytest.skip(f"needs {' and '.join(missing)}")


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    _spark_or_skip()
    out = tmp_path_factory.mktemp("spark") / "logs"
    simulate(out, seed=1013, scale=0.05)
    # a second file that repeats a request id of the first, and rows that break the log format
    part = sorted((out / "interactions").glob("*.parquet"))[0]
    t = pq.read_table(part)
    rows = t.slice(0, 3).to_pylist()
    rows[1]["request_id"] = "bad-ts"
    rows[1]["ts"] = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)  # before the plausible range: a clock fault
    rows[2]["request_id"] = "no-account"
    rows[2]["account_id"] = None
    pq.write_table(pa.Table.from_pylist(rows, schema=t.schema), out / "interactions" / "zz-extra.parquet")
    return out


@pytest.mark.slow
def test_spark_and_duckdb_give_the_same_results(logs, tmp_path):
    outs = {}
    for engine in ("duckdb", "spark"):
        res = scan(
            [logs / "interactions"],
            [logs / "accounts.parquet"],
            tmp_path / f"work-{engine}",
            ScanOptions(seed=3, engine=engine),
        )
        out = tmp_path / f"out-{engine}"
        out.mkdir()
        write_results(res, out)
        outs[engine] = (out, res)
    (a, ra), (b, rb) = outs["duckdb"], outs["spark"]
    acc = pl.read_csv(a / "accounts.csv")
    assert acc["flagged"].sum() > 10 and acc["campaign_id"].drop_nulls().n_unique() >= 2
    # flags, campaign membership, reasons, campaigns and their evidence: identical
    for name in ("accounts.csv", "campaigns.json", "lookalikes.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ea, eb = pq.read_table(a / "edges.parquet"), pq.read_table(b / "edges.parquet")
    assert ea.num_rows > 100 and ea.equals(eb)
    # the model's inputs and the scores (to 1e-9; here they are equal)
    da, db = ra.design.sort("account_id"), rb.design.sort("account_id")
    assert da.columns == db.columns and da["account_id"].equals(db["account_id"])
    for c in da.columns:
        if da[c].dtype.is_float():
            assert da[c].is_null().equals(db[c].is_null()), c
            assert ((da[c] - db[c]).abs().max() or 0.0) <= 1e-9, c
        else:
            assert da[c].equals(db[c]), c
    # the same rows set aside, for the same reasons
    ja, jb = (pl.read_csv(d / "rejected.csv").select("file", "row", "reason") for d in (a, b))
    assert ja.height == 3 and ja.equals(jb)
    assert any(r.startswith("duplicate request_id") for r in ja["reason"])
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for k in ("interactions", "accounts", "rejected_rows", "flagged_accounts", "campaigns", "signals",
              "unavailable_signals", "graph", "ingest", "time_span"):
        assert sa[k] == sb[k], k
    assert [w["rows"] for w in sa["warnings"]] == [w["rows"] for w in sb["warnings"]] == [1]
