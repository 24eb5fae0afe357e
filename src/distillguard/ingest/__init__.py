"""Reading logs in the log format (``shared/spec/log-format.md``) into Arrow, in batches.

>>> src = open_interactions(["logs/"])          # files or folders: Parquet, JSONL(.gz), CSV(.gz)
>>> src.check()                                 # InputError now for an unreadable file / missing column
>>> for batch in src: ...                       # pa.RecordBatch, exactly schema.INTERACTIONS.schema
>>> src.rejected, src.stats                     # rows set aside (file, row, reason, raw), counts

Nothing is held in memory but the current batch and an 8-byte hash per unique id (for duplicates),
so files larger than memory stream.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.ingest.coerce import Plausible, coerce
from distillguard.ingest.files import InputFile, discover
from distillguard.ingest.readers import READERS, BadRow, columns_of, missing_required
from distillguard.schema import ACCOUNTS, INTERACTIONS, REJECTED, TableSpec

__all__ = ["AccountsRead", "IngestStats", "LogSource", "open_accounts", "open_interactions", "read_accounts"]

DEFAULT_BATCH_ROWS = 65_536


@dataclass
class IngestStats:
    files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_ok: int = 0
    rows_rejected: int = 0
    columns_present: set[str] = field(default_factory=set)  # contract columns present in some file
    extra_columns: set[str] = field(default_factory=set)  # unknown columns (kept in the files, not used)
    columns_by_file: dict[str, list[str]] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    #: rows set aside for a timestamp outside the plausible range (a clock fault), and the first
    plausible: tuple[str, str] | None = None  # the range checked: (earliest, latest), RFC 3339
    clock_faults: int = 0
    clock_fault_example: dict | None = None  # {"file", "row", "reason"}

    def warnings(self) -> list[dict]:
        """What a run should say besides the counts: rows whose timestamps point at a faulty clock."""
        if not self.clock_faults or self.plausible is None:
            return []
        ex = self.clock_fault_example or {}
        n = self.clock_faults
        earliest, latest = self.plausible
        return [
            {
                "kind": "implausible_timestamps",
                "rows": n,
                "plausible": {"from": earliest, "to": latest},
                "example": ex,
                "message": (
                    f"{n:,} row{'s' if n != 1 else ''} set aside with a timestamp before {earliest[:10]} "
                    f"or more than a day after this run ({latest}): the clock that stamped "
                    f"{'them' if n != 1 else 'it'} is probably faulty (first: {ex.get('file')} row "
                    f"{ex.get('row')}, {ex.get('reason')})"
                ),
            }
        ]


class _SeenKeys:
    """Exact-enough duplicate detection over a stream: 64-bit hashes of the keys, kept as a few sorted
    runs of geometrically growing size (so lookups are binary searches and merging is amortised)."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (hash, file index, row)

    def first_seen(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each hash: (file index, row) of an earlier occurrence, or -1."""
        fi = np.full(len(h), -1, np.int64)
        rows = np.full(len(h), -1, np.int64)
        if not self._runs:
            return fi, rows
        # looked up in sorted order: the binary searches then walk each run from left to right
        # (cache-friendly: measured 2x faster than looking up in arrival order)
        order = np.argsort(h, kind="stable")
        hs = h[order]
        fs = np.full(len(h), -1, np.int64)
        rs = np.full(len(h), -1, np.int64)
        for hashes, files, rws in self._runs:
            pos = np.searchsorted(hashes, hs)
            pos_c = np.minimum(pos, len(hashes) - 1)
            hit = (hashes[pos_c] == hs) & (fs < 0)
            fs[hit] = files[pos_c[hit]]
            rs[hit] = rws[pos_c[hit]]
        fi[order], rows[order] = fs, rs
        return fi, rows

    def add(self, h: np.ndarray, file_index: int, rows: np.ndarray) -> None:
        order = np.argsort(h, kind="stable")
        run = (h[order], np.full(len(h), file_index, np.int64), rows[order])
        while self._runs and len(self._runs[-1][0]) <= len(run[0]):
            prev = self._runs.pop()
            merged = [np.concatenate([a, b]) for a, b in zip(prev, run, strict=True)]
            order = np.argsort(merged[0], kind="stable")
            run = tuple(m[order] for m in merged)
        self._runs.append(run)


class LogSource:
    """A stream of validated record batches of one log-format table from files and folders."""

    def __init__(
        self,
        paths: list[str | Path],
        spec: TableSpec,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        columns: Collection[str] | None = None,
        now: datetime | None = None,
    ):
        self.spec = spec
        self.batch_rows = batch_rows
        #: the contract columns the caller uses (None: all). The others are read only where a row
        #: could break the contract in them, or where the format cannot skip them (CSV, JSON Lines):
        #: a Parquet file's text columns such as ``response`` are then not read at all (they are null
        #: in the batches, and absent from a set-aside row's ``raw`` record).
        self.columns = None if columns is None else frozenset(columns)
        self.files, ignored = discover(list(paths))
        #: timestamps outside this range are set aside as clock faults (``now``: the run's time)
        self.plausible = Plausible.around(now)
        self.stats = IngestStats(
            files=[str(f) for f in self.files],
            ignored_files=[str(p) for p in ignored],
            plausible=(_iso(self.plausible.earliest), _iso(self.plausible.latest)),
        )
        self._rejected: list[pa.Table] = []
        self._bad_buffer: list[tuple[str, BadRow]] = []
        self._key = spec.columns[0].name  # request_id / account_id: unique per row
        self._checked = False

    # -- pre-flight -----------------------------------------------------------------------------------
    def check(self) -> IngestStats:
        """Open every file and read its columns; raise InputError for the first unreadable one."""
        for f in self.files:
            names = columns_of(f)
            if f.format != "jsonl":  # JSON Lines has no header: checked on its first block instead
                missing_required(f, self.spec, names)
            self.stats.columns_by_file[str(f)] = names
            self.stats.columns_present.update(n for n in names if n in self.spec.names)
            self.stats.extra_columns.update(n for n in names if n not in self.spec.names)
        self._checked = True
        return self.stats

    def rows_hint(self) -> int | None:
        """The number of rows in the files, where that is known without reading them (Parquet
        footers), else None. Before validation: an upper bound of the rows the stream yields."""
        import pyarrow.parquet as pq

        total = 0
        for f in self.files:
            if f.format != "parquet":
                return None
            try:
                total += pq.ParquetFile(f.path).metadata.num_rows
            except (OSError, pa.ArrowException):
                return None  # (reading it says what is wrong)
        return total

    # -- streaming ------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[pa.RecordBatch]:
        if not self._checked:
            self.check()
        seen = _SeenKeys()
        for fi, f in enumerate(self.files):
            yield from self._read_file(fi, f, seen)
        self._flush_bad()

    def _read_file(self, fi: int, f: InputFile, seen: _SeenKeys) -> Iterator[pa.RecordBatch]:
        for chunk in READERS[f.format](f, self.spec, self.batch_rows, columns=self.columns):
            present = [
                n for n in chunk.table.column_names if chunk.table.column(n).null_count < chunk.table.num_rows
            ]
            self.stats.columns_present.update(n for n in present if n in self.spec.names)
            self.stats.extra_columns.update(n for n in chunk.table.column_names if n not in self.spec.names)
            done = coerce(chunk, self.spec, self.plausible)
            self.stats.rows_read += chunk.table.num_rows + len(chunk.bad)
            if done.clock_faults:
                self.stats.clock_faults += done.clock_faults
                if self.stats.clock_fault_example is None and done.clock_example is not None:
                    ex = done.clock_example
                    self.stats.clock_fault_example = {"file": str(f), "row": ex.row, "reason": ex.reason}
            for b in done.bad:
                self._bad_buffer.append((str(f), b))
            table = done.table
            if table.num_rows:
                table = self._drop_duplicates(table, done.rows, fi, seen)
            self._maybe_flush_bad()
            if table.num_rows:
                self.stats.rows_ok += table.num_rows
                yield from table.combine_chunks().to_batches()

    def _drop_duplicates(self, table: pa.Table, rows: np.ndarray, fi: int, seen: _SeenKeys) -> pa.Table:
        keys = pl.from_arrow(table.column(self._key)).alias("k")
        h = keys.hash(seed=0x5EED).to_numpy().astype(np.uint64)
        earlier_file, earlier_row = seen.first_seen(h)
        first_in_batch = pl.DataFrame({"h": h}).select(pl.col("h").is_first_distinct()).to_series().to_numpy()
        dup = (earlier_file >= 0) | ~first_in_batch
        if dup.any():
            # a repeat inside this batch points at the first occurrence in the batch
            frame = pl.DataFrame({"h": h, "row": rows})
            first_row = frame.select(pl.col("row").first().over("h")).to_series().to_numpy()
            idx = np.flatnonzero(dup)
            raw = table.take(pa.array(idx)).to_pylist()
            for i, rec in zip(idx.tolist(), raw, strict=True):
                where = (
                    f"{self.files[int(earlier_file[i])]} row {int(earlier_row[i])}"
                    if earlier_file[i] >= 0
                    else f"row {int(first_row[i])} of the same file"
                )
                self._bad_buffer.append(
                    (
                        str(self.files[fi]),
                        BadRow(
                            int(rows[i]),
                            f"duplicate {self._key} {rec[self._key]!r} (first seen at {where})",
                            _json(rec),
                        ),
                    )
                )
            keep = ~dup
            table = table.filter(pa.array(keep))
            rows = rows[keep]
            h = h[keep]
        seen.add(h, fi, rows)
        return table

    def _maybe_flush_bad(self) -> None:
        if len(self._bad_buffer) >= 10_000:
            self._flush_bad()

    def _flush_bad(self) -> None:
        if not self._bad_buffer:
            return
        files, rows, reasons, raws = [], [], [], []
        for file, b in self._bad_buffer:
            files.append(file)
            rows.append(b.row)
            reasons.append(b.reason)
            raws.append(b.raw)
            # the reason's kind without the value, to count rows by problem
            key = _reason_kind(b.reason)
            self.stats.rejected_by_reason[key] = self.stats.rejected_by_reason.get(key, 0) + 1
        self.stats.rows_rejected += len(files)
        self._rejected.append(
            pa.table(
                {
                    "table": pa.array([self.spec.name] * len(files), pa.string()),
                    "file": files,
                    "row": pa.array(rows, pa.int64()),
                    "reason": reasons,
                    "raw": raws,
                },
                schema=REJECTED,
            )
        )
        self._bad_buffer = []

    @property
    def rejected(self) -> pa.Table:
        self._flush_bad()
        if not self._rejected:
            return pa.Table.from_batches([], schema=REJECTED)  # (Schema.empty_table imports pandas)
        return pa.concat_tables(self._rejected).sort_by([("file", "ascending"), ("row", "ascending")])


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def _json(rec: dict) -> str:
    import json

    return json.dumps(rec, default=str, ensure_ascii=False)


def _reason_kind(reason: str) -> str:
    import re

    first = reason.split("; ")[0]
    return re.sub(r"'[^']*'(\.\.\.)?", "…", re.sub(r" \(first seen at .*\)$", "", first)).replace(" …", "")


def open_interactions(
    paths: list[str | Path],
    batch_rows: int = DEFAULT_BATCH_ROWS,
    columns: Collection[str] | None = None,
    now: datetime | None = None,
) -> LogSource:
    """A stream of interaction batches (``schema.INTERACTIONS``) from files and folders; ``columns``:
    the contract columns the caller uses (see :attr:`LogSource.columns`); ``now``: the time the
    plausible timestamps end a day after (default: the clock's)."""
    return LogSource(paths, INTERACTIONS, batch_rows, columns, now)


def open_accounts(
    paths: list[str | Path], batch_rows: int = DEFAULT_BATCH_ROWS, now: datetime | None = None
) -> LogSource:
    return LogSource(paths, ACCOUNTS, batch_rows, now=now)


@dataclass
class AccountsRead:
    table: pa.Table  # schema.ACCOUNTS.schema
    rejected: pa.Table  # schema.REJECTED
    stats: IngestStats


def read_accounts(paths: list[str | Path], now: datetime | None = None) -> AccountsRead:
    """Read the (small) accounts table whole."""
    src = open_accounts(paths, now=now)
    batches = list(src)
    table = pa.Table.from_batches(batches, schema=ACCOUNTS.schema)
    return AccountsRead(table, src.rejected, src.stats)
