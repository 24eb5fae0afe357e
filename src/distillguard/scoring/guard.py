"""The look-alike guard: the default operating point also bounds how often a legitimate group is flagged.

The 0.999 rung of the precision curve counts false positives over all development accounts pooled,
and pooled precision hides where they fall: a handful of accounts of one small legitimate group (a
tutoring product's three accounts, an accelerator batch) in one run is a precision of 0.9993 and a
customer group wrongly banned. So the default thresholds are also held up by whole scans of
calibration seeds the weights never saw: in every scan, each legitimate archetype is a group, and a
group is over-flagged when more than :data:`GROUP_RATE` of its accounts are flagged. The main
threshold is the lowest (not below the rung) at which at most :data:`RUN_SHARE` of the scans, and at
most :data:`SCENARIO_RUNS` of any one scenario's, have an over-flagged group (pooled over scenarios,
3 of 100 allowed two of the 20 `adaptive` scans, and held-out `adaptive` runs then over-flagged a
startup account in 3 of 18); then each history bucket's threshold
(:mod:`distillguard.scoring.history`) is lowered from there only as far as no scan, whole or of its
first days (``--history-frames``), gains an over-flagged group, and never below its own rung. Flags
are counted as a scan makes them, through the peer gate (``--peer-gate``, :mod:`distillguard.scoring.peers`),
which the section records for scans to apply.

Usage: ``python -m distillguard.scoring.guard --prompts-dir ../shared/data/prompts --frames DIR``
scans the calibration seeds with the public-dataset index (one frame per scenario and seed, kept in
``DIR`` and reused) and writes the section into the shipped model for scans with an index
(``--without-index``: scans without one, for the other shipped model; use another ``DIR``).
``--history-frames FILE`` (what ``scoring.history --save-frames`` wrote for the same kind of model)
adds the calibration seeds' first-days scans to the history buckets' rule.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl

from distillguard.scoring.operating_point import OperatingPoint, history_points
from distillguard.scoring.peers import PeerGate, passes

#: the seeds the guard calibrates on: development seeds that training never used (training: below 21;
#: quality tests: 1000 and above)
CALIBRATION_SEEDS = range(21, 100)
#: a legitimate group of a scan is over-flagged above this share of its accounts (the issue's floor)
GROUP_RATE = 0.005
#: the main threshold allows over-flagged groups in at most this share of calibration scans
RUN_SHARE = 0.03
#: ... and in at most this many scans of any one scenario
SCENARIO_RUNS = 1
#: the precision rung whose thresholds the guard holds up (the default target)
RUNG = 0.999


def _thresholds(main: float, by_history: dict[int, float]) -> pl.Expr:
    """Each account's threshold, as a scan applies it (:meth:`OperatingPoint.account_threshold`)."""
    early = tuple({"max_days": d, "threshold": t} for d, t in sorted(by_history.items()))
    return OperatingPoint(None, main, "", by_history=early).account_threshold(pl.col("observed_days"))


def bad_runs(
    frame: pl.DataFrame, main: float, by_history: dict[int, float], gate: PeerGate | None = None
) -> pl.DataFrame:
    """``scenario, seed, archetype, flagged, accounts`` of every over-flagged legitimate group (with
    ``gate``, ``frame`` has each account's ``peer_score``: see ``peers.with_peer_scores``)."""
    return (
        frame.filter(pl.col("y") == 0)
        .with_columns(f=(pl.col("score") >= _thresholds(main, by_history)) & passes(gate))
        .group_by("scenario", "seed", "archetype")
        .agg(flagged=pl.col("f").sum(), accounts=pl.len())
        .filter(pl.col("flagged") > GROUP_RATE * pl.col("accounts"))
        .sort("scenario", "seed", "archetype")
    )


def _runs(bad: pl.DataFrame) -> int:
    return bad.select("scenario", "seed").n_unique() if bad.height else 0


def _worst_scenario(bad: pl.DataFrame) -> int:
    """The most over-flagged scans of any one scenario."""
    return int(bad.group_by("scenario").agg(pl.col("seed").n_unique())["seed"].max()) if bad.height else 0


