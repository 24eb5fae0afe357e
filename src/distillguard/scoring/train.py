"""Fit the shipped scorer (``scoring/model.json``) and measure its operating points on simulator data.

Development seeds only (below 100; the quality tests use seeds >= 1000 never seen here), on several
scenarios (by default ``default`` and ``hard-lookalikes``, so the hard legitimate look-alikes are in
the negatives). The model is a logistic regression on the model inputs (account signals + cluster
features, all in [0, 1]) fitted on all development seeds. The operating points come from
*out-of-fold* scores: the seeds are split into folds, each fold is scored by a model fitted on the
others, and the precision-vs-threshold curve of those scores (every account of every seed) ships with
the model, with the threshold that reached each precision target on it.

Usage: ``python -m distillguard.scoring.train --prompts-dir ../shared/data/prompts``
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from distillguard.outdir import OutputFile
from distillguard.scoring.model import FEATURES, MODEL_FILES, design_matrix

TARGETS = (0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
#: thresholds at which the shipped curve is recorded
GRID = tuple(round(0.02 + 0.005 * i, 3) for i in range(196))


def labelled_design(
    seed: int, scale: float, prompts_dir: str | None, scenario: str = "default",
    dataset_index: str | None = None,
) -> pl.DataFrame:
    """Simulate one seed of a scenario, scan it, return the model inputs with labels ``y``."""
    return labelled_designs(seed, scale, prompts_dir, scenario, [dataset_index])[0]


def labelled_designs(
    seed: int, scale: float, prompts_dir: str | None, scenario: str, indexes: list[str | None],
) -> list[pl.DataFrame]:
    """Simulate one seed of a scenario once and scan it once per entry of ``indexes`` (a dataset index
    folder, or None for a scan without one); the model inputs of each scan with labels ``y``."""
    from distillguard.pipeline import ScanOptions, scan
    from distillguard.simulate import simulate

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp) / "logs"
        simulate(logs, scenario=scenario, seed=seed, scale=scale, prompts_dir=prompts_dir)
        lab = pl.read_parquet(logs / "labels" / "accounts.parquet")
        for i, index in enumerate(indexes):
            res = scan(
                [logs / "interactions"], [logs / "accounts.parquet"], Path(tmp) / f"work{i}",
                ScanOptions(seed=seed, dataset_index=index),
            )
            assert res.design is not None
            out.append(label_design(res.design, lab, seed, scenario))
    return out


def _with_prefixes(seed: int, scale: float, prompts_dir: str | None, scenario: str,
                   prefixes: tuple[int, ...]) -> list[pl.DataFrame]:
    """One seed scanned without an index, whole (``prefix`` 0) and on its first ``prefixes`` days."""
    from distillguard.scoring.history import prefix_designs

    return [prefix_designs(seed, scale, prompts_dir, scenario, None, prefixes)]


def label_design(design: pl.DataFrame, labels: pl.DataFrame, seed: int, scenario: str) -> pl.DataFrame:
    d = design.join(
        labels.select("account_id", "campaign_id", "archetype"), on="account_id", suffix="_label"
    )
    return d.with_columns(
        y=(pl.col("campaign_id") != "benign").cast(pl.Int8),
        seed=pl.lit(seed),
        scenario=pl.lit(scenario),
    )


def fit(frame: pl.DataFrame, c: float = 0.5) -> tuple[float, np.ndarray]:
    """(intercept, weights over :data:`FEATURES`) of a logistic regression on ``frame``."""
    from sklearn.linear_model import LogisticRegression

    # (at scikit-learn's default tol of 1e-4 the solver stopped after ~20 iterations, its objective 3%
    # above the optimum, and the operating points moved with where it stopped)
    clf = LogisticRegression(C=c, max_iter=50000, tol=1e-8)
    clf.fit(design_matrix(frame), frame["y"].to_numpy())
    return float(clf.intercept_[0]), clf.coef_[0].astype(np.float64)


def predict(frame: pl.DataFrame, intercept: float, w: np.ndarray) -> np.ndarray:
    z = intercept + design_matrix(frame) @ w
    return 1.0 / (1.0 + np.exp(-z))


def out_of_fold(frame: pl.DataFrame, folds: int = 4, c: float = 0.5) -> np.ndarray:
    """Scores of every row from a model fitted on the other folds (folds are whole seeds)."""
    seeds = sorted(frame["seed"].unique().to_list())
    fold_of = {s: i % folds for i, s in enumerate(seeds)}
    fold = frame["seed"].replace_strict(fold_of, return_dtype=pl.Int64).to_numpy()
    out = np.zeros(frame.height)
    for f in range(folds):
        test = fold == f
        if not test.any():
            continue
        b, w = fit(frame.filter(pl.Series(~test)), c)
        out[test] = predict(frame.filter(pl.Series(test)), b, w)
    return out


def precision_curve(scores: np.ndarray, y: np.ndarray, grid: tuple[float, ...] = GRID) -> list[dict]:
    """Precision and recall of ``score >= t`` for every ``t`` of ``grid`` (flags, true flags too)."""
    y = y.astype(bool)
    pos = max(1, int(y.sum()))
    out = []
    for t in grid:
        f = scores >= t
        n, tp = int(f.sum()), int((f & y).sum())
        out.append(
            {
                "threshold": t,
                "precision": round(tp / n, 5) if n else 1.0,
                "recall": round(tp / pos, 5),
                "flagged": n,
                "false_positives": n - tp,
            }
        )
    return out


def ladder(curve: list[dict], targets: tuple[float, ...] = TARGETS) -> dict[str, float]:
    """For each precision target, the lowest threshold from which every stricter threshold of the
    curve also reached it (a conservative reading of a noisy curve); 1.0 when none did."""
    pts = sorted(curve, key=lambda p: p["threshold"])
    out = {}
    for p in targets:
        ok = 1.0
        for pt in reversed(pts):
            if pt["precision"] + 1e-12 < p:
                break
            ok = pt["threshold"]
        out[str(p)] = float(ok)
    return out


def seeds_by_scenario(frame: pl.DataFrame) -> dict[str, list[int]]:
    """The seeds of each scenario in a labelled frame (what a fit or a calibration was measured on)."""
    runs = frame.select("scenario", "seed").unique()
    return {sc: sorted(runs.filter(pl.col("scenario") == sc)["seed"].to_list())
            for sc in sorted(runs["scenario"].unique().to_list())}


def build_model(frame: pl.DataFrame, folds: int = 4, c: float = 0.5, description: str = "") -> dict:
    """The shipped model dictionary: weights fitted on all of ``frame``, curve from out-of-fold scores.

    A ``prefix`` column marks rows from scans of a seed's first days (0: the whole seed): the weights
    are fitted on every row, the curve (the main operating points) on the whole seeds' rows only, as
    the shorter histories have their own (:mod:`distillguard.scoring.history`)."""
    b, w = fit(frame, c)
    oof = out_of_fold(frame, folds, c)
    whole = (frame["prefix"] == 0).to_numpy() if "prefix" in frame.columns else np.ones(frame.height, bool)
    curve = precision_curve(oof[whole], frame["y"].to_numpy()[whole])
    measured = seeds_by_scenario(frame)
    out = {
        "intercept": b,
        "weights": {f: round(float(x), 4) for f, x in zip(FEATURES, w, strict=True)},
        "thresholds": ladder(curve),
        "curve": curve,
        "measured_on": {
            "scenarios": measured,
            "accounts": int(whole.sum()),
            "campaign_accounts": int(frame["y"].to_numpy()[whole].sum()),
            "scores": f"out-of-fold ({folds} folds of whole seeds)",
        },
        "trained_on": description,
    }
    if not whole.all():
        prefixes = sorted(int(p) for p in frame["prefix"].unique().to_list() if p)
        out["measured_on"]["fitted_also_on_first_days"] = prefixes
        out["measured_on"]["prefix_accounts"] = int((~whole).sum())
    return out


#: the built-in scenarios the models are fitted on (hydra-reseller is default's hydra at the seed case's size)
#: (adaptive-linked: adaptive campaigns that link their own pools, so that a large linked group does not
#: read as a legitimate one; docs/scenarios.md)
SCENARIOS = ("default", "hard-lookalikes", "adaptive", "adaptive-linked", "low-and-slow", "cot-and-sweeps")
#: scenarios whose campaigns a scan without a dataset index cannot see (they avoid every other tell):
#: the model for such scans is fitted on their legitimate accounts only, so that it does not flag
#: their look-alikes, and is not bent towards campaigns it has no evidence for
NEGATIVES_ONLY_WITHOUT_INDEX = ("adaptive",)


def build_index(prompts_dir: str, out: Path) -> Path:
    """The public-dataset index of the shared corpora the simulator draws harvests, homework and
    benchmarks from (what a provider's own index of public datasets would hold)."""
    from distillguard.dataset_index import build, dataset_files
    from distillguard.simulate.text import EVALUATION_SETS, PUBLIC_DATASETS

    paths = [Path(prompts_dir) / name for name in PUBLIC_DATASETS if (Path(prompts_dir) / name).is_dir()]
    present = {p.name for p in paths}
    out.mkdir(parents=True, exist_ok=True)
    build(dataset_files(paths), out, evaluation=[e for e in EVALUATION_SETS if e.split("/")[0] in present])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts-dir", default=None)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help="scenarios of the model for scans with a dataset index (empty: not refitted)")
    # (the shipped no-index model: --noindex-scenarios default,hard-lookalikes,adaptive,low-and-slow
    # --noindex-prefixes 1,2,3,5,7; docs/benchmarks.md, ninth session)
    ap.add_argument("--noindex-scenarios", default="",
                    help="scenarios of the model for scans without one (empty: that model is not refitted); "
                    f"of {', '.join(NEGATIVES_ONLY_WITHOUT_INDEX)} only the legitimate accounts")
    ap.add_argument("--noindex-prefixes", default="",
                    help="also fit the model for scans without an index on each seed's first days (e.g. "
                    "1,2,3,5,7; empty: whole seeds only, as the shipped model). On a monitoring run's "
                    "first days every account has a short history; docs/benchmarks.md (eighth session) "
                    "has what it gained and cost")
    ap.add_argument("--seeds", default=",".join(str(s) for s in range(1, 17)))
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--large-seeds", default="17,18,19,20",
                    help="development seeds also scanned at --large-scale, for the model with a dataset "
                    "index (population size must not move its scores: how many accounts send an item "
                    "grows with it)")
    ap.add_argument("--large-scale", type=float, default=2.0)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2, help="seeds simulated and scanned at once")
    ap.add_argument("--save-frames", default=None, metavar="DIR",
                    help="also write the labelled model inputs of each model here (for diagnostics)")
    ap.add_argument("--from-frames", default=None, metavar="DIR",
                    help="fit on the labelled model inputs an earlier run wrote with --save-frames (the "
                    "same scenarios, seeds and scales) instead of simulating and scanning again")
    here = Path(__file__).parent
    ap.add_argument("--out", default=str(here / MODEL_FILES[True]), help="model for scans with an index")
    ap.add_argument("--out-noindex", default=str(here / MODEL_FILES[False]), help="model for scans without")
    a = ap.parse_args()
    if a.prompts_dir is None and a.from_frames is None:
        raise SystemExit("--prompts-dir is needed: the dataset index is built from the real corpora")
    targets = {True: OutputFile(Path(a.out), "model", "--out"),
               False: OutputFile(Path(a.out_noindex), "model", "--out-noindex")}
    for t in targets.values():
        t.check()  # (before the minutes of fitting)
    seeds = [int(s) for s in a.seeds.split(",")]
    large = [int(s) for s in a.large_seeds.split(",") if s]
    assert all(s < 100 for s in seeds + large), "training uses development seeds only (< 100)"
    assert not set(seeds) & set(large), "a seed is either at --scale or at --large-scale"
    with_index, without = ([s for s in x.split(",") if s] for x in (a.scenarios, a.noindex_scenarios))
    prefixes = tuple(int(p) for p in a.noindex_prefixes.split(",") if p)
    frames: dict[bool, list[pl.DataFrame]] = {True: [], False: []}
    if a.from_frames is not None:
        for mode, scenarios in ((True, with_index), (False, without)):
            if scenarios:
                path = Path(a.from_frames) / f"{MODEL_FILES[mode].removesuffix('.json')}.parquet"
                if not path.is_file():
                    raise SystemExit(f"{path}: no such file (write it with --save-frames)")
                frame = pl.read_parquet(path)
                have = set(frame["scenario"].unique().to_list())
                if have != set(scenarios):
                    raise SystemExit(f"{path}: frames of {sorted(have)}, not of {sorted(scenarios)}")
                frames[mode].append(frame)
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for sc in dict.fromkeys(with_index + without) if a.from_frames is None else ():
            modes = [m for m, scs in ((True, with_index), (False, without)) if sc in scs]
            if prefixes and False in modes:  # (scanned on their first days too: a job of its own)
                jobs.extend((sc, s, a.scale, [False], prefixes) for s in seeds)
                modes.remove(False)
            jobs.extend((sc, s, a.scale, modes, ()) for s in seeds if modes)
            if True in modes:  # (the dataset signals are the ones that move with population size)
                jobs.extend((sc, s, a.large_scale, [True], ()) for s in large)
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        index = str(build_index(a.prompts_dir, Path(tmp) / "index")) if jobs else None
        with ProcessPoolExecutor(a.jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = [
                (sc, s, modes, pool.submit(labelled_designs, s, scale, a.prompts_dir, sc,
                                           [index if m else None for m in modes])
                 if not first else pool.submit(_with_prefixes, s, scale, a.prompts_dir, sc, first))
                for sc, s, scale, modes, first in jobs
            ]
            for sc, s, modes, fut in futures:  # (collected in job order: the frame does not depend on timing)
                for m, d in zip(modes, fut.result(), strict=True):
                    if not m and sc in NEGATIVES_ONLY_WITHOUT_INDEX:
                        d = d.filter(pl.col("y") == 0)
                    frames[m].append(d)
                print(f"{sc} seed {s} scanned", flush=True)
    for mode, scenarios in ((True, with_index), (False, without)):
        if not scenarios:  # (that model is not refitted)
            continue
        frame = pl.concat(frames[mode], how="diagonal_relaxed")
        if a.save_frames:
            Path(a.save_frames).mkdir(parents=True, exist_ok=True)
            frame.write_parquet(Path(a.save_frames) / f"{MODEL_FILES[mode].removesuffix('.json')}.parquet")
        larger = f" and {large} at scale {a.large_scale}"
        how = "scanned with a public-dataset index" if mode else (
            "scanned without one; of "
            f"{', '.join(s for s in scenarios if s in NEGATIVES_ONLY_WITHOUT_INDEX) or 'none'} only the "
            "legitimate accounts"
            + (f"; also fitted on their first {list(prefixes)} days" if prefixes else "")
        )
        model = build_model(
            frame,
            a.folds,
            description=f"logistic regression, simulator scenarios {scenarios} dev seeds {seeds} at "
            f"scale {a.scale}{larger if mode and large else ''}, {how}",
        )
        with targets[mode].writing() as tmp_file:
            tmp_file.write_text(json.dumps(model, indent=1))
        print(json.dumps({k: v for k, v in model.items() if k != "curve"}, indent=1))


if __name__ == "__main__":
    main()
