"""The campaign report: content matches the scan output, structure is guarded by a golden file,
untrusted text is escaped, the file is self-contained, and it renders in headless Chromium offline."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from distillguard.errors import DistillguardError, InputError, UsageError
from distillguard.report import MAX_ACCOUNTS, MAX_GRAPH_NODES, load_scan_output, write_report
from distillguard.report.graph import layout_graph

FIXTURE = Path(__file__).parent / "fixtures" / "scan_out"
GOLDEN = Path(__file__).parent / "golden"
CHROMIUM = Path("/usr/bin/chromium")


def copy_fixture(dest: Path) -> Path:
    out = dest / "scan_out"
    shutil.copytree(FIXTURE, out, ignore=shutil.ignore_patterns("*.py", "__pycache__", "report.html"))
    return out


class Structure(HTMLParser):
    """Section ids, headings, tables (id, header cells, body row count), chart divs, script tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[str] = []
        self.headings: list[tuple[str, str]] = []
        self.tables: dict[str, dict] = {}
        self.charts: list[str] = []
        self.scripts: list[dict] = []
        self.rendered: str | None = None
        self._heading: str | None = None
        self._text: list[str] = []
        self._table: dict | None = None
        self._in_th = False
        self._in_tbody = False
        self._stack: list[str] = []
        self.chart_svgs: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._stack.append(tag)
        if tag == "body":
            self.rendered = a.get("data-rendered")
        if tag == "section":
            self.sections.append(a.get("id", ""))
        if tag in ("h1", "h2", "h3", "h4"):
            self._heading, self._text = tag, []
        if tag == "table":
            self._table = {"id": a.get("id", ""), "headers": [], "rows": 0, "cells": []}
        if tag == "th" and self._table is not None:
            self._in_th, self._text = True, []
        if tag == "tbody":
            self._in_tbody = True
        if tag == "tr" and self._in_tbody and self._table is not None:
            self._table["rows"] += 1
        if tag == "div" and "chart" in (a.get("class") or "").split():
            self.charts.append(a.get("id", ""))
        if tag == "svg":
            for t in reversed(self.charts):
                self.chart_svgs[t] = self.chart_svgs.get(t, 0) + 1
                break
        if tag == "script":
            self.scripts.append(a)

    def handle_endtag(self, tag):
        if self._stack:
            self._stack.pop()
        if tag == self._heading:
            self.headings.append((tag, " ".join("".join(self._text).split())))
            self._heading = None
        if tag == "th" and self._in_th:
            self._table["headers"].append(" ".join("".join(self._text).split()))
            self._in_th = False
        if tag == "tbody":
            self._in_tbody = False
        if tag == "table" and self._table is not None:
            self.tables[self._table["id"]] = self._table
            self._table = None

    def handle_data(self, data):
        if self._heading or self._in_th:
            self._text.append(data)


def structure(html: str) -> Structure:
    s = Structure()
    s.feed(html)
    return s


def chromium_or_skip() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium package")
    pytest.skip(f"{CHROMIUM} not installed")