def guard(
    frame: pl.DataFrame, rung: float, buckets: dict[int, float], grid: tuple[float, ...],
    run_share: float = RUN_SHARE,
    scenario_runs: int = SCENARIO_RUNS,
    first_days: pl.DataFrame | None = None,
    gate: PeerGate | None = None,
) -> dict:
    """The guard section of a model from labelled whole scans (``frame``: ``scenario, seed, archetype,
    y, score, observed_days`` per account): ``threshold`` for the main rung ``rung``, ``by_history``
    per bucket (``buckets``: the bucket's own rung threshold), and what was measured.

    ``first_days``: scans of the same kind of seeds on their first days only (a ``prefix`` column, the
    days; :mod:`distillguard.scoring.history` saves them). Whole scans hold few legitimate accounts
    seen a week or less, so a bucket lowered on them alone reached look-alikes that held-out scans
    had (a research lab's week-long sweep at 0.40); with these scans every account of a scan's first
    days counts too. ``gate``: every search counts flags as a scan makes them, through the peer gate
    (the frames carry ``peer_score``)."""
    runs = frame.select("scenario", "seed").n_unique()
    allowed = int(run_share * runs)
    main = None
    for t in sorted(g for g in grid if g >= rung):
        # every account at the main threshold: short histories may not add over-flagged groups yet
        bad = bad_runs(frame, t, {}, gate)
        if _runs(bad) <= allowed and _worst_scenario(bad) <= scenario_runs:
            main = t
            break
    if main is None:
        return {"threshold": 1.0, "by_history": {}, "runs": runs, "allowed_runs": allowed,
                "note": "no threshold of the grid met the guard"}
    at_main = _runs(bad)  # (the whole scans at the main threshold, from the search above)
    scans, base = frame, at_main
    if first_days is not None:  # (each first-days scan is a scan of its own)
        scans = pl.concat([frame, first_days.filter(pl.col("prefix") > 0).with_columns(
            scenario=pl.format("{}/first {} days", "scenario", "prefix"))], how="diagonal_relaxed")
        base = _runs(bad_runs(scans, main, {}, gate))
    by_history: dict[int, float] = {}
    for days in sorted(buckets):
        floor = buckets[days]
        best = main
        for t in sorted((g for g in grid if floor <= g < main), reverse=True):
            if _runs(bad_runs(scans, main, {**by_history, days: t}, gate)) > base:
                break
            best = t
        by_history[days] = best
    bad = bad_runs(frame, main, by_history, gate)
    return {
        "threshold": main,
        "by_history": {str(k): v for k, v in by_history.items()},
        "group_rate": GROUP_RATE,
        "run_share": run_share,
        "scenario_runs": scenario_runs,
        **({"peer_gate": gate.to_dict()} if gate is not None else {}),
        "runs": runs,
        "runs_over": _runs(bad),
        "over_flagged": bad.to_dicts(),
        **({"first_days_runs": scans.select("scenario", "seed").n_unique() - runs,
            "first_days_runs_over_at_main": base - at_main,
            "first_days_runs_over": _runs(bad_runs(scans, main, by_history, gate)) - _runs(bad)}
           if first_days is not None else {}),
    }


def _scan_one(
    scenario: str, seed: int, scale: float, prompts_dir: str | None, frames: Path, with_index: bool
) -> pl.DataFrame:
    from distillguard.scoring.train import build_index, labelled_designs

    if prompts_dir is None:
        raise SystemExit(f"{frames}: no frame for {scenario} seed {seed}; give --prompts-dir to scan it")
    index = frames / "index"
    if with_index and not (index / "index.json").is_file():
        build_index(prompts_dir, index)
    return labelled_designs(seed, scale, prompts_dir, scenario, [str(index) if with_index else None])[0]


def _gate_min(text: str) -> float | None:
    """``--peer-gate``: a mean score in (0, 1), or ``off``."""
    if text == "off":
        return None
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a score between 0 and 1, or off; got {text!r}")
    return v


