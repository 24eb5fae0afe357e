"""How well does any single feature alone separate campaign accounts from legitimate ones?

Simulates one development seed of a scenario, scans it in-process, and prints, for every model input
(``account.*`` signals, ``cluster.*`` features) and every numeric per-account aggregate the signals
are computed from (``req_per_day``, ``hour_entropy``, ...), the average precision of that column
alone at ranking campaign accounts above benign ones (scikit-learn ``average_precision_score``, both
directions, the larger reported), over all campaigns and for each campaign against the benign
accounts. Then the per-population means of the columns that separate best.

A scenario whose single features reach an AP near 1 is easier than the world: one threshold on one
number would catch its campaigns. ``adaptive`` is built so that none of today's features does.

    .venv/bin/python benchmarks/feature_separation.py                       # adaptive, scale 0.5
    .venv/bin/python benchmarks/feature_separation.py --scenario default --seed 3 --json sep.json

Development seeds only (below 100); the quality tests use seeds >= 1000, never looked at here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PROMPTS = REPO.parent / "shared" / "data" / "prompts"
#: design columns that are no feature (identifiers, the model's own output)
NOT_FEATURES = {"account_id", "cluster", "score", "flagged"}


def simulate_and_scan(
    scenario: str, seed: int, scale: float, days: int | None, prompts_dir: Path | None
) -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame, dict]:
    """(design, raw per-account aggregates or None, account labels, timings) of one simulated seed."""
    from distillguard import pipeline
    from distillguard.pipeline import ScanOptions, scan
    from distillguard.simulate import simulate

    captured: dict = {}
    detect = getattr(pipeline, "_detect", None)

    def spy(*a, **kw):  # keep the per-account aggregates the scan computes (not part of its result)
        det = detect(*a, **kw)
        captured.setdefault("feats", getattr(det, "feats", None))
        return det

    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp) / "logs"
        t0 = time.perf_counter()
        sim = simulate(logs, scenario=scenario, seed=seed, scale=scale, days=days, prompts_dir=prompts_dir)
        times["simulate_s"] = round(time.perf_counter() - t0, 1)
        if detect is not None:
            pipeline._detect = spy
        try:
            t0 = time.perf_counter()
            res = scan(
                [logs / "interactions"],
                [logs / "accounts.parquet"],
                Path(tmp) / "work",
                ScanOptions(seed=seed),
            )
            times["scan_s"] = round(time.perf_counter() - t0, 1)
        finally:
            if detect is not None:
                pipeline._detect = detect
        labels = pl.read_parquet(logs / "labels" / "accounts.parquet")
    assert res.design is not None
    times["interactions"] = sim.interactions
    return res.design, captured.get("feats"), labels, times


def average_precision(y: np.ndarray, x: np.ndarray) -> tuple[float, str]:
    """AP of ranking by ``x`` (higher first) or by ``-x``, the larger, and which ("high"/"low").
    Missing values rank last either way."""
    from sklearn.metrics import average_precision_score

    best = (0.0, "high")
    for sign, name in ((1.0, "high"), (-1.0, "low")):
        v = sign * x
        v = np.where(np.isnan(v), np.nanmin(v) - 1.0 if np.isfinite(v).any() else 0.0, v)
        ap = float(average_precision_score(y, v))
        if ap > best[0]:
            best = (ap, name)
    return best


def feature_table(
    design: pl.DataFrame, feats: pl.DataFrame | None, labels: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(one row per column: AP over all campaigns and per campaign; the joined per-account frame)."""
    frame = design.join(labels.select("account_id", "archetype", "campaign_id"), on="account_id")
    raw_cols: list[str] = []
    if feats is not None:
        numeric = [
            c
            for c, t in feats.schema.items()
            if t.is_numeric() and c not in frame.columns and c != "account_id"
        ]
        frame = frame.join(feats.select("account_id", *numeric), on="account_id", how="left")
        raw_cols = numeric
    model_cols = [c for c, t in design.schema.items() if t.is_numeric() and c not in NOT_FEATURES]
    campaigns = sorted(c for c in frame["campaign_id"].unique() if c != "benign")
    rows = []
    for col in [*model_cols, *raw_cols]:
        x = frame[col].cast(pl.Float64).fill_nan(None).to_numpy().astype(float)
        y = (frame["campaign_id"] != "benign").to_numpy()
        ap, direction = average_precision(y, x)
        row = {
            "column": col,
            "kind": "raw" if col in raw_cols else "model input",
            "ap_all": ap,
            "direction": direction,
        }
        for cid in campaigns:
            keep = ((frame["campaign_id"] == cid) | (frame["campaign_id"] == "benign")).to_numpy()
            row[f"ap_{cid}"] = average_precision(y[keep], x[keep])[0]
        rows.append(row)
    table = pl.DataFrame(rows)
    per = [f"ap_{c}" for c in campaigns]
    table = table.with_columns(ap_worst=pl.max_horizontal(per)).sort("ap_worst", descending=True)
    return table, frame


