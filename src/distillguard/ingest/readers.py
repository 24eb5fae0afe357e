"""Format readers: each turns one input file into raw Arrow chunks with their row numbers.

A reader checks what makes a file unreadable (not the format, corrupt, empty, a required column
missing) and raises :class:`InputError`; rows that are malformed at the format level (a CSV line with
the wrong number of fields, a JSON line that does not parse) come back as :class:`BadRow`s. Types are
not checked here: that is :mod:`distillguard.ingest.coerce`, shared by every format.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from distillguard.errors import InputError
from distillguard.ingest.files import InputFile
from distillguard.schema import ENUMS, TableSpec

#: bytes of text handed to the JSON parser at once
JSON_BLOCK_BYTES = 8 << 20


@dataclass(frozen=True)
class BadRow:
    row: int  # 1-based record number within the file (JSON Lines: the line number)
    reason: str
    raw: str


@dataclass
class RawChunk:
    table: pa.Table  # columns as found in the file, any types
    rows: np.ndarray  # int64 record numbers of table's rows
    bad: list[BadRow] = field(default_factory=list)
    csv: bool = False  # values are untyped text: "" means null for optional columns


def missing_required(f: InputFile, spec: TableSpec, names: list[str], where: str = "") -> None:
    missing = [c for c in spec.required if c not in names]
    if missing:
        cols = ", ".join(missing)
        plural = "s" if len(missing) > 1 else ""
        raise InputError(
            f, f"missing required column{plural} {cols}{where} (found: {', '.join(names) or 'none'})"
        )


def _stream_error(f: InputFile, exc: Exception, after: int) -> InputError:
    text = str(exc)
    if f.gzip and any(k in text.lower() for k in ("gzip", "zlib", "truncat", "unexpected end", "stream")):
        return InputError(f, f"gzip stream is truncated or corrupt (after record {after}): {text}")
    return InputError(f, f"cannot be read past record {after}: {text}")


# --- Parquet -------------------------------------------------------------------------------------


def is_text_type(typ: pa.DataType) -> bool:
    """Whether Arrow type ``typ`` holds text: string, large string or string view, or a dictionary
    of one of them (pandas' categoricals, polars' Categorical and Enum, ``dictionary_encode()``)."""
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ)


def unbreakable(spec: TableSpec, name: str, typ: pa.DataType) -> bool:
    """Whether no row can break the contract in column ``name`` stored as ``typ``: an optional
    text column without a list of allowed values, stored as text (or all null)."""
    col = spec.column(name)
    text = is_text_type(typ) or pa.types.is_null(typ)
    return not col.required and (spec.name, name) not in ENUMS and pa.types.is_string(col.type) and text


def parquet_read_columns(
    spec: TableSpec, schema: pa.Schema, wanted: Collection[str] | None
) -> list[str] | None:
    """The columns of a Parquet file to read when the caller uses only the contract columns
    ``wanted`` (None: all): those, and every contract column in which a row could break the
    contract (so the same rows are set aside). Unknown extra columns are not read."""
    if wanted is None:
        return None
    return [
        n
        for n, t in zip(schema.names, schema.types, strict=True)
        if n in spec.names and (n in wanted or not unbreakable(spec, n, t))
    ]


def read_parquet(
    f: InputFile, spec: TableSpec, batch_rows: int, columns: Collection[str] | None = None
) -> Iterator[RawChunk]:
    try:
        pf = pq.ParquetFile(f.path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f, f"not a readable Parquet file ({exc})") from None
    names = pf.schema_arrow.names
    missing_required(f, spec, names)
    read = parquet_read_columns(spec, pf.schema_arrow, columns)
    start = 1
    try:
        for batch in pf.iter_batches(batch_size=batch_rows, columns=read):
            n = batch.num_rows
            yield RawChunk(pa.Table.from_batches([batch]), np.arange(start, start + n, dtype=np.int64))
            start += n
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f, f"corrupt Parquet data after record {start - 1}: {exc}") from None


def parquet_columns(f: InputFile) -> list[str]:
    try:
        return pq.ParquetFile(f.path).schema_arrow.names
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f, f"not a readable Parquet file ({exc})") from None


# --- text helpers --------------------------------------------------------------------------------


def _open_text(f: InputFile) -> pa.NativeFile:
    try:
        return pa.input_stream(str(f.path), compression="gzip" if f.gzip else None)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f, f"cannot be opened ({exc})") from None


def _head(f: InputFile, nbytes: int = 1 << 16) -> bytes:
    with _open_text(f) as stream:
        try:
            return stream.read(nbytes)
        except (OSError, pa.ArrowException) as exc:
            raise _stream_error(f, exc, 0) from None


def _check_text(f: InputFile, head: bytes, kind: str, nbytes: int = 1 << 16) -> None:
    if not head.strip() and (len(head) < nbytes or kind == "CSV"):  # (blank lines may go on)
        raise InputError(f, "is empty" + (": no header row" if kind == "CSV" else ""))
    if b"\x00" in head:
        raise InputError(f, f"holds binary data, not {kind} text")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the end of the sample
            raise InputError(f, f"is not UTF-8 {kind} text (invalid byte at offset {exc.start})") from None


def _first_record(f: InputFile, head: bytes, *, csv_quotes: bool) -> bytes:
    """The file's first record, however long: up to its first newline (JSON Lines: the first
    non-blank line; CSV: a newline outside double quotes). Starts from ``head``, the file's first
    bytes, and reads on only while the record is longer than that."""
    buf = bytearray(head if csv_quotes else head.lstrip())
    quotes = 0  # double quotes in buf[:counted]
    counted = pos = 0
    with _open_text(f) as stream:
        try:
            stream.read(len(head))  # (already in buf)
            piece = 1 << 16
            while True:
                nl = buf.find(b"\n", pos)
                while nl >= 0:
                    if csv_quotes:
                        quotes += buf.count(b'"', counted, nl)
                        counted = nl
                    if quotes % 2 == 0:
                        return bytes(buf[:nl])
                    pos = nl + 1
                    nl = buf.find(b"\n", pos)
                pos = len(buf)
                data = stream.read(piece)
                if not data:
                    return bytes(buf)
                if not buf and not csv_quotes:
                    data = data.lstrip()
                buf += data
                piece = min(piece * 2, 8 << 20)
        except (OSError, pa.ArrowException) as exc:
            raise _stream_error(f, exc, 0) from None


# --- CSV -----------------------------------------------------------------------------------------


def csv_columns(f: InputFile) -> list[str]:
    head = _head(f)
    _check_text(f, head, "CSV")
    text = _first_record(f, head, csv_quotes=True).decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        return next(csv.reader(io.StringIO(text)))
    except (csv.Error, StopIteration) as exc:
        raise InputError(f, f"header row cannot be parsed as CSV ({exc})") from None


#: bytes of CSV text parsed at once; a record longer than a block makes the file be read again from
#: the start with blocks four times larger (what was yielded already is skipped), up to the maximum
CSV_BLOCK_BYTES = 8 << 20
CSV_MAX_BLOCK_BYTES = 1 << 30


class _RecordTooLong(Exception):
    pass


@dataclass
class _CsvDone:
    """What earlier passes over a CSV file yielded: so many valid rows, these malformed records."""

    valid: int = 0
    reported: set[int] = field(default_factory=set)


def read_csv(
    f: InputFile, spec: TableSpec, batch_rows: int, columns: Collection[str] | None = None
) -> Iterator[RawChunk]:
    """``columns`` is not used: a text record is parsed whole (see :func:`parquet_read_columns`)."""
    names = csv_columns(f)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f, f"header names column {', '.join(dup)} more than once")
    missing_required(f, spec, names)
    done = _CsvDone()
    block = CSV_BLOCK_BYTES
    while True:
        try:
            yield from _read_csv_pass(f, names, batch_rows, block, done)
            return
        except _RecordTooLong:
            if block >= CSV_MAX_BLOCK_BYTES:
                raise InputError(
                    f,
                    f"holds a record longer than {CSV_MAX_BLOCK_BYTES >> 20} MiB "
                    f"(after valid record {done.valid}): not read",
                ) from None
            block *= 4


def _read_csv_pass(
    f: InputFile, names: list[str], batch_rows: int, block: int, done: _CsvDone
) -> Iterator[RawChunk]:
    """Read a CSV file from its start in blocks of ``block`` bytes, skipping what ``done`` says
    was yielded already; raise :class:`_RecordTooLong` for a record longer than a block."""
    malformed: list[BadRow] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        number = (row.number or 0) - 1  # pyarrow counts the header as record 1
        malformed.append(
            BadRow(
                number,
                f"malformed CSV record: expected {row.expected_columns} fields, found {row.actual_columns}",
                row.text,
            )
        )
        return "skip"

    def failed(exc: Exception) -> Exception:
        if "straddl" in str(exc).lower():  # "straddling object straddles two block boundaries"
            return _RecordTooLong()
        return _stream_error(f, exc, done.valid)

    def new_bad(bad: list[BadRow]) -> list[BadRow]:
        bad = [b for b in bad if b.row not in done.reported]
        done.reported.update(b.row for b in bad)
        return bad

    stream = _open_text(f)
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=block, encoding="utf8"),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )
    except (OSError, pa.ArrowException) as exc:
        stream.close()
        raise failed(exc) from None
    next_record = 1
    pending: list[int] = []  # record numbers of malformed rows not yet passed
    valid = 0  # valid rows read in this pass
    try:
        with stream:
            for batch in reader:
                bad_all, malformed[:] = list(malformed), []
                pending.extend(b.row for b in bad_all)
                pending.sort()
                n = batch.num_rows
                # the valid rows take the first n record numbers >= next_record that are not malformed
                cand = np.arange(next_record, next_record + n + len(pending), dtype=np.int64)
                cand = cand[~np.isin(cand, np.asarray(pending, dtype=np.int64))][:n]
                if n:
                    next_record = int(cand[-1]) + 1
                    pending = [p for p in pending if p > cand[-1]]
                skip = min(n, max(0, done.valid - valid))  # rows an earlier pass yielded
                bad_now = new_bad(bad_all)
                for start in range(skip, n, batch_rows):
                    sl = batch.slice(start, batch_rows)
                    done.valid = valid + start + sl.num_rows
                    yield RawChunk(
                        pa.Table.from_batches([sl]),
                        cand[start : start + sl.num_rows],
                        bad_now if start == skip else [],
                        csv=True,
                    )
                if skip == n and bad_now:
                    yield _no_rows(names, bad_now)
                valid += n
            if bad_now := new_bad(malformed):
                yield _no_rows(names, bad_now)
    except (OSError, pa.ArrowException) as exc:
        raise failed(exc) from None


def _no_rows(names: list[str], bad: list[BadRow]) -> RawChunk:
    return RawChunk(
        pa.table({n: pa.array([], pa.string()) for n in names}), np.zeros(0, np.int64), bad, csv=True
    )


# --- JSON Lines ------------------------------------------------------------------------------------


def _python_type(v: object) -> str:
    return {
        bool: "true/false",
        int: "an integer",
        float: "a decimal number",
        str: "text",
        list: "a list",
        dict: "an object",
    }.get(type(v), type(v).__name__)


def _parse_lines_slowly(
    lines: list[bytes], line_numbers: np.ndarray
) -> tuple[pa.Table, np.ndarray, list[BadRow]]:
    """Per-line fallback for a block the vectorised parser refused: find the bad lines exactly."""
    good: list[dict] = []
    good_rows: list[int] = []
    bad: list[BadRow] = []
    for line, number in zip(lines, line_numbers.tolist(), strict=True):
        text = line.decode("utf-8", errors="replace")
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            bad.append(BadRow(number, f"invalid JSON ({exc.msg if hasattr(exc, 'msg') else exc})", text))
            continue
        if not isinstance(obj, dict):
            bad.append(BadRow(number, f"not a JSON object (found {_python_type(obj)})", text))
            continue
        good.append(obj)
        good_rows.append(number)
    return _records_to_table(good), np.asarray(good_rows, dtype=np.int64), bad


def _records_to_table(records: list[dict]) -> pa.Table:
    """Build a table from parsed objects column by column; a column of mixed kinds becomes text values
    that keep their JSON spelling, so the type check downstream names the offending rows."""
    names: dict[str, None] = {}
    for r in records:
        names.update(dict.fromkeys(r))
    cols = {}
    for name in names:
        values = [r.get(name) for r in records]
        try:
            cols[name] = pa.array(values)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            cols[name] = pa.array(
                [None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in values],
                pa.string(),
            )
            cols[name] = _tag_mixed(cols[name], values)
    return pa.table(cols) if cols else pa.table({"__empty__": pa.nulls(len(records))})


def _tag_mixed(arr: pa.Array, values: list) -> pa.Array:
    """Mark which JSON kind every value had, so coercion can reject e.g. a number in a text column."""
    kinds = pa.array([None if v is None else _python_type(v) for v in values], pa.string())
    return pa.StructArray.from_arrays([arr, kinds], names=["value", "kind"])


def jsonl_first_object(f: InputFile) -> list[str]:
    """Keys of the first record (used by ``validate`` to say which columns are present)."""
    head = _head(f)
    _check_text(f, head, "JSON Lines")
    first = _first_record(f, head, csv_quotes=False)  # a first line of any length
    if not first.strip():
        raise InputError(f, "is empty")
    try:
        obj = json.loads(first)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f, f"is not JSON Lines: the first line does not parse as JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise InputError(
            f, f"is not JSON Lines: the first line is not a JSON object (found {_python_type(obj)})"
        )
    return list(obj)


def read_jsonl(
    f: InputFile, spec: TableSpec, batch_rows: int, columns: Collection[str] | None = None
) -> Iterator[RawChunk]:
    """``columns`` is not used: a text record is parsed whole (see :func:`parquet_read_columns`)."""
    jsonl_first_object(f)
    # text columns are parsed as text, so a number or object where text belongs sends the block down the
    # exact per-line path instead of being inferred into some other type
    text_cols = pa.schema(
        [
            pa.field(c.name, pa.string())
            for c in spec.columns
            if c.type == pa.string() or pa.types.is_timestamp(c.type)
        ]
    )
    stream = _open_text(f)
    seen_columns: set[str] = set()
    line_no = 0  # lines consumed so far
    carry: list[bytes] = []  # the start of a line not yet ended (a line may be longer than a read)
    emitted = 0
    first = True
    with stream:
        while True:
            try:
                data = stream.read(JSON_BLOCK_BYTES)
            except (OSError, pa.ArrowException) as exc:
                raise _stream_error(f, exc, emitted) from None
            at_end = not data
            if not at_end:
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry.append(data)
                    continue
                block = b"".join([*carry, data[: cut + 1]])
                carry = [data[cut + 1 :]]
            else:
                block = b"".join(carry)
                carry = []
            if block.strip():
                for chunk in _parse_block(block, line_no, batch_rows, text_cols):
                    if first and chunk.table.num_rows:
                        first = False
                        seen_columns.update(
                            n
                            for n in chunk.table.column_names
                            if chunk.table.column(n).null_count < chunk.table.num_rows
                        )
                        missing_required(
                            f, spec, sorted(seen_columns), " (no record of the first block has it)"
                        )
                    emitted += chunk.table.num_rows
                    yield chunk
            line_no += block.count(b"\n") + (0 if block.endswith(b"\n") or not block else 1)
            if at_end:
                break


def _parse_block(block: bytes, line_offset: int, batch_rows: int, text_cols: pa.Schema) -> Iterator[RawChunk]:
    arr = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(arr == 10)
    if len(ends) == 0 or ends[-1] != len(block) - 1:
        ends = np.append(ends, len(block))
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    # a line holding only "\r" or nothing is blank
    cr_only = (lengths == 1) & (arr[np.minimum(starts, len(arr) - 1)] == 13)
    nonblank = (lengths > 0) & ~cr_only
    line_numbers = (np.flatnonzero(nonblank) + 1 + line_offset).astype(np.int64)
    table: pa.Table | None = None
    try:
        table = pajson.read_json(
            io.BytesIO(block),
            read_options=pajson.ReadOptions(use_threads=True, block_size=max(len(block) + 1, 1 << 20)),
            parse_options=pajson.ParseOptions(
                explicit_schema=text_cols, newlines_in_values=False, unexpected_field_behavior="infer"
            ),
        )
        if table.num_rows != len(line_numbers):
            table = None
    except (pa.ArrowException, ValueError):
        table = None
    if table is None:
        lines = [block[s:e] for s, e, keep in zip(starts, ends, nonblank, strict=True) if keep]
        table, rows, bad = _parse_lines_slowly(lines, line_numbers)
    else:
        rows, bad = line_numbers, []
    n = table.num_rows
    if n == 0:
        yield RawChunk(table, rows, bad)
        return
    for i, start in enumerate(range(0, n, batch_rows)):
        yield RawChunk(
            table.slice(start, batch_rows), rows[start : start + batch_rows], bad if i == 0 else []
        )


READERS = {"parquet": read_parquet, "csv": read_csv, "jsonl": read_jsonl}


def columns_of(f: InputFile) -> list[str]:
    """Column names a file declares (JSON Lines: the keys of its first record)."""
    if f.format == "parquet":
        return parquet_columns(f)
    if f.format == "csv":
        return csv_columns(f)
    return jsonl_first_object(f)
