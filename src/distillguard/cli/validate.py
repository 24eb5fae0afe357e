"""``distillguard validate``: what a log file holds and every problem found in it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import polars as pl
import pyarrow as pa
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from distillguard.cli import app, console
from distillguard.ingest import IngestStats, LogSource, open_accounts, open_interactions
from distillguard.schema import ACCOUNTS, INTERACTIONS
from distillguard.signals import unavailable_signals


@dataclass
class Validation:
    table: str
    stats: IngestStats
    accounts: int = 0
    first: str | None = None
    last: str | None = None
    rejected_examples: list[dict] = field(default_factory=list)
    unavailable: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        s = self.stats
        return {
            "table": self.table,
            "files": s.files,
            "ignored_files": s.ignored_files,
            "rows_read": s.rows_read,
            "rows_ok": s.rows_ok,
            "rows_rejected": s.rows_rejected,
            "accounts": self.accounts,
            "time_span": {"first": self.first, "last": self.last},
            "columns_present": sorted(s.columns_present),
            "columns_missing": [c for c in _spec(self.table).names if c not in s.columns_present],
            "extra_columns": sorted(s.extra_columns),
            "rejected_by_reason": s.rejected_by_reason,
            "rejected_examples": self.rejected_examples,
            "warnings": s.warnings(),
            "unavailable_signals": self.unavailable,
        }


def _spec(table: str):
    return INTERACTIONS if table == "interactions" else ACCOUNTS


def run_validation(src: LogSource, progress: Progress | None = None, max_examples: int = 50) -> Validation:
    """Stream the whole source once; collect counts, accounts, time span and the rejected rows."""
    src.check()
    task = progress.add_task("reading", total=None) if progress else None
    accounts: pl.Series | None = None
    first = last = None
    for batch in src:
        ids = pl.from_arrow(batch.column("account_id")).unique()
        accounts = ids if accounts is None else pl.concat([accounts, ids]).unique()
        if src.spec is INTERACTIONS and batch.num_rows:
            ts = pl.from_arrow(batch.column("ts"))
            lo, hi = ts.min(), ts.max()
            first = lo if first is None or lo < first else first
            last = hi if last is None or hi > last else last
        if progress is not None and task is not None:
            progress.update(task, advance=batch.num_rows, description=f"{src.stats.rows_read:,} rows")
    rejected = src.rejected
    v = Validation(
        src.spec.name,
        src.stats,
        accounts=0 if accounts is None else accounts.len(),
        first=first.isoformat().replace("+00:00", "Z") if first else None,
        last=last.isoformat().replace("+00:00", "Z") if last else None,
        rejected_examples=rejected.slice(0, max_examples).select(["file", "row", "reason"]).to_pylist(),
    )
    return v


def _render(v: Validation, rejected: pa.Table) -> None:
    s = v.stats
    t = Table(title=f"{v.table}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("files", "\n".join(s.files))
    if s.ignored_files:
        t.add_row("ignored (not a log format)", "\n".join(s.ignored_files))
    t.add_row("rows read", f"{s.rows_read:,}")
    t.add_row("rows valid", f"{s.rows_ok:,}")
    t.add_row("rows set aside", f"[{'red' if s.rows_rejected else 'green'}]{s.rows_rejected:,}[/]")
    t.add_row("accounts", f"{v.accounts:,}")
    if v.table == "interactions":
        t.add_row("time span", f"{v.first} .. {v.last}" if v.first else "-")
    t.add_row("columns present", ", ".join(c for c in _spec(v.table).names if c in s.columns_present))
    missing = [c for c in _spec(v.table).names if c not in s.columns_present]
    t.add_row("columns missing", ", ".join(missing) or "none")
    if s.extra_columns:
        t.add_row("extra columns (kept, not used)", ", ".join(sorted(s.extra_columns)))
    console.print(t)
    for w in s.warnings():
        console.print(f"[yellow]warning:[/] {w['message']}", highlight=False)
    if v.unavailable:
        u = Table(title="signals unavailable on these columns", title_justify="left")
        u.add_column("signal")
        u.add_column("needs")
        for sid, cols in v.unavailable.items():
            u.add_row(sid, ", ".join(cols))
        console.print(u)
    if s.rows_rejected:
        r = Table(title=f"problems ({s.rows_rejected:,} rows set aside)", title_justify="left")
        r.add_column("file")
        r.add_column("row", justify="right")
        r.add_column("problem")
        for rec in rejected.slice(0, 50).to_pylist():
            r.add_row(rec["file"], str(rec["row"]), rec["reason"])
        console.print(r)
        if s.rows_rejected > 50:
            console.print(f"... and {s.rows_rejected - 50:,} more (write them all with --rejected FILE)")


@app.command()
def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Interaction log files or folders (Parquet, JSONL[.gz], CSV[.gz]).")
    ],
    accounts: Annotated[
        list[Path] | None,
        typer.Option("--accounts", help="The accounts table (file or folder), if you have one."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a JSON document instead of tables.")
    ] = False,
    rejected_out: Annotated[
        Path | None, typer.Option("--rejected", help="Write every set-aside row to this CSV or Parquet file.")
    ] = None,
) -> None:
    """Report what log files hold (rows, accounts, time span, columns, unavailable signals) and every problem.

    Example: distillguard validate logs/2026-05/ --accounts accounts.parquet

    Exit code 0 when every row is valid, 1 when rows were set aside, 2 when a file cannot be read.
    """
    from distillguard.outdir import OutputFile

    target = None
    if rejected_out is not None:  # (checked before the files are read)
        target = OutputFile(rejected_out, "rejected", "--rejected", inputs=(*paths, *(accounts or [])),
                            make_parent=True)
        target.check()
    results = []
    rejected_tables = []
    sources: list[LogSource] = [open_interactions(list(paths))]
    if accounts:
        sources.append(open_accounts(list(accounts)))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=json_out,
    ) as progress:
        for src in sources:
            results.append(run_validation(src, progress))
            rejected_tables.append(src.rejected)
    acc_cols = results[1].stats.columns_present if accounts else None
    # (what the columns allow: signals that need a scan option, such as --dataset-index, are not listed)
    results[0].unavailable = unavailable_signals(
        results[0].stats.columns_present, acc_cols, options=("--dataset-index",)
    )
    all_rejected = pa.concat_tables(rejected_tables)
    if target is not None:
        with target.writing() as tmp:
            _write_table(all_rejected, tmp, csv=rejected_out.suffix.lower() not in (".parquet", ".pq"))
    if json_out:
        console.print_json(json.dumps({r.table: r.to_dict() for r in results}))
    else:
        for v, rej in zip(results, rejected_tables, strict=True):
            _render(v, rej)
    if any(r.stats.rows_rejected for r in results):
        raise typer.Exit(1)


def _write_table(table: pa.Table, path: Path, *, csv: bool) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if csv:
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
