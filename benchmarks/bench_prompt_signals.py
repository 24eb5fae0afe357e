"""Throughput of the per-prompt signals (``distillguard.features.prompt_features``).

Draws prompts from the real public corpora (``shared/data/prompts``), repeats and varies them
(numbers re-drawn, a varying suffix on 30% of rows, a system prompt on half the rows, tools on a
quarter) to ``--rows`` interactions, then times ``prompt_features`` over record batches of
``--batch`` rows. Reports prompts/s on wall-clock and on CPU time (the machine is shared: CPU time
is the steadier figure), the same for what staging runs (``stage.staged_features``: the staged
columns only, behind the feature cache), the time per signal, and the peak RSS of the process.

``--max-chars`` keeps only real prompts up to that length (e.g. 500 for "typical" chat/harvest
prompts: the corpora mix has a long tail of multi-kilobyte prompts, mean ~1,000 chars).
``--interactions`` times the first ``--rows`` rows of an interactions Parquet file instead (e.g. the
simulator's traffic: ``distillguard simulate --out /tmp/sim-speed --seed 5``).

The per-stage lines split the time between the shared context (distinct indexes, windows, masking,
word table: computed once, counted where first used in the run above, listed apart here) and each
signal.

    .venv/bin/python benchmarks/bench_prompt_signals.py --rows 200000
    .venv/bin/python benchmarks/bench_prompt_signals.py --rows 200000 --max-chars 500
    .venv/bin/python benchmarks/bench_prompt_signals.py --rows 100000 \
        --interactions /tmp/sim-speed/interactions/part-00000.parquet
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from distillguard.features import prompt_features
from distillguard.signals.prompt import PromptContext, prompt_signals
from distillguard.stage import staged_features

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "prompts"


def load_prompts(root: Path, max_chars: int | None = None) -> list[str]:
    out: list[str] = []
    for path in sorted(root.glob("*/prompts.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            out.extend(json.loads(line)["prompt"] for line in fh)
    return [p for p in out if isinstance(p, str) and p and (max_chars is None or len(p) <= max_chars)]


def make_table(prompts: list[str], rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    base = pl.Series("p", prompts)
    pick = pl.Series(rng.integers(0, len(prompts), rows))
    refs = np.char.add(" (ref ", rng.integers(0, 10**6, rows).astype(str))
    suffix = pl.Series(np.where(rng.random(rows) < 0.3, refs, ""))
    df = pl.DataFrame({"p": base.gather(pick), "s": suffix, "k": rng.integers(0, 10**4, rows)})
    prompt = pl.concat_str([pl.col("p").str.replace_all(r"\d+", pl.col("k").cast(pl.String)), pl.col("s")])
    system_pool = [
        "You are a helpful assistant.",
        "You are a coding agent. Use the tools provided.",
        None,
        None,
    ]
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
    ap.add_argument("--max-chars", type=int, default=None, help="only real prompts up to this length")
    ap.add_argument("--prompts-dir", type=Path, default=SHARED)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--interactions", type=Path, default=None, help="time this interactions Parquet file")
    args = ap.parse_args()
    if args.interactions is not None:
        table = pq.read_table(args.interactions).slice(0, args.rows)
        source = f"{table.num_rows:,} interactions of {args.interactions}"
    else:
        prompts = load_prompts(args.prompts_dir, args.max_chars)
        table = make_table(prompts, args.rows, args.seed)
        source = f"{args.rows:,} prompts drawn from {len(prompts):,} real ones"
    chars = pl.from_arrow(table.column("prompt")).str.len_chars()
    print(
        f"{source}; chars mean {chars.mean():.0f}, "
        f"p50 {chars.median():.0f}, p95 {chars.quantile(0.95):.0f}; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    prompt_features(table.slice(0, 1000))  # warm-up (regex compilation, LSH parameters)
    w0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for batch in table.to_batches(max_chunksize=args.batch):
        n += prompt_features(batch).num_rows
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"prompt_features: {n:,} prompts in {wall:.2f} s wall = {n / wall:,.0f} prompts/s; "
        f"{cpu:.2f} CPU-s = {n / cpu:,.0f} prompts per CPU-second; peak RSS {rss:,.0f} MiB"
    )
    # what staging runs: only the staged columns, feature rows remembered between batches
    staged = staged_features()
    w0, c0 = time.perf_counter(), time.process_time()
    for batch in table.to_batches(max_chunksize=args.batch):
        staged.frame(batch)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    caches = "; ".join(
        f"keyed on {'+'.join(c.key_columns)}: {c.hits / max(n, 1):.0%} of rows remembered from an "
        f"earlier batch, {c.computed:,} distinct rows computed, {len(c):,} kept"
        for c in staged.caches
    )
    print(
        f"staged features (cached, staged columns): {n / wall:,.0f} prompts/s wall, "
        f"{n / cpu:,.0f} per CPU-second; {caches}"
    )
    # where the time goes (CPU seconds per signal, shared context work counted where first used)
    per: dict[str, float] = defaultdict(float)
    stages = {
        "context: distinct indexes": lambda c: (c.prompt_u, c.system_u),
        "context: windows, units": lambda c: c.units,
        "context: masking": lambda c: c.masked_u,
        "context: word table": lambda c: c.tokens,
    }
    for batch in table.to_batches(max_chunksize=args.batch):
        ctx = PromptContext(batch)
        for name, stage in stages.items():
            c = time.process_time()
            stage(ctx)
            per[name] += time.process_time() - c
        for cls in prompt_signals():
            c = time.process_time()
            cls().compute(ctx)
            per[cls.id] += time.process_time() - c
    for sid, sec in sorted(per.items(), key=lambda kv: -kv[1]):
        print(f"  {sid:28s} {sec:6.2f} CPU-s")


if __name__ == "__main__":
    main()
