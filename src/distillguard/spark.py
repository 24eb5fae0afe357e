"""``scan --engine spark``: the same scan where the logs already are, on Spark.

- **Per-prompt features run on the executors**: the input (Parquet folders, Delta tables) is read by
  Spark and every Arrow batch goes through the embedded engine's own validation, feature function and
  staging (:func:`distillguard.ingest.coerce.coerce`, :func:`distillguard.stage.stage_batch`) by
  ``mapInArrow``. Valid rows are written as the staged Parquet under the work directory; rows that
  break the log format come back to the driver with file, row and reason, as in a local scan.
- **Set-wise stages run as Spark jobs**: the ibis expressions of :mod:`distillguard.accounts`,
  :mod:`distillguard.linking` and :mod:`distillguard.campaigns` compiled by ibis's PySpark backend,
  the very definitions DuckDB runs (only :func:`distillguard.engine.materialise` knows the engine).
- **Account-level work runs on the driver**: graph, clustering, scoring, reasons (tables of one row per
  account or edge, small next to the logs).

PySpark is an optional extra (``pip install 'distillguard[spark]'``) and needs a Java runtime (17+).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pyarrow as pa

from distillguard.errors import InputError, UsageError

if TYPE_CHECKING:
    import ibis

    from distillguard.stage import Progress, Staged

#: Spark settings the scan needs whatever the cluster's defaults: UTC day and hour boundaries (the
#: embedded engine's), no UI port on a shared driver, Arrow for the driver's transfers
_REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
_DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "2g",
}


def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise UsageError(
            "--engine spark needs PySpark: pip install 'distillguard[spark]' "
            "(and a Java runtime, 17 or later)"
        ) from None
    return pyspark


def session(
    master: str | None = None, conf: Sequence[tuple[str, str]] = (), work_dir: Path | None = None
) -> Any:
    """The SparkSession of this process: the running one (as under ``spark-submit``), else a new one
    on ``master`` (default ``local[*]``). ``conf`` overrides the defaults above."""
    _pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        for k, v in _REQUIRED_CONF.items():
            active.conf.set(k, v)
        return active
    master = master or os.environ.get("MASTER", "local[*]")
    if master.startswith("local"):  # the workers run this interpreter (which has distillguard)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    b = SparkSession.builder.appName("distillguard").master(master)
    defaults = dict(_DEFAULT_CONF)
    if work_dir is not None:  # (Spark makes a warehouse folder at start-up: in the work dir, not here)
        defaults["spark.sql.warehouse.dir"] = str((work_dir / "spark-warehouse").resolve())
        defaults["spark.local.dir"] = str((work_dir / "spark-local").resolve())
    for k, v in {**defaults, **dict(conf), **_REQUIRED_CONF}.items():
        b = b.config(k, v)
    try:
        s = b.getOrCreate()
    except Exception as exc:  # (Py4J / JVM start-up failures carry no common type)
        if "JAVA_GATEWAY_EXITED" in str(exc) or "Java gateway" in str(exc):
            raise UsageError(
                "--engine spark could not start Java: install a Java runtime (17 or later), e.g. "
                "apt-get install openjdk-17-jre-headless, or set JAVA_HOME"
            ) from None
        raise
    s.sparkContext.setLogLevel("ERROR")
    return s


def connect(
    master: str | None = None, conf: Sequence[tuple[str, str]] = (), work_dir: Path | None = None
) -> ibis.BaseBackend:
    """An ibis PySpark backend on :func:`session`."""
    import ibis

    return ibis.pyspark.connect(session(master, conf, work_dir))


def release(con: ibis.BaseBackend) -> None:
    """Drop what a scan cached and the views it registered; the session stays (it may be the caller's)."""
    s = con._session
    for t in s.catalog.listTables():
        if t.isTemporary:
            s.catalog.dropTempView(t.name)
    s.catalog.clearCache()


# --- staging -----------------------------------------------------------------------------------------

#: the input's row number within its file (1-based) and the file, carried through ``mapInArrow``
_FILE, _ROW = "_dg_file", "_dg_row"
#: what a staged row carries besides the staged columns: the set-aside reason, raw row, clock fault
_REASON, _RAW, _CLOCK = "_dg_reason", "_dg_raw", "_dg_clock"


def _path(uri: str) -> str:
    """A local file's path from Spark's file URI (other URIs as they are)."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def _is_delta(path: Path) -> bool:
    return (path / "_delta_log").is_dir()


def read_inputs(spark: Any, paths: Sequence[str | Path]) -> Any:
    """One Spark DataFrame over the inputs (Parquet files or folders, Delta tables), with each row's
    file and 1-based row number within it (from Spark's file metadata)."""
    from pyspark.sql import functions as F

    frames = []
    for p in paths:
        path = Path(p)
        if not path.exists() and "://" not in str(p):
            raise InputError(str(p), "no such file or folder")
        if _is_delta(path):
            df = spark.read.format("delta").load(str(p))
        else:
            if path.is_file() and path.suffix != ".parquet":
                raise InputError(str(p), "--engine spark reads Parquet files and folders and Delta tables")
            df = spark.read.parquet(str(p))
        df = df.select(
            "*",
            F.col("_metadata.file_path").alias(_FILE),
            (F.col("_metadata.row_index") + 1).alias(_ROW),
        )
        frames.append(df)
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f, allowMissingColumns=True)
    return out


def _staged_schema() -> pa.Schema:
    """The staged columns (as the embedded engine writes them) plus the set-aside columns."""
    from distillguard.schema import INTERACTIONS
    from distillguard.stage import stage_batch

    empty = pa.RecordBatch.from_pylist([], schema=INTERACTIONS.schema)
    from distillguard.stage import staged_features

    staged = stage_batch(empty, staged_features().frame(empty, seed=0))
    fields = [pa.field(f.name, _plain(f.type)) for f in staged.schema]
    fields += [
        pa.field(_FILE, pa.string()),
        pa.field(_ROW, pa.int64()),
        pa.field(_REASON, pa.string()),
        pa.field(_RAW, pa.string()),
        pa.field(_CLOCK, pa.int64()),
    ]
    return pa.schema(fields)


def _plain(t: pa.DataType) -> pa.DataType:
    """Spark's Arrow types: no large strings or lists (polars writes them)."""
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(_plain(t.value_type))
    return t


def _stage_fn(seed: int, dataset_index: str | None, plausible: Any, schema: pa.Schema) -> Any:
    """The function ``mapInArrow`` runs on the executors: batches of input rows in, staged rows and
    set-aside rows out (one schema; ``_dg_reason`` is null on a staged row)."""

    def run(batches: Any) -> Any:
        import numpy as np

        from distillguard.ingest.coerce import coerce
        from distillguard.ingest.readers import RawChunk
        from distillguard.schema import INTERACTIONS
        from distillguard.stage import stage_batch, staged_features

        feats = staged_features(dataset_index)
        for batch in batches:
            t = pa.Table.from_batches([batch])
            files = t.column(_FILE).to_pylist()
            rows = t.column(_ROW).to_numpy(zero_copy_only=False).astype(np.int64)
            t = t.drop_columns([_FILE, _ROW])
            # rows of one file together, so a set-aside row names its file
            order = np.lexsort((rows, np.array(files, dtype=object).astype(str)))
            for f in dict.fromkeys(files[i] for i in order):
                idx = np.array([i for i in order if files[i] == f], dtype=np.int64)
                part = t.take(pa.array(idx))
                done = coerce(RawChunk(part, rows[idx]), INTERACTIONS, plausible)
                out = []
                if done.table.num_rows:
                    good = done.table.combine_chunks().to_batches()[0]
                    staged = stage_batch(good, feats.frame(good, seed=seed))
                    n = staged.num_rows
                    staged = staged.append_column(_FILE, pa.array([f] * n, pa.string()))
                    staged = staged.append_column(_ROW, pa.array(done.rows, pa.int64()))
                    staged = staged.append_column(_REASON, pa.nulls(n, pa.string()))
                    staged = staged.append_column(_RAW, pa.nulls(n, pa.string()))
                    staged = staged.append_column(_CLOCK, pa.nulls(n, pa.int64()))
                    out.append(staged.cast(schema))
                if done.bad:
                    ex = done.clock_example
                    bad = {
                        _FILE: [f] * len(done.bad),
                        _ROW: [b.row for b in done.bad],
                        _REASON: [b.reason for b in done.bad],
                        _RAW: [b.raw for b in done.bad],
                        # the batch's clock faults, counted on its first one (the example)
                        _CLOCK: [done.clock_faults if b is ex else 0 for b in done.bad],
                    }
                    out.append(pa.table({n: bad.get(n, pa.nulls(len(done.bad), schema.field(n).type))
                                         for n in schema.names}, schema=schema))
                for o in out:
                    yield from o.to_batches()

    return run


def stage_inputs_spark(
    paths: Sequence[str | Path],
    accounts_paths: Sequence[str | Path] | None,
    work_dir: Path,
    con: ibis.BaseBackend,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    dataset_index: str | None = None,
) -> Staged:
    """Validate, compute per-prompt features and stage on Spark; the same :class:`Staged` as locally."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from distillguard.ingest import IngestStats, _iso, _reason_kind, read_accounts
    from distillguard.ingest.coerce import Plausible
    from distillguard.schema import INTERACTIONS, REJECTED
    from distillguard.stage import Staged

    t0 = time.perf_counter()
    say = progress or (lambda stage, frac: None)
    spark = con._session
    df = read_inputs(spark, paths)
    names = [c for c in df.columns if c not in (_FILE, _ROW)]
    missing = [c.name for c in INTERACTIONS.columns if c.required and c.name not in names]
    if missing:
        raise InputError(", ".join(map(str, paths)), f"missing required column(s): {', '.join(missing)}")
    contract = [c for c in names if c in INTERACTIONS.names]
    # the prompts' only readers are the features; response texts are never read
    from distillguard.stage import _READ

    df = df.select(*[c for c in contract if c in _READ], _FILE, _ROW)
    plausible = Plausible.around()
    say("reading interactions", 0.0)

    schema = _staged_schema()
    from pyspark.sql.pandas.types import from_arrow_schema

    out = df.mapInArrow(_stage_fn(seed, dataset_index, plausible, schema), from_arrow_schema(schema))
    stage_dir = work_dir / "staged"
    if stage_dir.exists():
        shutil.rmtree(stage_dir)  # (the scan's own work directory: written by this function)
    tmp = work_dir / "staged-all"
    out.write.mode("overwrite").parquet(str(tmp))
    every = spark.read.parquet(str(tmp))
    valid = every.where(F.col(_REASON).isNull())
    # a repeated request id among the valid rows: the first by (file, row) is kept, the others set
    # aside, as the local reader does (a shuffle of ids and positions only)
    w = Window.partitionBy("request_id").orderBy(_FILE, _ROW)
    ids = valid.select("request_id", _FILE, _ROW).withColumn("_n", F.row_number().over(w))
    firsts = ids.where("_n = 1").select("request_id", F.col(_FILE).alias("_f1"), F.col(_ROW).alias("_r1"))
    dup_rows = ids.where("_n > 1").join(firsts, "request_id").drop("_n").toArrow()
    good = valid
    dup_raw: dict[tuple[str, int], str] = {}
    if dup_rows.num_rows:
        at = spark.createDataFrame(dup_rows.select([_FILE, _ROW]))
        good = valid.join(F.broadcast(at), [_FILE, _ROW], "left_anti")
        for r in df.join(F.broadcast(at), [_FILE, _ROW], "left_semi").toArrow().to_pylist():
            key = (r.pop(_FILE), r.pop(_ROW))
            dup_raw[key] = json.dumps(r, default=str, ensure_ascii=False)
    good.drop(_FILE, _ROW, _REASON, _RAW, _CLOCK).write.parquet(str(stage_dir))
    bad = every.where(F.col(_REASON).isNotNull()).select(_FILE, _ROW, _REASON, _RAW, _CLOCK).toArrow()
    # a contract column is present when some staged row has a value in it (prompts and system prompts:
    # their staged heads)
    seen_as = {"prompt": "prompt_head", "system": "system_head"}
    agg = every.agg(
        F.count(F.lit(1)).alias("_all"),
        F.count(F.col(_REASON)).alias("_bad"),
        *[F.count(F.col(seen_as.get(c, c))).alias(c) for c in contract if seen_as.get(c, c) in every.columns],
    ).collect()[0]
    shutil.rmtree(tmp, ignore_errors=True)

    stats = IngestStats(
        files=sorted(_path(f) for f in df.inputFiles()),
        plausible=(_iso(plausible.earliest), _iso(plausible.latest)),
    )
    stats.columns_present = {c for c in contract if c in agg.asDict() and agg[c]}
    stats.extra_columns = {c for c in names if c not in INTERACTIONS.names}
    rows: list[tuple[str, int, str, str]] = []
    for r in sorted(bad.to_pylist(), key=lambda r: (r[_FILE], r[_ROW])):
        rows.append((_path(r[_FILE]), r[_ROW], r[_REASON], r[_RAW]))
        if r[_CLOCK]:
            stats.clock_faults += r[_CLOCK]
            if stats.clock_fault_example is None:
                stats.clock_fault_example = {"file": _path(r[_FILE]), "row": r[_ROW], "reason": r[_REASON]}
    for r in dup_rows.to_pylist():
        first = _path(r["_f1"])
        where = f"{first} row {r['_r1']}" if r["_f1"] != r[_FILE] else f"row {r['_r1']} of the same file"
        reason = f"duplicate request_id {r['request_id']!r} (first seen at {where})"
        rows.append((_path(r[_FILE]), r[_ROW], reason, dup_raw.get((r[_FILE], r[_ROW]), "")))
    for _, _, reason, _ in rows:
        k = _reason_kind(reason)
        stats.rejected_by_reason[k] = stats.rejected_by_reason.get(k, 0) + 1
    stats.rows_rejected = len(rows)
    stats.rows_read = int(agg["_all"])
    stats.rows_ok = int(agg["_all"]) - int(agg["_bad"]) - dup_rows.num_rows
    rejected = pa.table(
        {
            "table": pa.array(["interactions"] * len(rows), pa.string()),
            "file": [r[0] for r in rows],
            "row": pa.array([r[1] for r in rows], pa.int64()),
            "reason": [r[2] for r in rows],
            "raw": [r[3] for r in rows],
        },
        schema=REJECTED,
    ).sort_by([("file", "ascending"), ("row", "ascending")])
    accounts_read = read_accounts(list(accounts_paths)) if accounts_paths else None
    if accounts_read is not None:
        rejected = pa.concat_tables([rejected, accounts_read.rejected.cast(rejected.schema)])
    if stats.rows_ok == 0:
        raise InputError(", ".join(map(str, paths)), "no valid interaction rows to scan")
    return Staged(
        stage_dir,
        [str(p) for p in paths],
        [str(p) for p in (accounts_paths or [])],
        stats,
        accounts_read,
        rejected,
        stats.rows_ok,
        time.perf_counter() - t0,
    )
