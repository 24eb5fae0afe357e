"""``distillguard demo``: simulate the default scenario, scan it, print the campaigns and the evaluation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import typer

from distillguard.cli import app, console, err_console
from distillguard.errors import UsageError
from distillguard.pipeline import ScanOptions


def _fallback_evaluation(results: Path, labels: Path) -> dict:
    """Account precision/recall against the simulator labels (when ``distillguard.evaluate`` is absent)."""
    lab = pl.read_parquet(labels / "accounts.parquet")
    got = pl.read_parquet(results / "accounts.parquet").select("account_id", "flagged")
    j = lab.join(got, on="account_id", how="left").with_columns(pl.col("flagged").fill_null(False))
    pos = pl.col("campaign_id") != "benign"
    tp = j.filter(pos & pl.col("flagged")).height
    fp = j.filter(~pos & pl.col("flagged")).height
    fn = j.filter(pos & ~pl.col("flagged")).height
    return {
        "account_precision": tp / (tp + fp) if tp + fp else None,
        "account_recall": tp / (tp + fn) if tp + fn else None,
        "flagged": tp + fp,
        "campaign_accounts": tp + fn,
    }


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo-out"), "--out", help="folder for the simulated logs and the results"),
    seed: int = typer.Option(0, "--seed", help="simulation seed"),
    scale: float = typer.Option(1.0, "--scale", help="scenario scale (accounts and traffic)"),
    prompts_dir: Path = typer.Option(None, "--prompts-dir", help="real prompt corpora (shared/data/prompts)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
) -> None:
    """Simulate the default scenario, scan it and print the campaigns found and the evaluation.

    Example: distillguard demo --prompts-dir ../shared/data/prompts
    """
    from distillguard.cli.scan import print_summary, run_scan
    from distillguard.simulate import simulate

    if prompts_dir is not None and not prompts_dir.is_dir():
        raise UsageError(f"--prompts-dir {prompts_dir}: no such folder")
    t0 = time.perf_counter()
    logs = out / "logs"
    results = out / "results"
    with console.status("simulating the default scenario", spinner="dots") if not as_json else _Null():
        sim = simulate(logs, scenario="default", seed=seed, scale=scale, prompts_dir=prompts_dir)
    if not as_json:
        console.print(f"simulated {sim.interactions:,} interactions from {sim.accounts:,} accounts "
                      f"({sim.campaign_accounts} in campaigns) in {sim.seconds:.1f} s")
    result = run_scan([logs / "interactions"], [logs / "accounts.parquet"], results, ScanOptions(seed=seed),
                      quiet=as_json)
    try:
        from distillguard.evaluate import evaluate

        report = evaluate(results, logs / "labels")
        evaluation = report.to_dict()
        rich_report = report
    except ImportError:
        evaluation = _fallback_evaluation(results, logs / "labels")
        rich_report = None
    seconds = time.perf_counter() - t0
    if as_json:
        console.print_json(json.dumps({"simulation": sim.to_dict(), "scan": result.summary,
                                       "evaluation": evaluation, "seconds": round(seconds, 2)}, default=str))
        return
    print_summary(result, results)
    if rich_report is not None and hasattr(rich_report, "render"):
        rich_report.render(console)
    elif rich_report is not None:
        console.print(rich_report)
    else:
        console.print(evaluation)
    err_console.print(f"demo finished in {seconds:.1f} s; results in {results}/")


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
