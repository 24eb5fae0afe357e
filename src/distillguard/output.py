"""The scan's result files, written into a staging folder that :mod:`distillguard.outdir` publishes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from distillguard.outdir import OutputFolder

if TYPE_CHECKING:
    from distillguard.pipeline import ScanResult

#: every path a scan may write into its results folder (the rule of :mod:`distillguard.outdir`)
SCAN_FILES = (
    "accounts.csv", "accounts.parquet", "campaigns.json", "edges.parquet", "lookalikes.json",
    "rejected.parquet", "rejected.csv", "replay.parquet", "summary.json", "report.html",
    "changes.jsonl",
)


def scan_folder(out: Path, inputs: list[Path]) -> OutputFolder:
    """The results folder of a scan reading ``inputs``."""
    return OutputFolder(Path(out), "scan", SCAN_FILES, inputs=tuple(inputs), reads_folders=True)


def _csv(table: pa.Table, path: Path) -> None:
    cols = []
    for f in table.schema:
        c = table.column(f.name)
        if pa.types.is_timestamp(f.type):
            c = pa.compute.strftime(c, format="%Y-%m-%dT%H:%M:%SZ")
        cols.append(c)
    pacsv.write_csv(pa.Table.from_arrays(cols, names=table.column_names), path)


def write_results(result: ScanResult, tmp: Path) -> None:
    """Write every result file of the output contract into ``tmp``."""
    pq.write_table(result.accounts, tmp / "accounts.parquet")
    _csv(result.accounts, tmp / "accounts.csv")
    (tmp / "campaigns.json").write_text(
        json.dumps(result.campaigns, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    pq.write_table(result.edges, tmp / "edges.parquet")
    (tmp / "lookalikes.json").write_text(
        json.dumps(result.lookalikes, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    if result.rejected.num_rows:
        pq.write_table(result.rejected, tmp / "rejected.parquet")
        _csv(result.rejected, tmp / "rejected.csv")
    if result.replay is not None:
        pq.write_table(result.replay, tmp / "replay.parquet")
    (tmp / "summary.json").write_text(
        json.dumps(result.summary, indent=1, ensure_ascii=False), encoding="utf-8"
    )


def write_report_if_available(tmp: Path) -> str | None:
    """Call ``distillguard.report.write_report`` when the report module imports; returns a problem or None."""
    try:
        from distillguard.report import write_report
    except ImportError as exc:
        return f"report not written: {exc}"
    write_report(tmp)
    return None
