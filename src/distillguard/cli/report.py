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
    from distillguard.report import write_report

    if out is not None and not out.parent.exists():
        raise UsageError(f"{out.parent}: directory does not exist")
    path = write_report(scan_dir, path=out, seed=seed)
    console.print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")
