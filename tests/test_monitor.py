"""``scan --state``: daily runs on new logs only, equal to a batch scan, with stable ids and alerts.

The scenario is the simulator's ``default`` at a small scale with a seed the monitoring code was not
developed on (development used seed 1011)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import polars as pl
import pyarrow.parquet as pq
import pytest

from distillguard.cli.scan import run_monitor
from distillguard.errors import UsageError
from distillguard.monitor import split_by_day
from distillguard.monitor.incremental import MonitorOptions, parse_window
from distillguard.monitor.state import MARKER, StateBusy, StateDir, StateRefused
from distillguard.pipeline import ScanOptions, scan

DAYS = 10


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    from distillguard.simulate import simulate

    tmp = tmp_path_factory.mktemp("monitor")
    simulate(tmp / "sim", seed=4243, scale=0.15, days=DAYS)
    return tmp / "sim", split_by_day(tmp / "sim" / "interactions", tmp / "days")


def _run(files: list[Path], sim: Path, state: Path, out: Path, **mon: object):
    return run_monitor(files, [sim / "accounts.parquet"], state, out, ScanOptions(seed=0),
                       MonitorOptions(**mon), quiet=True)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def daily(logs, tmp_path_factory: pytest.TempPathFactory):
    """The whole sequence, one day's file a run; each run's accounts and campaigns kept."""
    sim, days = logs
    tmp = tmp_path_factory.mktemp("daily")
    runs = []
    for f in days:
        o = _run([f], sim, tmp / "state", tmp / "out")
        acc = pl.read_parquet(tmp / "out" / "accounts.parquet")
        runs.append((o, acc, json.loads((tmp / "out" / "campaigns.json").read_text())))
    return tmp, runs


def test_daily_runs_end_equal_to_a_batch_scan(logs, daily, tmp_path: Path) -> None:
    sim, days = logs
    _, runs = daily
    batch = scan(days, [sim / "accounts.parquet"], tmp_path / "work", ScanOptions(seed=0))
    b = pl.from_arrow(batch.accounts).select("account_id", "flagged", "score")
    inc = runs[-1][1].select("account_id", inc="flagged", inc_score="score")
    j = b.join(inc, on="account_id", how="full", coalesce=True)
    assert j.height == b.height == inc.height
    disagree = j.filter(pl.col("flagged") != pl.col("inc")).height
    assert disagree <= 0.01 * max(int(b["flagged"].sum()), 1)
    assert int(b["flagged"].sum()) > 20  # (the scenario has campaigns to find)
    # each run read one new file, and the state holds exactly the window's rows
    assert all(o.changes[0]["new_files"] == 1 for o, _, _ in runs)
    assert sum(o.changes[0]["rows_added"] for o, _, _ in runs) == batch.summary["interactions"]


def test_campaign_ids_are_stable_from_first_flag(logs, daily) -> None:
    """Each true campaign ends under the id it got the day it was first flagged, or an alias of it, or
    (first flagged as a minority inside another campaign's group) under an id recorded as split from
    that group's id. On this run sim-c05 (low_and_slow) is the last kind: one account of it in each of
    sim-c01's two first-day groups."""
    from distillguard.evaluate import evaluate

    sim, _ = logs
    tmp, runs = daily
    registry = json.loads(next((tmp / "state").glob("gen-*/registry.json")).read_text())
    truth = pl.read_parquet(sim / "labels" / "accounts.parquet").select("account_id", true="campaign_id")

    def canonical(cid: str) -> str:
        while cid in registry["aliases"]:
            cid = registry["aliases"][cid]
        return cid

    def majority(acc: pl.DataFrame) -> dict[str, tuple[str, float]]:
        """true campaign -> (the id most of its flagged accounts carry, its share of that id's group)"""
        got = acc.filter(pl.col("flagged") & pl.col("campaign_id").is_not_null()).join(
            truth, on="account_id", how="left")
        size = got.group_by("campaign_id").len("size")
        top = got.group_by("true", "campaign_id").len().sort(["len", "campaign_id"], descending=[True, False])
        top = top.unique("true", keep="first", maintain_order=True).join(size, on="campaign_id")
        return {t: (c, n / m) for t, c, n, m in top.select("true", "campaign_id", "len", "size").iter_rows()}

    first: dict[str, tuple[str, float, str]] = {}  # true campaign -> (first id, its share there, day)
    for o, acc, _ in runs:
        for t, (cid, share) in majority(acc).items():
            first.setdefault(t, (cid, share, o.changes[0]["data_through"][:10]))
    final = majority(runs[-1][1])
    assert len(final) >= 4
    kinds = {}
    for t, (cid, _) in final.items():
        fid, share, day = first[t]
        if canonical(fid) == cid:
            kinds[t] = "kept"
            assert registry["campaigns"][cid]["first_flagged_day"] <= day
        else:
            parent = registry["campaigns"][cid].get("split_from")
            split_off = parent is not None and canonical(parent) == canonical(fid)
            assert share < 0.5 and split_off, (t, first[t], cid)
            kinds[t] = "split"
    assert "kept" in kinds.values()
    for c in runs[-1][2]:
        assert c["first_flagged"] == registry["campaigns"][c["campaign_id"]]["first_flagged_day"]
    # the report tells the analyst where each id came from
    html = (tmp / "out" / "report.html").read_text(encoding="utf-8")
    for c in runs[-1][2]:
        assert f"First flagged</dt><dd>{c['first_flagged']}" in html
        for a in c["aliases"]:
            assert a in html
        if c.get("split_from"):
            assert f"split from {c['split_from']}" in html
    # evaluate reads the same from the results alone (replay.parquet and campaigns.json)
    ev = {c.campaign_id: c for c in evaluate(tmp / "out", sim).campaigns}
    for t, kind in kinds.items():
        assert ev[t].id_kept in (("kept", "alias") if kind == "kept" else ("split",)), (t, ev[t])


def test_changes_name_new_campaigns_and_growth(daily) -> None:
    _, runs = daily
    kinds = [e["type"] for o, _, _ in runs for e in o.changes[1:]]
    assert "new_campaign" in kinds and "newly_flagged" in kinds
    for o, _, _ in runs:
        head = o.changes[0]
        assert head["type"] == "run" and head["batch_id"].endswith(f"-{head['run']}")
        for e in o.changes[1:]:
            if e["type"] == "campaign_grew":
                assert all(j["evidence"] for j in e["joined"])  # each joined account says why


def test_replay_is_what_each_run_knew(daily, logs, tmp_path: Path) -> None:
    from distillguard.evaluate import evaluate

    sim, _ = logs
    tmp, runs = daily
    rp = pl.read_parquet(tmp / "out" / "replay.parquet")
    assert rp["day"].n_unique() == DAYS
    # a day's rows are that run's own decisions
    for o, acc, _ in runs:
        day = o.changes[0]["data_through"][:10]
        mine = rp.filter(pl.col("day").cast(pl.String) == day).select("account_id", "flagged")
        then = acc.filter(pl.col("interactions") > 0).select("account_id", then="flagged")
        j = mine.join(then, on="account_id")
        assert j.height == then.height == mine.height and (j["flagged"] == j["then"]).all()
    ev = evaluate(tmp / "out", sim)
    assert len(ev.campaigns) >= 4
    assert all(c.delay_days is not None for c in ev.campaigns)


def test_redelivered_files_and_rows_are_not_counted_twice(logs, tmp_path: Path) -> None:
    sim, days = logs
    _run(days[:2], sim, tmp_path / "st", tmp_path / "out")
    o = _run(days[:2], sim, tmp_path / "st", tmp_path / "out")
    assert o.changes[0]["new_files"] == 0 and o.changes[0]["rows_added"] == 0
    assert any("already read by run 1" in n for n in o.notes)
    # the same rows in a new file (re-exported): set aside, each with its file, row and reason
    again = tmp_path / "again.parquet"
    d1 = pl.read_parquet(days[1])
    pl.concat([d1.head(7), pl.read_parquet(days[2])]).write_parquet(again)
    o = _run([again], sim, tmp_path / "st", tmp_path / "out")
    assert o.changes[0]["rows_set_aside"] == 7
    rej = pl.read_parquet(tmp_path / "out" / "rejected.parquet")
    dup = rej.filter(pl.col("reason").str.contains("already read by an earlier run"))
    assert dup.height == 7 and set(dup["file"]) == {str(again)} and sorted(dup["row"]) == list(range(1, 8))
    # the whole folder: files already read are skipped (by path, size and time, without reading them);
    # day 2's file is new as a file, but its rows were all read from again.parquet
    o = _run([days[0].parent], sim, tmp_path / "st", tmp_path / "out")
    assert o.changes[0]["new_files"] == DAYS - 2
    assert o.changes[0]["rows_set_aside"] == pq.read_metadata(days[2]).num_rows
    assert sum(pq.read_metadata(d).num_rows for d in days[3:]) == o.changes[0]["rows_added"]


def test_rows_older_than_the_window_are_set_aside(logs, tmp_path: Path) -> None:
    sim, days = logs
    _run([days[5]], sim, tmp_path / "st", tmp_path / "out", window_days=3)
    o = _run([days[1]], sim, tmp_path / "st", tmp_path / "out", window_days=3)
    n = pq.read_metadata(days[1]).num_rows
    assert o.changes[0]["rows_set_aside"] == n and o.changes[0]["rows_added"] == 0
    rej = pl.read_parquet(tmp_path / "out" / "rejected.parquet")
    assert rej.filter(pl.col("reason").str.starts_with("older than the state's window")).height == n
    # and the window ages out: with days 5..8 read, day 5 is gone from a 3-day window (not from the
    # runs' history, which keeps what each run decided for the detection delay)
    for f in days[6:9]:
        o = _run([f], sim, tmp_path / "st", tmp_path / "out", window_days=3)
    assert o.result.summary["monitor"]["window"]["from"] == str(days[6].stem)
    rows = sorted(p.name[:10] for p in next((tmp_path / "st").glob("gen-*/rows")).iterdir())
    assert rows[0] == days[6].stem
    assert pl.read_parquet(tmp_path / "out" / "replay.parquet")["day"].min().isoformat() == days[5].stem


def test_a_second_run_on_a_busy_state_refuses(logs, tmp_path: Path) -> None:
    sim, days = logs
    with StateDir(tmp_path / "st"), pytest.raises(StateBusy, match="another distillguard run is using"):
        _run([days[0]], sim, tmp_path / "st", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [{"notes.txt": "mine"}, {"sub/data.csv": "a,b"}])
def test_a_folder_that_is_not_a_state_is_refused_untouched(logs, tmp_path: Path, content: dict) -> None:
    sim, days = logs
    st = tmp_path / "st"
    for name, text in content.items():
        (st / name).parent.mkdir(parents=True, exist_ok=True)
        (st / name).write_text(text)
    with pytest.raises(StateRefused, match="not a distillguard state folder"):
        _run([days[0]], sim, st, tmp_path / "out")
    assert sorted(str(p.relative_to(st)) for p in st.rglob("*") if p.is_file()) == sorted(content)
    assert not (st / MARKER).exists()


def test_state_and_results_must_be_apart(logs, tmp_path: Path) -> None:
    sim, days = logs
    with pytest.raises(UsageError, match="must not hold one another"):
        _run([days[0]], sim, tmp_path / "st", tmp_path / "st" / "out")


@pytest.mark.parametrize(("text", "days"), [("30d", 30), ("4w", 28), (" 7d ", 7)])
def test_window_parses(text: str, days: int) -> None:
    assert parse_window(text) == days


@pytest.mark.parametrize("text", ["0d", "30", "1m", "-3d", ""])
def test_bad_window_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--window"):
        parse_window(text)


class _Hook(http.server.BaseHTTPRequestHandler):
    status = 200
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).status == 200:
            type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_gets_each_batch_once_in_order_even_after_an_outage(logs, tmp_path: Path) -> None:
    sim, days = logs
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        _Hook.status, _Hook.received = 503, []
        o1 = _run([days[0]], sim, tmp_path / "st", tmp_path / "out", webhook=url)
        assert any("503" in n and "sent again by the next run" in n for n in o1.notes)
        _Hook.status = 200
        o2 = _run([days[1]], sim, tmp_path / "st", tmp_path / "out", webhook=url)
        assert [b["run"] for b in _Hook.received] == [1, 2]
        assert _Hook.received[1]["changes"] == json.loads(json.dumps(o2.changes, default=str))
        assert o2.result.summary["monitor"]["run"] == 2
        outbox = json.loads(next((tmp_path / "st").glob("gen-*/outbox.json")).read_text())
        assert outbox == []
        lines = (tmp_path / "out" / "changes.jsonl").read_text().splitlines()
        assert json.loads(lines[0])["run"] == 2
    finally:
        server.shutdown()


