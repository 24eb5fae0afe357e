"""The scan CLI on bad input: one message and exit code 2 with no DIR; bad rows set aside and counted."""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROWS = [
    {
        "request_id": f"r{i}",
        "ts": f"2026-04-22T0{i % 10}:00:00Z",
        "account_id": f"a{i % 4}",
        "prompt": f"Solve step by step: what is {i} + {i}?",
    }
    for i in range(40)
]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from distillguard.cli import run; run()", *args],  # the console command
        capture_output=True,
        text=True,
        timeout=120,
    )


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([{k: v for k, v in r.items() if k != "account_id"} for r in ROWS], "account_id"),
        ([{k: v for k, v in r.items() if k != "ts"} for r in ROWS], "ts"),
    ],
)
def test_missing_required_column_stops_with_one_message(
    tmp_path: Path, rows: list[dict], needle: str
) -> None:
    src = _jsonl(tmp_path / "logs.jsonl", rows)
    out = tmp_path / "out"
    p = _run("scan", str(src), "--out", str(out), "--no-report")
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert needle in p.stderr and "logs.jsonl" in p.stderr
    assert not out.exists()
    assert not any(q.name.startswith(".out.tmp") for q in tmp_path.iterdir())


@pytest.mark.parametrize("bad", [1, 3])
def test_bad_rows_are_set_aside_and_counted(tmp_path: Path, bad: int) -> None:
    rows = [dict(r) for r in ROWS]
    for i in range(bad):
        rows[i]["ts"] = "not a time"
    src = _jsonl(tmp_path / "logs.jsonl", rows)
    out = tmp_path / "out"
    p = _run("scan", str(src), "--out", str(out), "--no-report", "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rejected_rows"] == bad
    assert summary["interactions"] == len(ROWS) - bad
    rejected = (out / "rejected.csv").read_text().strip().splitlines()
    assert len(rejected) == bad + 1
    assert (out / "accounts.csv").exists() and (out / "campaigns.json").exists()


