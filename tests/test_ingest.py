"""The log-format readers: every format, every kind of bad input (shared/spec/log-format.md)."""

from __future__ import annotations

import csv
import gzip
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
        import io

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
