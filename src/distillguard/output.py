"""Writing the scan results into DIR atomically: a temp dir beside DIR, renamed at the end."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from distillguard.errors import UsageError
from distillguard.pipeline import ScanResult


@contextlib.contextmanager
def staging_dir(out_dir: Path) -> Iterator[Path]:
    """A temp dir inside DIR's parent; on success the caller publishes it with :func:`publish`,
    on error it is removed (no partial result)."""
    out_dir = Path(out_dir)
    parent = out_dir.resolve().parent
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{parent}: cannot create the output folder's parent ({exc.strerror})") from None
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


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


def publish(tmp: Path, out_dir: Path) -> None:
    """Replace DIR by the finished temp dir (the old DIR, if any, is removed only now)."""
    out_dir = Path(out_dir)
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
        out_dir.rename(old)
    tmp.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
