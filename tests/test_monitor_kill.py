"""Crash safety of ``scan --state``: SIGKILL at 20 random moments of daily runs.

After every kill the state opens (no lock left behind) at either the generation before the run or the
one the run committed, whole; rerunning the day and finishing the sequence gives the same accounts,
scores, campaign ids and registry as a sequence that was never interrupted."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from distillguard.monitor import split_by_day
from distillguard.monitor.state import StateDir

KILLS = 20
DAYS = 5


def _cmd(day: Path, sim: Path, state: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", "from distillguard.cli import run; run()", "scan", str(day),
            "--accounts", str(sim / "accounts.parquet"), "--state", str(state), "--out", str(out), "--json",
            "--workers", "1"]


def _finish(day: Path, sim: Path, state: Path, out: Path) -> None:
    p = subprocess.run(_cmd(day, sim, state, out), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]


def _registry(state: Path) -> dict:
    reg = json.loads(next(state.glob("gen-*/registry.json")).read_text())
    return {cid: (c["members"], c["aliases"], c["first_flagged_day"], c.get("split_from"))
            for cid, c in reg["campaigns"].items()} | {"aliases": reg["aliases"]}


def _valid(state: Path, runs_before: int) -> int:
    """The state opens and its current generation is whole: the run before the kill, or the killed run."""
    with StateDir(state, create=False) as st:
        cur = st.current()
        if cur is None:
            assert runs_before == 0
            return 0
        meta = cur.read_json("meta.json", {})
        assert meta["runs"] in (runs_before, runs_before + 1)
        for name in ("files.json", "registry.json", "last.json"):
            assert (cur.path / name).is_file(), name
        files = cur.read_json("files.json", [])
        assert len(files) == len({f["fingerprint"] for f in files})
        rows = cur.row_files()
        assert rows and all(pl.read_parquet_schema(f) for f in rows)
        hist = pl.read_parquet(sorted((cur.path / "history").glob("*.parquet")))
        assert hist["run"].max() == meta["runs"] and hist["run"].n_unique() == meta["runs"]
        return int(meta["runs"])


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    from distillguard.simulate import simulate

    tmp = tmp_path_factory.mktemp("kill")
    simulate(tmp / "sim", seed=4244, scale=0.1, days=DAYS)
    return tmp / "sim", split_by_day(tmp / "sim" / "interactions", tmp / "days")


def test_sigkill_at_random_points_leaves_a_valid_state_and_the_same_results(days, tmp_path: Path) -> None:
    sim, files = days
    ref_state, ref_out = tmp_path / "ref-state", tmp_path / "ref-out"
    t0 = time.perf_counter()
    for f in files:
        _finish(f, sim, ref_state, ref_out)
    per_run = (time.perf_counter() - t0) / len(files)

    rng = random.Random(20261205)
    plan = [rng.randrange(len(files)) for _ in range(KILLS)]
    state, out = tmp_path / "state", tmp_path / "out"
    runs = 0
    outcomes = {"before": 0, "after": 0}
    for i, f in enumerate(files):
        for _ in range(plan.count(i)):
            p = subprocess.Popen(_cmd(f, sim, state, out), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.2, 1.1) * per_run)
            p.send_signal(signal.SIGKILL)
            p.wait()
            now = _valid(state, runs) if state.exists() else 0
            outcomes["after" if now > runs else "before"] += 1
            runs = now
        _finish(f, sim, state, out)
        runs = _valid(state, runs)
    assert sum(outcomes.values()) == KILLS
    print(f"kills: {outcomes['before']} left the state before the run, {outcomes['after']} after it")
    a = pl.read_parquet(ref_out / "accounts.parquet").select("account_id", "flagged", "score", "campaign_id")
    b = pl.read_parquet(out / "accounts.parquet").select("account_id", "flagged", "score", "campaign_id")
    assert a.sort("account_id").equals(b.sort("account_id"))
    assert _registry(ref_state) == _registry(state)
    ca = json.loads((ref_out / "campaigns.json").read_text())
    cb = json.loads((out / "campaigns.json").read_text())
    assert [c["campaign_id"] for c in ca] == [c["campaign_id"] for c in cb]
    # nothing of a killed run is left behind: one generation, no staging folders
    assert sorted(p.name for p in state.iterdir() if p.name.startswith("gen-")) == [
        (state / "CURRENT").read_text().strip()]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")]
