"""``distillguard demo``: simulate the default scenario, scan it, print the campaigns and the evaluation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from distillguard.cli import app, console, err_console
from distillguard.errors import UsageError
from distillguard.pipeline import ScanOptions


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo-out"), "--out", help="folder for the simulated logs and the results"),
    seed: int = typer.Option(0, "--seed", help="simulation seed"),
    scale: float = typer.Option(1.0, "--scale", help="scenario scale (accounts and traffic)"),
    prompts_dir: Path = typer.Option(None, "--prompts-dir", help="real prompt corpora (shared/data/prompts)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
    replay: bool = typer.Option(
        True, "--replay/--no-replay", help="replay the logs in daily windows to measure detection delay"
    ),
) -> None:
    """Simulate the default scenario, scan it and print the campaigns found and the evaluation.

    Example: distillguard demo --prompts-dir ../shared/data/prompts
    """
    from distillguard.cli.scan import print_summary, run_scan
    from distillguard.evaluate import evaluate
    from distillguard.simulate import simulate

    if prompts_dir is not None and not prompts_dir.is_dir():
        raise UsageError(f"--prompts-dir {prompts_dir}: no such folder")
    t0 = time.perf_counter()
    logs = out / "logs"
    results = out / "results"
    _claim(out, logs, results, prompts_dir)
    with console.status("simulating the default scenario", spinner="dots") if not as_json else _Null():
        sim = simulate(logs, scenario="default", seed=seed, scale=scale, prompts_dir=prompts_dir)
    if not as_json:
        console.print(
            f"simulated {sim.interactions:,} interactions from {sim.accounts:,} accounts "
            f"({sim.campaign_accounts} in campaigns) in {sim.seconds:.1f} s"
        )
    from distillguard.stage import default_workers

    options = ScanOptions(seed=seed, replay_daily=replay, workers=default_workers())
    result = run_scan([logs / "interactions"], [logs / "accounts.parquet"], results, options, quiet=as_json)
    report = evaluate(results, logs / "labels")
    seconds = time.perf_counter() - t0
    if as_json:
        doc = {
            "simulation": sim.to_dict(),
            "scan": result.summary,
            "evaluation": report.to_dict(),
            "seconds": round(seconds, 2),
        }
        console.print_json(json.dumps(doc, default=str))
        return
    print_summary(result, results)
    report.render(console)
    err_console.print(f"demo finished in {seconds:.1f} s; results in {results}/")


def _claim(out: Path, logs: Path, results: Path, prompts_dir: Path | None) -> None:
    """Check the demo's folder and its two parts under the output-folder rule before any work, then
    mark the folder as the demo's (its manifest names the parts, each with a manifest of its own)."""
    from distillguard.outdir import Manifest, OutputFolder
    from distillguard.output import scan_folder
    from distillguard.simulate import simulation_folder

    children = {"logs": "simulate", "results": "scan"}
    top = OutputFolder(out, "demo", tuple(children), inputs=(prompts_dir,) if prompts_dir else (),
                       children=children)
    existing = top.check()
    simulation_folder(logs, prompts_dir).check()
    scan_folder(results, [logs]).check()
    if existing.manifest is None:
        try:
            top.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
        Manifest("demo", children=children).write(top.path)


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
