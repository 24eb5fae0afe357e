"""The scan CLI on bad input: one message and exit code 2 with no DIR; bad rows set aside and counted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