def population_means(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Mean of ``columns`` per population (campaigns by id, benign by archetype)."""
    who = (
        pl.when(pl.col("campaign_id") == "benign").then(pl.col("archetype")).otherwise(pl.col("campaign_id"))
    )
    return (
        frame.with_columns(who.alias("population"))
        .group_by("population")
        .agg(pl.len().alias("accounts"), *[pl.col(c).cast(pl.Float64).mean().round(3) for c in columns])
        .sort("population")
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="adaptive")
    ap.add_argument("--seed", type=int, default=7, help="a development seed (< 100)")
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument(
        "--prompts-dir",
        type=Path,
        default=DEFAULT_PROMPTS if DEFAULT_PROMPTS.is_dir() else None,
        help="real public prompts (default: ../shared/data/prompts when present)",
    )
    ap.add_argument("--builtin-text", action="store_true", help="use the built-in text, not --prompts-dir")
    ap.add_argument("--top", type=int, default=8, help="columns shown in the per-population means")
    ap.add_argument("--json", type=Path, default=None, help="also write the table and means here")
    args = ap.parse_args()
    if not 0 <= args.seed < 100:
        ap.error("use a development seed below 100 (seeds >= 1000 are held out for the quality tests)")
    prompts = None if args.builtin_text else args.prompts_dir

    design, feats, labels, times = simulate_and_scan(args.scenario, args.seed, args.scale, args.days, prompts)
    table, frame = feature_table(design, feats, labels)
    y = (frame["campaign_id"] != "benign").to_numpy()
    score_ap = average_precision(y, frame["score"].to_numpy().astype(float))[0]
    campaigns = sorted(c for c in frame["campaign_id"].unique() if c != "benign")
    counts = {c: int((frame["campaign_id"] == c).sum()) for c in campaigns}

    text = "real prompts" if prompts else "built-in text"
    print(
        f"{args.scenario} seed {args.seed} scale {args.scale} ({text}): {times['interactions']:,} "
        f"interactions, {frame.height:,} accounts with traffic, {int((~y).sum()):,} benign; campaigns "
        f"{counts}; simulate {times['simulate_s']} s, scan {times['scan_s']} s"
    )
    print(f"chance level (campaign accounts' share): {y.mean():.3f}; the shipped score's AP: {score_ap:.3f}")
    if feats is None:
        print("(raw per-account aggregates unavailable: the scan's internals changed; model inputs only)")
    per = [f"ap_{c}" for c in campaigns]
    with pl.Config(
        tbl_rows=200, tbl_cols=20, tbl_width_chars=160, float_precision=3, tbl_hide_dataframe_shape=True
    ):
        print("\nAverage precision of each column alone (max of both directions), worst campaign first:")
        print(table.select("column", "kind", "direction", "ap_all", *per))
        top = table.head(args.top)["column"].to_list()
        print(f"\nPer-population means of the top {len(top)} columns:")
        print(population_means(frame, top))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "scenario": args.scenario,
                    "seed": args.seed,
                    "scale": args.scale,
                    "prompts": "real" if prompts else "builtin",
                    "score_ap": score_ap,
                    "campaign_accounts": counts,
                    "table": table.to_dicts(),
                    "means": population_means(frame, table.head(args.top)["column"].to_list()).to_dicts(),
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
