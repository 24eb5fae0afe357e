"""``distillguard scan``: find, attribute and explain distillation campaigns in API logs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from distillguard.cli import app, console, err_console
from distillguard.pipeline import ScanOptions, ScanResult, scan


def run_scan(
    paths: list[Path],
    accounts: list[Path] | None,
    out: Path,
    options: ScanOptions,
    *,
    quiet: bool = False,
    report: bool = True,
) -> ScanResult:
    """Scan and write DIR atomically (temp dir beside DIR, renamed at the end). Used by scan and demo."""
    from distillguard.output import publish, staging_dir, write_report_if_available, write_results

    with staging_dir(out) as tmp:
        work = tmp / "_work"
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=quiet,
        ) as bar:
            task = bar.add_task("scan", total=None, info="")

            def progress(stage: str, value: float) -> None:
                info = f"{int(value):,} rows" if value >= 1 else ""
                bar.update(task, description=stage, info=info)

            result = scan(paths, accounts, work, options, progress=progress)
        shutil.rmtree(work, ignore_errors=True)
        write_results(result, tmp)
        if report:
            problem = write_report_if_available(tmp)
            if problem and not quiet:
                err_console.print(f"[yellow]{problem}[/]")
        publish(tmp, out)
    return result


def print_summary(result: ScanResult, out: Path) -> None:
    s = result.summary
    op = s["operating_point"]
    console.print(
        f"[bold]{s['interactions']:,}[/] interactions from [bold]{s['accounts']:,}[/] accounts "
        f"({s['time_span']['first']} .. {s['time_span']['last']}); {s['rejected_rows']:,} rows set aside"
        + (f" (see {out / 'rejected.csv'})" if s["rejected_rows"] else "")
    )
    console.print(
        f"flagged [bold red]{s['flagged_accounts']:,}[/] accounts in [bold]{s['campaigns']}[/] campaigns "
        f"({100 * s['flagged_traffic_share']:.1f}% of traffic) at threshold "
        f"{op['threshold']:.3f} ({op['how']})"
    )
    if result.campaigns:
        t = Table(
            "campaign", "accounts", "requests", "confidence", "top capability", "summary", show_lines=False
        )
        for c in result.campaigns[:15]:
            top = next(iter(c["capabilities"]), "")
            t.add_row(
                c["campaign_id"],
                str(c["accounts"]),
                f"{c['interactions']:,}",
                f"{c['confidence']:.2f}",
                top,
                c["summary"],
            )
        console.print(t)
    if s["unavailable_signals"]:
        console.print(f"signals not run (missing columns): {', '.join(sorted(s['unavailable_signals']))}")
    console.print(f"results in {out}/ ({s['seconds']:.1f} s)")


@app.command("scan")
def scan_cmd(
    paths: list[Path] = typer.Argument(..., help="interaction files or folders (Parquet, JSONL, CSV)"),
    accounts: list[Path] = typer.Option(
        None, "--accounts", help="accounts table (file or folder); repeatable"
    ),
    out: Path = typer.Option(..., "--out", help="results folder (replaced atomically)"),
    threshold: float = typer.Option(None, "--threshold", help="flag accounts with score >= this"),
    target_precision: float = typer.Option(
        None, "--target-precision", help="choose the threshold validated for this precision (default 0.99)"
    ),
    seed: int = typer.Option(0, "--seed", help="seed for sketches and clustering"),
    resolution: float = typer.Option(ScanOptions.resolution, "--resolution", help="Leiden CPM resolution"),
    replay_daily: bool = typer.Option(
        False, "--replay-daily", help="also write replay.parquet (daily decisions)"
    ),
    memory_limit: str = typer.Option(None, "--memory-limit", help="DuckDB memory limit, e.g. 4GB"),
    as_json: bool = typer.Option(False, "--json", help="print summary.json instead of the table"),
    no_report: bool = typer.Option(False, "--no-report", help="skip report.html"),
) -> None:
    """Scan API logs for distillation campaigns.

    Example: distillguard scan logs/ --accounts accounts.parquet --out results/
    """
    opts = ScanOptions(
        threshold=threshold,
        target_precision=target_precision,
        seed=seed,
        resolution=resolution,
        replay_daily=replay_daily,
        memory_limit=memory_limit,
    )
    result = run_scan(
        list(paths), list(accounts) if accounts else None, out, opts, quiet=as_json, report=not no_report
    )
    if as_json:
        console.print_json(json.dumps(result.summary))
    else:
        print_summary(result, out)
