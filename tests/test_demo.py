"""``distillguard demo`` end to end at a small scale: simulate, scan, evaluate, one JSON document."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from distillguard.cli import _load_commands, app


@pytest.mark.parametrize("replay", ["--replay", "--no-replay"])
def test_demo_runs_and_reports_its_evaluation(tmp_path, replay):
    _load_commands()
    res = CliRunner().invoke(
        app, ["demo", "--out", str(tmp_path), "--scale", "0.15", "--seed", "1004", replay, "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["simulation"]["interactions"] == doc["scan"]["interactions"] > 0
    ev = doc["evaluation"]
    assert ev["flagged"] > 0 and ev["precision"] >= 0.9 and ev["recall"] >= 0.8
    assert (tmp_path / "results" / "report.html").exists()
    assert (tmp_path / "results" / "replay.parquet").exists() == (replay == "--replay")
