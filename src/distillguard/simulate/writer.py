"""Streaming writers: part files of a fixed row count, Parquet or gzipped JSON Lines, byte-reproducible."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("parquet", "jsonl")


def _to_arrow(df: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    return df.select(schema.names).to_arrow().cast(schema)


def write_table(df: pl.DataFrame, schema: pa.Schema, path_stem: Path, fmt: str) -> Path:
    """Write a whole (small) table as ``<stem>.parquet`` or ``<stem>.jsonl.gz``."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    table = _to_arrow(df, schema)
    if fmt == "parquet":
        path = path_stem.with_name(path_stem.name + ".parquet")
        pq.write_table(table, path, compression="zstd")
    else:
        path = path_stem.with_name(path_stem.name + ".jsonl.gz")
        _write_jsonl(pl.from_arrow(table), path)
    return path


def _write_jsonl(df: pl.DataFrame, path: Path) -> None:
    ts_cols = [c for c, t in df.schema.items() if isinstance(t, pl.Datetime)]
    if ts_cols:  # RFC 3339 with Z, as the log-format spec shows
        df = df.with_columns(pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ") for c in ts_cols)
    buf = io.BytesIO()
    df.write_ndjson(buf)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue())


class PartWriter:
    """Writes a stream of row batches into ``DIR/part-00000.<ext>`` files of ``part_rows`` rows each."""

    def __init__(self, directory: Path, schema: pa.Schema, fmt: str, part_rows: int):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.fmt = fmt
        self.part_rows = part_rows
        self.buffer: list[pl.DataFrame] = []
        self.buffered = 0
        self.paths: list[Path] = []
        self.rows = 0

    def write(self, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        self.buffer.append(df)
        self.buffered += df.height
        while self.buffered >= self.part_rows:
            allrows = pl.concat(self.buffer, how="vertical")
            self._flush(allrows.head(self.part_rows))
            rest = allrows.slice(self.part_rows)
            self.buffer = [rest] if rest.height else []
            self.buffered = rest.height

    def _flush(self, df: pl.DataFrame) -> None:
        ext = "parquet" if self.fmt == "parquet" else "jsonl.gz"
        path = self.dir / f"part-{len(self.paths):05d}.{ext}"
        if self.fmt == "parquet":
            pq.write_table(_to_arrow(df, self.schema), path, compression="zstd", row_group_size=100_000)
        else:
            _write_jsonl(pl.from_arrow(_to_arrow(df, self.schema)), path)
        self.paths.append(path)
        self.rows += df.height

    def close(self) -> None:
        if self.buffered:
            self._flush(pl.concat(self.buffer, how="vertical"))
        self.buffer, self.buffered = [], 0
        if not self.paths:  # an empty stream still leaves one (empty) part with the schema
            self._flush(pl.from_arrow(self.schema.empty_table()))
            self.rows = 0
