"""The campaign report: one self-contained HTML file per scan output directory.

``write_report(DIR)`` reads what ``scan --out DIR`` wrote (see :mod:`distillguard.report.load`) and
writes ``DIR/report.html``: an overview of the campaigns ranked by confidence, one section per
campaign (traffic timeline by model, account graph, sign-ups, capabilities, shared templates with
example prompts, infrastructure, accounts with scores and reasons), the look-alikes that were *not*
flagged and why, and what enforcing would affect. Charts are Vega-Lite specs made with Altair and
drawn by one inlined vega-embed bundle (from ``vl-convert-python``), so the file opens offline.
Every value from the logs (prompt text, user agents, account ids) goes through Jinja2 autoescaping;
chart specs are embedded as JSON with ``<``, ``>`` and ``&`` escaped.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import polars as pl

from distillguard import __version__
from distillguard.errors import UsageError
from distillguard.report import charts
from distillguard.report.graph import campaign_edges, layout_graph
from distillguard.report.load import ScanOutput, load_scan_output, parse_time

__all__ = ["ScanOutput", "load_scan_output", "render_report", "write_report"]

#: Caps that keep the file small for huge campaigns (each capped list says so in the report).
MAX_ACCOUNTS = 200
MAX_ROWS = 15
MAX_EXAMPLES = 3
MAX_TEXT = 300
MAX_GRAPH_NODES = 300


def cache_dir() -> Path:
    """distillguard's own cache folder: ``$XDG_CACHE_HOME/distillguard`` (``~/.cache/distillguard``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "distillguard"