def main() -> None:
    from distillguard.outdir import OutputFile
    from distillguard.scoring.model import MODEL_FILES, load_model, score_accounts
    from distillguard.scoring.peers import with_peer_scores
    from distillguard.scoring.train import GRID, seeds_by_scenario

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", required=True, metavar="DIR",
                    help="folder of one Parquet frame per calibration scan; missing ones are scanned")
    ap.add_argument("--prompts-dir", default=None, help="real prompts for the scans (needed to scan)")
    # (not adaptive-linked: its legitimate accounts are adaptive's for the same seed, so its scans would
    # count the same look-alike groups twice)
    ap.add_argument("--scenarios", default="default,hard-lookalikes,adaptive,low-and-slow,cot-and-sweeps")
    ap.add_argument("--seeds", default=",".join(str(s) for s in range(21, 41)))
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--model", default=None, help="model file to add the section to (default: the shipped "
                    "model for scans with an index)")
    ap.add_argument("--run-share", type=float, default=RUN_SHARE)
    ap.add_argument("--scenario-runs", type=int, default=SCENARIO_RUNS,
                    help="over-flagged scans allowed in any one scenario")
    ap.add_argument("--without-index", action="store_true",
                    help="calibrate the model for scans without a dataset index (scans made without one)")
    ap.add_argument("--history-frames", default=None, metavar="FILE",
                    help="the first-days scans `scoring.history --save-frames` wrote for this model's kind "
                    "(with or without an index): the history buckets are lowered only while no scan, whole "
                    "or of its first days, gains an over-flagged group")
    ap.add_argument("--peer-gate", type=_gate_min, default=PeerGate().min_score, metavar="MIN|off",
                    help="the mean score an account's closest accounts by evidence must reach for its flag "
                    "to stand (scoring.peers; 'off': no gate)")
    ap.add_argument("--peer-neighbours", type=int, default=PeerGate().neighbours)
    a = ap.parse_args()
    gate = None if a.peer_gate is None else PeerGate(a.peer_neighbours, a.peer_gate)
    here = Path(__file__).parent
    target = OutputFile(Path(a.model or here / MODEL_FILES[not a.without_index]), "model", "--model")
    seeds = [int(s) for s in a.seeds.split(",")]
    if not all(s in CALIBRATION_SEEDS for s in seeds):
        raise SystemExit("the guard is calibrated on dev seeds the weights never saw (21-99)")
    frames = Path(a.frames)
    frames.mkdir(parents=True, exist_ok=True)
    paths = []
    for sc in a.scenarios.split(","):
        for s in seeds:
            path = frames / f"{sc}-{s}.parquet"
            if not path.is_file():
                _scan_one(sc, s, a.scale, a.prompts_dir, frames, not a.without_index).write_parquet(path)
                print(f"{sc} seed {s} scanned", flush=True)
            paths.append(path)
    frame = pl.concat([pl.read_parquet(p) for p in paths], how="diagonal_relaxed")
    model = load_model(str(target.path))
    rung_t = model.thresholds.get(str(RUNG))
    if rung_t is None:
        raise SystemExit(f"{target.path}: no {RUNG} rung to guard")
    buckets = {h["max_days"]: h["threshold"] for h in history_points(model, RUNG)}
    # the scores are recomputed with the model's weights (frames may come from an earlier fit), with
    # each account's peer score when there is a gate
    def rescore(f: pl.DataFrame, scan: list[str]) -> pl.DataFrame:
        if gate is not None:
            return with_peer_scores(f, model, gate, scan)
        return f.with_columns(score=score_accounts(f, model)["score"])

    frame = rescore(frame, ["scenario", "seed"])
    first = None
    if a.history_frames:
        if not Path(a.history_frames).is_file():
            raise SystemExit(f"{a.history_frames}: no such file (scoring.history --save-frames writes it)")
        first = pl.read_parquet(a.history_frames)
        if not first["seed"].is_in(list(CALIBRATION_SEEDS)).all():
            raise SystemExit(f"{a.history_frames}: seeds outside 21-99; the guard is calibrated on dev "
                             "seeds the weights never saw")
        first = rescore(first, ["scenario", "seed", "prefix"])
    section = {"rung": RUNG, **guard(frame, rung_t, buckets, GRID, a.run_share, a.scenario_runs, first, gate)}
    section["measured_on"] = seeds_by_scenario(frame)
    if first is not None:
        section["first_days_measured_on"] = {
            "scenarios": seeds_by_scenario(first.filter(pl.col("prefix") > 0)),
            "first_days": sorted(int(p) for p in first["prefix"].unique().to_list() if p)}
    d = json.loads(target.path.read_text())
    d["guard"] = section
    with target.writing() as tmp_file:
        tmp_file.write_text(json.dumps(d, indent=1))
    print(json.dumps({k: v for k, v in section.items() if k != "over_flagged"}, indent=1))


if __name__ == "__main__":
    main()
