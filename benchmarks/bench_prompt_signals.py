"""Throughput of the per-prompt signals (``distillguard.features.prompt_features``).

Draws prompts from the real public corpora (``shared/data/prompts``), repeats and varies them
(numbers re-drawn, a varying suffix on a share of rows, some rows given a system prompt and tools)
to ``--rows`` interactions, then times ``prompt_features`` over record batches of ``--batch`` rows.
Reports prompts/s and the peak RSS of the process.

    .venv/bin/python benchmarks/bench_prompt_signals.py --rows 200000
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.features import prompt_features

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "prompts"


def load_prompts(root: Path) -> list[str]:
    out: list[str] = []
    for path in sorted(root.glob("*/prompts.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            out.extend(json.loads(line)["prompt"] for line in fh)
    return [p for p in out if p]


def make_table(prompts: list[str], rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    base = pl.Series("p", prompts)
    pick = pl.Series(rng.integers(0, len(prompts), rows))
    suffix = pl.Series(
        np.where(rng.random(rows) < 0.3, np.char.add(" (ref ", rng.integers(0, 10**6, rows).astype(str)), "")
    )
    df = pl.DataFrame({"p": base.gather(pick), "s": suffix, "k": rng.integers(0, 10**4, rows)})
    prompt = pl.concat_str([pl.col("p").str.replace_all(r"\d+", pl.col("k").cast(pl.String)), pl.col("s")])
    system_pool = ["You are a helpful assistant.", "You are a coding agent. Use the tools provided.", None, None]
    df = df.select(
        pl.format("r{}", pl.int_range(pl.len())).alias("request_id"),
        prompt.alias("prompt"),
        pl.Series("system", [system_pool[i] for i in rng.integers(0, 4, rows)]),
        pl.Series("tools", rng.choice([0, 0, 0, 3], rows)).cast(pl.Int64),
    )
    return df.to_arrow()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--prompts-dir", type=Path, default=SHARED)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    prompts = load_prompts(args.prompts_dir)
    table = make_table(prompts, args.rows, args.seed)
    chars = pl.from_arrow(table.column("prompt")).str.len_chars()
    print(f"{args.rows} prompts from {len(prompts)} real ones; chars mean {chars.mean():.0f}, p50 {chars.median():.0f}")
    prompt_features(table.slice(0, 1000))  # warm-up (regex compilation, LSH parameters)
    t0 = time.perf_counter()
    n = 0
    for batch in table.to_batches(max_chunksize=args.batch):
        n += prompt_features(batch).num_rows
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"prompt_features: {n} prompts in {dt:.2f} s = {n / dt:,.0f} prompts/s; peak RSS {rss:,.0f} MiB")


if __name__ == "__main__":
    main()