#: the cached bundle ends with this line, so a file cut short is never used
_BUNDLE_END = "\n// distillguard: end of bundle\n"


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """The Vega, Vega-Lite and vega-embed JavaScript, as one inline-safe string.

    vl-convert bundles it anew on every call (1.3 s, a tenth of a small daily run), so it is kept in
    :func:`cache_dir` per vl-convert version, written whole or not at all; where that folder cannot
    be written, the bundle is built every time."""
    try:
        import vl_convert
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise UsageError("the report needs the 'vl-convert-python' package "
                         "(pip install vl-convert-python)") from exc
    version = getattr(vl_convert, "__version__", None)
    path = cache_dir() / f"vega-bundle-{version}.js" if version else None
    if path is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = path.read_text(encoding="utf-8")
            if text.endswith(_BUNDLE_END):
                return text[: -len(_BUNDLE_END)]
    bundle = vl_convert.javascript_bundle().replace("</script", "<\\/script")
    if path is not None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(bundle + _BUNDLE_END, encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return bundle


def _json_for_html(obj: Any) -> str:
    return (json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# ---- formatting filters --------------------------------------------------------------------------

def _num(v: Any) -> str:
    if v is None:
        return "not available"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}"
    return f"{int(v):,}"


def _human(v: Any) -> str:
    if v is None:
        return "not available"
    v = float(v)
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= div:
            return f"{v / div:.1f}{unit}"
    return f"{v:,.0f}"


def _pct(v: Any, digits: int = 1) -> str:
    return "not available" if v is None else f"{float(v) * 100:.{digits}f}%"


def _when(v: Any) -> str:
    if v is None or v == "":
        return "not available"
    if isinstance(v, datetime):
        t = v if v.tzinfo else v.replace(tzinfo=UTC)
    else:
        try:
            t = parse_time(v, "time")
        except Exception:
            return str(v)
    return t.astimezone(UTC).strftime("%d %b %Y %H:%M UTC")


def _day(v: Any) -> str:
    return "not available" if v is None else _when(v)[:11]


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("distillguard.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters.update(num=_num, human=_human, pct=_pct, when=_when, day=_day)
    return env


def _truncate(text: Any, n: int = MAX_TEXT) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= n else s[: n - 1] + "…"


# ---- context -------------------------------------------------------------------------------------

def _tokens(c: dict) -> dict[str, int | None]:
    t = c.get("tokens")
    if isinstance(t, dict):
        return {"input": t.get("input"), "output": t.get("output")}
    if isinstance(t, int | float):
        return {"input": None, "output": int(t)}
    return {"input": None, "output": None}


def _top(items: list | None, n: int = MAX_ROWS) -> tuple[list, int]:
    items = list(items or [])
    return items[:n], max(0, len(items) - n)


def _shares(d: dict | None) -> list[dict]:
    total = sum(float(v) for v in (d or {}).values()) or 1.0
    return [{"name": str(k), "value": v, "share": float(v) / total}
            for k, v in sorted((d or {}).items(), key=lambda kv: -float(kv[1]))]


def _account_rows(acc: pl.DataFrame, limit: int) -> list[dict]:
    cols = [c for c in ("account_id", "score", "flagged", "interactions", "first_seen", "last_seen", "tier",
                        "verified", "reasons") if c in acc.columns]
    rows = acc.sort(["score", "account_id"], descending=[True, False]).head(limit).select(cols).to_dicts()
    for r in rows:
        r["reasons"] = [x for x in (r.get("reasons") or "").split("; ") if x]
    return rows


def _campaign_context(scan: ScanOutput, c: dict, rank: int, seed: int, chart_specs: dict) -> dict:
    cid = c["campaign_id"]
    anchor = f"campaign-{rank}"
    ind = c["indicators"]
    members_df = scan.accounts.filter(pl.col("campaign_id") == cid)
    member_ids = c.get("account_ids") or members_df["account_id"].to_list()

    def chart(name: str, spec: dict | None) -> str | None:
        if spec is None:
            return None
        key = f"{anchor}-{name}-chart"
        chart_specs[key] = spec
        return key

    graph = None
    if scan.edges is not None:
        view = layout_graph(campaign_edges(scan.edges, cid, list(member_ids)), scan.accounts,
                            members=list(member_ids), max_nodes=MAX_GRAPH_NODES, seed=seed)
        if view is not None:
            graph = {"chart": chart("graph", charts.graph_chart(view)), "nodes": view.total_nodes,
                     "edges": view.total_edges, "clusters": view.clusters, "note": view.note,
                     "kinds": [{"kind": k, "edges": n, "colour": charts.EDGE_COLOURS.get(k, "#7f7f7f")}
                               for k, n in view.kinds.items()]}
    templates, more_templates = _top(ind.get("templates"))
    templates = [{**t, "examples": [{"request_id": e.get("request_id"), "text": _truncate(e.get("text"))}
                                    for e in (t.get("examples") or [])[:MAX_EXAMPLES]]} for t in templates]
    families, more_families = _top(ind.get("prompt_families"))
    system_prompts, more_sp = _top(ind.get("system_prompts"))
    system_prompts = [{**s, "example": _truncate(s.get("example"))} for s in system_prompts]
    infra = []
    for key, title, cols in (
        ("asns", "Autonomous systems (ASNs)", ("value", "accounts", "interactions")),
        ("ip_prefixes", "IP prefixes", ("value", "accounts", "interactions")),
        ("payment_fingerprints", "Payment fingerprints shared", ("value", "accounts")),
        ("user_agents", "User agents", ("value", "accounts")),
    ):
        rows, more = _top(ind.get(key))
        infra.append({"id": f"{anchor}-{key.replace('_', '-')}", "title": title, "cols": cols,
                      "rows": [{k: r.get(k) for k in cols} for r in rows], "more": more,
                      "available": key in ind})
    bursts, more_bursts = _top(ind.get("signup_bursts"))
    acc_rows = _account_rows(members_df, MAX_ACCOUNTS)
    protected = members_df.filter(
        (pl.col("verified").fill_null(False) if "verified" in members_df.columns else pl.lit(False))
        | ((pl.col("tier") == "enterprise").fill_null(False) if "tier" in members_df.columns
           else pl.lit(False)))
    return {
        "id": cid, "anchor": anchor, "rank": rank, "confidence": c["confidence"],
        "summary": c.get("summary"), "accounts": c["accounts"], "interactions": c["interactions"],
        "first_seen": c["first_seen"], "last_seen": c["last_seen"], "tokens": _tokens(c),
        "cot_share": c.get("cot_share"),
        "days": (parse_time(c["last_seen"], "last_seen")
                 - parse_time(c["first_seen"], "first_seen")).days + 1,
        "capabilities": _shares(c.get("capabilities")), "models": _shares(c.get("models")),
        "countries": _top(_shares(c.get("countries")))[0],
        "timeline_chart": chart("timeline", charts.timeline_chart(c.get("timeline"))),
        "signup_chart": chart("signups", charts.signup_chart(c.get("signups"))),
        "capability_chart": chart("capabilities", charts.capability_chart(c.get("capabilities"))),
        "graph": graph, "graph_available": scan.edges is not None,
        "templates": templates, "more_templates": more_templates, "templates_available": "templates" in ind,
        "system_prompts": system_prompts, "more_system_prompts": more_sp,
        "families": families, "more_families": more_families,
        "signup_bursts": bursts, "more_bursts": more_bursts, "infra": infra,
        "account_rows": acc_rows, "members_listed": members_df.height,
        "protected": protected.height,
        "review": (c.get("review") or {}).get("note"),
        "first_flagged": c.get("first_flagged"), "aliases": c.get("aliases") or [],
        "split_from": c.get("split_from"),
    }


def _overview_row(c: dict, rank: int) -> dict:
    caps = _shares(c.get("capabilities"))[:3]
    return {"rank": rank, "id": c["campaign_id"], "anchor": f"campaign-{rank}",
            "confidence": c["confidence"],
            "accounts": c["accounts"], "interactions": c["interactions"], "tokens": _tokens(c),
            "first_seen": c["first_seen"], "last_seen": c["last_seen"],
            "capabilities": ", ".join(f"{x['name']} ({_pct(x['share'], 0)})" for x in caps)
            or "not available",
            "summary": c.get("summary") or "not available",
            "review": (c.get("review") or {}).get("note")}


def _display_name(d: Path) -> str:
    """The output folder's name; scan writes into a staging folder ``.NAME.tmp-XXXX`` renamed at the end."""
    m = re.match(r"^\.(.+)\.tmp-[^.]+$", d.name)
    return m.group(1) if m else (d.resolve().name or str(d))


def render_report(scan: ScanOutput, *, seed: int = 0) -> str:
    """The report HTML for a loaded scan output."""
    from distillguard.export.actions import ACTIONS, Policy, dry_run, propose_actions

    campaigns = sorted(scan.campaigns, key=lambda c: -float(c["confidence"]))
    specs: dict[str, dict] = {}
    summary = scan.summary or {}
    op = summary.get("operating_point") or {}
    threshold = op.get("threshold") if isinstance(op, dict) else None
    overview = charts.overview_chart(campaigns)
    if overview is not None:
        specs["overview-chart"] = overview
    scores = charts.score_chart(scan.accounts, threshold if isinstance(threshold, int | float) else None)
    if scores is not None:
        specs["scores-chart"] = scores
    camp_ctx = [_campaign_context(scan, c, i + 1, seed, specs) for i, c in enumerate(campaigns)]
    policy = Policy()
    actions = propose_actions(scan, policy)
    impact = dry_run(scan, actions).to_dicts()
    escalated = actions.filter(pl.col("escalate_to_review")).select(
        "account_id", "campaign_id", "uncapped_action", "action", "score", "tier", "verified",
    ).head(50).to_dicts()
    unattributed = scan.accounts.filter(pl.col("flagged") & pl.col("campaign_id").is_null())
    lookalikes, more_lookalikes = _top(scan.lookalikes, 50) if scan.lookalikes is not None else (None, 0)
    ctx = {
        "version": __version__,
        "generated": datetime.now(UTC).strftime("%d %b %Y %H:%M UTC"),
        "dir": _display_name(scan.dir),
        "summary": summary,
        "total_interactions": scan.total_interactions,
        "accounts_seen": summary.get("accounts", scan.accounts.height),
        "flagged": summary.get("flagged_accounts", int(scan.accounts["flagged"].sum())),
        "op": op if isinstance(op, dict) else {},
        "overview": [_overview_row(c, i + 1) for i, c in enumerate(campaigns)],
        "overview_chart": "overview-chart" if overview is not None else None,
        "scores_chart": "scores-chart" if scores is not None else None,
        "campaigns": camp_ctx,
        "unattributed": _account_rows(unattributed, 50), "unattributed_total": unattributed.height,
        "lookalikes": lookalikes, "more_lookalikes": more_lookalikes,
        "impact": impact, "actions": ACTIONS, "policy": policy.to_dict(), "escalated": escalated,
        "escalated_total": int(actions["escalate_to_review"].sum()),
        "notes": scan.notes,
        "max_accounts": MAX_ACCOUNTS,
        "specs_json": _json_for_html(specs),
        "vega_bundle": vega_bundle(),
    }
    return _env().get_template("report.html.j2").render(**ctx)


def write_report(out_dir: str | Path, *, path: str | Path | None = None, seed: int = 0) -> Path:
    """Read the scan output in ``out_dir`` and write the report (default ``out_dir/report.html``)."""
    scan = load_scan_output(out_dir)
    target = Path(path) if path is not None else scan.dir / "report.html"
    html = render_report(scan, seed=seed)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(target)
    return target
