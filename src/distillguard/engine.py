"""What differs between the engines that run the set-wise stages: only how a result is kept.

Every aggregate of the scan is one ibis expression, run as it is by DuckDB (the embedded default) or by
Spark (``scan --engine spark``). The stages that reuse a result several times materialise it with
:func:`materialise`, the one place that knows the engine: a DuckDB table in the scan's in-memory
database, or on Spark a temporary view of a local checkpoint (kept by the executors' block managers,
in memory and on their local disks, and never written to a warehouse directory the scan does not
own; freed when the scan drops its views).
"""

from __future__ import annotations

from collections.abc import Iterator

import ibis
import ibis.expr.types as ir
import polars as pl
import pyarrow as pa


def is_spark(con: ibis.BaseBackend) -> bool:
    return con.name == "pyspark"


def to_polars(expr: ir.Table) -> pl.DataFrame:
    """An ibis table expression's rows as a polars DataFrame."""
    df = pl.from_arrow(expr.to_pyarrow())
    assert isinstance(df, pl.DataFrame)
    return df


def materialise(
    con: ibis.BaseBackend, name: str, obj: ir.Table | pa.Table, replace: bool = False
) -> ir.Table:
    """``obj`` (an expression over ``con``'s tables, or Arrow) computed once, as table ``name``
    (``replace``: in place of an earlier table of that name, for a stage that runs more than once)."""
    if not is_spark(con):
        if replace:
            drop(con, name)
        return con.create_table(name, obj if isinstance(obj, ir.Table) else ibis.memtable(obj))
    session = con._session  # the backend's SparkSession (ibis keeps it there)
    if isinstance(obj, pa.Table):
        df = session.createDataFrame(obj) if obj.num_rows else session.createDataFrame([], _spark_schema(obj))
        df.createOrReplaceTempView(name)
        session.sql(f"CACHE TABLE `{name}`")
        return con.table(name)
    con._run_pre_execute_hooks(obj)  # (registers the memtables the expression reads)
    # a local checkpoint, not CACHE TABLE: a cached view keeps the query that made it, and Spark
    # plans every later query over the whole lineage again (the near-duplicate keys, 32 grouped
    # bands, made each query over the key table take minutes to plan on a tiny log)
    df = session.sql(con.compile(obj)).localCheckpoint(eager=True)
    df.createOrReplaceTempView(name)
    return con.table(name)


def drop(con: ibis.BaseBackend, name: str) -> None:
    """Frees table ``name``, made by :func:`materialise`, once nothing later in the scan reads it."""
    if is_spark(con):
        con._session.catalog.dropTempView(name)
    else:  # (raw: ibis 12's drop_table renders no name with this sqlglot)
        con.raw_sql(f'DROP TABLE IF EXISTS "{name}"')


def record_batches(con: ibis.BaseBackend, expr: ir.Table, rows: int = 1_000_000) -> Iterator[pa.RecordBatch]:
    """``expr``'s result as Arrow batches of at most ``rows`` rows, so that a caller can fold a large
    result into its own arrays. DuckDB streams them; Spark collects the result to the driver as Arrow
    first (ibis's own batches on Spark go through pandas, a second and larger copy)."""
    con._run_pre_execute_hooks(expr)  # (registers the memtables the expression reads)
    sql = con.compile(expr)
    if is_spark(con):
        yield from con._session.sql(sql).toArrow().to_batches(rows)
    else:  # (ibis 12's DuckDB to_pyarrow_batches calls a cursor method that DuckDB 2 no longer has;
        # a relation streams, where Arrow from the cursor that raw_sql returns copies the rows first)
        yield from con.con.sql(sql).to_arrow_reader(rows)


def _spark_schema(table: pa.Table) -> object:
    """The Spark schema of an empty Arrow table (Spark cannot infer one from no rows)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(table.schema)