def test_threshold_and_target_precision_are_exclusive(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "logs.jsonl", ROWS)
    p = _run(
        "scan", str(src), "--out", str(tmp_path / "o"), "--threshold", "0.5", "--target-precision", "0.9"
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr


def _campaign(i: int, caps: list[str]) -> dict:
    return {
        "campaign_id": f"DG-{i:08x}",
        "accounts": 25000 // (i + 1),
        "interactions": 28_800_000 // (i + 1),
        "capabilities": {c: 0.5 for c in caps},
        "confidence": 0.97,
        "summary": "long sentence " * 40,
    }


@pytest.mark.parametrize(
    "caps",
    [
        ["math_reasoning"],
        ["reasoning_articulation", "agentic_coding", "rubric_grading"],
        ["a_capability_name_far_longer_than_any_column_could_hold", "tool_use"],
        [],
    ],
)
@pytest.mark.parametrize("width", [80, 120])
def test_campaigns_table_fits_the_terminal_one_line_per_campaign(caps: list[str], width: int) -> None:
    from rich.console import Console

    from distillguard.cli.scan import campaigns_table

    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    campaigns = [_campaign(i, caps) for i in range(3)]
    console.print(campaigns_table(campaigns))
    lines = console.export_text().rstrip("\n").split("\n")
    assert max(len(line) for line in lines) <= width
    body = [line for line in lines if "DG-" in line]
    assert len(body) == 3 and len(lines) == 3 + 4  # header, rules and one line per campaign
    assert all("long sentence" not in line for line in lines)  # the summaries are printed below


@pytest.mark.parametrize(
    ("code", "status", "printed"), [(None, 0, ""), (0, 0, ""), (3, 3, ""), ("bye", 1, "bye")]
)
def test_the_console_command_exits_with_the_status_of_systemexit(code, status, printed, capsys) -> None:
    from distillguard.cli import _exit_status

    assert _exit_status(SystemExit(code)) == status
    assert capsys.readouterr().err.strip() == printed


def test_the_console_command_flushes_its_output_before_leaving(tmp_path) -> None:
    """run() leaves without the interpreter's teardown: what it printed must all be there."""
    r = _run("--help")
    assert r.returncode == 0 and "scan" in r.stdout and r.stdout.rstrip().endswith("─╯")
    r = _run("scan", str(tmp_path / "missing"), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "no such file" in r.stderr and not (tmp_path / "out").exists()


# --- validate and scan read logs alike: the same rows set aside, the same warnings ------------------


def _logs_long_first_line(d: Path) -> list[str]:
    rows = [dict(r) for r in ROWS]
    rows[0]["prompt"] = "Summarise this document:\n" + "lorem ipsum, dolor " * 60_000  # 1.1 MB
    (d / "logs.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    return [str(d / "logs.jsonl.gz")]


def _logs_long_first_record_csv(d: Path) -> list[str]:
    rows = [dict(r) for r in ROWS]
    rows[0]["prompt"] = 'Summarise "this", please:\n' + "lorem ipsum, dolor " * 60_000
    with open(d / "logs.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return [str(d / "logs.csv")]


def _logs_dictionary_parquet(d: Path) -> list[str]:
    rows = [dict(r, status="ok", model="m-1", response=f"answer {i}") for i, r in enumerate(ROWS)]
    rows[5]["status"] = "timeout"  # a bad value in a dictionary column
    t = pa.Table.from_pylist(rows)
    kinds = {
        "request_id": pa.large_string(),
        "account_id": pa.dictionary(pa.int8(), pa.string()),
        "prompt": pa.string_view(),
        "status": pa.dictionary(pa.uint32(), pa.string()),
        "model": pa.dictionary(pa.int32(), pa.large_string()),
        "response": pa.dictionary(pa.int16(), pa.string()),
    }
    for name, typ in kinds.items():
        t = t.set_column(t.schema.get_field_index(name), name, t.column(name).cast(typ))
    pq.write_table(t, d / "logs.parquet")
    return [str(d / "logs.parquet")]


def _logs_clock_faults(d: Path) -> list[str]:
    rows = [dict(r) for r in ROWS]
    rows[3]["ts"] = "1970-01-01T00:00:00Z"
    rows[7]["ts"] = "2099-01-01T00:00:00Z"
    _jsonl(d / "a.jsonl", rows[:20])
    native = [dict(r, ts=datetime.fromisoformat(r["ts"])) for r in rows[20:]]
    native[4]["ts"] = datetime.fromisoformat("1969-12-31T23:59:59Z")
    pq.write_table(pa.Table.from_pylist(native), d / "b.parquet")
    accounts = d / "accounts.csv"
    accounts.write_text(
        "account_id,created_at,tier\na0,2026-01-01T00:00:00Z,pro\na1,1970-01-01T00:00:00Z,free\n"
    )
    return [str(d / "a.jsonl"), str(d / "b.parquet"), "--accounts", str(accounts)]


@pytest.mark.parametrize(
    ("make", "set_aside", "clock_faults"),
    [
        (_logs_long_first_line, 0, 0),
        (_logs_long_first_record_csv, 0, 0),
        (_logs_dictionary_parquet, 1, 0),
        (_logs_clock_faults, 4, 4),
    ],
)
def test_validate_and_scan_agree(tmp_path: Path, make, set_aside: int, clock_faults: int) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    args = make(logs)
    v = _run("validate", *args, "--json", "--rejected", str(tmp_path / "rejected.csv"))
    assert v.returncode == (1 if set_aside else 0), v.stderr
    assert "Traceback" not in v.stderr
    tables = json.loads(v.stdout)
    p = _run("scan", *args, "--out", str(tmp_path / "out"), "--no-report", "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    inter = tables["interactions"]
    assert inter["rows_ok"] == summary["interactions"] == summary["ingest"]["rows_ok"]
    assert inter["rows_read"] == summary["ingest"]["rows_read"]
    assert inter["time_span"] == summary["time_span"]
    assert inter["time_span"]["first"].startswith("2026-04-22")  # (no 1970 in the span)
    rejected = sum(t["rows_rejected"] for t in tables.values())
    assert rejected == summary["rejected_rows"] == set_aside

    def rows(path: Path) -> list[tuple]:
        if not path.exists():
            return []
        with open(path, newline="") as fh:
            return sorted((r["table"], r["file"], int(r["row"]), r["reason"]) for r in csv.DictReader(fh))

    assert rows(tmp_path / "rejected.csv") == rows(tmp_path / "out" / "rejected.csv")
    assert len(rows(tmp_path / "rejected.csv")) == set_aside

    def same(ws: list[dict]) -> list[dict]:  # (the end of the plausible range is the run's time)
        return [
            {
                k: re.sub(r"this run \([^)]*\)", "this run (…)", v) if k == "message" else v
                for k, v in w.items()
                if k != "plausible"
            }
            for w in ws
        ]

    warnings = [w for t in tables.values() for w in t["warnings"]]
    assert same(warnings) == same(summary["warnings"])
    assert sum(w["rows"] for w in warnings) == clock_faults
    if clock_faults:
        (wi, wa) = warnings
        assert wi["rows"] == 3 and wi["example"]["file"].endswith("a.jsonl") and wi["example"]["row"] == 4
        assert wa["rows"] == 1 and "created_at: '1970-01-01T00:00:00Z' is before 2000-01-01" in wa["message"]
        printed = _run("scan", *args, "--out", str(tmp_path / "out"), "--no-report")
        assert printed.returncode == 0, printed.stderr
        shown = " ".join(printed.stdout.split())
        assert "warning: 3 rows set aside with a timestamp before 2000-01-01" in shown
        assert "warning: 1 row set aside" in shown


def test_duckdb_draws_no_progress_bar_on_stdout(tmp_path: Path) -> None:
    """DuckDB prints a progress bar to stdout for queries over two seconds, which broke `scan --json`
    on large inputs (a daily run at 85K rows a day); the scan's connection turns it off."""
    from distillguard.pipeline import ScanOptions, _connect

    con = _connect(tmp_path, ScanOptions())
    assert con.raw_sql("select current_setting('enable_progress_bar')").fetchall() == [(False,)]
    con.disconnect()


def test_running_out_of_the_memory_limit_stops_with_one_message(tmp_path: Path) -> None:
    """DuckDB does not spill every query: one that cannot within --memory-limit names the limit and the
    stage, exits 2, and leaves no results folder (the full-size seed case needed more than 2GB)."""
    src = _jsonl(tmp_path / "logs.jsonl", ROWS)
    out = tmp_path / "out"
    p = _run("scan", str(src), "--out", str(out), "--no-report", "--memory-limit", "1MB")
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert "ran out of memory at stage" in p.stderr and "--memory-limit 1MB" in p.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--engine", "flink"], "expected duckdb or spark"),
        (["--spark-master", "local[2]"], "need --engine spark"),
        (["--spark-conf", "spark.executor.memory=8g"], "need --engine spark"),
        (["--engine", "spark", "--spark-conf", "no-equals-sign"], "expected KEY=VALUE"),
        (["--engine", "spark", "--state", "STATE"], "--state runs on the embedded engine"),
    ],
)
def test_engine_options_are_checked_before_any_work(tmp_path: Path, args: list[str], needle: str) -> None:
    src = _jsonl(tmp_path / "logs.jsonl", ROWS)
    out = tmp_path / "out"
    args = [str(tmp_path / "state") if a == "STATE" else a for a in args]
    p = _run("scan", str(src), "--out", str(out), "--no-report", *args)
    assert p.returncode == 2 and needle in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and not out.exists()