def chromium(html_path: Path, profile: Path, *extra: str, timeout: float = 90) -> subprocess.CompletedProcess:
    """Run headless Chromium on a local file with every network feature off."""
    args = [str(chromium_or_skip()), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync",
            "--disable-extensions", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
            "--virtual-time-budget=15000", *extra, html_path.resolve().as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def fixture_report(tmp_path_factory) -> tuple[Path, str]:
    out = copy_fixture(tmp_path_factory.mktemp("report"))
    path = write_report(out)
    return out, path.read_text(encoding="utf-8")


def _campaigns(out: Path) -> list[dict]:
    return json.loads((out / "campaigns.json").read_text())


# ---- content matches campaigns.json --------------------------------------------------------------

def test_overview_lists_campaigns_by_confidence_with_their_figures(fixture_report):
    out, html = fixture_report
    s = structure(html)
    campaigns = sorted(_campaigns(out), key=lambda c: -c["confidence"])
    assert s.tables["overview-table"]["rows"] == len(campaigns)
    order = re.findall(r'<tr data-campaign="([^"]+)"', html)
    assert order == [c["campaign_id"] for c in campaigns]
    for c in campaigns:
        row = re.search(rf'<tr data-campaign="{c["campaign_id"]}">(.*?)</tr>', html, re.S).group(1)
        assert f"{c['accounts']:,}" in row and f"{c['interactions']:,}" in row
        assert f"{c['confidence'] * 100:.1f}%" in row
        assert c["summary"] in row


def test_each_campaign_has_its_sections_charts_and_tables(fixture_report):
    out, html = fixture_report
    s = structure(html)
    campaigns = sorted(_campaigns(out), key=lambda c: -c["confidence"])
    accounts = pl.read_parquet(out / "accounts.parquet")
    for rank, c in enumerate(campaigns, 1):
        a = f"campaign-{rank}"
        assert a in s.sections
        for part in ("timeline", "graph", "signups", "capabilities"):
            assert f"{a}-{part}-chart" in s.charts
        members = accounts.filter(pl.col("campaign_id") == c["campaign_id"]).height
        assert s.tables[f"{a}-accounts-table"]["rows"] == min(members, MAX_ACCOUNTS)
        assert s.tables[f"{a}-templates-table"]["rows"] == len(c["indicators"]["templates"])
        assert s.tables[f"{a}-ip-prefixes-table"]["rows"] == len(c["indicators"]["ip_prefixes"])
        for t in c["indicators"]["templates"]:
            for e in t["examples"]:
                assert e["request_id"] in html
    lookalikes = json.loads((out / "lookalikes.json").read_text())
    assert s.tables["lookalikes-table"]["rows"] == len(lookalikes)
    assert all(g["group_id"] in html for g in lookalikes)
    assert s.tables["enforcement-table"]["rows"] == 4
    # the verified enterprise member of the hydra campaign is escalated, not suspended
    assert s.tables["escalated-table"]["rows"] >= 1


def _records(node, key: str) -> list[dict]:
    """Every data record (dict) holding ``key`` anywhere in a Vega-Lite spec."""
    if isinstance(node, dict):
        return ([node] if key in node and not isinstance(node[key], dict) else []) + [
            r for v in node.values() for r in _records(v, key)]
    if isinstance(node, list):
        return [r for v in node for r in _records(v, key)]
    return []


def test_chart_specs_carry_the_campaign_data(fixture_report):
    out, html = fixture_report
    specs = json.loads(re.search(r'<script type="application/json" id="dg-specs">(.*?)</script>', html,
                                 re.S).group(1))
    for rank, c in enumerate(sorted(_campaigns(out), key=lambda c: -c["confidence"]), 1):
        timeline = _records(specs[f"campaign-{rank}-timeline-chart"], "requests")
        assert sum(r["requests"] for r in timeline) == sum(r["requests"] for r in c["timeline"])
        assert {r["model"] for r in timeline} == set(c["models"])
        signups = _records(specs[f"campaign-{rank}-signups-chart"], "accounts")
        assert sum(r["accounts"] for r in signups) == sum(r["accounts"] for r in c["signups"])
        caps = _records(specs[f"campaign-{rank}-capabilities-chart"], "share")
        assert {r["capability"]: r["share"] for r in caps} == c["capabilities"]
        graph = specs.get(f"campaign-{rank}-graph-chart")
        if graph is not None:  # points are accounts: the campaign's, and linked ones outside it
            nodes = {r["account_id"]: r["member"] for r in _records(graph, "account_id")}
            inside = {a for a, m in nodes.items() if m == "in this campaign"}
            assert inside and inside <= set(c["account_ids"])
            assert len(_records(graph, "kinds")) > 0  # and links


def test_chart_specs_are_valid_vega_lite(fixture_report):
    """The report builds its specs without Altair's validation (for speed): check them all here."""
    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema.core import load_schema

    _, html = fixture_report
    specs = json.loads(re.search(r'<script type="application/json" id="dg-specs">(.*?)</script>', html,
                                 re.S).group(1))
    assert any(k.endswith("-graph-chart") for k in specs)
    schema = load_schema()
    for name, spec in specs.items():
        assert validate_jsonschema(spec, schema, raise_error=False) is None, name


def test_untrusted_text_is_escaped(fixture_report):
    _, html = fixture_report
    assert "alert(&#34;xss&#34;)" in html or "alert(&quot;xss&quot;)" in html
    assert '<script>alert("xss")' not in html
    assert "<b>bold</b>" not in html
    # exactly three script elements: the vega bundle, the JSON specs, the runner
    assert len(structure(html).scripts) == 3


def test_self_contained_no_network_references(fixture_report):
    _, html = fixture_report
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert "@import" not in html and "url(http" not in html
    assert "@font-face" not in html


# ---- golden structure ----------------------------------------------------------------------------

def _skeleton(html: str) -> dict:
    s = structure(html)
    return {"sections": s.sections, "headings": [f"{t} {x}" for t, x in s.headings if t != "h1"],
            "charts": s.charts, "tables": {k: {"headers": v["headers"], "rows": v["rows"]}
                                           for k, v in s.tables.items()}}


def test_report_structure_matches_golden(fixture_report):
    _, html = fixture_report
    got = _skeleton(html)
    golden = GOLDEN / "report_structure.json"
    if os.environ.get("DG_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=1) + "\n")
    assert got == json.loads(golden.read_text()), "report structure changed; DG_UPDATE_GOLDEN=1 to accept"


# ---- optional parts missing, required parts wrong -----------------------------------------------

def test_optional_parts_missing_render_not_available(tmp_path):
    out = copy_fixture(tmp_path)
    for f in ("edges.parquet", "lookalikes.json", "summary.json"):
        (out / f).unlink()
    camps = _campaigns(out)
    for c in camps:
        for k in ("timeline", "signups", "tokens", "models", "countries", "cot_share", "summary",
                  "account_ids"):
            c.pop(k, None)
        c["indicators"] = {}
    (out / "campaigns.json").write_text(json.dumps(camps))
    acc = pl.read_parquet(out / "accounts.parquet").select("account_id", "score", "flagged", "campaign_id",
                                                           "reasons")
    acc.write_parquet(out / "accounts.parquet")
    html = write_report(out).read_text()
    s = structure(html)
    assert "Account graph not available" in html and "Timeline not available" in html
    assert "not available (no lookalikes.json)" in html.lower()
    assert s.tables["overview-table"]["rows"] == len(camps)
    assert not any(k.endswith("-graph-chart") for k in s.charts)


@pytest.mark.parametrize(
    ("warnings", "shown"),
    [
        ([], []),
        (
            [{"kind": "implausible_timestamps", "rows": 2,
              "message": "2 rows set aside with a timestamp before 2000-01-01 <probably faulty>"}],
            ["2 rows set aside with a timestamp before 2000-01-01 &lt;probably faulty&gt;"],
        ),
    ],
)
def test_scan_warnings_are_shown(tmp_path, warnings, shown):
    out = copy_fixture(tmp_path)
    summary = json.loads((out / "summary.json").read_text())
    summary["warnings"] = warnings
    (out / "summary.json").write_text(json.dumps(summary))
    html = write_report(out).read_text()
    assert html.count('class="warning"') == len(shown)
    for message in shown:
        assert f"<strong>Warning:</strong> {message}</p>" in html
        assert f"<dt>Warnings</dt><dd>{message}</dd>" in html
    if not shown:
        assert "<dt>Warnings</dt><dd>none</dd>" in html


def _mutate(out: Path, case: str) -> None:
    camps = _campaigns(out)
    if case == "no_campaigns":
        (out / "campaigns.json").unlink()
    elif case == "not_array":
        (out / "campaigns.json").write_text('{"campaign_id": "x"}')
    elif case == "bad_json":
        (out / "campaigns.json").write_text("[{")
    elif case.startswith("drop:"):
        del camps[1][case[5:]]
        (out / "campaigns.json").write_text(json.dumps(camps))
    elif case.startswith("set:"):
        key, value = case[4:].split("=", 1)
        camps[0][key] = json.loads(value)
        (out / "campaigns.json").write_text(json.dumps(camps))
    elif case == "no_accounts":
        (out / "accounts.parquet").unlink()
        (out / "accounts.csv").unlink()
    elif case == "accounts_no_score":
        pl.read_parquet(out / "accounts.parquet").drop("score").write_parquet(out / "accounts.parquet")
    elif case == "score_out_of_range":
        df = pl.read_parquet(out / "accounts.parquet")
        df.with_columns(score=pl.when(pl.int_range(pl.len()) == 4).then(1.5).otherwise(pl.col("score"))) \
            .write_parquet(out / "accounts.parquet")
    elif case == "edges_no_kind":
        pl.read_parquet(out / "edges.parquet").drop("kind").write_parquet(out / "edges.parquet")


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("no_campaigns", InputError, "campaigns.json: missing"),
        ("not_array", InputError, "campaigns.json: must be a JSON array"),
        ("bad_json", InputError, "campaigns.json: not valid JSON (line 1"),
        ("drop:confidence", InputError, "campaign 1 (DG-"),
        ("drop:indicators", InputError, "missing required key 'indicators'"),
        ("set:confidence=1.7", InputError, "'confidence' must be a number in [0, 1]"),
        ("set:accounts=\"many\"", InputError, "'accounts' must be a non-negative integer"),
        ("set:first_seen=\"last tuesday\"", InputError, "not an RFC 3339 time"),
        ("no_accounts", InputError, "accounts.parquet: missing"),
        ("accounts_no_score", InputError, "accounts.parquet: missing required column(s): score"),
        ("score_out_of_range", InputError, "row 5: 'score' must be in [0, 1], got 1.5"),
        ("edges_no_kind", InputError, "edges.parquet: missing required column(s): kind"),
    ],
)
def test_bad_scan_output_gives_one_clear_error(tmp_path, case, error, message):
    out = copy_fixture(tmp_path)
    _mutate(out, case)
    with pytest.raises(error) as exc:
        load_scan_output(out)
    assert message in str(exc.value)
    assert isinstance(exc.value, DistillguardError)
    assert not (out / "report.html").exists()


