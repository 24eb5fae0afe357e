"""``scan --engine spark`` in local mode on existing logs: time by stage and memory by process.

Usage: ``python benchmarks/bench_spark.py --logs SIM_DIR [--master local[2]] [--conf KEY=VALUE ...]
[--out DIR]`` (``--out`` writes the scan's result files there, e.g. to compare them with an
embedded scan's)
(SIM_DIR from ``distillguard simulate``). Reports the wall time, the time of the staging job
(validation + per-prompt features through ``mapInArrow``) and of the analysis, the peak RSS of this
driver process (the Python side: graph, clustering, scoring, reasons) and of the Spark JVM and Python
workers (sampled every 0.5 s), and the results' counts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _tree_rss(pid: int) -> dict[str, int]:
    """RSS (bytes) of ``pid``'s descendants by command (java, python workers), from /proc."""
    out: dict[str, int] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
        if p == pid:
            continue
        with contextlib.suppress(OSError):
            comm = Path(f"/proc/{p}/comm").read_text().strip()
            rss = int(Path(f"/proc/{p}/statm").read_text().split()[1]) * 4096
            out[comm] = out.get(comm, 0) + rss
    return out


def main() -> None:
    import os

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logs", type=Path, required=True)
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--conf", action="append", default=[])
    ap.add_argument("--out", type=Path, help="write the result files here (a new or empty folder)")
    args = ap.parse_args()
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        ap.error(f"--out {args.out} is not empty")
    from distillguard.pipeline import ScanOptions, scan

    conf = tuple(tuple(c.split("=", 1)) for c in args.conf)
    peaks: dict[str, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            for k, v in _tree_rss(os.getpid()).items():
                peaks[k] = max(peaks.get(k, 0), v)

    threading.Thread(target=sample, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    accounts = args.logs / "accounts.parquet"
    t0 = time.perf_counter()
    last = [""]

    def progress(stage: str, _frac: float) -> None:
        # each stage as it starts, on stderr: a long run stopped early still says how far it got
        if stage != last[0]:
            last[0] = stage
            rss = {k: round(v / 2**30, 2) for k, v in _tree_rss(os.getpid()).items()}
            print(f"{time.perf_counter() - t0:8.1f} s  {stage}  {rss}", file=sys.stderr, flush=True)

    try:
        res = scan(
            [args.logs / "interactions"],
            [accounts] if accounts.exists() else None,
            work,
            ScanOptions(engine="spark", spark_master=args.master, spark_conf=conf),  # type: ignore[arg-type]
            progress=progress,
        )
    finally:
        done.set()
        shutil.rmtree(work, ignore_errors=True)
    wall = time.perf_counter() - t0
    if args.out is not None:
        from distillguard.output import write_results

        args.out.mkdir(parents=True, exist_ok=True)
        write_results(res, args.out)
    s = res.summary
    print(json.dumps({
        "wall_s": round(wall, 1),
        "timings": s["timings"],
        "interactions": s["interactions"],
        "accounts": s["accounts"],
        "flagged": s["flagged_accounts"],
        "campaigns": s["campaigns"],
        "edges": s["graph"]["edges"],
        "driver_peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "child_peak_rss_gb": {k: round(v / 2**30, 2) for k, v in peaks.items()},
    }, indent=1))


if __name__ == "__main__":
    main()
