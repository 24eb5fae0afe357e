"""Type checking and normalisation shared by every format, vectorised with polars.

Each contract column is turned into its contract type; a value that cannot be (a timestamp that
does not parse, text in an integer column, a number with a fraction in a count, a status outside
the allowed set, a missing required value) marks its row as bad with a reason that names the column
and the value. Lenient only where the spelling is unambiguous: digits in text for a number (CSV has
nothing else), an integer for a text column (ids are often numbers), ``true``/``false``/``1``/``0``
for a boolean, a timestamp without an offset read as UTC (the contract says timestamps are UTC).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa

from distillguard.ingest.readers import BadRow, RawChunk
from distillguard.schema import ENUMS, Column, TableSpec

_TS_FORMATS = (
    ("%Y-%m-%dT%H:%M:%S%.f%:z", True),
    ("%Y-%m-%d %H:%M:%S%.f%:z", True),
    ("%Y-%m-%dT%H:%M:%S%.f", False),
    ("%Y-%m-%d %H:%M:%S%.f", False),
    ("%Y-%m-%dT%H:%M%:z", True),
    ("%Y-%m-%dT%H:%M", False),
)
#: A timestamp before this, or more than FUTURE_SLACK after the run's clock, is a clock fault (a
#: logging machine's clock reset to 1970, a placeholder date such as 2099-01-01), not a request: such
#: a row is set aside, since it would stretch time spans and the daily windows over decades.
PLAUSIBLE_FROM = datetime(2000, 1, 1, tzinfo=UTC)  # well before any LLM API
FUTURE_SLACK = timedelta(days=1)  # (clocks of the logging machines and this one may differ a little)
CLOCK_FAULT = "a clock fault?"


@dataclass(frozen=True)
class Plausible:
    """The range of plausible timestamps: [PLAUSIBLE_FROM, now + FUTURE_SLACK]."""

    earliest: datetime
    latest: datetime

    @classmethod
    def around(cls, now: datetime | None = None) -> Plausible:
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return cls(PLAUSIBLE_FROM, now.astimezone(UTC) + FUTURE_SLACK)


_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_WRONG_KIND = {"a list", "an object"}


@dataclass
class Coerced:
    table: pa.Table  # exactly spec.schema
    rows: np.ndarray  # record numbers of table's rows
    bad: list[BadRow]
    clock_faults: int = 0  # rows (among bad) with a timestamp outside the plausible range
    clock_example: BadRow | None = None  # the first of them


def _show(expr: pl.Expr) -> pl.Expr:
    """A value as it appears in a message: quoted, cut at 60 characters."""
    s = expr.cast(pl.String)
    return pl.format("'{}'", pl.when(s.str.len_chars() > 60).then(s.str.slice(0, 57) + "...").otherwise(s))


PREPARSED = "__parsed__"
_FAST_TS = "%Y-%m-%dT%H:%M:%S%.f%#z"


def _preparse_timestamps(df: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    """Parse text timestamp columns once: the common RFC 3339 spelling for all rows, the other accepted
    spellings only for the rows it missed (the full chain costs ~10x more)."""
    for col in spec.columns:
        if not pa.types.is_timestamp(col.type) or df.schema.get(col.name) != pl.String:
            continue
        text = df.get_column(col.name).str.strip_chars()
        fast = text.str.to_datetime(_FAST_TS, strict=False, time_unit="us", time_zone="UTC")
        missed = fast.is_null() & text.is_not_null() & (text != "")
        if missed.any():
            idx = missed.arg_true()
            slow = pl.select(_parse_ts(pl.lit(text.gather(idx)))).to_series()
            fast = fast.scatter(idx, slow)
        df = df.with_columns(fast.alias(PREPARSED + col.name))
    return df


def _parse_ts(text: pl.Expr) -> pl.Expr:
    t = text.str.strip_chars().str.replace(r"[Zz]$", "+00:00").str.replace(r"([+-]\d\d)(\d\d)$", "${1}:${2}")
    parsed = []
    for fmt, has_offset in _TS_FORMATS:
        e = t.str.to_datetime(fmt, strict=False, time_unit="us")
        e = e.dt.convert_time_zone("UTC") if has_offset else e.dt.replace_time_zone("UTC")
        parsed.append(e)
    return pl.coalesce(parsed)


def _column_exprs(
    col: Column, dtype: pl.DataType, spec: TableSpec, csv: bool, detail: bool, preparsed: bool = False
) -> tuple[pl.Expr, pl.Expr]:
    """(value in contract type, reason or null) for one contract column present in the chunk.

    Without ``detail`` a reason is a constant (cheap: used to find the bad rows); with it, the reason
    quotes the value (used on the bad rows only).
    """

    def fmt(template: str, *args: pl.Expr) -> pl.Expr:
        return pl.format(template, *args) if detail else pl.lit(template)

    name = col.name
    raw = pl.col(name)
    kind = None
    if isinstance(dtype, pl.Struct):  # per-line JSON path: mixed kinds, value spelled as text + its kind
        kind = raw.struct.field("kind")
        raw = raw.struct.field("value")
        dtype = pl.String
    target = col.type
    none = pl.lit(None)
    wrong_type = pl.lit(f"{name}: expected {_describe(target)}, got {_describe_pl(dtype)}")

    if dtype == pl.String:
        text = raw
        if csv or target != pa.string():
            stripped = text.str.strip_chars() if target != pa.string() else text
            text = pl.when(stripped == "").then(none).otherwise(stripped) if not col.required else stripped
        if pa.types.is_string(target):
            value = text
            bad_val = pl.lit(False)
        elif pa.types.is_integer(target):
            value = text.str.to_integer(strict=False)
            as_float = text.cast(pl.Float64, strict=False)
            value = pl.coalesce(
                value, pl.when(as_float == as_float.round(0)).then(as_float.cast(pl.Int64, strict=False))
            )
            bad_val = value.is_null() & text.is_not_null()
            wrong_type = fmt(f"{name}: {{}} is not an integer", _show(text))
        elif pa.types.is_floating(target):
            value = text.cast(pl.Float64, strict=False)
            bad_val = value.is_null() & text.is_not_null()
            wrong_type = fmt(f"{name}: {{}} is not a number", _show(text))
        elif pa.types.is_boolean(target):
            low = text.str.to_lowercase()
            value = pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False).otherwise(None)
            bad_val = value.is_null() & text.is_not_null()
            wrong_type = fmt(f"{name}: {{}} is not true or false", _show(text))
        elif pa.types.is_timestamp(target):
            value = pl.col(PREPARSED + name) if preparsed else _parse_ts(text)
            bad_val = value.is_null() & text.is_not_null()
            wrong_type = fmt(f"{name}: {{}} is not an RFC 3339 timestamp", _show(text))
        else:  # pragma: no cover - the contract has no other types
            raise AssertionError(target)
        reason = pl.when(bad_val).then(wrong_type)
        if kind is not None:
            kind_bad = kind.is_in(list(_WRONG_KIND))
            if not pa.types.is_boolean(target):
                kind_bad = kind_bad | (kind == "true/false")
            if pa.types.is_string(target):
                kind_bad = kind_bad | (kind == "a decimal number")
            reason = (
                pl.when(kind_bad)
                .then(fmt(f"{name}: expected {_describe(target)}, got {{}}", kind))
                .otherwise(reason)
            )
            value = pl.when(kind_bad).then(none).otherwise(value)
        return value, reason

    if dtype == pl.Null:
        return none, none
    if pa.types.is_string(target):
        if dtype.is_integer():
            return raw.cast(pl.String), none
    elif pa.types.is_integer(target):
        if dtype.is_integer():
            value = raw.cast(pl.Int64, strict=False)
            return value, pl.when(value.is_null() & raw.is_not_null()).then(
                fmt(f"{name}: {{}} does not fit a 64-bit integer", _show(raw))
            )
        if dtype.is_float():
            ok = raw == raw.round(0)
            return pl.when(ok).then(raw.cast(pl.Int64, strict=False)), pl.when(~ok & raw.is_not_null()).then(
                fmt(f"{name}: {{}} is not an integer", _show(raw))
            )
    elif pa.types.is_floating(target):
        if dtype.is_numeric():
            return raw.cast(pl.Float64), none
    elif pa.types.is_boolean(target):
        if dtype == pl.Boolean:
            return raw, none
        if dtype.is_integer():
            ok = raw.is_in([0, 1])
            return pl.when(ok).then(raw == 1), pl.when(~ok & raw.is_not_null()).then(
                fmt(f"{name}: {{}} is not true or false", _show(raw))
            )
    elif pa.types.is_timestamp(target) and isinstance(dtype, pl.Datetime):
        value = raw.cast(pl.Datetime("us", dtype.time_zone))
        value = value.dt.convert_time_zone("UTC") if dtype.time_zone else value.dt.replace_time_zone("UTC")
        return value, none
    # a column of a type that cannot hold this field: every row with a value is bad
    return none, pl.when(raw.is_not_null()).then(wrong_type)


def _describe(t: pa.DataType) -> str:
    if pa.types.is_string(t):
        return "text"
    if pa.types.is_integer(t):
        return "an integer"
    if pa.types.is_floating(t):
        return "a number"
    if pa.types.is_boolean(t):
        return "true/false"
    if pa.types.is_timestamp(t):
        return "a timestamp"
    return str(t)


def _describe_pl(t: pl.DataType) -> str:
    if t.is_integer():
        return "integers"
    if t.is_float():
        return "decimal numbers"
    if t == pl.Boolean:
        return "true/false"
    if isinstance(t, pl.List | pl.Array):
        return "lists"
    if isinstance(t, pl.Struct):
        return "objects"
    if t.is_temporal():
        return f"{t} values"
    return str(t)


def _exprs(
    df: pl.DataFrame, spec: TableSpec, csv: bool, detail: bool, plausible: Plausible | None = None
) -> tuple[list[pl.Expr], pl.Expr, pl.Expr]:
    """Value expressions for every contract column, one expression joining the row's reasons, and one
    that is true for a row with a timestamp outside ``plausible`` (None: no such check)."""

    def fmt(template: str, *args: pl.Expr) -> pl.Expr:
        return pl.format(template, *args) if detail else pl.lit(template)

    values: list[pl.Expr] = []
    reasons: list[pl.Expr] = []
    clock: list[pl.Expr] = []
    for col in spec.columns:
        if col.name in df.columns:
            value, reason = _column_exprs(
                col, df.schema[col.name], spec, csv, detail, preparsed=PREPARSED + col.name in df.columns
            )
        else:
            value, reason = pl.lit(None), pl.lit(None, pl.String)
        value = value.cast(_pl_type(col.type), strict=False)
        if col.required:
            missing = value.is_null()
            if pa.types.is_string(col.type) and col.name != "prompt":
                missing = missing | (value.str.strip_chars() == "")
            reason = pl.coalesce(reason, pl.when(missing).then(pl.lit(f"{col.name} is missing")))
        if plausible is not None and pa.types.is_timestamp(col.type) and col.name in df.columns:
            early = value < pl.lit(plausible.earliest)
            late = value > pl.lit(plausible.latest)
            shown = pl.format("'{}'", value.dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"))
            reason = pl.coalesce(
                reason,
                pl.when(early)
                .then(fmt(f"{col.name}: {{}} is before {plausible.earliest:%Y-%m-%d} ({CLOCK_FAULT})", shown))
                .when(late)
                .then(fmt(f"{col.name}: {{}} is more than a day after this run ({CLOCK_FAULT})", shown)),
            )
            clock.append((early | late).fill_null(False))
        allowed = ENUMS.get((spec.name, col.name))
        if allowed is not None:
            outside = value.is_not_null() & ~value.is_in(sorted(allowed))
            reason = pl.coalesce(
                reason,
                pl.when(outside).then(
                    fmt(f"{col.name}: {{}} is not one of {', '.join(sorted(allowed))}", _show(value))
                ),
            )
        values.append(value.alias(col.name))
        reasons.append(reason.cast(pl.String))
    faulty = pl.any_horizontal(clock) if clock else pl.lit(False)
    return (
        values,
        pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias("__reason__"),
        faulty.alias("__clock__"),
    )


def _plain_text(table: pa.Table, spec: TableSpec) -> pa.Table:
    """The contract's dictionary-encoded columns decoded to the values they hold (pandas'
    categoricals, polars' Categorical and Enum, ``dictionary_encode()``), string views as large
    strings: text is text, however a writer chose to store it. Large strings stay as they are
    (polars and the final cast take them)."""
    for i, fld in enumerate(table.schema):
        if fld.name not in spec.names:
            continue
        col = table.column(i)
        if pa.types.is_dictionary(fld.type):
            col = pa.chunked_array([c.dictionary.take(c.indices) for c in col.chunks], fld.type.value_type)
        if pa.types.is_string_view(col.type):
            col = col.cast(pa.large_string())  # (a chunk may hold more than plain strings can: 2 GiB)
        if col.type != fld.type:
            table = table.set_column(i, fld.name, col)
    return table


def coerce(chunk: RawChunk, spec: TableSpec, plausible: Plausible | None = None) -> Coerced:
    """Turn a raw chunk into the contract schema; rows that break the contract go to ``bad``, as do
    rows with a timestamp outside ``plausible`` (None: not checked), counted in ``clock_faults``.

    Two passes: every row with constant reasons (finds the bad rows cheaply), then the bad rows
    alone with reasons that quote the offending values.
    """
    table = chunk.table
    n = table.num_rows
    bad = list(chunk.bad)
    if n == 0:
        return Coerced(pa.Table.from_batches([], schema=spec.schema), np.zeros(0, np.int64), bad)
    table = _plain_text(table, spec)
    # only the contract's columns: unknown extras are ignored (and may be of types polars lacks)
    df = pl.from_arrow(table.select([c for c in table.column_names if c in spec.names]), rechunk=False)
    assert isinstance(df, pl.DataFrame)
    df = _preparse_timestamps(df, spec)
    values, reason, clock = _exprs(df, spec, chunk.csv, detail=False, plausible=plausible)
    out = df.select(*values, reason, clock)
    is_bad = (out.get_column("__reason__") != "").to_numpy()
    is_clock = out.get_column("__clock__").to_numpy()
    clock_faults, clock_example = int(is_clock.sum()), None
    out = out.drop("__clock__")
    if is_bad.any():
        idx = np.flatnonzero(is_bad)
        subset = df.filter(pl.Series(is_bad))
        _, detailed, _ = _exprs(subset, spec, chunk.csv, detail=True, plausible=plausible)
        messages = subset.select(detailed).to_series().to_list()
        raw_rows = table.take(pa.array(idx)).to_pylist()  # the row as read, not as parsed
        for i, r, rec in zip(idx.tolist(), messages, raw_rows, strict=True):
            bad.append(
                BadRow(int(chunk.rows[i]), r, json.dumps(_unwrap(rec), default=str, ensure_ascii=False))
            )
            if clock_example is None and is_clock[i]:
                clock_example = bad[-1]
        out = out.filter(pl.Series(~is_bad))
        rows = chunk.rows[~is_bad]
    else:
        rows = chunk.rows
    # text columns already in the contract type pass through as read: taken from the Arrow input
    # rather than converted back from polars (a copy of every prompt; measured 0.4 s per 1M rows)
    same = [
        c.name
        for c in spec.columns
        if pa.types.is_string(c.type)
        and not chunk.csv
        and c.name in table.column_names
        and (pa.types.is_string(t := table.schema.field(c.name).type) or pa.types.is_large_string(t))
    ]
    good = out.drop("__reason__", *same).to_arrow()
    if same:
        keep = table if not is_bad.any() else table.filter(pa.array(~is_bad))
        arrays = {f.name: good.column(f.name) for f in good.schema}
        arrays.update({name: keep.column(name) for name in same})
        good = pa.table({f.name: arrays[f.name] for f in spec.schema})
    return Coerced(good.cast(spec.schema), rows, bad, clock_faults, clock_example)


def _unwrap(rec: dict) -> dict:
    """Mixed-kind JSON columns come as {value, kind}: show the value as it was written."""
    out = {}
    for k, v in rec.items():
        if isinstance(v, dict) and set(v) == {"value", "kind"}:
            v = (
                v["value"]
                if v["kind"] == "text"
                else (json.loads(v["value"]) if v["value"] is not None else None)
            )
        out[k] = v
    return out


def _pl_type(t: pa.DataType) -> pl.DataType:
    if pa.types.is_string(t):
        return pl.String
    if pa.types.is_integer(t):
        return pl.Int64
    if pa.types.is_floating(t):
        return pl.Float64
    if pa.types.is_boolean(t):
        return pl.Boolean
    if pa.types.is_timestamp(t):
        return pl.Datetime("us", "UTC")
    raise AssertionError(t)  # pragma: no cover