@pytest.mark.parametrize("make", ["missing", "file"])
def test_dir_that_is_not_a_directory(tmp_path, make):
    target = tmp_path / "x"
    if make == "file":
        target.write_text("")
    with pytest.raises(UsageError, match="directory"):
        write_report(target)


def test_accounts_csv_is_read_when_parquet_is_absent(tmp_path):
    out = copy_fixture(tmp_path)
    (out / "accounts.parquet").unlink()
    scan = load_scan_output(out)
    ref = pl.read_csv(FIXTURE / "accounts.csv")
    assert scan.accounts.height == ref.height
    assert scan.accounts.schema["flagged"] == pl.Boolean
    assert int(scan.accounts["flagged"].sum()) == int(ref["flagged"].sum())


# ---- caps for big campaigns ----------------------------------------------------------------------

@pytest.mark.parametrize(("n_accounts", "n_edges"), [(40, 120), (900, 6000)])
def test_big_campaign_graph_is_capped_and_says_so(n_accounts, n_edges):
    import numpy as np

    rng = np.random.default_rng(5)
    ids = [f"a{i:04d}" for i in range(n_accounts)]
    src = rng.integers(0, n_accounts, n_edges)
    dst = rng.integers(0, n_accounts, n_edges)
    edges = pl.DataFrame({"src": [ids[i] for i in src], "dst": [ids[i] for i in dst],
                          "kind": rng.choice(["template", "payment", "asn"], n_edges).tolist(),
                          "weight": rng.uniform(0.1, 1, n_edges)})
    accounts = pl.DataFrame({"account_id": ids, "score": rng.uniform(0, 1, n_accounts),
                             "flagged": [True] * n_accounts})
    view = layout_graph(edges, accounts, max_nodes=MAX_GRAPH_NODES, max_edges=2000, seed=1)
    assert len(view.nodes) == min(view.total_nodes, MAX_GRAPH_NODES)
    assert len(view.edges) <= 2000
    assert ("most connected" in view.note) == (view.total_nodes > MAX_GRAPH_NODES)
    node_ids = {n["account_id"] for n in view.nodes}
    assert all(e["src"] in node_ids and e["dst"] in node_ids for e in view.edges)
    # same seed, same picture
    again = layout_graph(edges, accounts, max_nodes=MAX_GRAPH_NODES, max_edges=2000, seed=1)
    assert again.nodes == view.nodes


