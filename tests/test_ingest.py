"""The log-format readers: every format, every kind of bad input (shared/spec/log-format.md)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from distillguard.cli import _load_commands, app
from distillguard.errors import DistillguardError, InputError
from distillguard.ingest import open_interactions, read_accounts
from distillguard.schema import ACCOUNTS, INTERACTIONS


def _rows(n: int = 4) -> list[dict]:
    return [
        {
            "request_id": f"r{i}",
            "ts": f"2026-04-22T0{i % 10}:00:00Z",
            "account_id": f"acct-{i % 2}",
            "prompt": f"question {i}, with a comma\nand a newline",
            "turn": i,
            "model": "frontier-2026-04",
            "temperature": 0.5,
        }
        for i in range(n)
    ]


def _write(path: Path, rows: list[dict], fmt: str) -> Path:
    """Write rows as the named format; values are written as given (strings stay strings)."""
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif fmt in ("jsonl", "jsonl.gz"):
        text = "".join(json.dumps(r) + "\n" for r in rows)
        if fmt.endswith(".gz"):
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
    elif fmt in ("csv", "csv.gz"):
        names = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=names)
        w.writeheader()
        w.writerows(rows)
        data = buf.getvalue().encode()
        path.write_bytes(gzip.compress(data) if fmt.endswith(".gz") else data)
    return path


def _read(paths):
    src = open_interactions([str(p) for p in paths], batch_rows=3)
    batches = list(src)
    table = pa.Table.from_batches(batches, schema=INTERACTIONS.schema) if batches else None
    return src, table


FORMATS = ["parquet", "jsonl", "jsonl.gz", "csv", "csv.gz"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_to_the_contract(tmp_path, fmt):
    path = _write(tmp_path / f"log.{fmt}", _rows(7), fmt)
    src, table = _read([path])
    assert table.schema == INTERACTIONS.schema
    assert table.num_rows == 7 and src.stats.rows_rejected == 0
    assert table.column("request_id").to_pylist() == [f"r{i}" for i in range(7)]
    assert table.column("turn").to_pylist() == list(range(7))
    assert table.column("prompt")[0].as_py() == "question 0, with a comma\nand a newline"
    assert table.column("ts")[3].as_py() == datetime(2026, 4, 22, 3, tzinfo=UTC)
    # missing optional columns are null, not invented
    assert table.column("ip").null_count == 7
    assert src.stats.columns_present == {
        "request_id",
        "ts",
        "account_id",
        "prompt",
        "turn",
        "model",
        "temperature",
    }


def test_folder_of_mixed_formats_and_unknown_columns(tmp_path):
    rows = _rows(6)
    for r in rows:
        r["x_internal_tag"] = "keep me"
    _write(tmp_path / "a.parquet", rows[:2], "parquet")
    _write(tmp_path / "b.jsonl.gz", rows[2:4], "jsonl.gz")
    _write(tmp_path / "c.csv", rows[4:], "csv")
    (tmp_path / "README.txt").write_text("not a log")
    src, table = _read([tmp_path])
    assert sorted(table.column("request_id").to_pylist()) == [f"r{i}" for i in range(6)]
    assert src.stats.extra_columns == {"x_internal_tag"}
    assert [Path(f).name for f in src.stats.ignored_files] == ["README.txt"]


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2026-04-22T03:14:07Z", datetime(2026, 4, 22, 3, 14, 7, tzinfo=UTC)),
        ("2026-04-22T05:14:07+02:00", datetime(2026, 4, 22, 3, 14, 7, tzinfo=UTC)),
        ("2026-04-21T22:14:07.250-05:00", datetime(2026, 4, 22, 3, 14, 7, 250000, tzinfo=UTC)),
        ("2026-04-22 03:14:07", datetime(2026, 4, 22, 3, 14, 7, tzinfo=UTC)),
        ("2026-04-22T08:44:07+0530", datetime(2026, 4, 22, 3, 14, 7, tzinfo=UTC)),
    ],
)
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_timestamps_with_offsets_become_utc(tmp_path, fmt, ts, expected):
    rows = _rows(1)
    rows[0]["ts"] = ts
    _, table = _read([_write(tmp_path / f"t.{fmt}", rows, fmt)])
    assert table.column("ts")[0].as_py() == expected


def test_parquet_timestamps_with_zone_become_utc(tmp_path):
    t = pa.table(
        {
            "request_id": ["a"],
            "ts": pa.array([datetime(2026, 4, 22, 5, 0, tzinfo=UTC)], pa.timestamp("ms", tz="Europe/Paris")),
            "account_id": ["x"],
            "prompt": ["p"],
        }
    )
    pq.write_table(t, tmp_path / "z.parquet")
    _, table = _read([tmp_path / "z.parquet"])
    assert table.column("ts")[0].as_py() == datetime(2026, 4, 22, 5, 0, tzinfo=UTC)


# --- rows that break the contract: set aside with file, row and reason ---------------------------

BAD_ROWS = [
    # (what to change in row 2 (0-based 1), expected reason)
    ({"ts": "yesterday"}, "ts: 'yesterday' is not an RFC 3339 timestamp"),
    ({"ts": "2026-02-30T00:00:00Z"}, "ts: '2026-02-30T00:00:00Z' is not an RFC 3339 timestamp"),
    ({"turn": "abc"}, "turn: 'abc' is not an integer"),
    ({"turn": "1.5"}, "turn: '1.5' is not an integer"),
    ({"temperature": "warm"}, "temperature: 'warm' is not a number"),
    ({"account_id": ""}, "account_id is missing"),
    ({"status": "timeout"}, "status: 'timeout' is not one of error, ok, rate_limited"),
]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize(("change", "reason"), BAD_ROWS)
def test_bad_row_is_set_aside_with_file_row_and_reason(tmp_path, fmt, change, reason):
    rows = _rows(4)
    for r in rows:
        r.setdefault("status", "ok")
        r["turn"] = str(r["turn"])  # every row the same type, so only row 2's value is wrong
        r["temperature"] = str(r["temperature"])
    rows[1].update(change)
    path = _write(tmp_path / f"bad.{fmt}", rows, fmt)
    src, table = _read([path])
    assert table.column("request_id").to_pylist() == ["r0", "r2", "r3"]
    rej = src.rejected.to_pylist()
    assert [(r["file"], r["row"], r["reason"]) for r in rej] == [(str(path), 2, reason)]
    assert json.loads(rej[0]["raw"])["request_id"] == "r1"  # the row itself is kept, nothing lost
    assert src.stats.rows_rejected == 1 and src.stats.rows_read == 4


def test_missing_account_id_key_in_json_row(tmp_path):
    rows = _rows(3)
    del rows[2]["account_id"]
    src, table = _read([_write(tmp_path / "m.jsonl", rows, "jsonl")])
    assert table.num_rows == 2
    assert [(r["row"], r["reason"]) for r in src.rejected.to_pylist()] == [(3, "account_id is missing")]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"a": 1}, "turn: expected an integer, got an object"),
        ([1, 2], "turn: expected an integer, got a list"),
        (True, "turn: expected an integer, got true/false"),
    ],
)
def test_json_value_of_the_wrong_kind(tmp_path, value, reason):
    rows = _rows(3)
    rows[0]["turn"] = value
    src, table = _read([_write(tmp_path / "k.jsonl", rows, "jsonl")])
    assert table.column("request_id").to_pylist() == ["r1", "r2"]
    assert [(r["row"], r["reason"]) for r in src.rejected.to_pylist()] == [(1, reason)]


def test_invalid_json_line_and_blank_lines_keep_line_numbers(tmp_path):
    rows = _rows(3)
    lines = [json.dumps(rows[0]), "", "{not json", json.dumps(rows[1]), "[1, 2]", json.dumps(rows[2])]
    path = tmp_path / "j.jsonl"
    path.write_text("\n".join(lines) + "\n")
    src, table = _read([path])
    assert table.column("request_id").to_pylist() == ["r0", "r1", "r2"]
    got = [(r["row"], r["reason"].split(" (")[0]) for r in src.rejected.to_pylist()]
    assert got == [(3, "invalid JSON"), (5, "not a JSON object")]


def test_malformed_csv_record(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "request_id,ts,account_id,prompt\n"
        "r0,2026-04-22T00:00:00Z,a,hello\n"
        "r1,2026-04-22T00:00:00Z,a\n"
        'r2,2026-04-22T00:00:00Z,a,"multi\nline"\n'
        "r3,2026-04-22T00:00:00Z,a,x,extra\n"
        "r4,2026-04-22T00:00:00Z,a,bye\n"
    )
    src, table = _read([path])
    assert table.column("request_id").to_pylist() == ["r0", "r2", "r4"]
    got = [(r["row"], r["reason"]) for r in src.rejected.to_pylist()]
    assert got == [
        (2, "malformed CSV record: expected 4 fields, found 3"),
        (4, "malformed CSV record: expected 4 fields, found 5"),
    ]


def test_duplicate_request_ids_within_and_across_files(tmp_path):
    a = _write(tmp_path / "a.jsonl", _rows(4), "jsonl")
    rows_b = _rows(6)[2:]  # r2..r5: r2 and r3 repeat a.jsonl
    rows_b.append(dict(rows_b[-1]))  # r5 twice inside b
    b = _write(tmp_path / "b.csv", rows_b, "csv")
    src, table = _read([a, b])
    assert sorted(table.column("request_id").to_pylist()) == [f"r{i}" for i in range(6)]
    got = [(Path(r["file"]).name, r["row"], r["reason"]) for r in src.rejected.to_pylist()]
    assert got == [
        ("b.csv", 1, f"duplicate request_id 'r2' (first seen at {a} row 3)"),
        ("b.csv", 2, f"duplicate request_id 'r3' (first seen at {a} row 4)"),
        ("b.csv", 5, "duplicate request_id 'r5' (first seen at row 4 of the same file)"),
    ]


def test_wrong_column_type_in_one_file_of_a_folder(tmp_path):
    good = pa.Table.from_pylist(_rows(3))
    pq.write_table(good, tmp_path / "part-0.parquet")
    other = [dict(r, request_id=f"s{i}") for i, r in enumerate(_rows(3))]
    bad = pa.Table.from_pylist(other).set_column(4, "turn", pa.array(["0", "one", "2"]))
    pq.write_table(bad, tmp_path / "part-1.parquet")
    worse = pa.Table.from_pylist([dict(r, request_id=f"t{i}") for i, r in enumerate(_rows(2))])
    worse = worse.set_column(4, "turn", pa.array([[1], None], pa.list_(pa.int64())))
    pq.write_table(worse, tmp_path / "part-2.parquet")
    src, table = _read([tmp_path])
    assert table.column("request_id").to_pylist() == ["r0", "r1", "r2", "s0", "s2", "t1"]
    got = [(Path(r["file"]).name, r["row"], r["reason"]) for r in src.rejected.to_pylist()]
    assert got == [
        ("part-1.parquet", 2, "turn: 'one' is not an integer"),
        ("part-2.parquet", 1, "turn: expected an integer, got lists"),
    ]


# --- files that cannot be read at all: one clear message -------------------------------------------


def _truncated_gzip(path: Path) -> Path:
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in _rows(2000)).encode())
    path.write_bytes(data[: len(data) // 2])
    return path


UNREADABLE = [
    ("empty.csv", lambda p: p.write_bytes(b""), "is empty: no header row"),
    ("empty.jsonl", lambda p: p.write_bytes(b"\n\n"), "is empty"),
    ("empty.parquet", lambda p: p.write_bytes(b""), "not a readable Parquet file"),
    ("garbage.csv", lambda p: p.write_bytes(bytes(range(256)) * 4), "holds binary data, not CSV text"),
    ("garbage.jsonl", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(1, 200))), "is not UTF-8"),
    (
        "garbage.parquet",
        lambda p: p.write_bytes(b"PAR1 this is not really parquet"),
        "not a readable Parquet file",
    ),
    ("notjson.jsonl", lambda p: p.write_text("hello world\n"), "is not JSON Lines"),
    ("trunc.jsonl.gz", _truncated_gzip, "gzip stream is truncated or corrupt"),
    ("mystery.bin", lambda p: p.write_text("a,b\n1,2\n"), "format not recognised"),
]


@pytest.mark.parametrize(("name", "make", "message"), UNREADABLE)
def test_unreadable_file_stops_with_one_message(tmp_path, name, make, message):
    path = tmp_path / name
    make(path)
    with pytest.raises(InputError) as err:
        _read([path])
    assert str(err.value).startswith(str(path) + ": ")
    assert message in str(err.value)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv", "csv.gz"])
def test_missing_required_column(tmp_path, fmt):
    rows = [{k: v for k, v in r.items() if k != "account_id"} for r in _rows(3)]
    path = _write(tmp_path / f"nocol.{fmt}", rows, fmt)
    with pytest.raises(InputError, match="missing required column account_id"):
        open_interactions([path]).check() if fmt != "jsonl" else list(open_interactions([path]))


def test_missing_required_columns_listed_together(tmp_path):
    path = _write(tmp_path / "x.csv", [{"request_id": "a", "prompt": "p"}], "csv")
    with pytest.raises(
        InputError, match=r"missing required columns ts, account_id \(found: request_id, prompt\)"
    ):
        open_interactions([path]).check()


def test_no_such_path_and_empty_folder(tmp_path):
    with pytest.raises(DistillguardError, match="no such file or folder"):
        open_interactions([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="folder holds no"):
        open_interactions([tmp_path / "empty"])


def test_streams_in_batches_with_correct_row_numbers(tmp_path):
    rows = _rows(10)
    rows[8]["ts"] = "never"
    src = open_interactions([_write(tmp_path / "s.csv", rows, "csv")], batch_rows=3)
    sizes = [b.num_rows for b in src]
    assert max(sizes) <= 3 and sum(sizes) == 9
    assert [r["row"] for r in src.rejected.to_pylist()] == [9]


def test_accounts_table(tmp_path):
    rows = [
        {"account_id": "a", "created_at": "2026-04-01T00:00:00Z", "tier": "edu", "verified": "true"},
        {"account_id": "b", "created_at": "2026-04-02T00:00:00Z", "tier": "gold", "verified": "no"},
        {"account_id": "c", "created_at": "", "tier": "", "verified": "0"},
        {"account_id": "a", "created_at": "2026-04-03T00:00:00Z", "tier": "pro", "verified": "1"},
    ]
    got = read_accounts([_write(tmp_path / "acc.csv", rows, "csv")])
    assert got.table.schema == ACCOUNTS.schema
    assert got.table.to_pydict()["account_id"] == ["a", "c"]
    assert got.table.to_pydict()["verified"] == [True, False]
    assert got.table.to_pydict()["created_at"][1] is None
    assert [(r["row"], r["reason"].split(" (")[0]) for r in got.rejected.to_pylist()] == [
        (2, "tier: 'gold' is not one of edu, enterprise, free, pro, research, startup"),
        (4, "duplicate account_id 'a'"),
    ]


# --- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runner():
    _load_commands()
    return CliRunner()


def test_validate_cli_reports_contents_and_problems(tmp_path, runner):
    rows = _rows(4)
    rows[1]["ts"] = "soon"
    path = _write(tmp_path / "v.jsonl", rows, "jsonl")
    res = runner.invoke(app, ["validate", str(path), "--json", "--rejected", str(tmp_path / "rej.csv")])
    assert res.exit_code == 1, res.output
    doc = json.loads(res.output)["interactions"]
    assert doc["rows_read"] == 4 and doc["rows_ok"] == 3 and doc["rows_rejected"] == 1
    assert doc["accounts"] == 2
    assert doc["time_span"] == {"first": "2026-04-22T00:00:00Z", "last": "2026-04-22T03:00:00Z"}
    assert "ip" in doc["columns_missing"]
    assert doc["rejected_examples"] == [
        {"file": str(path), "row": 2, "reason": "ts: 'soon' is not an RFC 3339 timestamp"}
    ]
    assert (tmp_path / "rej.csv").read_text().count("\n") == 2


def test_validate_cli_clean_file_exits_zero(tmp_path, runner):
    res = runner.invoke(app, ["validate", str(_write(tmp_path / "ok.parquet", _rows(3), "parquet"))])
    assert res.exit_code == 0, res.output
    assert "rows set aside" in res.output


def test_validate_cli_unreadable_file_is_one_message_no_traceback(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "broken.parquet"
    path.write_bytes(b"nonsense")
    proc = subprocess.run(
        [sys.executable, "-c", "from distillguard.cli import main; main()", "validate", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith(f"error: {path}: not a readable Parquet file")


# --- reading only the columns a caller uses ---------------------------------------------------------

USED = ("request_id", "ts", "account_id", "prompt", "turn", "status")


@pytest.mark.parametrize(
    ("name", "typ", "read"),
    [
        ("prompt", pa.string(), True),  # used
        ("response", pa.string(), False),  # optional text, no allowed values: no row can break it
        ("response", pa.large_string(), False),
        ("response", pa.dictionary(pa.int32(), pa.string()), False),
        ("response", pa.null(), False),
        ("response", pa.string_view(), False),
        ("response", pa.dictionary(pa.int32(), pa.large_string()), False),
        ("model", pa.dictionary(pa.uint32(), pa.string()), False),  # polars' Categorical
        ("status", pa.dictionary(pa.int8(), pa.string()), True),  # allowed values
        ("org_id", pa.dictionary(pa.int8(), pa.int64()), True),  # not text
        ("conversation_id", pa.string(), False),
        ("response", pa.list_(pa.string()), True),  # not text: a row could break the contract
        ("api_key_id", pa.int64(), True),
        ("status", pa.string(), True),  # allowed values (and used)
        ("asn", pa.string(), True),  # optional but not text: "AS13335" would break it
        ("model", pa.string(), False),
        ("comment", pa.string(), False),  # not in the contract
    ],
)
def test_parquet_columns_read_for_a_caller(name, typ, read):
    from distillguard.ingest.readers import parquet_read_columns

    schema = pa.schema([("request_id", pa.string()), (name, typ)])
    got = parquet_read_columns(INTERACTIONS, schema, USED)
    assert got == ["request_id", *([name] if read else [])]
    assert parquet_read_columns(INTERACTIONS, schema, None) is None


def test_unused_parquet_text_columns_are_not_read_and_set_aside_rows_are_the_same(tmp_path, monkeypatch):
    rows = [
        dict(r, temperature=str(r["temperature"]), response=f"answer {i}" * 50, conversation_id=f"c{i}")
        for i, r in enumerate(_rows(6))
    ]
    rows[2]["account_id"] = None  # breaks the contract in a used column
    rows[4]["temperature"] = "hot"  # ... and in one that is not used but read: not text
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, tmp_path / "p.parquet")
    read_columns = []
    real = pq.ParquetFile.iter_batches

    def spy(self, *a, **k):
        read_columns.append(k.get("columns"))
        return real(self, *a, **k)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    full = open_interactions([tmp_path], batch_rows=4)
    narrow = open_interactions([tmp_path], batch_rows=4, columns=(*USED, "model"))
    a, b = (pa.Table.from_batches(list(s), schema=INTERACTIONS.schema) for s in (full, narrow))
    assert read_columns[0] is None
    assert set(read_columns[1]) == set(_rows(1)[0])  # all but the added text columns
    assert b.column("response").null_count == b.num_rows and a.column("response").null_count == 0
    assert b.drop_columns(["response", "conversation_id"]).equals(
        a.drop_columns(["response", "conversation_id"])
    )
    assert (
        [(r["row"], r["reason"]) for r in narrow.rejected.to_pylist()]
        == [(r["row"], r["reason"]) for r in full.rejected.to_pylist()]
        == [(3, "account_id is missing"), (5, "temperature: 'hot' is not a number")]
    )
    assert narrow.stats.columns_present == full.stats.columns_present


# --- a record of any length: the format check and the readers do not depend on it -----------------

LONG = 5 << 20  # a 5 MB prompt: a pasted document, a long agent transcript


def _long_rows(where: int, size: int = LONG) -> list[dict]:
    rows = _rows(4)
    rows[where]["prompt"] = 'long document, with commas, "quotes" and\nnewlines ' + "x" * size
    return rows


@pytest.mark.parametrize("size", [LONG, 9 << 20], ids=["5MB", "9MB"])  # 9 MB: longer than a CSV block
@pytest.mark.parametrize("where", [0, 2])  # the first record (what the format check reads), a later one
@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "csv", "csv.gz"])
def test_a_long_record_is_read_wherever_it_is(tmp_path, fmt, where, size):
    rows = _long_rows(where, size)
    src, table = _read([_write(tmp_path / f"long.{fmt}", rows, fmt)])
    assert table.num_rows == 4 and src.stats.rows_read == 4 and src.stats.rows_rejected == 0
    assert table.column("prompt").to_pylist() == [r["prompt"] for r in rows]
    assert table.column("request_id").to_pylist() == ["r0", "r1", "r2", "r3"]


_NOT_JSONL = "is not JSON Lines: "


@pytest.mark.parametrize(
    ("fmt", "first_line", "message"),
    [
        ("jsonl", '{"prompt": "' + "x" * (1 << 20), f"{_NOT_JSONL}the first line does not parse as JSON"),
        ("jsonl", "[" + "1, " * (1 << 18) + "1]", f"{_NOT_JSONL}the first line is not a JSON object"),
        ("jsonl.gz", "not json " * (1 << 16), f"{_NOT_JSONL}the first line does not parse as JSON"),
    ],
)
def test_a_long_first_line_that_is_not_json_is_still_named(tmp_path, fmt, first_line, message):
    data = (first_line + "\n" + json.dumps(_rows(1)[0]) + "\n").encode()
    path = tmp_path / f"bad.{fmt}"
    path.write_bytes(gzip.compress(data) if fmt.endswith(".gz") else data)
    with pytest.raises(InputError) as err:
        _read([path])
    assert str(err.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "csv.gz"])
def test_blank_lines_or_a_long_header_before_the_data(tmp_path, fmt):
    rows = _rows(3)
    extra = "x_" + "n" * 100_000  # an unknown column with a 100 kB name: the header is longer than a read
    for r in rows:
        r[extra] = "v"
    path = _write(tmp_path / f"h.{fmt}", rows, fmt)
    if fmt == "jsonl":  # 100 kB of blank lines first
        path.write_text("\n" * 100_000 + path.read_text())
    src, table = _read([path])
    assert table.num_rows == 3 and src.stats.rows_rejected == 0
    assert src.stats.extra_columns == {extra}
    if fmt == "jsonl":
        assert src.stats.rows_read == 3 and table.column("request_id").to_pylist() == ["r0", "r1", "r2"]


@pytest.mark.parametrize("fmt", ["csv", "csv.gz"])
def test_csv_records_longer_than_a_block_are_read_again_with_larger_blocks(tmp_path, monkeypatch, fmt):
    from distillguard.ingest import readers

    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 4096)  # (blocks of 4, 16, 64 then 256 kB)
    rows = _rows(12)
    for i in (3, 9):
        rows[i]["prompt"] = f"long {i}, " + "y" * 100_000
    names = list(rows[0])
    records = []
    for r in [dict(zip(names, names, strict=True)), *rows]:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([r[n] for n in names])
        records.append(buf.getvalue())
    # malformed records before and after the long ones
    data = "".join([*records[:3], "bad,record\n", *records[3:12], "also,bad\n", records[12]]).encode()
    path = tmp_path / f"long.{fmt}"
    path.write_bytes(gzip.compress(data) if fmt.endswith(".gz") else data)
    blocks = []
    real = readers._read_csv_pass

    def spy(f, names, batch_rows, block, done):
        blocks.append(block)
        return real(f, names, batch_rows, block, done)

    monkeypatch.setattr(readers, "_read_csv_pass", spy)
    src = open_interactions([path], batch_rows=2)
    table = pa.Table.from_batches(list(src), schema=INTERACTIONS.schema)
    assert blocks == [4096, 16384, 65536, 262144]
    assert table.column("request_id").to_pylist() == [f"r{i}" for i in range(12)]  # each row once
    assert table.column("prompt")[9].as_py() == rows[9]["prompt"]
    got = [(r["row"], r["reason"]) for r in src.rejected.to_pylist()]
    assert got == [
        (3, "malformed CSV record: expected 7 fields, found 2"),
        (13, "malformed CSV record: expected 7 fields, found 2"),
    ]
    assert src.stats.rows_read == 14 and src.stats.rows_rejected == 2


def test_a_csv_record_longer_than_the_largest_block_stops_with_one_message(tmp_path, monkeypatch):
    from distillguard.ingest import readers

    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 4096)
    monkeypatch.setattr(readers, "CSV_MAX_BLOCK_BYTES", 16384)
    path = _write(tmp_path / "huge.csv", _long_rows(1, 100_000), "csv")
    with pytest.raises(InputError) as err:
        _read([path])
    assert str(err.value) == f"{path}: holds a record longer than 0 MiB (after valid record 1): not read"


def test_unknown_extra_columns_of_types_polars_lacks_are_ignored(tmp_path):
    table = pa.Table.from_pylist(_rows(3)).append_column(
        "x_amount", pa.array([1, 2, 3], pa.decimal256(40, 2))
    )
    pq.write_table(table, tmp_path / "x.parquet")
    src, got = _read([tmp_path / "x.parquet"])
    assert got.num_rows == 3 and src.stats.rows_rejected == 0 and src.stats.extra_columns == {"x_amount"}


# --- text stored as dictionaries, large strings or string views is text ----------------------------

TEXT_TYPES = [
    pa.large_string(),  # pandas' "str" columns, polars' strings
    pa.string_view(),
    pa.dictionary(pa.int8(), pa.string()),  # pandas' categoricals, pyarrow's dictionary_encode()
    pa.dictionary(pa.int32(), pa.large_string()),
    pa.dictionary(pa.uint32(), pa.string()),  # polars' Categorical
    pa.dictionary(pa.uint8(), pa.string(), ordered=True),  # polars' Enum
]
_TEXT_VALUES = {
    "status": ["ok", "error", "rate_limited", "ok"],
    "tier": ["pro", "edu", "free", "enterprise"],
    "ts": [f"2026-04-22T0{i}:00:00Z" for i in range(4)],
    "created_at": [f"2026-04-0{i + 1}T00:00:00Z" for i in range(4)],
    "verified": ["true", "no", "1", "false"],
}
# every text column of both tables, and the columns text can stand for (a timestamp, a boolean)
TEXT_COLUMNS = [("interactions", c.name) for c in INTERACTIONS.columns if c.type == pa.string()] + [
    ("interactions", "ts"),
    *[("accounts", c.name) for c in ACCOUNTS.columns if c.type == pa.string()],
    ("accounts", "created_at"),
    ("accounts", "verified"),
]


from distillguard.stage import _READ as _SCAN_READS  # noqa: E402  (the columns scan uses)


def _text_table(table: str, column: str, typ: pa.DataType, values: list | None = None) -> pa.Table:
    spec = INTERACTIONS if table == "interactions" else ACCOUNTS
    names = [c.name for c in spec.columns if c.type == pa.string()] + (
        ["ts"] if table == "interactions" else ["created_at", "verified"]
    )
    cols = {n: pa.array(_TEXT_VALUES.get(n, [f"{n}-{i}" for i in range(4)]), pa.string()) for n in names}
    if values is not None:
        cols[column] = pa.array(values, pa.string())
    cols[column] = cols[column].cast(typ)
    return pa.table(cols)


def _plain(table: pa.Table, spec) -> dict:
    return {n: table.column(n).to_pylist() for n in spec.names}


@pytest.mark.parametrize("typ", TEXT_TYPES, ids=str)
@pytest.mark.parametrize(("table", "column"), TEXT_COLUMNS, ids=[f"{t}.{c}" for t, c in TEXT_COLUMNS])
def test_text_of_any_arrow_text_type_is_read_as_text(tmp_path, table, column, typ):
    pq.write_table(_text_table(table, column, typ), tmp_path / "t.parquet")
    pq.write_table(_text_table(table, column, pa.string()), tmp_path / "plain.parquet")
    assert pq.ParquetFile(tmp_path / "t.parquet").schema_arrow.field(column).type != pa.string()
    if table == "interactions":
        reads = [open_interactions([tmp_path / f], batch_rows=3) for f in ("t.parquet", "plain.parquet")]
        reads.append(open_interactions([tmp_path / "t.parquet"], batch_rows=3, columns=_SCAN_READS))
        got = [
            (pa.Table.from_batches(list(s), schema=INTERACTIONS.schema), s.rejected, s.stats) for s in reads
        ]
        spec = INTERACTIONS
    else:
        got = [read_accounts([tmp_path / f]) for f in ("t.parquet", "plain.parquet")]
        got = [(g.table, g.rejected, g.stats) for g in got]
        spec = ACCOUNTS
    (typed, rejected, stats), (plain, _, _) = got[:2]
    assert rejected.num_rows == 0, rejected.column("reason").to_pylist()
    assert stats.rows_read == 4 and stats.rows_ok == 4 and stats.rows_rejected == 0
    assert typed.schema == spec.schema
    assert _plain(typed, spec) == _plain(plain, spec)
    if table == "interactions":  # read as scan does: the same, but for the columns it does not read
        narrow = _plain(got[2][0], spec)
        want = {k: v if k in _SCAN_READS else [None] * 4 for k, v in _plain(plain, spec).items()}
        assert narrow == want and got[2][1].num_rows == 0


@pytest.mark.parametrize("typ", TEXT_TYPES, ids=str)
@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("account_id", "", "account_id is missing"),
        ("account_id", None, "account_id is missing"),
        ("status", "timeout", "status: 'timeout' is not one of error, ok, rate_limited"),
        ("ts", "yesterday", "ts: 'yesterday' is not an RFC 3339 timestamp"),
        ("ts", "1970-01-01T00:00:00Z", "ts: '1970-01-01T00:00:00Z' is before 2000-01-01 (a clock fault?)"),
    ],
)
def test_a_bad_value_in_a_dictionary_column_is_named_as_in_plain_text(tmp_path, typ, column, value, reason):
    values = list(_TEXT_VALUES.get(column, [f"{column}-{i}" for i in range(4)]))
    values[1] = value
    pq.write_table(_text_table("interactions", column, typ, values), tmp_path / "b.parquet")
    for columns in (None, USED):
        src = open_interactions([tmp_path / "b.parquet"], batch_rows=3, columns=columns)
        table = pa.Table.from_batches(list(src), schema=INTERACTIONS.schema)
        assert table.column("request_id").to_pylist() == ["request_id-0", "request_id-2", "request_id-3"]
        assert [(r["row"], r["reason"]) for r in src.rejected.to_pylist()] == [(2, reason)]
        assert json.loads(src.rejected.column("raw")[0].as_py())[column] == value
        assert src.stats.rows_read == 4 and src.stats.rows_rejected == 1


# --- timestamps no request can have: a clock fault, set aside and warned about -----------------------

NOW = datetime(2026, 4, 23, tzinfo=UTC)
_BEFORE = "is before 2000-01-01 (a clock fault?)"
_AFTER = "is more than a day after this run (a clock fault?)"
CLOCK = [
    # (timestamp as written, reason: None when plausible)
    ("1970-01-01T00:00:00Z", f"ts: '1970-01-01T00:00:00Z' {_BEFORE}"),  # a clock reset to the epoch
    ("1999-12-31T23:59:59.5Z", f"ts: '1999-12-31T23:59:59.500Z' {_BEFORE}"),
    ("2000-01-01T00:00:00Z", None),
    ("2026-04-24T00:00:00Z", None),  # a day after the run: clocks differ a little
    ("2026-04-24T00:00:01Z", f"ts: '2026-04-24T00:00:01Z' {_AFTER}"),
    ("2099-01-01T05:30:00+05:30", f"ts: '2099-01-01T00:00:00Z' {_AFTER}"),  # a placeholder date
]


def _clock_file(tmp_path: Path, fmt: str, ts: str, where: int = 1) -> Path:
    rows = _rows(4)
    rows[where]["ts"] = ts
    if fmt == "parquet-timestamp":  # a native Parquet timestamp column
        for r in rows:
            r["ts"] = datetime.fromisoformat(r["ts"])
        table = pa.Table.from_pylist(rows)
        table = table.set_column(1, "ts", table.column("ts").cast(pa.timestamp("us", tz="UTC")))
        pq.write_table(table, tmp_path / "c.parquet")
        return tmp_path / "c.parquet"
    return _write(tmp_path / f"c.{fmt}", rows, fmt)


@pytest.mark.parametrize("fmt", ["jsonl", "csv.gz", "parquet", "parquet-timestamp"])
@pytest.mark.parametrize(("ts", "reason"), CLOCK)
def test_implausible_timestamps_are_set_aside_with_a_warning(tmp_path, fmt, ts, reason):
    path = _clock_file(tmp_path, fmt, ts)
    src = open_interactions([path], batch_rows=3, now=NOW)
    table = pa.Table.from_batches(list(src), schema=INTERACTIONS.schema)
    s = src.stats
    assert s.rows_read == 4 and s.plausible == ("2000-01-01T00:00:00Z", "2026-04-24T00:00:00Z")
    if reason is None:
        assert table.num_rows == 4 and s.rows_rejected == 0 and s.clock_faults == 0
        assert s.warnings() == []
        return
    assert table.column("request_id").to_pylist() == ["r0", "r2", "r3"]
    assert [(r["row"], r["reason"]) for r in src.rejected.to_pylist()] == [(2, reason)]
    assert s.rows_rejected == 1 and s.clock_faults == 1
    (w,) = s.warnings()
    assert w["kind"] == "implausible_timestamps" and w["rows"] == 1
    assert w["example"] == {"file": str(path), "row": 2, "reason": reason}
    assert w["message"] == (
        "1 row set aside with a timestamp before 2000-01-01 or more than a day after this run "
        "(2026-04-24T00:00:00Z): the clock that stamped it is probably faulty "
        f"(first: {path} row 2, {reason})"
    )


def test_implausible_timestamps_are_counted_across_files_and_batches(tmp_path):
    a = _write(tmp_path / "a.jsonl", [dict(r, ts="1970-01-01T00:00:00Z") for r in _rows(5)], "jsonl")
    rows = [dict(r, request_id=f"s{i}") for i, r in enumerate(_rows(4))]
    rows[3]["ts"] = "2099-01-01T00:00:00Z"
    rows[2]["status"] = "lost"  # a row with another problem too: counted once, both reasons given
    rows[2]["ts"] = "1971-01-01T00:00:00Z"
    b = _write(tmp_path / "b.csv", rows, "csv")
    src = open_interactions([a, b], batch_rows=2, now=NOW)
    table = pa.Table.from_batches(list(src), schema=INTERACTIONS.schema)
    assert table.column("request_id").to_pylist() == ["s0", "s1"]
    assert src.stats.rows_read == 9 and src.stats.rows_rejected == 7 and src.stats.clock_faults == 7
    (w,) = src.stats.warnings()
    assert w["rows"] == 7 and w["message"].startswith("7 rows set aside with a timestamp before 2000-01-01")
    assert w["example"] == {"file": str(a), "row": 1, "reason": f"ts: '1970-01-01T00:00:00Z' {_BEFORE}"}
    assert src.rejected.to_pylist()[-2]["reason"] == (
        f"ts: '1971-01-01T00:00:00Z' {_BEFORE}; status: 'lost' is not one of error, ok, rate_limited"
    )
    assert src.stats.rejected_by_reason == {f"ts: {_BEFORE}": 6, f"ts: {_AFTER}": 1}


@pytest.mark.parametrize(
    ("created_at", "reason"),
    [
        ("1970-01-01T00:00:00Z", f"created_at: '1970-01-01T00:00:00Z' {_BEFORE}"),
        ("2099-01-01T00:00:00Z", f"created_at: '2099-01-01T00:00:00Z' {_AFTER}"),
        ("2019-06-01T00:00:00Z", None),
        ("", None),  # (no sign-up time: null)
    ],
)
def test_implausible_account_creation_times(tmp_path, created_at, reason):
    rows = [{"account_id": f"a{i}", "created_at": "2026-04-01T00:00:00Z", "tier": "pro"} for i in range(3)]
    rows[1]["created_at"] = created_at
    path = _write(tmp_path / "acc.csv", rows, "csv")
    got = read_accounts([path], now=NOW)
    assert got.stats.rows_read == 3
    if reason is None:
        assert got.table.num_rows == 3 and got.stats.warnings() == []
    else:
        assert got.table.column("account_id").to_pylist() == ["a0", "a2"]
        assert [(r["row"], r["reason"]) for r in got.rejected.to_pylist()] == [(2, reason)]
        assert [w["rows"] for w in got.stats.warnings()] == [1]


def test_validate_cli_warns_about_implausible_timestamps(tmp_path, runner):
    rows = _rows(4)
    rows[1]["ts"] = "1970-01-01T00:00:00Z"
    rows[3]["ts"] = "2099-01-01T00:00:00Z"
    path = _write(tmp_path / "v.jsonl", rows, "jsonl")
    res = runner.invoke(app, ["validate", str(path), "--json"])
    assert res.exit_code == 1, res.output
    doc = json.loads(res.output)["interactions"]
    assert doc["rows_read"] == 4 and doc["rows_ok"] == 2 and doc["rows_rejected"] == 2
    assert doc["time_span"] == {"first": "2026-04-22T00:00:00Z", "last": "2026-04-22T02:00:00Z"}
    (w,) = doc["warnings"]
    assert w["rows"] == 2 and w["example"]["row"] == 2
    assert w["message"].startswith("2 rows set aside with a timestamp before 2000-01-01 or more than a day")
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 1
    shown = " ".join(res.output.split())  # (wrapped at 80 columns)
    assert f"warning: {w['message'].split(' after this run (')[0]}" in shown
    assert f"row 2, ts: '1970-01-01T00:00:00Z' {_BEFORE})" in shown
