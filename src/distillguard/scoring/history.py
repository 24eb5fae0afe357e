"""Operating points for accounts seen only a few days.

The model is fitted on accounts seen for two weeks. An account seen for one or two days (every account
on the first days of a daily monitoring run, a standby pool that just took over, a new sign-up) has
had less time to show anything, so its score is lower, for campaign and legitimate accounts alike:
on development seeds the early scores still rank the campaigns above every legitimate account, but
below a threshold chosen on two-week histories. So the precision curve is also measured per history
length, with the same model and weights, and each length gets its own threshold for the same
precision target. An account's history length is the number of days from its first request in the
scanned logs to the last request of the logs (``observed_days``: 1 means under 24 hours).

The curves come from development seeds the weights were not fitted on (21 and up, below 100), each
scanned on its first 1, 2, 3, 5 and 7 days and whole; every account of every scan counts in the
bucket of its history length. Accounts seen longer than the last bucket use the model's own curve.

Usage: ``python -m distillguard.scoring.history --prompts-dir ../shared/data/prompts``
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import tempfile
from pathlib import Path

import polars as pl

from distillguard.scoring.guard import CALIBRATION_SEEDS
from distillguard.scoring.operating_point import OperatingPoint

#: largest history length (days) of each bucket: 1-3 and 4-7 days; longer histories use the main curve.
#: (Buckets of single days gave thresholds that moved by 0.3 between halves of the seeds: the 0.999
#: rung rests on the few legitimate accounts that score highest, too few per day to measure.)
BUCKETS = (3, 7)
#: each development seed is scanned on these first days (and whole)
PREFIXES = (1, 2, 3, 5, 7)
#: at least this many legitimate accounts in a bucket, or its curve is not used (too few to measure)
MIN_LEGITIMATE = 2000


def observed_days(first_seen: pl.Expr, end: dt.datetime) -> pl.Expr:
    """Days from an account's first request to ``end`` (the logs' last request), counted from 1."""
    return ((pl.lit(end) - first_seen).dt.total_seconds() // 86400 + 1).clip(lower_bound=1).cast(pl.Int32)


def bucket(days: pl.Expr) -> pl.Expr:
    """The bucket (its largest history length) of ``days``; null beyond the last bucket."""
    out = pl.lit(None, pl.Int32)
    for b in reversed(BUCKETS):
        out = pl.when(days <= b).then(pl.lit(b, pl.Int32)).otherwise(out)
    return out


def history_text(scored: pl.DataFrame, op: OperatingPoint) -> pl.DataFrame:
    """``account_id, text`` for accounts judged at a history threshold other than the main one."""
    early = scored.filter(pl.col("threshold") != op.threshold)
    if not op.by_history or not early.height:
        return pl.DataFrame(schema={"account_id": pl.Utf8, "text": pl.Utf8})
    shown = dataclasses.replace(op, by_history=tuple(
        {**h, "precision": "n/a" if h["precision"] is None else f"{h['precision']:.3f}"}
        for h in op.by_history
    ))
    prec = shown.by_days(pl.col("observed_days"), "precision", None).cast(pl.Utf8)
    text = pl.concat_str([
        pl.lit("seen for "), pl.col("observed_days").cast(pl.Utf8),
        pl.when(pl.col("observed_days") == 1).then(pl.lit(" day")).otherwise(pl.lit(" days")),
        pl.lit(": judged at the threshold for such short histories, "),
        pl.col("threshold").round(3).cast(pl.Utf8),
        pl.lit(" (precision "), prec, pl.lit(f" on development accounts seen as long; {op.threshold:.3f} "
                                            "for longer histories)"),
    ])
    return early.select("account_id", text=text)


def calibrate(frame: pl.DataFrame, description: str) -> dict:
    """The model's ``history`` section from labelled scores: ``frame`` has ``score``, ``y`` and
    ``observed_days`` for every account of every scan."""
    from distillguard.scoring.train import ladder, precision_curve, seeds_by_scenario

    frame = frame.with_columns(b=bucket(pl.col("observed_days")))
    out: dict = {"buckets": list(BUCKETS), "thresholds": {}, "curves": {}, "counts": {}}
    for b in BUCKETS:
        part = frame.filter(pl.col("b") == b)
        legit = int((part["y"] == 0).sum())
        out["counts"][str(b)] = {"accounts": part.height, "campaign_accounts": part.height - legit}
        if legit < MIN_LEGITIMATE:
            continue
        curve = precision_curve(part["score"].to_numpy(), part["y"].to_numpy())
        out["curves"][str(b)] = curve
        out["thresholds"][str(b)] = ladder(curve)
    out["measured_on"] = {
        "scenarios": seeds_by_scenario(frame),
        "prefixes_days": list(PREFIXES),
        "how": description,
    }
    return out


def prefix_designs(
    seed: int, scale: float, prompts_dir: str | None, scenario: str, index: str | None = None,
    prefixes: tuple[int, ...] = PREFIXES, model_path: str | None = None,
) -> pl.DataFrame:
    """Simulate one seed, scan its first ``prefixes`` days and all of it: every account's model inputs,
    score, label and history length, with the ``prefix`` scanned (0: all days)."""
    from distillguard.pipeline import ScanOptions, scan
    from distillguard.scoring.train import label_design
    from distillguard.simulate import simulate

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp) / "logs"
        simulate(logs, scenario=scenario, seed=seed, scale=scale, prompts_dir=prompts_dir)
        lab = pl.read_parquet(logs / "labels" / "accounts.parquet")
        rows = pl.read_parquet(logs / "interactions" / "*.parquet")
        day0 = rows["ts"].min().date()  # type: ignore[union-attr]
        for k in (*prefixes, 0):
            src = logs / "interactions"
            if k:
                cut = dt.datetime.combine(day0 + dt.timedelta(days=k), dt.time(), tzinfo=dt.UTC)
                src = Path(tmp) / f"first-{k}"
                src.mkdir()
                rows.filter(pl.col("ts") < cut).write_parquet(src / "part.parquet")
            res = scan([src], [logs / "accounts.parquet"], Path(tmp) / f"work-{k}",
                       ScanOptions(seed=seed, dataset_index=index, model_path=model_path))
            assert res.design is not None
            out.append(label_design(res.design, lab, seed, scenario).with_columns(prefix=pl.lit(k)))
    return pl.concat(out, how="diagonal_relaxed")


def main() -> None:
    from distillguard.outdir import OutputFile
    from distillguard.scoring.model import MODEL_FILES, load_model, score_accounts
    from distillguard.scoring.train import NEGATIVES_ONLY_WITHOUT_INDEX, build_index

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts-dir", required=True)
    ap.add_argument("--scenarios", default="default,hard-lookalikes,adaptive")
    ap.add_argument("--seeds", default=",".join(str(s) for s in range(21, 41)))
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--with-index", action="store_true", help="calibrate the model for scans with an index")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--save-frames", default=None, metavar="FILE")
    ap.add_argument("--from-frames", default=None, metavar="FILE")
    ap.add_argument("--cache", default=None, metavar="DIR",
                    help="keep each seed's frame here and reuse it (an interrupted run resumes)")
    here = Path(__file__).parent
    ap.add_argument("--model", default=None,
                    help="model file to add the section to (default: the shipped one)")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    assert all(s in CALIBRATION_SEEDS for s in seeds), "calibration uses dev seeds the weights never saw"
    target = OutputFile(Path(a.model or here / MODEL_FILES[a.with_index]), "model", "--model")
    scenarios = [s for s in a.scenarios.split(",") if s]
    if a.from_frames:
        frame = pl.read_parquet(a.from_frames)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with tempfile.TemporaryDirectory() as tmp:
            index = str(build_index(a.prompts_dir, Path(tmp) / "index")) if a.with_index else None
            with ProcessPoolExecutor(a.jobs, mp_context=mp.get_context("spawn")) as pool:
                cache = Path(a.cache) if a.cache else None
                futs = [(sc, s, None if cache and (cache / f"{sc}-{s}.parquet").is_file() else
                         pool.submit(prefix_designs, s, a.scale, a.prompts_dir, sc, index, PREFIXES, a.model))
                        for sc in scenarios for s in seeds]
                parts = []
                for sc, s, f in futs:
                    if f is None:
                        d = pl.read_parquet(cache / f"{sc}-{s}.parquet")  # type: ignore[operator]
                    else:
                        d = f.result()
                        if cache:
                            cache.mkdir(parents=True, exist_ok=True)
                            d.write_parquet(cache / f"{sc}-{s}.parquet")
                    if not a.with_index and sc in NEGATIVES_ONLY_WITHOUT_INDEX:
                        d = d.filter(pl.col("y") == 0)  # (its campaigns are invisible without an index)
                    parts.append(d)
                    print(f"{sc} seed {s} scanned", flush=True)
        frame = pl.concat(parts, how="diagonal_relaxed")
        if a.save_frames:
            frame.write_parquet(a.save_frames)
    # the frames keep the model inputs: scored here by the model being calibrated, so that frames
    # saved or cached by an earlier run serve a refit of the same code
    frame = frame.with_columns(score=score_accounts(frame, load_model(str(target.path)))["score"])
    how = (f"scores of the model's weights on {scenarios} dev seeds {seeds} at scale {a.scale}, "
           f"{'with' if a.with_index else 'without'} a public-dataset index, first {list(PREFIXES)} days "
           "and all days")
    section = calibrate(frame, how)
    model = json.loads(target.path.read_text())
    model["history"] = section
    with target.writing() as tmp_file:
        tmp_file.write_text(json.dumps(model, indent=1))
    print(json.dumps({"thresholds": section["thresholds"], "counts": section["counts"]}, indent=1))


if __name__ == "__main__":
    main()
