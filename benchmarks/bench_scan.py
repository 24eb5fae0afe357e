"""Scan throughput and peak memory on >= 1M simulated interactions.

Simulates once (cached under bench-out/, gitignored), scans it in a child process and reports
interactions/s, the CPU time of the scan and its workers, the peak RSS of the largest process and
of the scan with its feature workers (sampled every 0.1 s), the analysis stage (everything
after the per-prompt features) timed on its own, and a fixed loop timed before and after the scan
(how fast the machine ran then). Usage: ``python benchmarks/bench_scan.py [--scale 5.0]``, or
``--logs SIM_DIR`` to scan an existing ``distillguard simulate`` output instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT.parent / "shared" / "data" / "prompts"


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class TreeMemory(threading.Thread):
    """Samples the summed resident memory of a process and its descendants (workers included)."""

    def __init__(self, pid: int, every: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak_mb, self.done = pid, every, 0.0, False

    def run(self) -> None:
        while not self.done:
            self.peak_mb = max(self.peak_mb, sum(_rss_mb(p) for p in _tree(self.pid)))
            time.sleep(self.every)


def reference_seconds(n: int = 20_000_000) -> float:
    """Seconds a fixed pure-Python loop takes now: how fast this (shared, virtual) machine runs at
    the moment. Its speed swings by up to a quarter within minutes, and the scan's time with it; a
    scan is comparable with another only at similar reference times."""
    t = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return round(time.perf_counter() - t, 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=5.0, help="default scenario scale (5.0 ~ 1M rows)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench-out"))
    ap.add_argument(
        "--logs",
        default=None,
        help="scan this simulate output folder instead (e.g. a hydra-reseller simulation)",
    )
    a = ap.parse_args()
    logs = Path(a.logs) if a.logs else Path(a.out) / f"logs-s{a.scale}-seed{a.seed}"
    if a.logs is None and not (logs / "accounts.parquet").exists():
        from distillguard.simulate import simulate

        r = simulate(logs, seed=a.seed, scale=a.scale, prompts_dir=PROMPTS if PROMPTS.is_dir() else None)
        print(f"simulated {r.interactions:,} interactions in {r.seconds:.1f} s", file=sys.stderr)
    res_dir = Path(a.out) / "scan"
    ref_before = reference_seconds()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from distillguard.cli import run; run()",  # what the distillguard command runs
            "scan",
            str(logs / "interactions"),
            "--accounts",
            str(logs / "accounts.parquet"),
            "--out",
            str(res_dir),
            "--json",
            "--no-report",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mem = TreeMemory(proc.pid)
    mem.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    mem.done = True
    if proc.returncode:
        sys.exit(err)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ref_after = reference_seconds()
    peak_mb = after.ru_maxrss / 1024
    # CPU time of the scan and its workers (reaped children count): steadier than wall time on a
    # shared machine, whose speed here varied by a third between days
    cpu = {
        "user": round(after.ru_utime - before.ru_utime, 1),
        "system": round(after.ru_stime - before.ru_stime, 1),
    }
    s = json.loads((res_dir / "summary.json").read_text())
    print(
        json.dumps(
            {
                "interactions": s["interactions"],
                "accounts": s["accounts"],
                "scan_seconds": s["seconds"],
                # the scan's own split: ingest + per-prompt features vs everything after (this stage)
                "features_seconds": s.get("timings", {}).get("ingest_and_prompt_features"),
                "analysis_seconds": s.get("timings", {}).get("analysis"),
                "analysis_interactions_per_s": round(s["interactions"] / s["timings"]["analysis"])
                if s.get("timings", {}).get("analysis")
                else None,
                "wall_seconds": round(wall, 1),
                "interactions_per_s": round(s["interactions"] / wall),
                "cpu_seconds": cpu,
                # largest single process (getrusage) and the sampled sum over the scan and its workers
                "peak_rss_mb": round(peak_mb),
                "peak_tree_rss_mb": round(mem.peak_mb),
                # the machine's speed just before and after the scan (see reference_seconds)
                "reference_seconds": [ref_before, ref_after],
                "flagged": s["flagged_accounts"],
                "campaigns": s["campaigns"],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
