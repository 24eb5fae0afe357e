"""``distillguard scan``: find, attribute and explain distillation campaigns in API logs."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from distillguard.cli import app, console, err_console
from distillguard.errors import UsageError
from distillguard.monitor.incremental import DEFAULT_WINDOW_DAYS, MonitorOptions, RunOutcome, parse_window
from distillguard.pipeline import ScanOptions, ScanResult, scan
from distillguard.stage import Progress, default_workers


@contextlib.contextmanager
def progress_bar(quiet: bool) -> Iterator[Progress]:
    """The scan's progress line on stderr (none when ``quiet``), as the pipeline's progress callback."""
    with RichProgress(
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
            bar.update(task, description=stage, info=f"{int(value):,} rows" if value >= 1 else "")

        yield progress


def run_scan(
    paths: list[Path],
    accounts: list[Path] | None,
    out: Path,
    options: ScanOptions,
    *,
    quiet: bool = False,
    report: bool = True,
) -> ScanResult:
    """Scan and publish the results into ``out`` atomically, under the output-folder rule of
    :mod:`distillguard.outdir` (checked before any work). Used by scan and demo."""
    from distillguard.output import scan_folder, write_report_if_available, write_results

    index = [Path(options.dataset_index)] if options.dataset_index else []
    folder = scan_folder(out, [*paths, *(accounts or []), *index])
    existing = folder.check()
    with folder.staging() as tmp:
        work = tmp / "_work"
        with progress_bar(quiet) as progress:
            result = scan(paths, accounts, work, options, progress=progress)
        shutil.rmtree(work, ignore_errors=True)  # (inside the staging folder: this run's own files)
        write_results(result, tmp)
        if report:
            problem = write_report_if_available(tmp)
            if problem and not quiet:
                err_console.print(f"[yellow]{problem}[/]")
        published = folder.publish(tmp, existing)
    if not quiet:
        for note in published.notes(out):
            err_console.print(note, highlight=False)
    return result


def run_monitor(
    paths: list[Path],
    accounts: list[Path] | None,
    state: Path,
    out: Path,
    options: ScanOptions,
    mon: MonitorOptions,
    *,
    quiet: bool = False,
    report: bool = True,
) -> RunOutcome:
    """One monitoring run: the state is locked first, results are published, then the state commits."""
    from distillguard.monitor.incremental import run_incremental
    from distillguard.monitor.state import StateDir
    from distillguard.outdir import OutputRefused
    from distillguard.output import scan_folder

    state, out = Path(state), Path(out)
    if options.replay_daily:
        raise UsageError(
            "--replay-daily and --state do not go together: a monitoring run writes each run's "
            "decisions to replay.parquet itself"
        )
    s, o = state.resolve(), out.resolve()
    if s == o or s.is_relative_to(o) or o.is_relative_to(s):
        raise OutputRefused(
            f"{out}: the results folder and the state folder {state} must not hold one another; "
            "nothing was written."
        )
    index = [Path(options.dataset_index)] if options.dataset_index else []
    folder = scan_folder(out, [*paths, *(accounts or []), *index, state])
    existing = folder.check()
    with StateDir(state) as st, folder.staging() as tmp, progress_bar(quiet) as progress:
        published = []

        def publish() -> None:
            published.append(folder.publish(tmp, existing))

        outcome = run_incremental(paths, accounts, state, tmp, options, mon, st, progress, publish, report)
    if not quiet:
        for p in published:
            for note in p.notes(out):
                err_console.print(note, highlight=False)
        for note in outcome.notes:
            err_console.print(f"[yellow]{note}[/]", highlight=False)
    return outcome


def print_changes(outcome: RunOutcome, out: Path) -> None:
    head = outcome.changes[0]
    counts = Counter(e["type"] for e in outcome.changes[1:])
    what = ", ".join(f"{n} {t.replace('_', ' ')}" for t, n in sorted(counts.items())) or "nothing changed"
    console.print(
        f"run {head['run']} of the state: {head['new_files']} new file(s), {head['rows_added']:,} rows "
        f"added, window {head['window']['from']} .. {head['window']['to']}; changes: {what} "
        f"(see {out / 'changes.jsonl'})"
    )


MAX_CAMPAIGNS_SHOWN = 15


def campaigns_table(campaigns: list[dict]) -> Table:
    """The compact campaigns table (fits 80 columns): id, accounts, interactions, capabilities, confidence."""
    t = Table(show_lines=False, pad_edge=False)
    t.add_column("campaign", no_wrap=True)
    t.add_column("accounts", justify="right", no_wrap=True)
    t.add_column("interactions", justify="right", no_wrap=True)
    t.add_column("capabilities", overflow="ellipsis", no_wrap=True, max_width=30)
    t.add_column("confidence", justify="right", no_wrap=True)
    for c in campaigns:
        caps = ", ".join(list(c["capabilities"])[:2])
        t.add_row(
            c["campaign_id"], f"{c['accounts']:,}", f"{c['interactions']:,}", caps, f"{c['confidence']:.2f}"
        )
    return t


def print_summary(result: ScanResult, out: Path) -> None:
    s = result.summary
    op = s["operating_point"]
    console.print(
        f"[bold]{s['interactions']:,}[/] interactions from [bold]{s['accounts']:,}[/] accounts "
        f"({s['time_span']['first']} .. {s['time_span']['last']}); {s['rejected_rows']:,} rows set aside"
        + (f" (see {out / 'rejected.csv'})" if s["rejected_rows"] else "")
    )
    for w in s.get("warnings", []):
        console.print(f"[yellow]warning:[/] {w['message']}", highlight=False)
    measured = ""
    if op.get("measured_precision") is not None:
        measured = (
            f"; on development data: precision {op['measured_precision']:.3f}, "
            f"recall {op['measured_recall']:.3f}"
        )
    target = f"target precision {op['target_precision']:g}" if op.get("target_precision") else "given"
    console.print(
        f"flagged [bold red]{s['flagged_accounts']:,}[/] accounts in [bold]{s['campaigns']}[/] campaigns "
        f"({100 * s['flagged_traffic_share']:.1f}% of traffic) at threshold "
        f"{op['threshold']:.3f} ({target}{measured})"
        + "".join(f"; {h['threshold']:.3f} for accounts seen up to {h['max_days']} days"
                  for h in op.get("by_history") or [])
    )
    if result.campaigns:
        shown = result.campaigns[:MAX_CAMPAIGNS_SHOWN]
        console.print(campaigns_table(shown))
        for c in shown:
            console.print(f"[bold]{c['campaign_id']}[/]: {c['summary']}", overflow="fold")
        if len(result.campaigns) > len(shown):
            console.print(f"... {len(result.campaigns) - len(shown)} more in {out / 'campaigns.json'}")
    if s["unavailable_signals"]:
        console.print(f"signals not run (missing columns): {', '.join(sorted(s['unavailable_signals']))}")
    console.print(f"results in {out}/ ({s['seconds']:.1f} s)")


def _spark_conf(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--spark-conf {item!r}: expected KEY=VALUE, e.g. spark.executor.memory=8g")
        out.append((key.strip(), value.strip()))
    return tuple(out)


@app.command("scan")
def scan_cmd(
    paths: list[Path] = typer.Argument(..., help="interaction files or folders (Parquet, JSONL, CSV)"),
    accounts: list[Path] = typer.Option(
        None, "--accounts", help="accounts table (file or folder); repeatable"
    ),
    out: Path = typer.Option(
        ..., "--out", help="results folder: new, empty, or one scan wrote before (only its files replaced)"
    ),
    threshold: float = typer.Option(None, "--threshold", help="flag accounts with score >= this"),
    target_precision: float = typer.Option(
        None, "--target-precision", help="choose the threshold validated for this precision (default 0.99)"
    ),
    no_peer_gate: bool = typer.Option(
        False, "--no-peer-gate", help="flag on the score alone, without the model's peer gate (scoring.peers)"
    ),
    seed: int = typer.Option(0, "--seed", help="seed for sketches and clustering"),
    resolution: float = typer.Option(ScanOptions.resolution, "--resolution", help="Leiden CPM resolution"),
    replay_daily: bool = typer.Option(
        False, "--replay-daily", help="also write replay.parquet (daily decisions)"
    ),
    memory_limit: str = typer.Option(
        "2GB", "--memory-limit", help="memory for the set-wise stages (DuckDB spills to disk beyond it)"
    ),
    workers: int = typer.Option(
        0, "--workers", min=0, help="processes for the per-prompt features (0: one per CPU core)"
    ),
    dataset_index: Path = typer.Option(
        None, "--dataset-index", help="public-dataset index prompts are matched against (`index build`)"
    ),
    state: Path = typer.Option(
        None, "--state", help="monitoring state: read only logs it has not seen, keep campaign ids stable"
    ),
    window: str = typer.Option(
        f"{DEFAULT_WINDOW_DAYS}d", "--window", help="with --state: days of traffic detection reads (30d, 4w)"
    ),
    webhook: str = typer.Option(None, "--webhook", help="with --state: POST each run's changes to this URL"),
    engine: str = typer.Option(
        "duckdb", "--engine", help="duckdb (embedded) or spark (reads Parquet and Delta; the spark extra)"
    ),
    spark_master: str = typer.Option(
        None, "--spark-master", help="with --engine spark: master URL (default: local[*], or spark-submit's)"
    ),
    spark_conf: list[str] = typer.Option(
        None, "--spark-conf", help="with --engine spark: a Spark setting KEY=VALUE; repeatable"
    ),
    as_json: bool = typer.Option(False, "--json", help="print summary.json instead of the table"),
    no_report: bool = typer.Option(False, "--no-report", help="skip report.html"),
) -> None:
    """Scan API logs for distillation campaigns.

    Example: distillguard scan logs/ --accounts accounts.parquet --out results/
    """
    if engine not in ("duckdb", "spark"):
        raise UsageError(f"--engine {engine!r}: expected duckdb or spark")
    if engine != "spark" and (spark_master is not None or spark_conf):
        raise UsageError("--spark-master and --spark-conf need --engine spark")
    if engine == "spark" and state is not None:
        raise UsageError("--state runs on the embedded engine: leave out --engine spark for monitoring runs")
    opts = ScanOptions(
        threshold=threshold,
        target_precision=target_precision,
        peer_gate=not no_peer_gate,
        seed=seed,
        resolution=resolution,
        replay_daily=replay_daily,
        memory_limit=memory_limit,
        workers=workers or default_workers(),
        dataset_index=str(dataset_index) if dataset_index is not None else None,
        engine=engine,
        spark_master=spark_master,
        spark_conf=_spark_conf(spark_conf or []),
    )
    if state is None and webhook is not None:
        raise UsageError("--webhook needs --state (changes are measured against the previous run's state)")
    if state is None and window != f"{DEFAULT_WINDOW_DAYS}d":
        raise UsageError("--window needs --state (a scan without one reads every row it is given)")
    if state is not None:
        mon = MonitorOptions(window_days=parse_window(window), webhook=webhook)
        outcome = run_monitor(list(paths), list(accounts) if accounts else None, state, out, opts, mon,
                              quiet=as_json, report=not no_report)
        if as_json:
            console.print_json(json.dumps(outcome.result.summary))
        else:
            print_summary(outcome.result, out)
            print_changes(outcome, out)
        return
    result = run_scan(
        list(paths), list(accounts) if accounts else None, out, opts, quiet=as_json, report=not no_report
    )
    if as_json:
        console.print_json(json.dumps(result.summary))
    else:
        print_summary(result, out)
