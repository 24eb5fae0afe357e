"""Ingest throughput: rows/s and peak memory reading the same synthetic log as Parquet, JSONL.gz and CSV.

.venv/bin/python benchmarks/bench_ingest.py [--rows 1000000] [--dir bench-out/ingest]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import polars as pl

from distillguard.ingest import open_interactions


def make(rows: int, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array("the of explain step reasoning code write function list data model why how".split())
    prompt = [" ".join(words[rng.integers(0, len(words), 30)]) for _ in range(2000)]
    base = np.datetime64("2026-04-22T00:00:00", "us")
    return pl.DataFrame(
        {
            "request_id": [f"req-{i:09d}" for i in range(rows)],
            "ts": (base + rng.integers(0, 42 * 86400 * 10**6, rows).astype("timedelta64[us]")),
            "account_id": [f"acct-{i}" for i in rng.integers(0, 25_000, rows)],
            "prompt": np.array(prompt)[rng.integers(0, 2000, rows)],
            "model": "frontier-2026-04",
            "ip": "203.0.113.7",
            "asn": rng.integers(1000, 2000, rows),
            "input_tokens": rng.integers(10, 2000, rows),
            "output_tokens": rng.integers(10, 2000, rows),
            "temperature": rng.random(rows),
            "status": "ok",
        }
    ).with_columns(pl.col("ts").dt.replace_time_zone("UTC"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=Path("bench-out/ingest"))
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    df = make(args.rows)
    paths = {
        "parquet": args.dir / "log.parquet",
        "jsonl.gz": args.dir / "log.jsonl.gz",
        "csv": args.dir / "log.csv",
    }
    if not all(p.exists() for p in paths.values()):
        df.write_parquet(paths["parquet"])
        import gzip

        with gzip.open(paths["jsonl.gz"], "wb", compresslevel=1) as fh:
            df.write_ndjson(fh)
        df.write_csv(paths["csv"])
    del df
    print(f"{'format':10} {'rows':>10} {'seconds':>8} {'rows/s':>10}")
    for fmt, path in paths.items():
        t0 = time.perf_counter()
        src = open_interactions([path])
        n = sum(b.num_rows for b in src)
        dt = time.perf_counter() - t0
        assert n == args.rows and src.stats.rows_rejected == 0
        print(f"{fmt:10} {n:>10,} {dt:>8.1f} {n / dt:>10,.0f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB (includes generating the data)")


if __name__ == "__main__":
    main()
