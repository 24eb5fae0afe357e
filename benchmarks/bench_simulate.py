"""Benchmark: simulate the hydra-reseller seed case and report rows/s and peak memory.

    .venv/bin/python benchmarks/bench_simulate.py --scale 0.1 --out bench-out/sim
    .venv/bin/python benchmarks/bench_simulate.py --scale 0.75   # ~33M rows
    .venv/bin/python benchmarks/bench_simulate.py --scale 1.0    # the seed case, ~44M rows

The summary also shows the volumes expected from the scenario's parameters (``expected_counts``), so a
run checks the dry computation against what was generated.

Memory is sampled after every simulated day (RSS now and peak so far), so a flat line shows that
generation streams (one day in memory) instead of growing with the run.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from distillguard import outdir


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def main() -> None:
    from distillguard.simulate import expected_counts, load_scenario, simulate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="hydra-reseller")
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench-out/sim")
    ap.add_argument("--format", default="parquet")
    ap.add_argument("--keep", action="store_true", help="keep the output (default: delete it)")
    ap.add_argument("--responses", action="store_true", help="fill the response column")
    args = ap.parse_args()

    samples: list[dict] = []
    t0 = time.perf_counter()

    def progress(day: int, days: int, rows: int) -> None:
        s = {
            "day": day,
            "rows": rows,
            "seconds": round(time.perf_counter() - t0, 1),
            "rss_mb": round(_rss_mb()),
            "peak_mb": round(_peak_mb()),
        }
        samples.append(s)
        print(
            f"day {day:3d}/{days}  rows {rows:>12,}  {s['seconds']:8.1f} s  rss {s['rss_mb']:6d} MB  "
            f"peak {s['peak_mb']:6d} MB",
            flush=True,
        )

    res = simulate(
        args.out,
        scenario=args.scenario,
        seed=args.seed,
        scale=args.scale,
        days=args.days,
        fmt=args.format,
        progress=progress,
        responses=args.responses,
    )
    exp = expected_counts(load_scenario(args.scenario).scaled(args.scale, args.days))
    exp_camp = exp.filter(exp["campaign_id"] != "benign")
    out_bytes = sum(p.stat().st_size for p in Path(args.out).rglob("*") if p.is_file())
    summary = {
        "scenario": args.scenario,
        "scale": args.scale,
        "days": res.days,
        "rows": res.interactions,
        "accounts": res.accounts,
        "campaign_accounts": res.campaign_accounts,
        "harvest_rows": res.harvest_interactions,
        "expected_rows": round(float(exp["interactions"].sum())),
        "expected_campaign_rows": round(float(exp_camp["interactions"].sum())),
        "campaign_rows": sum(res.campaigns.values()),
        "campaigns": res.campaigns,
        "seconds": round(res.seconds, 1),
        "rows_per_s": round(res.rows_per_second),
        "peak_rss_mb": round(_peak_mb()),
        "rss_first_day_mb": samples[0]["rss_mb"] if samples else None,
        "rss_last_day_mb": samples[-1]["rss_mb"] if samples else None,
        "output_mb": round(out_bytes / 2**20, 1),
        "parts": len(res.interaction_paths),
    }
    print(json.dumps(summary, indent=2))
    if not args.keep:
        kept = outdir.remove(Path(args.out))  # only what the simulation wrote
        if kept:
            print(f"kept in {args.out}: {', '.join(kept)} (not written by the simulation)")


if __name__ == "__main__":
    main()