def test_review_decisions_apply_to_later_runs(logs, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from distillguard.cli import _load_commands, app

    _load_commands()
    sim, days = logs
    for f in days[:6]:
        o = _run([f], sim, tmp_path / "st", tmp_path / "out")
    camps = json.loads((tmp_path / "out" / "campaigns.json").read_text())
    assert len(camps) >= 2
    gone, kept = camps[0]["campaign_id"], camps[1]["campaign_id"]
    r = CliRunner().invoke(app, ["review", str(tmp_path / "st"), "--dismiss", gone, "--reason", "a course"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["review", str(tmp_path / "st"), "--confirm", kept])
    assert r.exit_code == 0, r.output
    o = _run([days[6]], sim, tmp_path / "st", tmp_path / "out")
    acc = pl.read_parquet(tmp_path / "out" / "accounts.parquet")
    camps = {c["campaign_id"]: c for c in json.loads((tmp_path / "out" / "campaigns.json").read_text())}
    held = not camps[gone]["review"]["material_growth"]
    members = acc.filter(pl.col("campaign_id") == gone)
    assert held == (not members["flagged"].any())
    if held:
        assert members["reasons"].str.contains("dismissed by").all()
    assert camps[kept]["review"]["decision"] == "confirm"
    assert o.result.summary["flagged_accounts"] == int(acc["flagged"].sum())
    # the decisions show in the report and in the proposed actions
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Analyst decision" in html and "a course" in html and "Monitoring run" in html
    from distillguard.export.actions import propose_actions
    from distillguard.report.load import load_scan_output

    actions = propose_actions(load_scan_output(tmp_path / "out"))
    by = dict(actions.group_by("campaign_id").agg(pl.col("review").first()).iter_rows())
    assert by[kept] == "confirmed"
    if held:
        assert by[gone] == "dismissed"
        assert (actions.filter(pl.col("campaign_id") == gone)["action"] == "monitor").all()
    # an unknown id: one message, exit 2, nothing written
    before = sorted(p.name for p in (tmp_path / "st").iterdir())
    p = subprocess.run([sys.executable, "-c", "from distillguard.cli import run; run()", "review",
                        str(tmp_path / "st"), "--confirm", "DG-00000000"], capture_output=True, text=True)
    assert p.returncode == 2 and "no campaign 'DG-00000000'" in p.stderr and "Traceback" not in p.stderr
    assert sorted(p.name for p in (tmp_path / "st").iterdir()) == before


def test_state_files_are_ours_only(daily) -> None:
    tmp, _ = daily
    names = set(os.listdir(tmp / "state"))
    current = (tmp / "state" / "CURRENT").read_text().strip()
    assert names == {".lock", "CURRENT", MARKER, current}


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--webhook", "http://127.0.0.1:9/x"], "--webhook needs --state"),
        (["--window", "7d"], "--window needs --state"),
        (["--state", "{st}", "--replay-daily"], "--replay-daily and --state do not go together"),
        (["--state", "{st}", "--window", "30"], "--window '30'"),
    ],
)
def test_option_mistakes_give_one_message(logs, tmp_path: Path, extra: list[str], needle: str) -> None:
    _, days = logs
    args = [a.replace("{st}", str(tmp_path / "st")) for a in extra]
    p = subprocess.run([sys.executable, "-c", "from distillguard.cli import run; run()", "scan", str(days[0]),
                        "--out", str(tmp_path / "out"), *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and needle in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "st").exists()
