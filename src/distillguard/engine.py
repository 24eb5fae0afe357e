"""What differs between the engines that run the set-wise stages: only how a result is kept.

Every aggregate of the scan is one ibis expression, run as it is by DuckDB (the embedded default) or by
Spark (``scan --engine spark``). The stages that reuse a result several times materialise it with
:func:`materialise`, the one place that knows the engine: a DuckDB table in the scan's in-memory
database, or a cached temporary view on Spark (``CACHE TABLE``: kept in executor memory, spilled to
their local disks, and never written to a warehouse directory the scan does not own).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa


def is_spark(con: ibis.BaseBackend) -> bool:
    return con.name == "pyspark"


def materialise(con: ibis.BaseBackend, name: str, obj: ir.Table | pa.Table) -> ir.Table:
    """``obj`` (an expression over ``con``'s tables, or Arrow) computed once, as table ``name``."""
    if not is_spark(con):
        return con.create_table(name, obj if isinstance(obj, ir.Table) else ibis.memtable(obj))
    session = con._session  # the backend's SparkSession (ibis keeps it there)
    if isinstance(obj, pa.Table):
        df = session.createDataFrame(obj) if obj.num_rows else session.createDataFrame([], _spark_schema(obj))
        df.createOrReplaceTempView(name)
        session.sql(f"CACHE TABLE `{name}`")
        return con.table(name)
    con._run_pre_execute_hooks(obj)  # (registers the memtables the expression reads)
    session.sql(f"UNCACHE TABLE IF EXISTS `{name}`")
    session.sql(f"CACHE TABLE `{name}` AS {con.compile(obj)}")
    return con.table(name)


def _spark_schema(table: pa.Table) -> object:
    """The Spark schema of an empty Arrow table (Spark cannot infer one from no rows)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(table.schema)