def test_big_campaign_accounts_table_is_capped(tmp_path):
    out = copy_fixture(tmp_path)
    camps = _campaigns(out)
    acc = pl.read_parquet(out / "accounts.parquet")
    bulk = [f"bulk_{i:05d}" for i in range(MAX_ACCOUNTS + 50)]
    extra = pl.DataFrame({"account_id": bulk}).with_columns(
        score=pl.lit(0.95), flagged=pl.lit(True), campaign_id=pl.lit(camps[0]["campaign_id"]),
        reasons=pl.lit("bulk"))
    pl.concat([acc, extra], how="diagonal_relaxed").write_parquet(out / "accounts.parquet")
    html = write_report(out).read_text()
    s = structure(html)
    assert s.tables["campaign-1-accounts-table"]["rows"] == MAX_ACCOUNTS
    assert f"Showing the {MAX_ACCOUNTS} highest-scoring of" in html


# ---- headless Chromium, offline -------------------------------------------------------------------

def _render_and_check(tmp_path: Path, out: Path) -> Structure:
    html_path = out / "report.html"
    proc = chromium(html_path, tmp_path / "profile", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = structure(proc.stdout)
    assert dom.rendered == "ok", f"charts did not render: {dom.rendered}"
    for chart_id in dom.charts:
        assert dom.chart_svgs.get(chart_id, 0) >= 1, f"{chart_id} has no <svg>"
    return dom


def test_report_renders_in_headless_chromium_offline(tmp_path, fixture_report):
    chromium_or_skip()
    out, _ = fixture_report
    dom = _render_and_check(tmp_path, out)
    campaigns = _campaigns(out)
    assert len([c for c in dom.charts if c.endswith("-timeline-chart")]) == len(campaigns)
    assert dom.tables["overview-table"]["rows"] == len(campaigns)


def test_report_of_a_real_scan_renders(tmp_path):
    chromium_or_skip()
    simulate = pytest.importorskip("distillguard.simulate")
    pipeline = pytest.importorskip("distillguard.pipeline")
    output = pytest.importorskip("distillguard.output")
    sim = simulate.simulate(tmp_path / "sim", scenario="default", seed=1001, scale=0.02, days=6)
    out = tmp_path / "scan"
    out.mkdir()
    result = pipeline.scan(sim.interaction_paths, [sim.accounts_path], tmp_path / "work",
                           pipeline.ScanOptions(seed=0))
    output.write_results(result, out)
    write_report(out)
    dom = _render_and_check(tmp_path, out)
    campaigns = _campaigns(out)
    assert dom.tables["overview-table"]["rows"] == len(campaigns)
    for rank in range(1, len(campaigns) + 1):
        assert f"campaign-{rank}" in dom.sections


# (case, what the cache folder holds before, whether the bundle is built, what the folder holds after)
BUNDLE_CACHE_CASES = [
    ("first use: built and kept", None, True, "kept"),
    ("kept: read, not built", "whole", False, "kept"),
    ("cut short: built again and replaced", "cut", True, "kept"),
    ("folder not writable: built, nothing kept", "blocked", True, "none"),
]


@pytest.mark.parametrize(("before", "built", "after"),
                         [pytest.param(b, x, a, id=c) for c, b, x, a in BUNDLE_CACHE_CASES])
def test_vega_bundle_is_cached_per_vl_convert_version(tmp_path, monkeypatch, before, built, after):
    import vl_convert

    from distillguard import report

    calls = []
    monkeypatch.setattr(vl_convert, "javascript_bundle", lambda: calls.append(1) or "var v = '</script>';")
    monkeypatch.setattr(vl_convert, "__version__", "9.9.9", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = tmp_path / "distillguard" / "vega-bundle-9.9.9.js"
    if before == "blocked":
        (tmp_path / "distillguard").write_text("a file where the folder would be")
    elif before is not None:
        path.parent.mkdir()
        text = "var v = '<\\/script>';" + report._BUNDLE_END
        path.write_text(text if before == "whole" else text[:-5])
    report.vega_bundle.cache_clear()
    try:
        assert report.vega_bundle() == "var v = '<\\/script>';"
    finally:
        report.vega_bundle.cache_clear()
    assert bool(calls) == built
    if after == "kept":
        assert path.read_text().endswith(report._BUNDLE_END)
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # (no temporary file left)
    else:
        assert not path.exists()


@pytest.mark.parametrize("families", [0, 3, 12])
def test_prompt_families_table_lists_a_campaigns_families(tmp_path, families: int) -> None:
    """The near-duplicate prompt families of a campaign (``indicators.prompt_families``) in its
    own table, at most MAX_ROWS of them; scan outputs written before the list existed have none."""
    from distillguard.report import MAX_ROWS

    out = copy_fixture(tmp_path)
    campaigns = _campaigns(out)
    top = max(campaigns, key=lambda c: float(c["confidence"]))
    top["indicators"]["prompt_families"] = [
        {"family": f"{i:016x}", "accounts": 40 - i, "interactions": 900 - i} for i in range(families)
    ]
    (out / "campaigns.json").write_text(json.dumps(campaigns))
    html = write_report(out).read_text(encoding="utf-8")
    s = structure(html)
    rank = 1 + sorted(campaigns, key=lambda c: -float(c["confidence"])).index(top)
    table = s.tables.get(f"campaign-{rank}-families-table")
    if families == 0:
        assert table is None
    else:
        assert table["rows"] == min(families, MAX_ROWS)
        assert f"{0:016x}" in html and "Accounts using it consistently" in table["headers"]


def test_a_malformed_prompt_families_list_is_named(tmp_path) -> None:
    from distillguard.errors import InputError

    out = copy_fixture(tmp_path)
    campaigns = _campaigns(out)
    campaigns[0]["indicators"]["prompt_families"] = "f1"
    (out / "campaigns.json").write_text(json.dumps(campaigns))
    with pytest.raises(InputError, match=r"indicators\.prompt_families. must be a list"):
        load_scan_output(out)
