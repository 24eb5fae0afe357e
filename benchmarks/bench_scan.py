"""Scan throughput and peak memory on >= 1M simulated interactions.

Simulates once (cached under bench-out/, gitignored), scans it in a child process and reports
interactions/s, the CPU time of the scan and its workers, the peak RSS of the largest process and
of the scan with its feature workers (sampled every 0.1 s), the analysis stage (everything
after the per-prompt features) timed on its own, and a fixed loop timed before and after the scan
(how fast the machine ran then). Usage: ``python benchmarks/bench_scan.py [--scale 5.0]``, or
``--logs SIM_DIR`` to scan an existing ``distillguard simulate`` output instead; ``--baseline SRC
--runs N`` times another checkout's code in the same run, interleaved, and reports both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
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


def scan_once(logs: Path, res_dir: Path, src: str | None = None, extra: tuple[str, ...] = ()) -> dict:
    """One timed scan of ``logs`` in a child process (the code under ``src`` when given: another
    checkout's ``src`` folder, for a baseline run beside this one)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
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
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
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
    # (the largest child so far: with a baseline beside it, the larger of the two codes' peaks)
    peak_mb = after.ru_maxrss / 1024
    # CPU time of the scan and its workers (reaped children count): steadier than wall time on a
    # shared machine, whose speed here varied by a third between days
    cpu = {
        "user": round(after.ru_utime - before.ru_utime, 1),
        "system": round(after.ru_stime - before.ru_stime, 1),
    }
    s = json.loads((res_dir / "summary.json").read_text())
    return {
        "code": src or "this checkout",
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
    }


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
    ap.add_argument(
        "--baseline",
        default=None,
        metavar="SRC",
        help="another checkout's src/ folder (e.g. a git worktree of an earlier commit): its scans are "
        "interleaved with this checkout's and both are reported, with the ratio of the medians",
    )
    ap.add_argument("--runs", type=int, default=1, help="scans of each code (interleaved with --baseline)")
    ap.add_argument("--dataset-index", default=None, help="scan with this public-dataset index")
    a = ap.parse_args()
    logs = Path(a.logs) if a.logs else Path(a.out) / f"logs-s{a.scale}-seed{a.seed}"
    if a.logs is None and not (logs / "accounts.parquet").exists():
        from distillguard.simulate import simulate

        r = simulate(logs, seed=a.seed, scale=a.scale, prompts_dir=PROMPTS if PROMPTS.is_dir() else None)
        print(f"simulated {r.interactions:,} interactions in {r.seconds:.1f} s", file=sys.stderr)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    extra = ("--dataset-index", a.dataset_index) if a.dataset_index else ()
    codes = [None] if a.baseline is None else [a.baseline, None]
    runs: dict[str | None, list[dict]] = {c: [] for c in codes}
    for i in range(a.runs):
        for c in codes if i % 2 == 0 else codes[::-1]:  # ABBA: neither code always runs first
            # a fresh folder per scan, made here and removed whole after (nothing else is in it)
            work = Path(tempfile.mkdtemp(prefix="scan-", dir=a.out))
            try:
                r = scan_once(logs, work / "results", c, extra if c is None else ())
            finally:
                shutil.rmtree(work, ignore_errors=True)
            runs[c].append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    if a.baseline is None and a.runs == 1:
        print(json.dumps(runs[None][0], indent=1))
        return
    report = {}
    for c, rs in runs.items():
        walls = sorted(r["wall_seconds"] for r in rs)
        report["baseline" if c is not None else "this checkout"] = {
            "runs": len(rs),
            "median_wall_seconds": statistics.median(walls),
            "wall_seconds": [r["wall_seconds"] for r in rs],
            "median_interactions_per_s": round(rs[0]["interactions"] / statistics.median(walls)),
            "peak_tree_rss_mb": max(r["peak_tree_rss_mb"] for r in rs),
            "flagged": rs[-1]["flagged"],
        }
    if a.baseline is not None:
        report["time_ratio"] = round(
            report["this checkout"]["median_wall_seconds"] / report["baseline"]["median_wall_seconds"], 3
        )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
