"""``distillguard simulate``: realistic labelled traffic for building and trusting a detector."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from distillguard.cli import app, console, err_console


@app.command()
def simulate(
    out: Path = typer.Option(
        ..., "--out", help="Output folder (interactions/, accounts, labels/): new, empty, or simulate's"
    ),
    days: int | None = typer.Option(None, "--days", help="Days to simulate (default: the scenario's)."),
    scale: float = typer.Option(1.0, "--scale", help="Multiply every population's size."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same seed, same bytes."),
    scenario: str = typer.Option(
        "default",
        "--scenario",
        help="Built-in scenario name (default, hard-lookalikes, adaptive, adaptive-linked, hydra-reseller, "
        "cot-and-sweeps, low-and-slow) or a TOML/YAML file.",
    ),
    prompts_dir: Path | None = typer.Option(
        None,
        "--prompts-dir",
        help="Real public prompt corpora (<source>/prompts.jsonl.gz) to draw text from.",
    ),
    fmt: str = typer.Option("parquet", "--format", help="parquet or jsonl (gzipped)."),
    responses: bool = typer.Option(
        False,
        "--responses",
        help="Fill `response` with short synthetic answers (<= 300 chars; CoT-forced requests answer "
        "with the reasoning in the demanded tags). Off by default to keep files small.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the expected accounts and interactions per population; write nothing."
    ),
) -> None:
    """Simulate provider logs with known truth: benign look-alikes and distillation campaigns.

    Example: distillguard simulate --out sim --seed 7 --scenario cot-and-sweeps --scale 0.5
    """
    from distillguard.simulate import simulate as run

    if dry_run:
        _dry_run(scenario, scale, days, json_out)
        return

    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("day {task.completed}/{task.total}"),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=json_out,
    ) as bar:
        task = bar.add_task("sim", total=None, rows=0)

        def progress(day: int, total: int, rows: int) -> None:
            bar.update(task, completed=day, total=total, rows=rows)

        res = run(
            out,
            scenario=scenario,
            seed=seed,
            scale=scale,
            days=days,
            prompts_dir=prompts_dir,
            fmt=fmt,
            progress=progress,
            responses=responses,
        )
    if json_out:
        console.print_json(json.dumps(res.to_dict()))
        return
    console.print(
        f"[bold]{res.scenario}[/] seed {res.seed}: {res.interactions:,} interactions, "
        f"{res.accounts:,} accounts "
        f"({res.campaign_accounts:,} in campaigns, {res.harvest_interactions:,} harvest requests) over "
        f"{res.days} days in {res.seconds:.1f} s ({res.rows_per_second:,.0f} rows/s)"
    )
    for cid, n in res.campaigns.items():
        console.print(f"  {cid}: {n:,} interactions")
    for note in res.notes:
        err_console.print(note, highlight=False)
    console.print(
        f"wrote {res.out_dir}/interactions/ ({len(res.interaction_paths)} parts), accounts, labels/, "
        "scenario.json"
    )


def _dry_run(scenario: str, scale: float, days: int | None, json_out: bool) -> None:
    from distillguard.simulate import expected_counts, load_scenario

    sc = load_scenario(scenario).scaled(scale, days)
    e = expected_counts(sc).with_columns(pl.col("interactions", "harvest").round(0).cast(pl.Int64))
    camp = e.filter(pl.col("campaign_id") != "benign")
    totals = {
        "scenario": sc.name,
        "start": sc.start.isoformat(),
        "days": sc.days,
        "accounts": int(e["accounts"].sum()),
        "interactions": int(e["interactions"].sum()),
        "campaign_accounts": int(camp["accounts"].sum()),
        "campaign_interactions": int(camp["interactions"].sum()),
        "harvest_interactions": int(camp["harvest"].sum()),
        "populations": e.to_dicts(),
    }
    if json_out:
        console.print_json(json.dumps(totals))
        return
    console.print(
        f"[bold]{sc.name}[/] (expected, nothing written): {sc.days} days from {sc.start}, "
        f"{totals['accounts']:,} accounts, {totals['interactions']:,} interactions; campaigns "
        f"{totals['campaign_accounts']:,} accounts, {totals['campaign_interactions']:,} interactions "
        f"({totals['harvest_interactions']:,} harvest)"
    )
    for row in e.iter_rows(named=True):  # one line per population (tens)
        console.print(
            f"  {row['population']:<22} {row['archetype']:<20} {row['accounts']:>9,} accounts "
            f"{row['interactions']:>12,} rows"
        )
