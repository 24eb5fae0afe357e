"""Copy a simulated log with a long ``response`` column added, to measure a scan of logs with answers.

The simulator's own ``--responses`` are short stand-ins (at most 300 characters); a provider's logged
answers are often thousands. Each row gets the prompts of ``--join`` other rows (a seeded shuffle),
joined by newlines and cut to ``--chars`` characters. Usage::

    python benchmarks/with_responses.py --logs bench-out/logs-s5.0-seed0 --files 1 --out bench-out/answers
    python benchmarks/bench_scan.py --logs bench-out/answers
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import polars as pl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logs", type=Path, required=True, help="a `distillguard simulate` output")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--files", type=int, default=1, help="interaction files copied (in name order)")
    ap.add_argument("--join", type=int, default=12)
    ap.add_argument("--chars", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.out.exists() and (not a.out.is_dir() or any(a.out.iterdir())):
        sys.exit(f"--out {a.out}: exists and is not an empty folder; give a new one")
    rng = np.random.default_rng(a.seed)
    (a.out / "interactions").mkdir(parents=True, exist_ok=True)
    shutil.copy(a.logs / "accounts.parquet", a.out / "accounts.parquet")
    for path in sorted((a.logs / "interactions").glob("*.parquet"))[: a.files]:
        t = pl.read_parquet(path)
        prompts = t["prompt"]
        others = [prompts.gather(rng.permutation(t.height)) for _ in range(a.join)]
        t = t.with_columns(response=pl.concat_str(others, separator="\n").str.slice(0, a.chars))
        t.write_parquet(a.out / "interactions" / path.name, compression="zstd", row_group_size=100_000)
        mean = t["response"].str.len_chars().mean()
        print(f"{path.name}: {t.height:,} rows, response {mean:.0f} characters on average")


if __name__ == "__main__":
    main()
