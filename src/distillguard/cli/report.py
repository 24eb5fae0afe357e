"""``distillguard report``: rebuild the HTML report of a scan output directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distillguard.cli import app, console


@app.command()
def report(
    scan_dir: Annotated[Path, typer.Argument(metavar="DIR", help="The --out directory of a scan.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the report here instead of DIR/report.html.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the account-graph layout.")] = 0,
) -> None:
    """Rebuild DIR/report.html: one self-contained page (opens offline) with the campaigns, their
    timelines, account graphs, templates, infrastructure and accounts, the look-alikes not flagged,
    and what enforcing would affect.

    Example: distillguard report scan-out/ --out /tmp/campaigns.html
    """
    from distillguard.errors import UsageError
    from distillguard.outdir import OutputFile
    from distillguard.output import scan_folder
    from distillguard.report import load_scan_output, write_report

    if out is not None:
        target = OutputFile(out, "report", "--out")
        target.check()
        with target.writing() as tmp:
            write_report(scan_dir, path=tmp, seed=seed)
        path = out
    else:
        if not scan_dir.is_dir() or not any(scan_dir.iterdir()):
            load_scan_output(scan_dir)  # (says what is missing)
        folder = scan_folder(scan_dir, [])
        folder.option, folder.advice = "DIR", "To write the report elsewhere, give --out FILE."
        existing = folder.check()
        if existing.manifest is None:
            raise UsageError(f"DIR {scan_dir}: is not the results folder of a scan")
        with folder.staging() as staged:
            reused = folder.carry_over(existing, staged, replacing=["report.html"])
            write_report(staged, seed=seed)
            for note in folder.publish(staged, existing, reused=reused).notes(scan_dir):
                console.print(note, highlight=False)
        path = scan_dir / "report.html"
    console.print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")
