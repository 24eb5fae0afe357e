"""Daily monitoring runs (``scan --state``): does a run's cost follow the day's traffic or the history?

Simulates a scenario with steady daily traffic (cached under bench-out/), cuts it into one file per
day, and feeds the days one run at a time into a state, each run in its own process (wall time and
peak RSS from ``wait4``). Then, from copies of the state as it stood before each timed day (day 3 and the
last, or ``--timed-days``), reruns those days ``--repeats`` times, interleaved, and reports the medians and
the last one's ratio to the first. Usage: ``python benchmarks/bench_daily.py [--scale 1.0] [--days 21]
[--repeats 5] [--window 30d] [--timed-days 3,30,40] [--memory-limit 500MB]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scan import TreeMemory  # noqa: E402 (this folder's own module)

#: options every run's scan gets (--window, --memory-limit)
SCAN_ARGS: list[str] = []


def _run(day: Path, accounts: Path, state: Path, out: Path) -> tuple[float, float, float, dict[str, float]]:
    """One monitoring run in a child process: (wall seconds, peak RSS in MB, sampled every 0.1 s;
    the rusage of a child would start from this process's own size), the seconds of its detection
    over the window (everything after the new rows' per-prompt features) and of each of its stages."""
    cmd = [sys.executable, "-c", "from distillguard.cli import run; run()", "scan", str(day), "--accounts",
           str(accounts), "--state", str(state), "--out", str(out), "--json", "--workers", "1", *SCAN_ARGS]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    mem = TreeMemory(p.pid)
    mem.start()
    summary, err = p.communicate()
    wall = time.perf_counter() - t0
    mem.done = True
    mem.join()
    if p.returncode != 0:
        raise SystemExit(f"run on {day} failed: {err.decode()[-2000:]}")
    timings = json.loads(summary)["timings"]
    return wall, mem.peak_mb, float(timings["analysis"]), timings.get("stages", {})


def _delays(out: Path, sim: Path) -> int:
    """Per campaign: the first run that flagged at least half of its accounts seen by then, and whether
    its final id is the one it was first flagged under (``evaluate``'s ``id_kept``)."""
    from distillguard.evaluate import evaluate

    ev = evaluate(out, sim)
    print(f"precision {ev.precision:.3f} recall {ev.recall:.3f}")
    for c in ev.campaigns:
        print(f"{c.campaign_id} {c.playbook:18s} accounts {c.accounts:4d} recall {c.recall:.3f} "
              f"first activity {c.first_activity} detected {c.detected} delay {c.delay_days} d "
              f"id {c.first_id} -> {c.predicted_campaign} ({c.id_kept})")
    return 0


def _parity(days: list[Path], accounts: Path, out: Path, work: Path) -> None:
    """The last daily run's flags against a batch scan of the same day files (issue 15: within 1%)."""
    import polars as pl

    from distillguard.pipeline import ScanOptions, scan

    batch = scan(days, [accounts], work, ScanOptions(seed=0))
    b = pl.from_arrow(batch.accounts).select("account_id", "flagged")
    inc = pl.read_parquet(out / "accounts.parquet").select("account_id", daily="flagged")
    j = b.join(inc, on="account_id", how="full", coalesce=True)
    differ = j.filter(pl.col("flagged").fill_null(False) != pl.col("daily").fill_null(False)).height
    one_side = j.filter(pl.col("flagged").is_null() | pl.col("daily").is_null()).height
    print(f"batch scan of the {len(days)} files: {int(b['flagged'].sum())} flagged, the last daily run "
          f"{int(inc['daily'].sum())}; {differ} accounts flagged differently, {one_side} in only one result")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--days", type=int, default=21)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--window", default=None, help="the runs' --window (default: scan's)")
    ap.add_argument("--memory-limit", default=None, help="the runs' --memory-limit (DuckDB's; default: none)")
    ap.add_argument("--keep-states", default=None, metavar="DIR",
                    help="also copy the states as they stood before each timed day here (to profile)")
    ap.add_argument("--timed-days", default=None, metavar="A,B,...",
                    help="days to rerun and time (default: 3 and the last); the ratio: the last to the first")
    ap.add_argument("--delay-only", action="store_true",
                    help="feed the days and report each campaign's detection delay (no timed repeats)")
    args = ap.parse_args()
    if args.window:
        SCAN_ARGS[:] = ["--window", args.window]
    if args.memory_limit:
        SCAN_ARGS[:] = [*SCAN_ARGS, "--memory-limit", args.memory_limit]

    cache = ROOT / "bench-out" / f"daily-{args.scenario}-s{args.scale}-d{args.days}-seed{args.seed}"
    if not (cache / "days").exists():
        if cache.exists():
            raise SystemExit(f"{cache} exists without days/: remove it (bench output) and rerun")
        # in a child process: this one stays small while it samples the runs' memory
        subprocess.run([sys.executable, "-c", (
            "import sys; from pathlib import Path; from distillguard.simulate import simulate; "
            "from distillguard.monitor import split_by_day; c = Path(sys.argv[1]); "
            "simulate(c / 'sim', seed=int(sys.argv[2]), scale=float(sys.argv[3]), days=int(sys.argv[4]), "
            "scenario=sys.argv[5]); split_by_day(c / 'sim' / 'interactions', c / 'tmp-days')"),
            str(cache), str(args.seed), str(args.scale), str(args.days), args.scenario], check=True)
        (cache / "tmp-days").rename(cache / "days")
    days = sorted((cache / "days").glob("*.parquet"))
    try:
        picked = sorted({int(d) for d in args.timed_days.split(",")}) if args.timed_days else [3, len(days)]
    except ValueError:
        picked = []
    if not all(1 <= d <= len(days) for d in picked) or len(picked) < 2:
        raise SystemExit(f"--timed-days {args.timed_days}: give two or more days between 1 and {len(days)}, "
                         "separated by commas")
    accounts = cache / "sim" / "accounts.parquet"
    rows = [json.loads(subprocess.run([sys.executable, "-c", (
        "import sys, json, pyarrow.parquet as pq; "
        "print(json.dumps([pq.read_metadata(p).num_rows for p in sys.argv[1:]]))"), *map(str, days)],
        capture_output=True, text=True, check=True).stdout)][0]
    with tempfile.TemporaryDirectory(prefix="dg-daily-") as tmp_s:
        tmp = Path(tmp_s)
        state, out = tmp / "state", tmp / "out"
        seq = []
        snap = {}
        for i, d in enumerate(days):
            if i + 1 in picked:  # the state as it stood before each timed day
                shutil.copytree(state, tmp / f"before-{i + 1}", symlinks=True)
                if args.keep_states:
                    shutil.copytree(state, Path(args.keep_states) / f"before-{i + 1}", symlinks=True)
            wall, rss, det, _ = _run(d, accounts, state, out)
            seq.append({"day": i + 1, "rows": rows[i], "seconds": round(wall, 2), "detection_s": det,
                        "peak_rss_mb": round(rss)})
            print(f"day {i + 1:2d}: {rows[i]:7,} rows  {wall:5.2f} s (detection {det:5.2f} s)  {rss:6.0f} MB",
                  flush=True)
        size = sum(f.stat().st_size for f in state.rglob("*") if f.is_file())
        logs = sum(d.stat().st_size for d in days)
        print(f"state after the last day: {size / 2**20:.1f} MB on disk (day files: {logs / 2**20:.1f} MB)")
        if args.delay_only:
            kept = cache / f"delay-out{'-' + args.window if args.window else ''}"
            if kept.exists():
                shutil.rmtree(kept)  # (this benchmark's own copy of the last run's results)
            shutil.copytree(out, kept)
            print(f"last run's results kept in {kept}")
            _parity(days, accounts, out, tmp / "batch")
            return _delays(out, cache / "sim")
        timed: dict[int, list[tuple[float, float, float, dict[str, float]]]] = {d: [] for d in picked}
        for r in range(args.repeats):
            for day in picked if r % 2 == 0 else picked[::-1]:
                st, o = tmp / f"st-{day}-{r}", tmp / f"out-{day}-{r}"
                shutil.copytree(tmp / f"before-{day}", st, symlinks=True)
                timed[day].append(_run(days[day - 1], accounts, st, o))
                shutil.rmtree(st)
                shutil.rmtree(o)
        for day, v in timed.items():
            names = list(dict.fromkeys(k for *_, st in v for k in st))
            snap[day] = {"median_s": round(statistics.median(w for w, *_ in v), 2),
                         "runs_s": [round(w, 2) for w, *_ in v],
                         "detection_median_s": round(statistics.median(d for _, _, d, _ in v), 2),
                         "peak_rss_mb": round(max(m for _, m, *_ in v)),
                         "stages_median_s": {k: round(statistics.median(st.get(k, 0.0) for *_, st in v), 2)
                                             for k in names}}
    first, last = picked[0], picked[-1]
    ratio = snap[last]["median_s"] / snap[first]["median_s"]
    from distillguard.monitor.incremental import DEFAULT_WINDOW_DAYS, parse_window

    wdays = parse_window(args.window) if args.window else DEFAULT_WINDOW_DAYS
    for day in picked:
        d = snap[day]
        d["window_rows"] = sum(rows[max(0, day - wdays) : day])
        print(f"day {day} ({rows[day - 1]:,} rows; {d['window_rows']:,} in the window): median "
              f"{d['median_s']} s of {d['runs_s']} (detection {d['detection_median_s']} s), "
              f"peak {d['peak_rss_mb']} MB")
    print(f"{'detection stage (medians)':40s}" + "".join(f"{f'day {d}':>8s}" for d in picked))
    for k in dict.fromkeys(k for d in picked for k in snap[d]["stages_median_s"]):
        print(f"{k:40s}" + "".join(f"{snap[d]['stages_median_s'].get(k, 0.0):8.2f}" for d in picked))
    target = " (issue 15's target for a run as the window fills: <= 1.5)" if first == 3 else ""
    print(f"ratio day {last} / day {first}: {ratio:.2f}{target}")
    print(json.dumps({"sequence": seq, "timed": snap, "ratio": round(ratio, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
