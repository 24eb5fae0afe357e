"""``distillguard evaluate``: score a detector's results against simulated ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from distillguard.cli import app, console


@app.command()
def evaluate(
    results_dir: Path = typer.Argument(..., help="Results directory written by scan (accounts.parquet/csv)."),
    labels: Path = typer.Option(..., "--labels", help="The simulate output directory or its labels/ folder."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the measures as JSON to this file."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="Do not print the tables."),
) -> None:
    """Precision, recall, AP, look-alike false positives, per-playbook recall, cohesion, delay.

    Example: distillguard evaluate scan-out --labels sim --json eval.json
    """
    from distillguard.evaluate import evaluate as run
    from distillguard.evaluate import write_json
    from distillguard.outdir import OutputFile

    target = None
    if json_out is not None:
        target = OutputFile(json_out, "evaluation", "--json", inputs=(results_dir, labels), make_parent=True)
        target.check()
    report = run(results_dir, labels)
    if not quiet:
        report.render(console)
    if target is not None:
        with target.writing() as tmp:
            write_json(report, tmp)
        if not quiet:
            console.print(f"wrote {json_out}")
    elif quiet:
        console.print_json(json.dumps(report.to_dict(), default=str))
